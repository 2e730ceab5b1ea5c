"""The API's operations: validated arguments in, one store call, an envelope out.

The spec routes each operationId to a method of `LeadsApi` through `OperationResolver`; Connexion
passes the caller's user id as `user` (security context) and the validated body as `fields`.
"""

from __future__ import annotations

import re
from typing import Any

from connexion.exceptions import ResolverError
from connexion.operations import AbstractOperation
from connexion.resolver import Resolution, Resolver
from starlette.responses import Response

from .envelope import success, success_json
from .store import LeadStore, cursors


class LeadsApi:
    """The operations' handlers: plain functions (nothing in them waits), called as they are by `OperationCall`."""

    def __init__(self, store: LeadStore) -> None:
        self.store = store

    def list_leads(self, user: str, page: int = 1, limit: int = 25, status: str | None = None,
                         interest_level: str | None = None, cursor: str | None = None) -> Response:
        position = cursors.decode(cursor) if cursor is not None else None
        found = self.store.list_leads(user, status=status, interest_level=interest_level, limit=limit, page=page,
                                      position=position)
        return success_json(cursors.page_json(found, limit))

    def create_lead(self, user: str, fields: dict[str, Any]) -> Response:
        return success(self.store.create(user, fields), status=201, message="Lead created successfully")

    def get_lead(self, user: str, id: str) -> Response:  # noqa: A002 - the spec's parameter name
        return success_json(self.store.get_json(user, id))

    def update_lead(self, user: str, id: str, fields: dict[str, Any]) -> Response:  # noqa: A002
        changes = dict(fields)
        version = changes.pop("version", None)  # the lock, not a change
        return success(self.store.update(user, id, changes, version))

    def delete_lead(self, user: str, id: str) -> Response:  # noqa: A002
        self.store.delete(user, id)
        return success({}, message="Lead deleted successfully")

    def convert_lead(self, user: str, id: str, fields: dict[str, Any]) -> Response:  # noqa: A002
        conversion = self.store.convert(user, id, fields.get("clientType", "buyer"))
        return success(conversion, message="Lead successfully converted to client")


class OperationResolver(Resolver):
    """operationId `convertLead` -> bound method `convert_lead` of one `LeadsApi`."""

    def __init__(self, api: LeadsApi) -> None:
        super().__init__()
        self.api = api

    def resolve(self, operation: AbstractOperation) -> Resolution:
        operation_id = operation.operation_id
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
        handler = getattr(self.api, name, None)
        if handler is None:
            raise ResolverError(f"no handler {name!r} for operationId {operation_id!r}")
        return Resolution(handler, operation_id)
