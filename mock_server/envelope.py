"""Success envelopes: `{"success": true, "data": ..., "message"?: ..., "timestamp": ...}` as JSON responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from .timestamps import utc_timestamp

_encode = json.JSONEncoder(separators=(",", ":")).encode  # ASCII output: lone surrogates cannot break it


def success(data: Any, *, status: int = 200, message: str | None = None) -> Response:
    body: dict[str, Any] = {"success": True, "data": data}
    if message is not None:
        body["message"] = message
    body["timestamp"] = utc_timestamp()
    return Response(_encode(body).encode(), status, media_type="application/json")
