"""Starlette's CORS middleware, with the common request (no `Origin` header) answered without header objects,
and preflight answers in the API's terms: 204 when allowed, 400 in the error envelope naming what is not."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ValidationFailed, error_response, issue
from .exchange import call_with_head_hook


class PreflightRefused(ValidationFailed):
    default_message = "CORS preflight refused"


class Cors(CORSMiddleware):
    """Same answers as `CORSMiddleware`; a request without `Origin` only gets `Vary: Origin` added.

    Paths under `exempt_prefix` get no CORS at all: no headers, no preflight answered.
    """

    def __init__(self, app: ASGIApp, *, exempt_prefix: str | None = None, **options: Any) -> None:
        super().__init__(app, **options)
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = self.exempt_prefix
        if prefix and scope["type"] == "http" and (scope["path"] == prefix or scope["path"].startswith(prefix + "/")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and not _has_header(scope["headers"], b"origin"):
            await call_with_head_hook(self.app, scope, receive, send, _vary_origin)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's verdict and headers; no text/plain body (the API answers JSON, or nothing)."""
        answer = super().preflight_response(request_headers)
        headers = {name: value for name, value in answer.headers.items() if name not in ("content-type", "content-length")}
        if answer.status_code < 400:
            return Response(status_code=204, headers=headers)
        refused = error_response(PreflightRefused(self._refusals(request_headers)))
        refused.headers.update(headers)
        return refused

    def _refusals(self, request_headers: Headers) -> list[dict[str, str]]:
        """What the preflight asks that is not allowed, one issue per header."""
        issues = []
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin=origin):
            issues.append(issue("Origin", "header", f"{origin} is not an allowed origin (the mock's --cors-origin)"))
        if request_headers["access-control-request-method"] not in self.allow_methods:
            issues.append(issue("Access-Control-Request-Method", "header",
                                f"must be one of {', '.join(self.allow_methods)}"))
        requested = request_headers.get("access-control-request-headers")
        if requested is not None and not self.allow_all_headers and any(
                name.strip().lower() not in self.allow_headers for name in requested.split(",")):
            issues.append(issue("Access-Control-Request-Headers", "header",
                                f"may name only {', '.join(self.allow_headers)}"))
        if request_headers.get("access-control-request-private-network") is not None and not self.allow_private_network:
            issues.append(issue("Access-Control-Request-Private-Network", "header", "private network access is not allowed"))
        return issues or [issue("Origin", "header", "the preflight is refused")]


def _vary_origin(message: Message) -> None:
    """Adds `Origin` to the head's `Vary` values (the answer differs by origin, though this request had none)."""
    raw = message.setdefault("headers", [])
    if isinstance(raw, list) and not _has_vary(raw):
        raw.append((b"vary", b"Origin"))
    else:  # merge with the app's own Vary values, as the parent does
        headers = MutableHeaders(scope=message)
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])


def _has_vary(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether raw `headers` hold a `Vary` header in any case (only names of its length are lowered)."""
    for key, _ in headers:
        if len(key) == 4 and key.lower() == b"vary":
            return True
    return False


def _has_header(headers: Any, name: bytes) -> bool:
    """Whether raw request `headers` (lowercase, as the server gives them) hold `name`; a plain loop."""
    for key, _ in headers:
        if key == name:
            return True
    return False
