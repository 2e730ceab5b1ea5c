"""Fault injection: the `Prefer` header per request and the global latency and error rate."""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_server.controls.faults import MAX_DELAY_MS, FaultMiddleware, Preferences, parse_prefer, sleep_at_least

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass
class Runtime:
    latency_ms: tuple[int, int] | None = None
    error_rate: float = 0.0
    rate_limit: int = 100
    rate_window_seconds: int = 60


class Harness:
    """A small Starlette app behind FaultMiddleware; sleeps are recorded, not slept."""

    def __init__(self, runtime: Runtime | None = None, seed: int = 7) -> None:
        self.runtime = runtime or Runtime()
        self.sleeps: list[float] = []
        self.calls = 0
        routes = [
            Route("/v1/leads", self.answer, methods=["GET", "POST"]),
            Route("/v1/leads/{id}", self.answer, methods=["GET", "PUT", "DELETE"]),
            Route("/v1/leads/{id}/convert", self.answer, methods=["POST"]),
            Route("/health", self.answer),
        ]
        self.app = FaultMiddleware(Starlette(routes=routes), self.runtime, rng=random.Random(seed), sleep=self.sleep)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def answer(self, request: Request) -> Response:
        self.calls += 1
        return JSONResponse({"success": True, "data": {}})

    def call(self, method: str, path: str, prefer: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {b"Prefer": prefer.encode()} if prefer is not None else {}  # bytes: lets non-ASCII through
        return self.many([(method, path, headers, kwargs)])[0]

    def many(self, requests: list[tuple[str, str, dict[bytes, bytes], dict[str, Any]]]) -> list[httpx.Response]:
        async def send() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return [await client.request(m, p, headers=h, **kw) for m, p, h, kw in requests]

        return asyncio.run(send())


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "error", "timestamp"}
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert TIMESTAMP.fullmatch(body["timestamp"])
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["code=503, delay=100"], Preferences(503, 100)),
        (["delay=100,code=404"], Preferences(404, 100)),
        (['Code="500"; detail=x'], Preferences(500, None)),
        (["DELAY=0"], Preferences(None, 0)),
        (["code=500", "code=404"], Preferences(500, None)),  # only the first occurrence counts
        (["dynamic=true, example=x, respond-async"], Preferences(None, None)),
        (["delay=999999"], Preferences(None, MAX_DELAY_MS)),
        (["delay=" + "9" * 5000], Preferences(None, MAX_DELAY_MS)),
    ],
)
def test_prefer_values_are_parsed_like_prism(values: list[str], expected: Preferences) -> None:
    assert parse_prefer(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        "code=abc", "code=200", "code=302", "code=600", "code=-500", "code=5e2", "code=", "code",
        "delay=-5", "delay=1.5", "delay=soon", "delay=١٠",
    ],
)
def test_malformed_preferences_are_ignored(value: str) -> None:
    assert parse_prefer([value]) == Preferences(None, None)
    harness = Harness()
    response = harness.call("GET", "/v1/leads", value)
    assert response.status_code == 200
    assert harness.sleeps == []
    assert "preference-applied" not in response.headers


def test_prefer_code_500_answers_server_error_without_reaching_the_app() -> None:
    harness = Harness()
    response = harness.call("POST", "/v1/leads", "code=500", json={"name": "Jordan Lee"})
    assert_error(response, 500, "SERVER_ERROR")
    assert response.headers["preference-applied"] == "code=500"
    assert harness.calls == 0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "VALIDATION_ERROR"), (401, "INVALID_API_KEY"), (404, "NOT_FOUND"), (413, "PAYLOAD_TOO_LARGE"),
        (415, "UNSUPPORTED_MEDIA_TYPE"), (500, "SERVER_ERROR"), (502, "SERVER_ERROR"), (503, "SERVER_ERROR"),
        (402, "SERVER_ERROR"), (418, "SERVER_ERROR"), (599, "SERVER_ERROR"),
    ],
)
def test_any_4xx_or_5xx_code_answers_the_envelope_with_a_fitting_code(status: int, code: str) -> None:
    assert_error(Harness().call("GET", "/v1/leads/abc", f"code={status}"), status, code)


def test_injected_400_names_the_prefer_header_as_the_offending_field() -> None:
    error = assert_error(Harness().call("GET", "/v1/leads", "code=400"), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "Prefer", "location": "header", "message": error["details"][0]["message"]}]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/leads", "GET, POST"),
        ("POST", "/v1/leads/abc", "GET, PUT, DELETE"),
        ("GET", "/v1/leads/abc/convert", "POST"),
    ],
)
def test_injected_405_carries_the_allow_header_of_the_route(method: str, path: str, allow: str) -> None:
    response = Harness().call(method, path, "code=405")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow


def test_injected_409_on_update_reports_the_version_the_body_sent() -> None:
    response = Harness().call("PUT", "/v1/leads/abc", "code=409", json={"status": "lost", "version": 7})
    error = assert_error(response, 409, "VERSION_CONFLICT")
    assert error["details"] == {"currentVersion": 8, "attemptedVersion": 7}


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"version": "7"}', b'{"version": true}', b""])
def test_injected_409_without_a_usable_version_still_has_valid_details(body: bytes) -> None:
    response = Harness().call("PUT", "/v1/leads/abc", "code=409", content=body)
    error = assert_error(response, 409, "VERSION_CONFLICT")
    assert error["details"] == {"currentVersion": 2, "attemptedVersion": 1}


def test_injected_409_on_convert_answers_already_converted() -> None:
    assert_error(Harness().call("POST", "/v1/leads/abc/convert", "code=409"), 409, "ALREADY_CONVERTED")


def test_injected_429_carries_retry_after_of_the_rate_window() -> None:
    response = Harness(Runtime(rate_window_seconds=42)).call("GET", "/v1/leads", "code=429")
    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert response.headers["retry-after"] == "42"


def test_prefer_delay_waits_then_serves_the_request_normally() -> None:
    harness = Harness()
    response = harness.call("GET", "/v1/leads", "delay=300")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {}}
    assert response.headers["preference-applied"] == "delay=300"
    assert harness.sleeps == [0.3]
    assert harness.calls == 1


def test_code_and_delay_combine() -> None:
    harness = Harness()
    response = harness.call("GET", "/v1/leads", "code=503, delay=100")
    assert_error(response, 503, "SERVER_ERROR")
    assert harness.sleeps == [0.1]
    assert response.headers["preference-applied"] == "delay=100, code=503"


def test_prefer_delay_is_bounded_to_30_seconds() -> None:
    harness = Harness()
    harness.call("GET", "/v1/leads", "delay=120000")
    assert harness.sleeps == [30.0]


def test_global_latency_is_drawn_uniformly_from_the_configured_range() -> None:
    harness = Harness(Runtime(latency_ms=(100, 200)))
    responses = harness.many([("GET", "/v1/leads", {}, {})] * 40)
    assert all(response.status_code == 200 for response in responses)
    assert len(harness.sleeps) == 40
    assert all(0.1 <= seconds <= 0.2 for seconds in harness.sleeps)
    assert len(set(harness.sleeps)) > 1


def test_prefer_delay_replaces_the_global_latency() -> None:
    harness = Harness(Runtime(latency_ms=(1000, 2000)))
    harness.call("GET", "/v1/leads", "delay=5")
    assert harness.sleeps == [0.005]


def test_error_rate_of_one_fails_every_request_with_server_error() -> None:
    harness = Harness(Runtime(error_rate=1.0))
    for response in harness.many([("GET", "/v1/leads", {}, {})] * 10):
        assert_error(response, 500, "SERVER_ERROR")
    assert harness.calls == 0


def test_error_rate_fails_that_fraction_of_requests() -> None:
    harness = Harness(Runtime(error_rate=0.5), seed=3)
    statuses = [response.status_code for response in harness.many([("GET", "/v1/leads", {}, {})] * 200)]
    assert set(statuses) == {200, 500}
    assert 60 <= statuses.count(500) <= 140  # seeded generator: a fixed count near 100
    assert harness.calls == statuses.count(200)


def test_prefer_code_wins_over_the_error_rate() -> None:
    harness = Harness(Runtime(error_rate=1.0))
    assert_error(harness.call("GET", "/v1/leads", "code=404"), 404, "NOT_FOUND")


def test_error_rate_of_zero_never_fails() -> None:
    harness = Harness(Runtime(error_rate=0.0))
    assert {response.status_code for response in harness.many([("GET", "/v1/leads", {}, {})] * 20)} == {200}


def test_settings_changed_at_runtime_apply_to_the_next_request() -> None:
    harness = Harness()
    assert harness.call("GET", "/v1/leads").status_code == 200
    harness.runtime.error_rate = 1.0
    harness.runtime.latency_ms = (50, 50)
    assert_error(harness.call("GET", "/v1/leads"), 500, "SERVER_ERROR")
    assert harness.sleeps == [0.05]


def test_routes_outside_the_leads_api_are_never_faulted() -> None:
    harness = Harness(Runtime(latency_ms=(10, 20), error_rate=1.0))
    response = harness.call("GET", "/health", "code=500, delay=100")
    assert response.status_code == 200
    assert harness.sleeps == []


def test_an_injected_latency_is_not_cut_short_by_a_timer_that_fires_early(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep

    async def early(seconds: float) -> None:  # an event loop whose timer fires before its time
        await real_sleep(seconds * 0.6)

    monkeypatch.setattr(asyncio, "sleep", early)
    started = time.perf_counter()
    asyncio.run(sleep_at_least(0.05))
    assert time.perf_counter() - started >= 0.05
