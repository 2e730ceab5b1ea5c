"""Fixed-window rate limiting per API key (per client address without a valid key), with RateLimit headers."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple, Protocol

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import ApiKeys
from .config import Runtime
from .errors import RateLimitExceeded, error_response
from .middleware.exchange import call_with_head_hook

API_PREFIX = "/v1"
UNLIMITED_PREFIXES = ("/v1/ui", "/v1/openapi.json", "/v1/openapi.yaml")  # the docs, not the API
_API_PATHS = API_PREFIX + "/"
MAX_BUCKETS = 10_000  # past this many windows the oldest is dropped (O(1)): memory stays bounded
PENDING_DECISION = "mock.rate_limit_decision"  # the scope key of a GET's decision, while it may still wait


def key_bucket(user_id: str) -> str:
    """The bucket of an accepted API key's user (requests without one count per client address)."""
    return f"user:{user_id}"


class Decision(NamedTuple):  # a tuple: made on every request, and cheaper to make than a frozen dataclass
    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds to the end of the window, rounded up

    def stamp(self, message: Message) -> None:
        """Puts the RateLimit headers of this allowed request on an answer's head (`http.response.start`)."""
        raw = message.setdefault("headers", [])
        if isinstance(raw, list):
            for name, _ in raw:
                if name.startswith(b"ratelimit-"):
                    break
            else:  # the common case, without MutableHeaders' per-name replace
                raw += [(b"ratelimit-limit", b"%d" % self.limit), (b"ratelimit-remaining", b"%d" % self.remaining),
                        (b"ratelimit-reset", b"%d" % self.reset)]
                return
        headers = MutableHeaders(scope=message)
        for name, value in self.headers().items():
            headers[name] = value

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


_new_decision = tuple.__new__


class SharedWindows(Protocol):
    """Windows kept outside the process (in the store's database), so that several processes share them.

    They may also hold a hit back, to send it with the store's next statement: `queue_hit(bucket, length,
    limit)` then returns a `QueuedCount`.
    """

    def hit_window(self, bucket: str, length: int, limit: int) -> tuple[int, bool, float] | None:
        """(requests counted, whether this one was refused, seconds left); None when unreachable."""

    def exhaust_window(self, bucket: str, length: int, limit: int) -> float | None:
        """Spends the rest of the bucket's window; the seconds left, or None when unreachable."""

    def reset_windows(self) -> None: ...


class QueuedCount(Protocol):
    def counted(self) -> tuple[int, bool, float] | None:
        """hit_window's answer for a queued hit: sent now if it still waits."""


class PendingDecision:
    """A request's decision, made when first asked for: until then its hit may wait for the store's next round
    trip (a GET's read), so that one round trip serves both."""

    __slots__ = ("_limiter", "_bucket", "_limit", "_length", "_queued", "_decision")

    def __init__(self, limiter: RateLimiter, bucket: str, limit: int, length: int, queued: QueuedCount) -> None:
        self._limiter, self._bucket, self._limit, self._length = limiter, bucket, limit, length
        self._queued = queued
        self._decision: Decision | None = None

    def __call__(self) -> Decision:
        decision = self._decision
        if decision is None:
            counted = self._queued.counted()
            decision = self._decision = (_shared_decision(counted, self._limit) if counted is not None
                                         else self._limiter.count_here(self._bucket, self._limit, self._length))
        return decision


def _shared_decision(counted: tuple[int, bool, float], limit: int) -> Decision:
    hits, refused, seconds_left = counted
    reset = max(1, math.ceil(seconds_left))
    return Decision(False, limit, 0, reset) if refused else Decision(True, limit, max(0, limit - hits), reset)


class RateLimiter:
    """Windows start at a bucket's first request; limits are read from `Runtime` on every hit.

    With `shared`, windows are counted there; this process's own count stands in while it fails.
    """

    def __init__(self, runtime: Runtime, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = MAX_BUCKETS, shared: SharedWindows | None = None) -> None:
        self.runtime = runtime
        self.clock = clock
        self.max_buckets = max_buckets
        self.shared = shared
        self._queue_hit: Callable[[str, int, int], QueuedCount] | None = getattr(shared, "queue_hit", None)
        # bucket -> [window start, requests counted], oldest window first
        self._windows: OrderedDict[str, list[float]] = OrderedDict()

    def hit(self, bucket: str) -> Decision:
        limit, length = self.runtime.rate_limit, self.runtime.rate_window_seconds
        if self.shared is not None and (counted := self.shared.hit_window(bucket, length, limit)) is not None:
            return _shared_decision(counted, limit)
        return self.count_here(bucket, limit, length)

    def hit_later(self, bucket: str) -> PendingDecision | None:
        """The hit as a decision made when asked for, when the shared windows can queue it; else None."""
        if self._queue_hit is None:
            return None
        limit, length = self.runtime.rate_limit, self.runtime.rate_window_seconds
        return PendingDecision(self, bucket, limit, length, self._queue_hit(bucket, length, limit))

    def count_here(self, bucket: str, limit: int, length: int) -> Decision:
        """A hit counted in this process's own windows."""
        now = self.clock()
        window = self._windows.get(bucket)
        if window is None or now >= window[0] + length:
            windows = self._windows
            while windows:  # drop expired windows from the old end, and the oldest live one when full: O(1) each
                oldest = next(iter(windows.values()))
                if now < oldest[0] + length and (len(windows) < self.max_buckets or bucket in windows):
                    break
                windows.popitem(last=False)
            window = windows[bucket] = [now, 0]
            windows.move_to_end(bucket)
        reset = max(1, math.ceil(window[0] + length - now))
        if window[1] >= limit:
            return Decision(False, limit, 0, reset)  # a refused request does not count
        window[1] += 1
        return _new_decision(Decision, (True, limit, int(limit - window[1]), reset))  # NamedTuple's __new__ minus a call

    def exhaust(self, bucket: str) -> Decision:
        """Spend what is left of the bucket's window (a new one when none is running): the next hit is refused."""
        limit, length = self.runtime.rate_limit, self.runtime.rate_window_seconds
        seconds_left = self.shared.exhaust_window(bucket, length, limit) if self.shared is not None else None
        if seconds_left is not None:
            return Decision(False, limit, 0, max(1, math.ceil(seconds_left)))
        now = self.clock()
        self.hit(bucket)  # the bucket's current window, opened (and the table kept bounded) as by a request
        window = self._windows[bucket]
        window[1] = max(window[1], limit)
        return Decision(False, limit, 0, max(1, math.ceil(window[0] + length - now)))

    def reset(self) -> None:
        self._windows.clear()
        if self.shared is not None:
            self.shared.reset_windows()

    def __len__(self) -> int:
        return len(self._windows)


class RateLimitMiddleware:
    """Answers 429 before anything else, and stamps the RateLimit headers on every API answer."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, api_keys: ApiKeys) -> None:
        self.app = app
        self.limiter = limiter
        self.api_keys = api_keys
        # the bucket of each accepted key as clients send it most often: exactly, without whitespace around it
        self._exact_key_buckets = {key.encode("latin-1"): key_bucket(api_keys.user_for(key) or "")
                                   for key in api_keys.keys}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == API_PREFIX or path.startswith(_API_PATHS)) or path.startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        raw_key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                raw_key = value
                break
        bucket = self._exact_key_buckets.get(raw_key) if raw_key is not None else None
        if bucket is None:
            user = self.api_keys.user_for(raw_key.decode("latin-1") if raw_key is not None else None)
            if user is not None:
                bucket = key_bucket(user)  # the key as the API reads it (whitespace around it is not part of it)
            else:
                client = scope.get("client")
                bucket = f"address:{client[0] if client else 'unknown'}"
        if scope["method"] == "GET" and (pending := self.limiter.hit_later(bucket)) is not None:
            await self._decided_at_the_head(pending, scope, receive, send)
            return
        decision = self.limiter.hit(bucket)
        if not decision.allowed:
            refusal = error_response(RateLimitExceeded(decision.reset, headers=decision.headers()))
            await refusal(scope, receive, send)
            return
        await call_with_head_hook(self.app, scope, receive, send, decision.stamp)

    async def _decided_at_the_head(self, pending: PendingDecision, scope: Scope, receive: Receive,
                                   send: Send) -> None:
        """Runs the app before the decision is made (a GET changes nothing), so that the hit can share the
        read's round trip; decides when the answer's head is due, and answers 429 instead when refused."""
        scope[PENDING_DECISION] = pending
        refused = False

        async def send_decided(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                decision = pending()
                if not decision.allowed:
                    refused = True
                    return
                decision.stamp(message)
            elif refused:
                return
            await send(message)

        try:
            await self.app(scope, receive, send_decided)
        except Exception:
            if pending().allowed:
                raise
        decision = pending()
        if not decision.allowed:  # whatever the app answered, or did not
            await error_response(RateLimitExceeded(decision.reset, headers=decision.headers()))(scope, receive, send)


def refused_by_rate_limit(scope: Scope) -> bool:
    """Whether the rate limit refuses this request, deciding now if its decision was left pending; a step that
    would act on the request (a fault, a delay) asks first, and leaves a refused request to the 429."""
    pending = scope.get(PENDING_DECISION)
    return pending is not None and not pending().allowed
