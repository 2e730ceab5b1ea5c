"""Reading a request body as JSON: 413, then 415, then malformed JSON, in that order."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .defects import DefectCrash, DefectSwitch
from .envelope import ApiError
from .validation import DIGITS_PATTERN

MAX_BODY_BYTES = 1024 * 1024
DEFECTIVE_MAX_BODY_BYTES = 1_000_000
NO_BODY = object()


def too_large(limit: int) -> ApiError:
    shown = "1 MiB" if limit == MAX_BODY_BYTES else f"{limit} bytes"
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {shown}")


def reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def holds_lone_surrogate(document: Any) -> bool:
    """Whether any string (key or value) holds a surrogate escape not paired into one character."""
    pending = [document]
    while pending:  # iterative: documents nest as deep as the parser allows
        item = pending.pop()
        if isinstance(item, str):
            if any("\ud800" <= char <= "\udfff" for char in item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


async def read_json(request: Request, defect: DefectSwitch, optional: bool = False) -> Any:
    """The parsed body. An empty body is NO_BODY when `optional`, else `{}` (any Content-Type)."""
    enforce_size = not defect("payload_size_unchecked")
    limit = DEFECTIVE_MAX_BODY_BYTES if defect("body_limit_1000000") else MAX_BODY_BYTES
    declared = request.headers.get("content-length", "")
    if enforce_size and DIGITS_PATTERN.fullmatch(declared) and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # stops early, so a huge body is never buffered
        size += len(chunk)
        if enforce_size and size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:  # as the upstream's JSON parser reads a request without a body
        return NO_BODY if optional else {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not defect("content_type_unchecked"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        if defect("malformed_json_500"):
            raise DefectCrash("body parser crashed") from error
        raise ApiError(400, "INVALID_JSON", "Request body is not valid JSON") from None
    if holds_lone_surrogate(document):
        raise ApiError(400, "INVALID_JSON", "Request body holds a lone surrogate escape, which is not text")
    return document
