"""Request validators for Connexion's `validator_map`, built once per operation from the spec.

Unlike Connexion's stock validators they report every offending field (bare names, with their
location) through the checks of `rules`, accept only plain decimal digits for integers in the
query, and answer malformed or non-UTF-8 JSON with INVALID_JSON. The validated, normalised body
reaches handlers as context["fields"].
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from connexion.validators import AbstractRequestBodyValidator
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from .errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, ValidationFailed, issue
from .rules import Rule

MAX_BODY_BYTES = 1024 * 1024
_DIGITS = re.compile(r"[0-9]+")
_MAX_DIGITS = 1000
_QUERY_KEY = "leads_mock.query"  # the parsed query, shared with the handler call (see `dispatch`)


def query_values(scope: Scope) -> dict[str, list[str]]:
    """The query string's values by name, in order, read as Starlette's QueryParams reads it; parsed once a request."""
    values: dict[str, list[str]] | None = scope.get(_QUERY_KEY)
    if values is None:
        text = scope.get("query_string", b"").decode("latin-1")
        if "%" in text or "+" in text:
            pairs = parse_qsl(text, keep_blank_values=True)
        else:  # nothing to unquote: what parse_qsl does, minus its work
            pairs = [(name, value) for name, _, value in (part.partition("=") for part in text.split("&") if part)]
        values = {}
        for name, value in pairs:
            values.setdefault(name, []).append(value)
        scope[_QUERY_KEY] = values
    return values


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # json accepts NaN and Infinity unless told otherwise


_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # json.loads builds one a call when given options
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # any surrogate escape, paired or not: a cheap first look
_SURROGATE = re.compile("[\ud800-\udfff]")  # what is left of one after decoding is a lone surrogate


def _holds_lone_surrogate(value: Any) -> bool:
    """True when a string anywhere in decoded JSON (keys too) holds a surrogate that no pair completed."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class LeadParameterValidator:
    """Path and query parameters (Connexion's `parameter` validator interface)."""

    def __init__(self, parameters: list[dict[str, Any]], uri_parser: Any = None, strict_validation: bool = False,
                 security_query_params: list[str] | None = None) -> None:
        self.path_rules = [Rule.from_schema(p["name"], p.get("schema", {})) for p in parameters if p["in"] == "path"]
        self.query_rules = [Rule.from_schema(p["name"], p.get("schema", {})) for p in parameters if p["in"] == "query"]

    def validate(self, scope: Scope) -> None:
        issues = []
        path_params = scope.get("path_params", {})
        for rule in self.path_rules:
            _, problem = rule.check(path_params.get(rule.name))
            if problem:
                issues.append(issue(rule.name, "path", problem))
        if self.query_rules and scope.get("query_string"):
            query = query_values(scope)
            for rule in self.query_rules:
                problem = self._query_problem(rule, query.get(rule.name, []))
                if problem:
                    issues.append(issue(rule.name, "query", problem))
        if issues:
            raise ValidationFailed(issues)

    @staticmethod
    def _query_problem(rule: Rule, values: list[str]) -> str | None:
        if not values:
            return None
        if len(values) > 1:
            return f"{rule.name} must be given once"
        value: Any = values[0]
        if rule.type == "integer":
            if not _DIGITS.fullmatch(value):
                return f"{rule.name} must be an integer written in plain decimal digits"
            if len(value) > _MAX_DIGITS:  # Python refuses to parse ints past 4300 digits
                return f"{rule.name} is too large"
            value = int(value)
        return rule.check(value)[1]


class LeadBodyValidator(AbstractRequestBodyValidator):
    """JSON bodies, checked in the documented order: 413, 415, INVALID_JSON, then every field."""

    def __init__(self, *, schema: dict[str, Any], required: bool = False, nullable: bool = False,
                 encoding: str = "utf-8", strict_validation: bool = False, **kwargs: Any) -> None:
        super().__init__(schema=schema, required=required, nullable=nullable, encoding=encoding,
                         strict_validation=strict_validation)
        self.rules = [Rule.from_schema(name, prop) for name, prop in schema.get("properties", {}).items()]
        self.required_fields = tuple(schema.get("required", ()))

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        messages, raw = await _read_body(receive)
        fields = self.fields(raw, headers.get("content-type"))
        scope.setdefault("extensions", {}).setdefault("connexion_context", {})["fields"] = fields
        return self._insert_messages(receive, messages=messages), scope

    def fields(self, raw: bytes, content_type: str | None) -> dict[str, Any]:
        """The validated, normalised known fields of a body (unknown fields are dropped)."""
        if not raw:  # no bytes, whatever the Content-Type says: read as {} (as the upstream's JSON parser does)
            body: Any = {}
        else:
            mime = (content_type or "").split(";", 1)[0].strip().lower()
            if mime != "application/json":
                raise UnsupportedMediaType()
            try:
                body = _JSON_DECODER.decode(raw.decode("utf-8"))
            except ValueError as error:  # UnicodeDecodeError too
                if "integer string conversion" in str(error):  # past Python's int limit, far past any double
                    raise InvalidJson("Request body holds an integer of more than 4300 digits") from None
                raise InvalidJson() from None
            except RecursionError:
                raise InvalidJson() from None
            if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(body):
                raise InvalidJson("Request body is not valid JSON text: it holds a lone surrogate escape")
        if not isinstance(body, dict):
            raise ValidationFailed([issue("body", "body", "Request body must be a JSON object")])
        fields, issues = {}, []
        for name in self.required_fields:
            if name not in body:
                issues.append(issue(name, "body", f"{name} is required"))
        for rule in self.rules:
            if rule.name in body:
                value, problem = rule.check(body[rule.name])
                if problem:
                    issues.append(issue(rule.name, "body", problem))
                else:
                    fields[rule.name] = value
        if issues:
            raise ValidationFailed(issues)
        return fields


async def _read_body(receive: Callable[[], Awaitable[Message]]) -> tuple[list[Message], bytes]:
    """The whole body, counting streamed bytes: a missing or false Content-Length cannot pass the limit."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break  # client went away; the handler will never answer it
        messages.append(message)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return messages, b"".join(chunks)


VALIDATOR_MAP: dict[str, Any] = {
    "parameter": LeadParameterValidator,
    "body": {"application/json": LeadBodyValidator},
}
