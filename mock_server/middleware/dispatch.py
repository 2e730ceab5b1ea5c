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
from starlette.types import Receive, Scope, Send

from ..validation import query_values

_NO_DEFAULT = object()


class OperationCall:
    """One operation's handler, with its argument list worked out from the spec ahead of time."""

    def __init__(self, operation: AbstractOperation) -> None:
        self.handler: Callable[..., Any] = operation.function
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
        response = await self.handler(**kwargs)
        await response(scope, receive, send)


class DirectApi(AsyncApi):
    """Connexion's AsyncApi with `OperationCall` in place of its per-request decorating operation."""

    def make_operation(self, operation: AbstractOperation) -> OperationCall:  # type: ignore[override]
        return OperationCall(operation)
