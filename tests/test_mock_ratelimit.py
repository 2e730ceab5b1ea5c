"""Rate limits: a fixed window per key (per address without a valid key) and the RateLimit headers."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from conftest import KEY, OTHER_KEY, RACHEL_ID, ApiClient, assert_error, make_app
from mock_server.auth import ApiKeys
from mock_server.config import Runtime, Settings
from mock_server.controls.faults import FaultMiddleware
from mock_server.ratelimit import RateLimiter, RateLimitMiddleware
from mock_server.store import user_id_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited(limit: int = 3, window: int = 60) -> tuple[ApiClient, FakeClock]:
    app = make_app(rate_limit=limit, rate_window_seconds=window)
    clock = FakeClock()
    app.rate_limiter.clock = clock
    return ApiClient(app), clock


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/v1/leads", 200), ("GET", f"/v1/leads/{RACHEL_ID}", 200), ("POST", "/v1/leads", 400),
    ("GET", "/v1/leads/bad", 400), ("GET", "/v1/nowhere", 404), ("PATCH", "/v1/leads", 405),
])
def test_every_api_answer_carries_the_ratelimit_headers(method: str, path: str, status: int) -> None:
    api, _ = limited(limit=10)
    response = api.request(method, path, json={})
    assert response.status_code == status
    assert response.headers["ratelimit-limit"] == "10"
    assert response.headers["ratelimit-remaining"] == "9"
    assert response.headers["ratelimit-reset"] == "60"


def test_unauthenticated_answers_carry_the_headers_too() -> None:
    api, _ = limited()
    response = api.get("/v1/leads", key=None)
    assert response.status_code == 401 and response.headers["ratelimit-remaining"] == "2"


def test_over_the_limit_is_429_with_retry_after_and_nothing_left() -> None:
    api, clock = limited(limit=2)
    api.get("/v1/leads")
    clock.now += 10.2
    api.get("/v1/leads")
    response = api.get("/v1/leads")
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert response.headers["retry-after"] == "50" == response.headers["ratelimit-reset"]
    assert response.headers["ratelimit-remaining"] == "0" and response.headers["ratelimit-limit"] == "2"


def test_reset_is_rounded_up_to_whole_seconds() -> None:
    api, clock = limited()
    api.get("/v1/leads")
    clock.now += 0.5
    assert api.get("/v1/leads").headers["ratelimit-reset"] == "60"
    clock.now += 58.75
    assert api.get("/v1/leads").headers["ratelimit-reset"] == "1"


def test_a_refused_request_does_not_count() -> None:
    api, clock = limited(limit=1)
    api.get("/v1/leads")
    for _ in range(5):
        assert api.get("/v1/leads").status_code == 429
    clock.now += 60
    response = api.get("/v1/leads")
    assert response.status_code == 200 and response.headers["ratelimit-remaining"] == "0"


def test_the_window_starts_at_the_keys_first_request() -> None:
    api, clock = limited(limit=1)
    clock.now += 45  # nothing was sent yet: no window is running
    api.get("/v1/leads")
    clock.now += 59
    assert api.get("/v1/leads").status_code == 429
    clock.now += 1
    assert api.get("/v1/leads").status_code == 200


def test_each_key_has_its_own_window() -> None:
    api, _ = limited(limit=1)
    api.get("/v1/leads")
    assert api.get("/v1/leads").status_code == 429
    assert api.get("/v1/leads", key=OTHER_KEY).status_code == 200


def test_requests_without_a_valid_key_are_limited_per_client_address() -> None:
    api, _ = limited(limit=1)
    elsewhere = ApiClient(api.app, address="10.0.0.9")
    assert api.get("/v1/leads", key="wrong").status_code == 401
    assert_error(api.get("/v1/leads", key=None), 429, "RATE_LIMIT_EXCEEDED")
    assert elsewhere.get("/v1/leads", key=None).status_code == 401
    assert api.get("/v1/leads").status_code == 200  # a valid key has its own window


def test_limits_are_read_from_the_runtime_on_every_request() -> None:
    api, _ = limited(limit=1)
    api.get("/v1/leads")
    assert api.get("/v1/leads").status_code == 429
    api.app.runtime.rate_limit = 5
    response = api.get("/v1/leads")
    assert response.status_code == 200 and response.headers["ratelimit-limit"] == "5"


@pytest.mark.parametrize("path", ["/v1/openapi.json", "/v1/ui/", "/healthz"])
def test_docs_and_health_are_not_limited(path: str) -> None:
    api, _ = limited(limit=1)
    for _ in range(3):
        response = api.get(path)
        assert response.status_code == 200 and "ratelimit-limit" not in response.headers


def test_the_limiter_counts_down_and_resets_after_the_window() -> None:
    runtime = Runtime(latency_ms=None, error_rate=0.0, rate_limit=2, rate_window_seconds=10)
    clock = FakeClock()
    limiter = RateLimiter(runtime, clock)
    assert [limiter.hit("k").remaining for _ in range(2)] == [1, 0]
    assert limiter.hit("k").allowed is False
    clock.now += 10
    assert limiter.hit("k").remaining == 1


def test_the_default_limit_is_2000_a_minute() -> None:
    assert (Settings().rate_limit, Settings().rate_window_seconds) == (2000, 60)


def bounded(max_buckets: int, limit: int = 2, window: int = 60) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    runtime = Runtime.from_settings(Settings(rate_limit=limit, rate_window_seconds=window))
    return RateLimiter(runtime, clock=clock, max_buckets=max_buckets), clock


def test_the_bucket_table_never_grows_past_its_bound() -> None:
    limiter, clock = bounded(max_buckets=100)
    for number in range(40_000):  # forty thousand addresses in one window
        limiter.hit(f"address:10.{number // 65536}.{number // 256 % 256}.{number % 256}")
        clock.now += 0.0001
    assert len(limiter) == 100


def test_when_full_the_oldest_window_makes_room_and_newer_ones_keep_their_counts() -> None:
    limiter, clock = bounded(max_buckets=3)
    for bucket in ("a", "b", "c"):
        limiter.hit(bucket)
        clock.now += 1
    limiter.hit("b")  # b: 2 of 2 used
    limiter.hit("d")  # full: a, the oldest window, goes
    assert not limiter.hit("b").allowed
    assert limiter.hit("a").remaining == 1  # a starts over; b, the oldest window now, made room for it
    assert limiter.hit("d").remaining == 0


def test_expired_windows_are_dropped_as_new_ones_start() -> None:
    limiter, clock = bounded(max_buckets=1000, window=10)
    for number in range(50):
        limiter.hit(f"old-{number}")
    clock.now += 11
    limiter.hit("new")
    assert len(limiter) == 1


def test_a_restarted_window_moves_to_the_young_end() -> None:
    limiter, clock = bounded(max_buckets=2, window=10)
    limiter.hit("a")
    clock.now += 5
    limiter.hit("b")
    clock.now += 6  # a's window is over, b's is not
    limiter.hit("a")  # restarts a: now younger than b
    clock.now += 1
    limiter.hit("c")  # full: b, the oldest live window, goes
    assert limiter.hit("a").remaining == 0 and limiter.hit("b").remaining == 1


class SharedCounts:
    """Windows kept elsewhere (as the PostgreSQL store keeps them), or unreachable when `down`."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.down = False

    def hit_window(self, bucket: str, length: int, limit: int) -> tuple[int, bool, float] | None:
        if self.down:
            return None
        refused = self.hits.get(bucket, 0) >= limit
        if not refused:
            self.hits[bucket] = self.hits.get(bucket, 0) + 1
        return self.hits[bucket], refused, 12.2

    def reset_windows(self) -> None:
        self.hits.clear()


def test_shared_windows_decide_and_this_process_counts_only_while_they_are_unreachable() -> None:
    shared = SharedCounts()
    limiter = RateLimiter(Runtime(None, 0.0, 2, 60), clock=FakeClock(), shared=shared)
    shared.hits["key:a"] = 1  # one request already counted by another process
    first, second = limiter.hit("key:a"), limiter.hit("key:a")
    assert (first.allowed, first.remaining, first.reset) == (True, 0, 13)
    assert not second.allowed and second.headers()["Retry-After"] == "13"
    shared.down = True
    assert limiter.hit("key:a").allowed and limiter.hit("key:a").allowed and not limiter.hit("key:a").allowed
    limiter.reset()
    shared.down = False
    assert shared.hits == {} and limiter.hit("key:a").remaining == 1


class QueuingCounts(SharedCounts):
    """Shared windows that hold a hit back until its count is asked for, as the PostgreSQL store does
    (it sends the hit with the request's read); `log` says in which order things happened."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    def queue_hit(self, bucket: str, length: int, limit: int) -> Any:
        self.log.append("hit queued")
        windows = self

        class Queued:
            def counted(self) -> tuple[int, bool, float] | None:
                windows.log.append("hit counted")
                return windows.hit_window(bucket, length, limit)

        return Queued()


def queuing_api(limit: int, latency_ms: tuple[int, int] | None = None) -> tuple[ApiClient, QueuingCounts]:
    """The rate limit and the faults around an app that logs when it runs and answers 200."""
    shared = QueuingCounts()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        shared.log.append(f"{scope['method']} ran")
        await JSONResponse({"success": True, "data": {}})(scope, receive, send)

    async def sleep(seconds: float) -> None:
        shared.log.append(f"slept {seconds * 1000:.0f} ms")

    runtime = Runtime(latency_ms, 0.0, limit, 60)
    limiter = RateLimiter(runtime, clock=FakeClock(), shared=shared)
    faults = FaultMiddleware(app, runtime, sleep=sleep)
    return ApiClient(RateLimitMiddleware(faults, limiter=limiter, api_keys=ApiKeys([KEY]))), shared


def test_a_get_is_decided_when_its_answer_is_due_and_refused_with_429_over_the_limit() -> None:
    api, shared = queuing_api(limit=1)
    allowed = api.get("/v1/leads")
    assert allowed.status_code == 200 and allowed.headers["RateLimit-Remaining"] == "0"
    assert shared.log == ["hit queued", "GET ran", "hit counted"]  # the hit could go with the app's read
    refused = api.get("/v1/leads")
    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
    assert refused.headers["Retry-After"] == "13" and refused.headers["RateLimit-Remaining"] == "0"
    assert shared.hits == {f"user:{user_id_for(KEY)}": 1}  # the refused request did not count


def test_a_write_is_decided_before_the_app_runs() -> None:
    api, shared = queuing_api(limit=1)
    assert api.post("/v1/leads", json={}).status_code == 200
    assert_error(api.post("/v1/leads", json={}), 429, "RATE_LIMIT_EXCEEDED")
    assert shared.log == ["POST ran"]  # counted at once (hit_window), and the refused one never ran


def test_a_get_over_the_limit_is_refused_before_the_latency_the_mock_was_told_to_add() -> None:
    api, shared = queuing_api(limit=1, latency_ms=(40, 40))
    assert api.get("/v1/leads").status_code == 200
    assert_error(api.get("/v1/leads"), 429, "RATE_LIMIT_EXCEEDED")
    assert shared.log == ["hit queued", "hit counted", "slept 40 ms", "GET ran", "hit queued", "hit counted"]
