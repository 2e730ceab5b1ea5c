"""Field rules of the lead, body and query validation (400 VALIDATION_ERROR details)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .defects import DefectCrash, DefectSwitch
from .envelope import detail

STATUSES = ("new", "contacted", "qualified", "unqualified", "converted", "lost")
LEAD_TYPES = ("buyer", "seller", "both")
INTEREST_LEVELS = ("hot", "warm", "cold")
CLIENT_TYPES = ("buyer", "seller", "both")

UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# JavaScript's whitespace: what the spec's ECMA-262 `\s` matches and what the upstream's trim()
# removes (Python's `\s` and str.strip() also take \x1c-\x1f and \x85, and miss \ufeff).
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(map(chr, range(0x2000, 0x200B)))
_JS_SPACE = re.escape(JS_WHITESPACE)
EMAIL_PATTERN = re.compile(f"[^@{_JS_SPACE}]+@[^@{_JS_SPACE}]+")
DATETIME_PATTERN = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
DIGITS_PATTERN = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class FieldRule:
    kind: str  # name | text | email | enum | number | datetime | version
    nullable: bool
    max_length: int | None = None
    choices: tuple[str, ...] = ()


CREATE_RULES: dict[str, FieldRule] = {
    "name": FieldRule("name", nullable=False, max_length=255),
    "email": FieldRule("email", nullable=True),
    "phone": FieldRule("text", nullable=True, max_length=50),
    "source": FieldRule("text", nullable=True, max_length=100),
    "lead_type": FieldRule("enum", nullable=False, choices=LEAD_TYPES),
    "interest_level": FieldRule("enum", nullable=False, choices=INTEREST_LEVELS),
    "budget": FieldRule("number", nullable=True),
    "timeline": FieldRule("text", nullable=True, max_length=100),
    "message": FieldRule("text", nullable=True),
    "notes": FieldRule("text", nullable=True),
    "next_follow_up": FieldRule("datetime", nullable=True),
}
UPDATE_RULES: dict[str, FieldRule] = {
    **CREATE_RULES,
    "status": FieldRule("enum", nullable=False, choices=STATUSES),
    "last_contact_date": FieldRule("datetime", nullable=True),
    "version": FieldRule("version", nullable=False),
}
# What create takes instead of `name` on a server with `create_needs_other_fields`.
OTHER_NAME_RULES: dict[str, FieldRule] = {
    "firstName": FieldRule("name", nullable=False),
    "lastName": FieldRule("name", nullable=False),
}
CONVERT_RULES: dict[str, FieldRule] = {
    "clientType": FieldRule("enum", nullable=False, choices=CLIENT_TYPES),
}


def is_uuid(text: str) -> bool:
    return UUID_PATTERN.fullmatch(text) is not None


def parse_datetime(text: str, keep_wall_clock: bool = False) -> datetime | None:
    """RFC 3339 date-time with offset, as UTC; None when malformed or impossible."""
    match = DATETIME_PATTERN.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = (match.group(7) or ".0")[1:]
    micro = int(fraction[:6].ljust(6, "0"))
    offset = timedelta(0)
    if match.group(9) is not None:
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = timedelta(hours=offset_hours, minutes=offset_minutes)
        if match.group(9) == "-":
            offset = -offset
    if keep_wall_clock:
        offset = timedelta(0)
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(offset))
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def trim(text: str) -> str:
    """What the upstream's JavaScript trim() leaves."""
    return text.strip(JS_WHITESPACE)


def length_problem(length: int, rule: FieldRule, defect: DefectSwitch) -> str | None:
    """The documented maximum: a value of exactly that length is accepted."""
    if rule.max_length is None:
        return None
    if length == rule.max_length and defect("server_error_at_max_length"):
        raise DefectCrash(f"value of {length} characters overflows its column")
    if length > rule.max_length:
        return f"must be at most {rule.max_length} characters"
    return None


def check_value(field: str, value: Any, rule: FieldRule, defect: DefectSwitch) -> tuple[Any, str | None]:
    """Normalised value, or an error message for one body field."""
    if value is None:
        if rule.nullable or (field == "interest_level" and defect("null_interest_level_accepted")):
            return None, None
        if rule.kind == "version" and defect("null_version_conflict"):
            return None, None  # taken as a version that never matches the lead's
        return None, "must not be null"
    if rule.kind in ("name", "text", "email", "enum", "datetime") and not isinstance(value, str):
        return None, "must be a string"
    if rule.kind == "name":
        trimmed = trim(value)
        if not trimmed and not defect("blank_name_accepted"):
            return None, "must contain a non-space character"
        measured = value if defect("name_limit_before_trimming") else trimmed
        problem = length_problem(len(measured), rule, defect)
        if problem is not None:
            return None, problem + ("" if measured is value else " after trimming")
        return (value if defect("name_not_trimmed") else trimmed), None
    if rule.kind == "text":
        problem = length_problem(len(value), rule, defect)
        return (None, problem) if problem is not None else (value, None)
    if rule.kind == "email":
        if EMAIL_PATTERN.fullmatch(value) is None and not defect("email_format_unchecked"):
            return None, "must be an email address (local@domain)"
        return value, None
    if rule.kind == "enum":
        if value not in rule.choices and not (field == "lead_type" and defect("invalid_enum_accepted")):
            return None, f"must be one of: {', '.join(rule.choices)}"
        return value, None
    if rule.kind == "datetime":
        moment = parse_datetime(value, keep_wall_clock=defect("datetime_offset_dropped"))
        if moment is None:
            return None, "must be an RFC 3339 date-time with offset"
        return moment, None
    if rule.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, "must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "must be a finite number"
        if value < 0 and not defect("negative_budget_accepted"):
            return None, "must be greater than or equal to 0"
        return value, None
    if rule.kind == "version":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, "must be an integer"
        if value < 1:
            return None, "must be greater than or equal to 1"
        return value, None
    raise AssertionError(rule.kind)


def validate_body(
    body: Any, rules: dict[str, FieldRule], required: tuple[str, ...], defect: DefectSwitch
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Known fields normalised; unknown fields dropped; every offending field reported."""
    if not isinstance(body, dict):
        return {}, [detail("body", "body", "must be a JSON object")]
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for field in required:
        if field not in body:
            errors.append(detail(field, "body", "is required"))
    for field, value in body.items():
        rule = rules.get(field)
        if rule is None:
            if defect("unknown_field_rejected"):
                errors.append(detail(field, "body", "is not a known field"))
            continue
        normalised, message = check_value(field, value, rule, defect)
        if message is not None:
            errors.append(detail(field, "body", message))
        else:
            values[field] = normalised
    return values, errors


@dataclass(frozen=True)
class ListQuery:
    status: str | None
    interest_level: str | None
    page: int
    limit: int
    cursor: str | None


def parse_digits(text: str) -> int | None:
    """Plain decimal digits as an int, or None (also beyond the interpreter's digit limit)."""
    if DIGITS_PATTERN.fullmatch(text) is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_query_int(text: str, defect: DefectSwitch) -> int | None:
    if defect("query_int_lenient"):
        try:
            return int(text)
        except ValueError:
            return None
    return parse_digits(text)


def validate_list_query(params: dict[str, str], defect: DefectSwitch) -> tuple[ListQuery, list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    choices = {"status": STATUSES, "interest_level": INTEREST_LEVELS}
    filters: dict[str, str | None] = {}
    for field, allowed in choices.items():
        value = params.get(field)
        if value is not None and value not in allowed:
            errors.append(detail(field, "query", f"must be one of: {', '.join(allowed)}"))
        filters[field] = value
    page: int | None = 1
    if "cursor" not in params:  # a cursor replaces page, so page is not even read
        page = parse_query_int(params.get("page", "1"), defect)
        if page is None or page < 1:
            errors.append(detail("page", "query", "must be an integer >= 1"))
    limit = parse_query_int(params.get("limit", "25"), defect)
    if limit is not None and limit > 100 and defect("limit_clamped"):
        limit = 100
    if limit is None or not 1 <= limit <= 100:
        errors.append(detail("limit", "query", "must be an integer between 1 and 100"))
    query = ListQuery(filters["status"], filters["interest_level"], page or 1, limit or 25, params.get("cursor"))
    return query, errors
