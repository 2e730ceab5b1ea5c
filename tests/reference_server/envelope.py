"""Response envelope, wire timestamps and the error type handlers raise."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


def utc_now_ms() -> datetime:
    """Current UTC time truncated to milliseconds, the precision the wire carries."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def later_than(previous: datetime) -> datetime:
    """A millisecond instant strictly after `previous`, so updated_at always moves."""
    return max(utc_now_ms(), previous + timedelta(milliseconds=1))


def format_instant(moment: datetime, with_millis: bool = True) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (zero-padded years, unlike strftime)."""
    utc = moment.astimezone(timezone.utc)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if with_millis:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


class ApiError(Exception):
    """An error answer in the standard envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def payload(self, timestamp: str | None) -> dict[str, Any]:
        """The error envelope; without `timestamp` only on a server built to lack it."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        envelope: dict[str, Any] = {"success": False, "error": error}
        if timestamp is not None:
            envelope["timestamp"] = timestamp
        return envelope


def validation_error(details: list[dict[str, str]]) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", "Request validation failed", details)


def detail(field: str, location: str, message: str) -> dict[str, str]:
    return {"field": field, "location": location, "message": message}
