"""Success envelopes: `{"success": true, "data": ..., "message"?: ..., "timestamp": ...}` as JSON responses."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .encoding import json_text
from .timestamps import utc_timestamp


def success(data: Any, *, status: int = 200, message: str | None = None) -> Response:
    return success_json(json_text(data), status=status, message=message)


def success_json(data_json: str, *, status: int = 200, message: str | None = None) -> Response:
    """`success` for `data` already encoded by `json_text` (a page spliced from per-lead texts)."""
    message_json = f',"message":{json_text(message)}' if message is not None else ""
    body = f'{{"success":true,"data":{data_json}{message_json},"timestamp":"{utc_timestamp()}"}}'.encode()
    if status < 200 or status in (204, 304):
        return Response(body, status, media_type="application/json")
    return EnvelopeResponse(body, status)


class EnvelopeResponse(Response):
    """A JSON answer with the headers Starlette's `Response` gives it (a length and the type), set directly."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Starlette's two messages, minus its WebSocket and background checks (an envelope has neither)
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})
