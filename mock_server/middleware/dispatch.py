"""The innermost step of the Connexion stack: call an operation's handler with its validated arguments.

Connexion's own step re-decorates the handler and inspects its signature on every request. Here
all of that is read once per operation: which path and query parameters the handler takes (with
the spec's defaults and integer types), and which context values (`user`, `fields`) it wants.
Parameters reach this step already validated by `LeadParameterValidator`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from connexion.apps.asynchronous import AsyncApi
from connexion.operations import AbstractOperation
from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import HeaderKeyOperation
from ..envelope import EnvelopeResponse
from ..validation import query_values
from .request_validation import ValidationOperation

_NO_DEFAULT = object()


class OperationCall:
    """One operation's handler, with its argument list worked out from the spec ahead of time."""

    def __init__(self, operation: AbstractOperation) -> None:
        self.handler: Callable[..., Any] = operation.function
        self.awaited = inspect.iscoroutinefunction(self.handler)  # the mock's own handlers are plain functions
        accepted = set(inspect.signature(self.handler).parameters)
        self.path_names = [p["name"] for p in operation.parameters if p["in"] == "path" and p["name"] in accepted]
        self.query: list[tuple[str, bool, Any]] = []  # (name, is an integer, spec default)
        for parameter in operation.parameters:
            if parameter["in"] == "query" and parameter["name"] in accepted:
                schema = parameter.get("schema", {})
                self.query.append((parameter["name"], schema.get("type") == "integer",
                                   schema.get("default", _NO_DEFAULT)))
        parameter_names = {p["name"] for p in operation.parameters}
        self.context_names = [name for name in accepted if name not in parameter_names]  # `user`, `fields`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.handler(**self.arguments(scope))
        if self.awaited:
            response = await response
        await response(scope, receive, send)

    def arguments(self, scope: Scope) -> dict[str, Any]:
        """The handler's keyword arguments for the request in `scope`."""
        context = scope.get("extensions", {}).get("connexion_context", {})
        kwargs = {}
        for name in self.context_names:  # a loop: a comprehension is a call of its own
            if name in context:
                kwargs[name] = context[name]
        path_params = scope.get("path_params", {})
        for name in self.path_names:
            kwargs[name] = path_params[name]
        if self.query:
            query = query_values(scope) if scope.get("query_string") else {}
            for name, integer, default in self.query:
                values = query.get(name)
                if values:
                    value = values[-1]  # the last, as Starlette's QueryParams.get (repeats were refused anyway)
                    kwargs[name] = int(value) if integer else value  # validated: plain decimal digits
                elif default is not _NO_DEFAULT:
                    kwargs[name] = default
        return kwargs


class JoinedSteps:
    """An operation's own steps as one: its key check, its request validation, its handler call.

    Each is a step of its own in Connexion's stack (security, validation, the call), and a step
    costs each request a call and a coroutine. Routed requests take them here in one go, in the
    same order and with the same errors; the steps themselves stay in place for Connexion's router.
    """

    def __init__(self, security: HeaderKeyOperation, validation: ValidationOperation, call: OperationCall) -> None:
        self.security, self.validation, self.call = security, validation, call
        self.parameters, self.body, self.handler = validation.parameters, validation.body, call.handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.security.authorize(scope)
        self.parameters.validate(scope)
        if self.body is not None:
            receive, scope = await self.body.wrap_receive(receive, scope=scope)
        response = self.handler(**self.call.arguments(scope))
        if self.call.awaited:
            response = await response
        if type(response) is EnvelopeResponse:  # its two messages, as its own call sends them, minus that call
            await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
            await send({"type": "http.response.body", "body": response.body})
        else:
            await response(scope, receive, send)


def joined_steps(step: ASGIApp) -> ASGIApp:
    """`step` with the steps after it joined (`JoinedSteps`) when they are the mock's own, else `step`."""
    validation = getattr(step, "next_app", None)
    call = getattr(validation, "next_app", None)
    if isinstance(step, HeaderKeyOperation) and step.checks_raw_key and isinstance(validation, ValidationOperation) \
            and type(call) is OperationCall:
        return JoinedSteps(step, validation, call)
    return step


class DirectApi(AsyncApi):
    """Connexion's AsyncApi with `OperationCall` in place of its per-request decorating operation."""

    def make_operation(self, operation: AbstractOperation) -> OperationCall:  # type: ignore[override]
        return OperationCall(operation)
