"""Success envelopes: `{"success": true, "data": ..., "message"?: ..., "timestamp": ...}` as JSON responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from .timestamps import utc_timestamp

json_text = json.JSONEncoder(separators=(",", ":")).encode  # ASCII output: lone surrogates cannot break it


def success(data: Any, *, status: int = 200, message: str | None = None) -> Response:
    return success_json(json_text(data), status=status, message=message)


def success_json(data_json: str, *, status: int = 200, message: str | None = None) -> Response:
    """`success` for `data` already encoded by `json_text` (a page spliced from per-lead texts)."""
    message_json = f',"message":{json_text(message)}' if message is not None else ""
    body = f'{{"success":true,"data":{data_json}{message_json},"timestamp":"{utc_timestamp()}"}}'
    return Response(body.encode(), status, media_type="application/json")
