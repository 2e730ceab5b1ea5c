"""Reading a request body as JSON: 413, then 415, then malformed JSON, in that order."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .defects import DefectSwitch
from .envelope import ApiError
from .validation import DIGITS_PATTERN

MAX_BODY_BYTES = 1024 * 1024
NO_BODY = object()


def too_large() -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", "Request body exceeds 1 MiB")


def reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request, defect: DefectSwitch, optional: bool = False) -> Any:
    """The parsed body; for an empty body (any Content-Type) NO_BODY when `optional`, else `{}`."""
    enforce_size = not defect("payload_size_unchecked")
    declared = request.headers.get("content-length", "")
    if enforce_size and DIGITS_PATTERN.fullmatch(declared) and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # stops early, so a huge body is never buffered
        size += len(chunk)
        if enforce_size and size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:  # no bytes, any Content-Type: no body where one is optional, else read as {} (the decisions)
        return NO_BODY if optional else {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not defect("content_type_unchecked"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        if defect("malformed_json_500"):
            raise RuntimeError("body parser crashed") from error
        raise ApiError(400, "INVALID_JSON", "Request body is not valid JSON") from None
