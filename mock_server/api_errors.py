"""The API's errors as plain exceptions (code, status, message, details), free of any web framework.

The store and the cursors raise them; `errors.py` is the one place that turns them, and every
other failure, into the error envelope.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than success. `status` is what Connexion's security layer ranks errors by."""

    status = 500
    code = "SERVER_ERROR"
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, details: Any = None, headers: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


def issue(field: str, location: str, message: str) -> dict[str, str]:
    """One entry of a VALIDATION_ERROR's `details`."""
    return {"field": field, "location": location, "message": message}


class ValidationFailed(ApiError):
    status, code, default_message = 400, "VALIDATION_ERROR", "Invalid request data"

    def __init__(self, issues: list[dict[str, str]]):
        super().__init__(details=issues)


class InvalidCursor(ValidationFailed):
    def __init__(self, message: str = "cursor is not a cursor this API issued") -> None:
        super().__init__([issue("cursor", "query", message)])


class InvalidJson(ApiError):
    status, code, default_message = 400, "INVALID_JSON", "Request body is not valid JSON"


class NoUpdates(ApiError):
    status, code, default_message = 400, "NO_UPDATES", "No updatable fields provided"


class MissingApiKey(ApiError):
    status, code, default_message = 401, "NO_AUTH_TOKEN", "API key required in the X-API-Key header"


class InvalidApiKey(ApiError):
    status, code, default_message = 401, "INVALID_API_KEY", "Invalid API key"


class RouteNotFound(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "Route not found"


class LeadNotFound(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "Lead not found"


class DatasetNotFound(ApiError, KeyError):
    """No saved data set has this name (a KeyError too, for code that looks names up)."""

    status, code, default_message = 404, "NOT_FOUND", "Data set not found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No data set named {name!r}")
        self.name = name

    def __str__(self) -> str:  # KeyError's own would quote the message
        return self.message


class MethodNotAllowed(ApiError):
    status, code, default_message = 405, "METHOD_NOT_ALLOWED", "Method not allowed"


class VersionConflict(ApiError):
    status, code, default_message = 409, "VERSION_CONFLICT", "Lead was modified by another request"

    def __init__(self, current: int, attempted: int) -> None:
        super().__init__(details={"currentVersion": current, "attemptedVersion": attempted})
        self.current, self.attempted = current, attempted


class AlreadyConverted(ApiError):
    status, code, default_message = 409, "ALREADY_CONVERTED", "Lead has already been converted to a client"


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 1 MiB"


class UnsupportedMediaType(ApiError):
    status, code, default_message = 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json"


class RateLimitExceeded(ApiError):
    status, code = 429, "RATE_LIMIT_EXCEEDED"

    def __init__(self, retry_after: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"Too many requests, retry after {retry_after} seconds", headers=headers)


class ServerError(ApiError):
    pass


class DatabaseUnavailable(ServerError):
    """The store's database failed; the message names it (never its password) and what went wrong."""

    def __init__(self, database: str, problem: str) -> None:
        super().__init__(f"The mock's database {database} is unavailable: {problem}")
