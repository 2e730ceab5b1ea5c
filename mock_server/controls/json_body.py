"""The body of a control route that changes something: one JSON object, read only as `application/json`.

A web page can send `application/json` to another origin only after a CORS preflight, which the
control routes never grant, so no page can change the mock's state through them.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from ..api_errors import ApiError
from ..errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed, error_response, issue


class Invalid(Exception):
    """A bad control request; `answer` is its error envelope."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.answer = error_response(error)


async def json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; Invalid (413, 415, 400) when it is too long, not `application/json`,
    not JSON, or not an object."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise Invalid(PayloadTooLarge(f"Request body exceeds {max_bytes} bytes"))
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Invalid(UnsupportedMediaType())
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise Invalid(InvalidJson()) from error
    if not isinstance(value, dict):
        raise Invalid(ValidationFailed([issue("body", "body", "must be a JSON object")]))
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
