"""Mock-only control routes under `/__mock`: reset, inspection, the request journal and runtime settings."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..envelope import success
from ..errors import ApiError, MethodNotAllowed, MissingApiKey, NoUpdates
from ..errors import RouteNotFound, ValidationFailed, error_response, issue
from .faults import MAX_DELAY_MS
from ..option_values import MAX_RATE_LIMIT, MAX_RATE_WINDOW_SECONDS
from .journal import Journal, mask_api_key
from .json_body import Invalid, json_object
from .panel import ControlPanel

ADMIN_PREFIX = "/__mock"
MAX_SETTINGS_BODY = 64 * 1024
SETTINGS = ("latency_ms", "error_rate", "rate_limit", "rate_window_seconds")
MAX_JOURNAL_WAIT_SECONDS = 30
Endpoint = Callable[[Request], Awaitable[Response]]


class AdminStore(Protocol):
    def reset(self) -> None: ...

    def inspect(self, api_key: str) -> dict[str, list[dict[str, Any]]]: ...


class AdminSettings(Protocol):
    latency_ms: tuple[int, int] | None
    error_rate: float
    rate_limit: int
    rate_window_seconds: int


class InvalidAdminToken(ApiError):
    status, code, default_message = 401, "INVALID_AUTH_TOKEN", "The admin token is wrong"


class UnknownApiKey(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "Unknown API key; GET /__mock/keys lists them"


def admin_routes(
    store: AdminStore,
    journal: Journal,
    runtime: AdminSettings,
    admin_token: str | None,
    *,
    api_keys: Sequence[str] | None = None,
    on_reset: Callable[[], None] | None = None,
    panel: ControlPanel | None = None,
) -> list[BaseRoute]:
    """Every `/__mock` route; with `admin_token` each needs `Authorization: Bearer <admin_token>`.

    `api_keys` are the accepted keys in order (the first is the default for inspection); when not
    given, the store's own `api_keys` attribute is used. `on_reset` runs after a reset, to
    clear state kept outside the store (the rate-limit windows). `panel` adds the control panel's
    page at `/__mock/` (public) and its routes (guarded like the others).
    """
    if admin_token == "":
        raise ValueError("the admin token must not be empty; pass None to leave /__mock open")
    keys = tuple(api_keys if api_keys is not None else getattr(store, "api_keys", ()))
    guard = _bearer_guard(admin_token)

    async def reset(request: Request) -> Response:
        store.reset()
        if on_reset is not None:
            on_reset()
        return success({}, message="State reset to the fixtures")

    async def list_keys(request: Request) -> Response:
        reveal = _reveal(request)
        if reveal is None:
            return error_response(ValidationFailed([issue("reveal", "query", "must be true or false")]))
        return success({"keys": [key if reveal else mask_api_key(key) for key in keys], "masked": not reveal})

    def inspection(kind: str) -> Endpoint:
        async def inspect(request: Request) -> Response:
            api_key = request.query_params.get("api_key", keys[0] if keys else "")
            if api_key not in keys:
                return error_response(UnknownApiKey())
            try:
                records = store.inspect(api_key)[kind]
            except KeyError:
                return error_response(UnknownApiKey())
            reveal = _reveal(request)
            if reveal is None:
                return error_response(ValidationFailed([issue("reveal", "query", "must be true or false")]))
            shown = api_key if reveal else mask_api_key(api_key)
            return success({"api_key": shown, "total": len(records), kind: records})

        return inspect

    async def read_journal(request: Request) -> Response:
        """Newest first; `after=SEQ` only entries numbered above it, `wait=S` holds the answer up to S
        seconds until there is one (a long poll: the panel follows the journal with it)."""
        params = request.query_params
        limit = after = wait = None
        problems = []
        if (raw := params.get("limit")) is not None and (limit := _positive_int(raw)) is None:
            problems.append(issue("limit", "query", "must be a whole number of at least 1"))
        if (raw := params.get("after")) is not None and (after := _positive_int(raw or "x", zero=True)) is None:
            problems.append(issue("after", "query", "must be a whole number of at least 0"))
        if (raw := params.get("wait")) is not None and (
                (wait := _positive_int(raw or "x", zero=True)) is None or wait > MAX_JOURNAL_WAIT_SECONDS):
            problems.append(issue("wait", "query", f"must be whole seconds from 0 to {MAX_JOURNAL_WAIT_SECONDS}"))
        if problems:
            return error_response(ValidationFailed(problems))
        if wait:
            await journal.wait_for_newer(after or 0, wait, request.receive)
        entries = [entry.as_dict() for entry in journal.newest(limit, after=after or 0)]
        return success({"entries": entries, "total": len(journal), "capacity": journal.capacity,
                        "last_seq": journal.last_seq, "bytes": journal.bytes, "max_bytes": journal.max_bytes})

    async def clear_journal(request: Request) -> Response:
        return success({"removed": journal.clear()}, message="Journal cleared")

    async def read_settings(request: Request) -> Response:
        return success(_settings_view(runtime))

    async def change_settings(request: Request) -> Response:
        try:
            changes = await json_object(request, MAX_SETTINGS_BODY)
        except Invalid as invalid:
            return invalid.answer
        if not changes:
            return error_response(NoUpdates(f"No settings given; known settings: {', '.join(SETTINGS)}"))
        problems = [problem for name, value in changes.items() if (problem := _setting_problem(name, value))]
        if problems:
            return error_response(ValidationFailed(problems))
        for name, value in changes.items():
            setattr(runtime, name, tuple(value) if name == "latency_ms" and value is not None else value)
        return success(_settings_view(runtime), message="Settings updated")

    endpoints: list[tuple[str, Endpoint, str]] = [
        ("/reset", reset, "POST"),
        ("/keys", list_keys, "GET"),
        ("/leads", inspection("leads"), "GET"),
        ("/contacts", inspection("contacts"), "GET"),
        ("/clients", inspection("clients"), "GET"),
        ("/journal", read_journal, "GET"),
        ("/journal", clear_journal, "DELETE"),
        ("/settings", read_settings, "GET"),
        ("/settings", change_settings, "PATCH"),
        *(panel.endpoints() if panel else ()),
    ]
    routes: list[BaseRoute] = panel.page_routes(ADMIN_PREFIX) if panel else []  # public: the page holds no data
    routes += [Route(ADMIN_PREFIX + path, guard(endpoint), methods=[method]) for path, endpoint, method in endpoints]
    return routes


class AdminMiddleware:
    """Pure ASGI middleware answering every `/__mock` path from `routes` and passing the rest on.

    Sitting in front of the API's routing and security, the control routes never meet the spec.
    Unknown paths get 404 and known paths with another method 405 (with `Allow`), both enveloped.
    """

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        allowed: set[str] = set()
        for route in self.routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                await route.handle({**scope, **child_scope}, receive, send)
                return
            if match is Match.PARTIAL and isinstance(route, Route) and route.methods:
                allowed |= route.methods
        if allowed:
            allow = ", ".join(sorted(allowed))
            response = error_response(MethodNotAllowed(f"Allowed methods: {allow}", headers={"Allow": allow}))
        else:
            response = error_response(RouteNotFound(f"No mock control route at {path}"))
        await response(scope, receive, send)


def _bearer_guard(token: str | None) -> Callable[[Endpoint], Endpoint]:
    def guard(endpoint: Endpoint) -> Endpoint:
        if token is None:
            return endpoint

        async def guarded(request: Request) -> Response:
            challenge = {"WWW-Authenticate": 'Bearer realm="mock controls"'}
            header = request.headers.get("authorization", "").strip()
            if not header:
                return error_response(MissingApiKey("Send Authorization: Bearer <admin token>", headers=challenge))
            scheme, _, given = header.partition(" ")
            # Compare raw bytes in constant time; header values arrive as latin-1 text.
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("latin-1"), token.encode("utf-8")
            ):
                return error_response(InvalidAdminToken(headers=challenge))
            return await endpoint(request)

        return guarded

    return guard


def _settings_view(runtime: AdminSettings) -> dict[str, Any]:
    latency = runtime.latency_ms
    return {
        "latency_ms": list(latency) if latency is not None else None,
        "error_rate": runtime.error_rate,
        "rate_limit": runtime.rate_limit,
        "rate_window_seconds": runtime.rate_window_seconds,
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _setting_problem(name: str, value: Any) -> dict[str, str] | None:
    """Why `value` is not acceptable for setting `name`, or None when it is."""
    if name == "latency_ms":
        if value is None:
            return None
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(_is_int(bound) for bound in value)
            and 0 <= value[0] <= value[1] <= MAX_DELAY_MS
        ):
            return None
        return issue(name, "body", f"must be null or [min, max] whole milliseconds, 0 <= min <= max <= {MAX_DELAY_MS}")
    if name == "error_rate":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
            return None
        return issue(name, "body", "must be a number from 0 to 1")
    if name in ("rate_limit", "rate_window_seconds"):
        highest = MAX_RATE_LIMIT if name == "rate_limit" else MAX_RATE_WINDOW_SECONDS
        if _is_int(value) and 1 <= value <= highest:
            return None
        return issue(name, "body", f"must be a whole number from 1 to {highest}")
    return issue(name, "body", f"unknown setting; known settings: {', '.join(SETTINGS)}")


def _reveal(request: Request) -> bool | None:
    """`?reveal=true` shows API keys in full; None when the value is neither true nor false."""
    raw = request.query_params.get("reveal", "false").strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(raw)


def _positive_int(raw: str, *, zero: bool = False) -> int | None:
    if not (raw.isascii() and raw.isdigit()):
        return None
    number = int(raw) if len(raw) <= 9 else 10**9  # int() refuses very long digit strings
    return number if number >= (0 if zero else 1) else None
