"""The one place that turns any error, the API's own or a framework's, into the error envelope."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from .api_errors import (  # noqa: F401 - re-exported for the web-facing modules
    ApiError,
    ValidationFailed,
    InvalidCursor,
    InvalidJson,
    NoUpdates,
    MissingApiKey,
    InvalidApiKey,
    RouteNotFound,
    LeadNotFound,
    MethodNotAllowed,
    VersionConflict,
    AlreadyConverted,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimitExceeded,
    ServerError,
    issue,
)
from .timestamps import utc_timestamp

logger = logging.getLogger("mock_server.errors")


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationFailed, 401: MissingApiKey, 404: RouteNotFound, 405: MethodNotAllowed,
    413: PayloadTooLarge, 415: UnsupportedMediaType,
}


def error_body(error: ApiError) -> bytes:
    payload: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        payload["details"] = error.details
    return json.dumps({"success": False, "error": payload, "timestamp": utc_timestamp()},
                      separators=(",", ":")).encode()


def error_response(error: ApiError) -> Response:
    """For ASGI middlewares that answer by themselves (outside Connexion's exception handling)."""
    return Response(error_body(error), error.status, headers=error.headers, media_type="application/json")


def _connexion_response(error: ApiError) -> ConnexionResponse:
    return ConnexionResponse(status_code=error.status, mimetype="application/json",
                             content_type="application/json", body=error_body(error), headers=error.headers)


class ErrorTranslator:
    """Registered with Connexion for every exception type; each becomes an envelope with the right status."""

    def __init__(self, allowed_methods: Callable[[str], str | None]) -> None:
        self.allowed_methods = allowed_methods  # path -> the `Allow` value of a route of the spec

    def install(self, app: Any) -> None:
        app.add_error_handler(ApiError, self.api_error)
        app.add_error_handler(ProblemException, self.problem)
        app.add_error_handler(HTTPException, self.http_exception)
        app.add_error_handler(Exception, self.unexpected)

    def api_error(self, _request: ConnexionRequest, error: ApiError) -> ConnexionResponse:
        return _connexion_response(error)

    def problem(self, request: ConnexionRequest, problem: ProblemException) -> ConnexionResponse:
        """Connexion's own problems (only reachable through paths the mock does not customise)."""
        return self._by_status(request, problem.status, problem.detail, problem.headers)

    def http_exception(self, request: ConnexionRequest, error: HTTPException) -> ConnexionResponse:
        """Starlette's routing errors: unknown route (404) and wrong method (405)."""
        return self._by_status(request, error.status_code, None, error.headers)

    def _by_status(self, request: ConnexionRequest, status: int, detail: Any,
                   headers: dict[str, str] | None) -> ConnexionResponse:
        kind = _BY_STATUS.get(status)
        error: ApiError
        if kind is ValidationFailed:
            error = ValidationFailed([issue("request", "body", str(detail or "Invalid request"))])
        elif kind is MethodNotAllowed:
            # Starlette lists only the methods of the one route it tried; the spec knows them all
            allow = self.allowed_methods(request.url.path) or (headers or {}).get("Allow", "")
            error = MethodNotAllowed(headers={"Allow": allow})
        elif kind is not None:
            error = kind()
        else:
            logger.error("unmapped error status %s: %s", status, detail)
            error = ServerError()
        return _connexion_response(error)

    def unexpected(self, _request: ConnexionRequest, error: Exception) -> ConnexionResponse:
        logger.error("unexpected error: %r", error, exc_info=error)
        return _connexion_response(ServerError())
