"""The one check of stored records, for fixture files and state files alike.

Whatever the mock loads must be data it could have written itself, or the first write that
touches a bad record answers 500 (a lead without `created_at`, a `version` that is text, a
clock past year 9999). Each check returns normalised copies (ids in lower case, date-times in
the API's UTC form, names trimmed, absent optional lead fields filled in) or raises
`RecordsError` naming the first bad value by its place in the file, e.g. `leads[3].created_at`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import Any

from .rules import EMAIL_PATTERN, JS_WHITESPACE, ecma_pattern
from .timestamps import format_ms, parse_datetime
from .store.user_data import INTEREST_LEVELS, STATUSES

STATE_FORMAT = 1
LEAD_TYPES = ("buyer", "seller", "both")
MAX_VERSION = 2**53  # the largest integer every JSON reader holds exactly
MAX_CLOCK_MS = 253_402_300_799_999 - 10**9  # 9999-12-31T23:59:59.999Z, less room for the writes to come
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = ecma_pattern(EMAIL_PATTERN)
_SURROGATE = re.compile("[\ud800-\udfff]")
Check = Callable[[Any, str], Any]  # (value, where) -> normalised value, or RecordsError


class RecordsError(ValueError):
    """A record that the mock cannot serve; the message names where it is and what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


def check_dataset(data: Any, where: str = "") -> dict[str, list[dict[str, Any]]]:
    """`{"leads": [...], "contacts": [...], "clients": [...]}` (contacts and clients optional), normalised."""
    prefix = f"{where}." if where else ""
    if not isinstance(data, dict):
        raise RecordsError(where or "(top level)", "must be an object with a 'leads' list (and 'contacts', 'clients')")
    if not isinstance(data.get("leads"), list):
        raise RecordsError(f"{prefix}leads", "must be a list of leads")
    checked = {}
    for kind, fields in (("leads", LEAD_CHECKS), ("contacts", CONTACT_CHECKS), ("clients", CLIENT_CHECKS)):
        records = data.get(kind, [])
        if not isinstance(records, list):
            raise RecordsError(f"{prefix}{kind}", "must be a list")
        seen: set[str] = set()
        checked[kind] = []
        for number, record in enumerate(records):
            place = f"{prefix}{kind}[{number}]"
            record = _check_record(record, fields, place)
            if record["id"] in seen:
                raise RecordsError(f"{place}.id", f"{record['id']} appears twice in {kind}")
            seen.add(record["id"])
            checked[kind].append(record)
    return checked


def check_state(state: Any) -> dict[str, Any]:
    """A saved state (`LeadStore.dump()`): format, revision, clock and every user's records, normalised."""
    if not isinstance(state, dict):
        raise RecordsError("(top level)", "must be an object")
    if state.get("format") != STATE_FORMAT:
        raise RecordsError("format", f"must be {STATE_FORMAT}, got {_shown(state.get('format'))}")
    revision = _integer(state.get("revision", 0), "revision", 0, MAX_VERSION)
    clock = _integer(state.get("clock", 0), "clock", 0, MAX_CLOCK_MS)
    users = state.get("users")
    if not isinstance(users, dict):
        raise RecordsError("users", "must be an object of user id -> records")
    checked = {}
    for user_id, records in users.items():
        checked[user_id] = check_dataset(records, f"users.{user_id}")
    return {"format": STATE_FORMAT, "revision": revision, "clock": clock, "users": checked}


# -- field checks ---------------------------------------------------------------------------------

def _check_record(record: Any, fields: dict[str, tuple[Check, Any]], place: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordsError(place, "must be an object")
    checked = {}
    for name, (check, default) in fields.items():
        where = f"{place}.{name}"
        if name not in record:
            if default is _REQUIRED:
                raise RecordsError(where, "is missing")
            checked[name] = default
        else:
            checked[name] = check(record[name], where)
    return checked


def _text(max_length: int | None = None, *, nullable: bool = True, trimmed: bool = False) -> Check:
    def check(value: Any, where: str) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise RecordsError(where, f"must be a string{' or null' if nullable else ''}, got {_shown(value)}")
        if _SURROGATE.search(value):
            raise RecordsError(where, "is not text (it holds a lone surrogate)")
        if trimmed:
            value = value.strip(JS_WHITESPACE)
            if not value:
                raise RecordsError(where, "must contain a non-space character")
        if max_length is not None and len(value) > max_length:
            raise RecordsError(where, f"must be at most {max_length} characters, got {len(value)}")
        return value

    return check


def _uuid(*, nullable: bool = False) -> Check:
    def check(value: Any, where: str) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not _UUID.fullmatch(value):
            raise RecordsError(where, f"must be a UUID{' or null' if nullable else ''}, got {_shown(value)}")
        return value.lower()

    return check


def _email(value: Any, where: str) -> Any:
    value = _text()(value, where)
    if value is not None and not _EMAIL.search(value):
        raise RecordsError(where, f"must be an email address (local@domain), got {_shown(value)}")
    return value


def _choice(options: tuple[str, ...]) -> Check:
    def check(value: Any, where: str) -> Any:
        if value not in options or not isinstance(value, str):
            raise RecordsError(where, f"must be one of {', '.join(options)}, got {_shown(value)}")
        return value

    return check


def _date_time(*, nullable: bool) -> Check:
    def check(value: Any, where: str) -> Any:
        if value is None and nullable:
            return None
        ms = parse_datetime(value) if isinstance(value, str) else None
        if ms is None:
            raise RecordsError(where, f"must be an RFC 3339 date-time such as 2026-07-01T22:52:30.664Z"
                                      f"{' or null' if nullable else ''}, got {_shown(value)}")
        return format_ms(ms)

    return check


def _amount(*, whole: bool = False) -> Check:
    def check(value: Any, where: str) -> Any:
        if value is None:
            return None
        is_number = isinstance(value, int) if whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not is_number or (isinstance(value, float) and not math.isfinite(value)) \
                or not 0 <= value <= sys.float_info.max:
            kind = "a whole number" if whole else "a number"
            raise RecordsError(where, f"must be null or {kind} from 0 up, got {_shown(value)}")
        return value

    return check


def _version(value: Any, where: str) -> int:
    return _integer(value, where, 1, MAX_VERSION)


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RecordsError(where, f"must be a whole number from {low} to {high}, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else None
    if text is None:  # repr() of a huge int fails past 4300 digits; a float 1e400 was read as inf
        text = repr(value) if isinstance(value, float) or abs(value) < 10**30 else "a number of many digits"
    return text if len(text) <= 60 else text[:57] + "..."


_REQUIRED = object()
LEAD_CHECKS: dict[str, tuple[Check, Any]] = {
    "id": (_uuid(), _REQUIRED),
    "name": (_text(255, nullable=False, trimmed=True), _REQUIRED),
    "email": (_email, None),
    "phone": (_text(50), None),
    "source": (_text(100), None),
    "status": (_choice(STATUSES), _REQUIRED),
    "lead_type": (_choice(LEAD_TYPES), "buyer"),
    "interest_level": (_choice(INTEREST_LEVELS), _REQUIRED),
    "budget": (_amount(), None),
    "timeline": (_text(100), None),
    "message": (_text(), None),
    "notes": (_text(), None),
    "last_contact_date": (_date_time(nullable=True), None),
    "next_follow_up": (_date_time(nullable=True), None),
    "converted_to_client_id": (_uuid(nullable=True), None),
    "version": (_version, 1),
    "created_at": (_date_time(nullable=False), _REQUIRED),
    "updated_at": (_date_time(nullable=False), _REQUIRED),
}
CONTACT_CHECKS: dict[str, tuple[Check, Any]] = {
    "id": (_uuid(), _REQUIRED),
    "name": (_text(), None),
    "email": (_text(), None),
    "phone": (_text(), None),
    "created_at": (_date_time(nullable=True), None),
}
CLIENT_CHECKS: dict[str, tuple[Check, Any]] = {
    "id": (_uuid(), _REQUIRED),
    "contact_id": (_uuid(nullable=True), None),
    "client_type": (_choice(LEAD_TYPES), "buyer"),
    "status": (_text(100, nullable=False), "active"),
    "price_range_min": (_amount(whole=True), None),
    "price_range_max": (_amount(whole=True), None),
    "created_at": (_date_time(nullable=True), None),
}
