"""Connexion's request validation step, reordered for the API's rules and built once per operation.

Connexion checks the Content-Type before reading the body and builds its validators on every
request; the API wants, in order: malformed parameters 400, body over 1 MiB 413, non-JSON body
415, malformed JSON 400, invalid fields 400 (an empty convert body being no body at all).
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.request_validation import RequestValidationAPI
from connexion.middleware.request_validation import RequestValidationMiddleware as ConnexionValidation
from connexion.operations import AbstractOperation
from starlette.types import ASGIApp, Receive, Scope, Send

from ..validation import VALIDATOR_MAP


class ValidationOperation:
    def __init__(self, next_app: ASGIApp, *, operation: AbstractOperation, validator_map: dict[str, Any]) -> None:
        self.next_app = next_app
        self.parameters = validator_map["parameter"](operation.parameters, uri_parser=None)
        self.body = None
        if operation.request_body:
            body_validator = validator_map["body"]["application/json"]
            self.body = body_validator(
                schema=operation.body_schema("application/json"),
                required=operation.request_body.get("required", False),
                nullable=False, encoding="utf-8", strict_validation=False,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.parameters.validate(scope)
        if self.body is not None:
            receive, scope = await self.body.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class ValidationAPI(RequestValidationAPI):
    def make_operation(self, operation: AbstractOperation) -> ValidationOperation:  # type: ignore[override]
        return ValidationOperation(self.next_app, operation=operation,
                                   validator_map={**VALIDATOR_MAP, **(self.validator_map or {})})


class RequestValidationMiddleware(ConnexionValidation):
    """Drop-in for Connexion's RequestValidationMiddleware, using the app's `validator_map`."""

    api_cls = ValidationAPI  # type: ignore[assignment]
