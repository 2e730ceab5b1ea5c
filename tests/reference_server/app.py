"""The Leads API as a plain Starlette application with one dispatcher.

A single dispatcher (instead of Starlette routing) keeps the documented order of answers:
rate limit, unknown route, method, auth, malformed id, 413, 415, malformed JSON,
validation, NO_UPDATES, the lead's 404, 409.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from .body import NO_BODY, read_json
from .defects import DefectCrash, DefectSwitch
from .envelope import ApiError, detail, format_instant, json_response, utc_now_ms, validation_error
from .listing import build_page, decode_cursor
from .ratelimit import FixedWindowLimiter
from .store import Lead, LeadStore, as_documented
from .validation import (
    CONVERT_RULES, CREATE_RULES, OTHER_NAME_RULES, UPDATE_RULES, is_uuid, validate_body, validate_list_query,
)

ALLOWED_METHODS = {"collection": ("GET", "POST"), "item": ("GET", "PUT", "DELETE"), "convert": ("POST",)}
# HTTP field values exclude surrounding whitespace (RFC 9110 5.5): only spaces and tabs.
FIELD_WHITESPACE = " \t"
logger = logging.getLogger(__name__)


def api_key_of(request: Request) -> str:
    return request.headers.get("x-api-key", "").strip(FIELD_WHITESPACE)


class LeadsApi:
    """ASGI endpoint answering every path; tenants are the configured API keys."""

    def __init__(self, api_keys: list[str], defect: DefectSwitch, rate_limit: int, window_seconds: int) -> None:
        self.defect = defect
        self.users = {key: str(uuid.uuid4()) for key in api_keys}
        self.shared_tenant = str(uuid.uuid4())
        self.store = LeadStore(defect)
        self.limiter = FixedWindowLimiter(rate_limit, window_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # refuse the handshake; the API is HTTP only
                await send({"type": "websocket.close", "code": 1008})
            return
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    def timestamp(self) -> str:
        return format_instant(utc_now_ms(), with_millis=not self.defect("timestamp_without_millis"))

    def success(self, data: Any, status: int = 200, message: str | None = None) -> Response:
        payload: dict[str, Any] = {"success": True, "data": data}
        if message is not None:
            payload["message"] = message
        payload["timestamp"] = self.timestamp()
        return json_response(status, payload)

    def failure(self, error: ApiError) -> Response:
        timestamp = None if self.defect("errors_without_timestamp") else self.timestamp()
        return json_response(error.status, error.payload(timestamp), error.headers)

    def enum_style(self, value: str) -> str:
        """How enum values read in responses: the documented lowercase ones."""
        return value.capitalize() if self.defect("capitalised_enums") else as_documented(value)

    async def respond(self, request: Request) -> Response:
        path: str = request.scope["path"]
        if path == "/healthz":
            if request.method != "GET":
                return self.failure(ApiError(405, "METHOD_NOT_ALLOWED", "Method not allowed", headers={"Allow": "GET"}))
            return json_response(200, {"status": "ok"})
        key = api_key_of(request)
        client_host = request.client.host if request.client else "unknown"
        bucket = f"key:{key}" if key in self.users else f"addr:{client_host}"
        verdict = self.limiter.hit(bucket, enforce=not self.defect("rate_limit_not_enforced"))
        try:
            if not verdict.allowed:
                retry = {"Retry-After": str(verdict.reset_seconds)}
                raise ApiError(429, "RATE_LIMIT_EXCEEDED", "Too many requests; retry after the window resets", headers=retry)
            response = await self.dispatch(request, path)
        except ApiError as error:
            response = self.failure(error)
        except DefectCrash as crash:
            logger.info("deliberate server error: %s", crash)
            response = self.failure(ApiError(500, "SERVER_ERROR", "Internal server error"))
        except Exception:  # an answer, never a traceback, whatever went wrong
            logger.exception("unhandled error")
            response = self.failure(ApiError(500, "SERVER_ERROR", "Internal server error"))
        if not self.defect("rate_limit_headers_missing"):
            response.headers.update(verdict.headers())
        return response

    async def dispatch(self, request: Request, path: str) -> Response:
        route = self.match_route(path)
        if route is None:
            if self.defect("unknown_route_plain_text"):
                return PlainTextResponse("Not Found", status_code=404)
            raise ApiError(404, "NOT_FOUND", f"Route {request.method} {path} not found")
        name, raw_id = route
        allowed = ALLOWED_METHODS[name]
        if request.method not in allowed:
            allow = {} if self.defect("allow_header_missing") else {"Allow": ", ".join(allowed)}
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"Method {request.method} not allowed", headers=allow)
        user = self.authenticate(request)
        if raw_id is not None and not is_uuid(raw_id):
            if self.defect("malformed_id_404"):
                raise ApiError(404, "NOT_FOUND", "Lead not found")
            raise validation_error([detail("id", "path", "must be a UUID")])
        lead_id = (raw_id or "").lower()
        if name == "collection":
            return await (self.list_leads(request, user) if request.method == "GET" else self.create_lead(request, user))
        if name == "convert":
            return await self.convert_lead(request, user, lead_id)
        if request.method == "GET":
            return self.success(self.show(self.owned_lead(user, lead_id, "GET")))
        if request.method == "PUT":
            return await self.update_lead(request, user, lead_id)
        return self.delete_lead(user, lead_id)

    def match_route(self, path: str) -> tuple[str, str | None] | None:
        if path == "/v1/leads/" and self.defect("trailing_slash_served"):
            path = "/v1/leads"
        if path == "/v1/leads":
            return "collection", None
        parts = path.split("/")
        if len(parts) not in (4, 5) or parts[:3] != ["", "v1", "leads"] or not parts[3]:
            return None
        if len(parts) == 4:
            return "item", parts[3]
        return ("convert", parts[3]) if parts[4] == "convert" else None

    def authenticate(self, request: Request) -> str | None:
        """The caller's user id; None only where a defect skips authentication."""
        present = "x-api-key" in request.headers
        key = api_key_of(request)
        if key in self.users:
            return self.users[key]
        if request.method == "DELETE" and self.defect("delete_skips_auth"):
            return None
        if not key:
            if present and self.defect("empty_key_invalid"):
                raise ApiError(401, "INVALID_API_KEY", "Invalid API key")
            raise ApiError(401, "NO_AUTH_TOKEN", "Missing X-API-Key header")
        if self.defect("any_api_key_accepted"):
            return self.shared_tenant
        raise ApiError(401, "INVALID_API_KEY", "Invalid API key")

    def owned_lead(self, user: str | None, lead_id: str, method: str) -> Lead:
        """The caller's lead; a foreign lead is as absent as a missing one."""
        lead = self.store.find(lead_id)
        if lead is not None and lead.user_id != user:
            if method == "GET" and self.defect("get_ignores_owner"):
                return lead
            if method == "PUT" and self.defect("foreign_lead_403"):
                raise ApiError(403, "FORBIDDEN", "Lead belongs to another user")
            lead = None
        if lead is None:
            if self.defect("missing_lead_403"):
                raise ApiError(403, "FORBIDDEN", "You do not have access to this lead")
            raise ApiError(404, "NOT_FOUND", "Lead not found")
        return lead

    def show(self, lead: Lead) -> dict[str, Any]:
        return lead.represent(omit_nulls=self.defect("null_fields_omitted"), enum_style=self.enum_style)

    async def list_leads(self, request: Request, user: str | None) -> Response:
        query, errors = validate_list_query(dict(request.query_params), self.defect)
        cursor_offset = None
        if query.cursor is not None:
            cursor_offset = decode_cursor(query.cursor)
            if cursor_offset is None:
                if self.defect("bad_cursor_ignored"):
                    cursor_offset = 0
                else:
                    errors.append(detail("cursor", "query", "is not a valid cursor"))
        if errors:
            raise validation_error(errors)
        owner = None if self.defect("list_leaks_other_tenants") else user
        leads, rest = build_page(self.store.owned_by(owner), query, cursor_offset, self.defect)
        return self.success({"leads": [self.show(lead) for lead in leads], **rest})

    async def create_lead(self, request: Request, user: str | None) -> Response:
        body = await read_json(request, self.defect)
        if self.defect("create_needs_other_fields"):
            rules = {**CREATE_RULES, **OTHER_NAME_RULES}
            values, errors = validate_body(body, rules, tuple(OTHER_NAME_RULES), self.defect)
            first, last = values.pop("firstName", ""), values.pop("lastName", "")
            values.setdefault("name", f"{first} {last}")
        else:
            values, errors = validate_body(body, CREATE_RULES, ("name",), self.defect)
        if errors:
            raise validation_error(errors)
        lead = self.store.create(str(user), values)
        status = 200 if self.defect("create_returns_200") else 201
        return self.success(self.show(lead), status, "Lead created successfully")

    async def update_lead(self, request: Request, user: str | None, lead_id: str) -> Response:
        values, errors = validate_body(await read_json(request, self.defect), UPDATE_RULES, (), self.defect)
        if errors:
            raise validation_error(errors)
        changes = {name: value for name, value in values.items() if name != "version"}
        if not changes and not self.defect("no_updates_accepted"):
            raise ApiError(400, "NO_UPDATES", "No updatable field in the request body")
        lead = self.owned_lead(user, lead_id, "PUT")
        if "version" in values:
            attempted = values["version"]  # None only where a defect lets `version: null` through
            stale = attempted != lead.version and not self.defect("stale_version_accepted")
            if attempted is None or stale:
                conflict = ApiError(
                    409, "VERSION_CONFLICT", "The lead was changed by someone else",
                    {"currentVersion": lead.version, "attemptedVersion": attempted},
                )
                if self.defect("conflict_still_applies"):
                    self.store.update(lead, changes)
                raise conflict
        persist = not self.defect("update_not_persisted")
        return self.success(self.show(self.store.update(lead, changes, persist)))

    def delete_lead(self, user: str | None, lead_id: str) -> Response:
        lead = self.owned_lead(user, lead_id, "DELETE")
        if lead.status != "lost" and self.defect("delete_refused_until_archived"):
            raise ApiError(400, "LEAD_NOT_ARCHIVED", "Only archived (lost) leads can be deleted")
        self.store.delete(lead)
        return self.success({}, message="Lead deleted successfully")

    async def convert_lead(self, request: Request, user: str | None, lead_id: str) -> Response:
        body = await read_json(request, self.defect, optional=True)
        client_type = "buyer"
        if body is not NO_BODY:
            values, errors = validate_body(body, CONVERT_RULES, (), self.defect)
            if errors:
                raise validation_error(errors)
            client_type = values.get("clientType", "buyer")
        lead = self.owned_lead(user, lead_id, "POST")
        already = lead.converted_to_client_id is not None or lead.status == "converted"
        if already and not self.defect("double_convert_allowed"):
            raise ApiError(409, "ALREADY_CONVERTED", "Lead is already converted")
        if self.defect("client_type_ignored"):
            client_type = "buyer"
        client = self.store.convert(lead, client_type)
        data: dict[str, Any] = {
            "client": client.represent(self.enum_style),
            "lead": {"id": lead.id, "lead_status": self.enum_style(lead.status), "client_id": client.id},
        }
        if not self.defect("convert_without_contact_fields"):
            data["primaryContactId"] = client.contact_id
            data["additionalContactsCount"] = 0
        return self.success(data, message="Lead successfully converted to client")


def create_app(
    api_keys: list[str],
    defects: str | Iterable[str] | None = None,
    rate_limit: int = 10_000,
    window_seconds: int = 60,
) -> Starlette:
    """A fresh, empty Leads API; `defects` names entries of DEFECTS (one or several) to break on purpose."""
    api = LeadsApi(list(api_keys), DefectSwitch(defects), rate_limit, window_seconds)

    async def server_error(request: Request, exc: Exception) -> Response:
        return api.failure(ApiError(500, "SERVER_ERROR", "Internal server error"))

    # Every path goes to `api` (a Mount's pattern would miss paths holding a newline).
    app = Starlette(exception_handlers={Exception: server_error})
    app.router.default = api
    app.state.api = api
    return app
