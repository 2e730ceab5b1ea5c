"""Fault injection on the Leads API routes: the `Prefer` header per request, chaos settings globally."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ApiError, error_response, issue
from ..ratelimit import refused_by_rate_limit
from .prefer import MAX_DELAY_MS, NO_PREFERENCES, Preferences, parse_prefer, prefer_values

__all__ = ["MAX_DELAY_MS", "FaultMiddleware", "ForcedAnswers", "Preferences", "parse_prefer", "sleep_at_least"]

API_PATH = "/v1/leads"
MAX_PEEKED_BODY = 1024 * 1024
# Status -> the spec's error code. Every other status answers SERVER_ERROR, the only code in the
# spec's ErrorCode enum that is not tied to one status.
ERROR_CODES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_API_KEY",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "VERSION_CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
}
_ALLOWED_METHODS = (
    (re.compile(r"/v1/leads"), "GET, POST"),
    (re.compile(r"/v1/leads/[^/]+"), "GET, PUT, DELETE"),
    (re.compile(r"/v1/leads/[^/]+/convert"), "POST"),
)


# (method, path shape) -> the spec's operationId, for the answers forced per operation
OPERATIONS = (
    ("GET", re.compile(r"/v1/leads"), "listLeads"),
    ("POST", re.compile(r"/v1/leads"), "createLead"),
    ("GET", re.compile(r"/v1/leads/[^/]+"), "getLead"),
    ("PUT", re.compile(r"/v1/leads/[^/]+"), "updateLead"),
    ("DELETE", re.compile(r"/v1/leads/[^/]+"), "deleteLead"),
    ("POST", re.compile(r"/v1/leads/[^/]+/convert"), "convertLead"),
)
OPERATION_IDS = tuple(operation_id for _, _, operation_id in OPERATIONS)


class ForcedAnswers:
    """The status every request of an operation answers with, until cleared: {operationId: status}."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def set(self, operation_id: str, status: int | None) -> None:
        if operation_id not in OPERATION_IDS:
            raise ValueError(f"unknown operation {operation_id!r}")
        if status is None:
            self.codes.pop(operation_id, None)
        elif 400 <= status <= 599:
            self.codes[operation_id] = status
        else:
            raise ValueError("a forced status is 400..599")

    def status_for(self, method: str, path: str) -> tuple[str, int] | None:
        """(operationId, status) when the operation of this request has a forced status."""
        for operation_method, shape, operation_id in OPERATIONS:
            if method == operation_method and operation_id in self.codes and shape.fullmatch(path):
                return operation_id, self.codes[operation_id]
        return None


class FaultSettings(Protocol):
    latency_ms: tuple[int, int] | None
    error_rate: float
    rate_window_seconds: int


def is_leads_path(path: str) -> bool:
    """True for the API's own routes, `/v1/leads` and everything below it."""
    return path == API_PATH or path.startswith(API_PATH + "/")


async def sleep_at_least(seconds: float) -> None:
    """`asyncio.sleep`, made up to `seconds` by the clock: the event loop reads its clock once a step, so
    its timer can fire a fraction of a millisecond before `seconds` have passed, and an injected
    latency must not be shorter than asked."""
    deadline = time.perf_counter() + seconds
    await asyncio.sleep(seconds)
    while (left := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(left)


class InjectedFault(ApiError):
    """An error answer the caller or the chaos settings asked for; any status, any code."""

    def __init__(self, status: int, code: str, message: str, details: Any, headers: dict[str, str]) -> None:
        super().__init__(message, details, headers)
        self.status, self.code = status, code


class FaultMiddleware:
    """Pure ASGI middleware that delays or fails `/v1/leads*` requests on demand.

    `Prefer: delay=N` replaces the global latency for its request; `Prefer: code=N` wins over an
    operation's forced status, which wins over the global error rate. Failures answer before the
    wrapped app runs, so nothing changes.
    """

    def __init__(
        self,
        app: ASGIApp,
        runtime: FaultSettings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        forced: ForcedAnswers | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.forced = forced or ForcedAnswers()
        self.rng = rng or random.Random()
        self.sleep = sleep or sleep_at_least

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_leads_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        values = prefer_values(scope["headers"])
        runtime = self.runtime
        if not values and runtime.latency_ms is None and not self.forced.codes and runtime.error_rate <= 0:
            await self.app(scope, receive, send)  # nothing asked, nothing configured: the common request
            return
        if refused_by_rate_limit(scope):
            return  # the rate limit answers 429, with nothing delayed or failed
        prefer = parse_prefer(values) if values else NO_PREFERENCES
        applied: list[str] = []
        if prefer.delay_ms is not None:
            delay_ms: float = prefer.delay_ms
            applied.append(f"delay={prefer.delay_ms}")
        else:
            delay_ms = self._random_latency()
        if delay_ms > 0:
            await self.sleep(delay_ms / 1000)

        if prefer.code is not None:
            applied.append(f"code={prefer.code}")
            reason = f"Prefer: code={prefer.code}"
            await self._fail(prefer.code, reason, applied, scope, receive, send)
        elif self.forced.codes and (forced := self.forced.status_for(scope["method"], scope["path"])):
            await self._fail(forced[1], f"status forced for {forced[0]}", applied, scope, receive, send)
        elif self.runtime.error_rate > 0 and self.rng.random() < self.runtime.error_rate:
            await self._fail(500, f"error_rate {self.runtime.error_rate}", applied, scope, receive, send)
        elif applied:
            await self.app(scope, receive, _with_header(send, b"preference-applied", ", ".join(applied)))
        else:
            await self.app(scope, receive, send)

    def _random_latency(self) -> float:
        if self.runtime.latency_ms is None:
            return 0.0
        low, high = self.runtime.latency_ms
        return self.rng.uniform(low, high)

    async def _fail(
        self, status: int, reason: str, applied: list[str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        path = scope["path"]
        code = ERROR_CODES.get(status, "SERVER_ERROR")
        headers = {"Preference-Applied": ", ".join(applied)} if applied else {}
        details: Any = None
        if status == 400:
            details = [issue("Prefer", "header", f"Injected by the mock ({reason})")]
        elif status == 405:
            allow = next((methods for shape, methods in _ALLOWED_METHODS if shape.fullmatch(path)), None)
            if allow:
                headers["Allow"] = allow
        elif status == 409 and path.endswith("/convert"):
            code = "ALREADY_CONVERTED"
        elif status == 409:
            attempted = await _attempted_version(receive)
            details = {"currentVersion": attempted + 1, "attemptedVersion": attempted}
        elif status == 429:
            headers["Retry-After"] = str(self.runtime.rate_window_seconds)
        message = f"{_phrase(status)} (fault injected by the mock: {reason})"
        await error_response(InjectedFault(status, code, message, details, headers))(scope, receive, send)


async def _attempted_version(receive: Receive) -> int:
    """The `version` the request body carries (so an injected conflict looks real), else 1."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_PEEKED_BODY:
            return 1
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        version = json.loads(b"".join(chunks)).get("version")
    except (ValueError, RecursionError, AttributeError):
        return 1
    return version if isinstance(version, int) and not isinstance(version, bool) and version >= 1 else 1


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a code the standard library does not name, such as 599
        return "Error"


def _with_header(send: Send, name: bytes, value: str) -> Send:
    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (name, value.encode("latin-1"))]}
        await send(message)

    return send_with_header
