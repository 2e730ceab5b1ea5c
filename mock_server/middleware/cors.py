"""Starlette's CORS middleware, with the common request (no `Origin` header) answered without header objects."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .exchange import call_with_head_hook


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
