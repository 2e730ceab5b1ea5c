"""Rules checked on every answer the run sees, each reported once with a count and its first example.

Envelope shape, timestamp, content type, RateLimit headers, lead field shapes and enum values
hold for every answer of the API; checking them inside each rule would fail a rule that holds
for want of something else. Here every answer, from the rule checks and from Schemathesis,
passes each of these rules once, and they never fail another rule.
"""
from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contract_tests.curl import curl_line

STATUSES = ("new", "contacted", "qualified", "unqualified", "converted", "lost")
INTEREST_LEVELS = ("hot", "warm", "cold")
LEAD_TYPES = ("buyer", "seller", "both")
ENUMS = {"status": STATUSES, "lead_type": LEAD_TYPES, "interest_level": INTEREST_LEVELS}
LEAD_FIELDS = (
    "id", "user_id", "name", "email", "phone", "source", "status", "lead_type",
    "interest_level", "budget", "timeline", "message", "notes", "last_contact_date",
    "next_follow_up", "converted_to_client_id", "version", "created_at", "updated_at",
)
NULLABLE_TEXT = ("email", "phone", "source", "timeline", "message", "notes")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LEAD_PATH = re.compile(r"/leads/[^/]+$")
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
EVERY_ANSWER = "(every answer)"


@dataclass(frozen=True)
class Seen:
    """One answer, whichever HTTP library fetched it."""

    method: str
    url: str
    path: str  # below the base URL, e.g. /leads/{id}
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes | None

    def payload(self) -> Any:
        try:
            return json_of(self.body)
        except ValueError:
            return None

    def curl(self) -> str:
        return curl_line(self.method, self.url, self.request_headers, self.request_body)


def json_of(body: bytes | str) -> Any:
    """The JSON value of an answer's body; ValueError for anything that is not JSON as RFC 8259 has it, or not
    readable here: NaN and Infinity, bad UTF-8, nesting past Python's recursion limit, integers past its digit limit."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


Problem = tuple[str, str] | None  # (expected, actual)
Check = Callable[[Seen, Any], Problem]


@dataclass
class Tally:
    rule: str
    checked: int = 0
    failed: int = 0
    first: dict[str, str] | None = None


@dataclass
class ResponseRules:
    """Counts, per rule, the answers checked and the answers that broke it (keeping the first)."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, seen: Seen) -> bool:
        """Checks one answer against every rule; True when it broke one."""
        payload = seen.payload()
        broke = False
        with self._lock:
            self.tallies.setdefault(RULE_TRANSPORT, Tally(RULE_TRANSPORT)).checked += 1
        bodiless = answered_without_body(seen)
        for rule, check in RULES:
            if bodiless and rule in BODY_RULES:
                continue
            problem = check(seen, payload)
            with self._lock:
                tally = self.tallies.setdefault(rule, Tally(rule))
                tally.checked += 1
                if problem is not None:
                    broke = True
                    tally.failed += 1
                    if tally.first is None:
                        expected, actual = problem
                        tally.first = {"operation": f"{seen.method} {seen.path}", "expected": expected,
                                       "actual": actual, "curl": seen.curl()}
        return broke

    def transport_fault(self, operation: str, curl: str, error: str) -> None:
        """A request that got no whole HTTP answer (reset, cut body, unparsable headers, timeout)."""
        with self._lock:
            tally = self.tallies.setdefault(RULE_TRANSPORT, Tally(RULE_TRANSPORT))
            tally.checked += 1
            tally.failed += 1
            if tally.first is None:
                tally.first = {"operation": operation, "expected": "a whole HTTP answer", "actual": error[:200],
                               "curl": curl}

    def merge(self, other: Iterable[dict[str, Any]]) -> None:
        """Adds tallies exported by `export()` (from a parallel worker)."""
        with self._lock:
            for item in other:
                tally = self.tallies.setdefault(item["rule"], Tally(item["rule"]))
                tally.checked += item["checked"]
                tally.failed += item["failed"]
                tally.first = tally.first or item["first"]

    def export(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(vars(tally)) for tally in self.tallies.values()]


def answered_without_body(seen: Seen) -> bool:
    """An answer the decisions leave free to carry no body: HEAD served like GET, OPTIONS answered 204."""
    return seen.method == "HEAD" or (seen.method == "OPTIONS" and seen.status == 204)


def json_content_type(seen: Seen, payload: Any) -> Problem:
    media_type = seen.headers.get("content-type", "").split(";")[0].strip().lower()
    return None if media_type == "application/json" else ("Content-Type application/json",
                                                           seen.headers.get("content-type") or "(none)")


def envelope_shape(seen: Seen, payload: Any) -> Problem:
    if not isinstance(payload, dict):
        snippet = seen.body[:80].decode("utf-8", errors="backslashreplace") or "(empty body)"
        return "a JSON object envelope", f"{seen.status} with body {snippet!r}"
    if seen.status < 400:
        if payload.get("success") is not True or "data" not in payload:
            return '{"success": true, "data": ...}', f"{seen.status} with keys {sorted(payload)}, success {payload.get('success')!r}"
        return None
    error = payload.get("error")
    if payload.get("success") is not False or not isinstance(error, dict):
        return '{"success": false, "error": {...}}', f"{seen.status} with keys {sorted(payload)}"
    bad = [key for key in ("code", "message") if not isinstance(error.get(key), str) or not error.get(key)]
    return ("error.code and error.message non-empty strings", f"{seen.status} with error {error!r:.120}") if bad else None


def envelope_timestamp(seen: Seen, payload: Any) -> Problem:
    if not isinstance(payload, dict):
        return None  # the envelope rule reports it
    stamp = payload.get("timestamp")
    expected = "timestamp UTC YYYY-MM-DDTHH:MM:SS.mmmZ"
    if not isinstance(stamp, str) or not TIMESTAMP.fullmatch(stamp):
        return expected, f"{seen.status} answer with timestamp {stamp!r}" if "timestamp" in payload \
            else f"{seen.status} answer without timestamp"
    try:
        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return "a real calendar instant", stamp
    return None


def rate_limit_headers(seen: Seen, payload: Any) -> Problem:
    wanted = RATE_LIMIT_HEADERS + (("retry-after",) if seen.status == 429 else ())
    bad = [name for name in wanted if not seen.headers.get(name, "").strip().isdigit()]
    if not bad:
        return None
    shown = {name: seen.headers.get(name) for name in bad}
    return "RateLimit-Limit, -Remaining, -Reset (and Retry-After on 429) as whole numbers", f"{shown}"


def leads_in(seen: Seen, payload: Any) -> list[Any]:
    """The lead representations an answer carries (create, get, update: data; list: data.leads)."""
    if not isinstance(payload, dict) or not 200 <= seen.status < 300:
        return []
    data = payload.get("data")
    if seen.method == "GET" and seen.path == "/leads":
        leads = data.get("leads") if isinstance(data, dict) else None
        return leads if isinstance(leads, list) else []
    if (seen.method == "POST" and seen.path == "/leads") or (seen.method in ("GET", "PUT") and LEAD_PATH.search(seen.path)):
        return [data]
    return []


def lead_shape(seen: Seen, payload: Any) -> Problem:
    for lead in leads_in(seen, payload):
        problem = _lead_problem(lead)
        if problem:
            return problem
    return None


def enum_values(seen: Seen, payload: Any) -> Problem:
    values: list[tuple[str, Any, tuple[str, ...]]] = []
    for lead in leads_in(seen, payload):
        if isinstance(lead, dict):
            values += [(f"lead.{name}", lead.get(name), choices) for name, choices in ENUMS.items() if name in lead]
    data = payload.get("data") if isinstance(payload, dict) else None
    if seen.path.endswith("/convert") and isinstance(data, dict):
        client, summary = data.get("client"), data.get("lead")
        if isinstance(client, dict):
            values += [("client.client_type", client.get("client_type"), LEAD_TYPES),
                       ("client.status", client.get("status"), ("active",))]
        if isinstance(summary, dict):
            values.append(("lead.lead_status", summary.get("lead_status"), ("converted",)))
    for where, value, choices in values:
        if value not in choices:
            return f"{where} one of {', '.join(choices)}", repr(value)
    return None


def _lead_problem(lead: Any) -> tuple[str, str] | None:
    if not isinstance(lead, dict):
        return "a lead object", repr(lead)[:80]
    missing = [name for name in LEAD_FIELDS if name not in lead]
    if missing:
        return "all 19 lead fields (null, never missing)", f"missing {missing}"
    for name in LEAD_FIELDS:
        expected = _field_problem(name, lead[name])
        if expected:
            return f"lead.{name} {expected}", repr(lead[name])[:80]
    return None


def _field_problem(name: str, value: Any) -> str | None:
    """What `value` should have been, or None when it has the type the lead table gives `name`."""
    if name in ("id", "user_id"):
        return None if isinstance(value, str) and UUID.fullmatch(value) else "a UUID"
    if name == "converted_to_client_id":
        return None if value is None or (isinstance(value, str) and UUID.fullmatch(value)) else "a UUID or null"
    if name == "name":
        return None if isinstance(value, str) and value.strip() and len(value) <= 255 else "a non-blank string (<= 255)"
    if name in NULLABLE_TEXT:
        return None if value is None or isinstance(value, str) else "a string or null"
    if name in ENUMS:
        return None if isinstance(value, str) else "a string"  # which strings: the enum rule
    if name == "budget":
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if value is None or (number and math.isfinite(value) and value >= 0) else "a number >= 0 or null"
    if name == "version":
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else "an integer >= 1"
    nullable = name in ("last_contact_date", "next_follow_up")
    if (value is None and nullable) or (isinstance(value, str) and TIMESTAMP.fullmatch(value)):
        return None
    return "UTC YYYY-MM-DDTHH:MM:SS.mmmZ" + (" or null" if nullable else "")


RULE_CONTENT_TYPE = "every answer is application/json"
RULE_ENVELOPE = "every answer has the documented envelope"
RULE_TIMESTAMP = "envelope timestamp is UTC with milliseconds"
RULE_RATE_HEADERS = "every answer carries the RateLimit headers"
RULE_LEAD_SHAPE = "every lead carries all 19 fields with their types"
RULE_ENUMS = "enum values are the documented lowercase ones"
RULE_TRANSPORT = "every request gets a whole HTTP answer"
# What a body must be, which an answer free to carry none is not judged by (the RateLimit headers still are).
BODY_RULES = frozenset({RULE_CONTENT_TYPE, RULE_ENVELOPE, RULE_TIMESTAMP, RULE_LEAD_SHAPE, RULE_ENUMS})
RULES: tuple[tuple[str, Check], ...] = (
    (RULE_CONTENT_TYPE, json_content_type),
    (RULE_ENVELOPE, envelope_shape),
    (RULE_TIMESTAMP, envelope_timestamp),
    (RULE_RATE_HEADERS, rate_limit_headers),
    (RULE_LEAD_SHAPE, lead_shape),
    (RULE_ENUMS, enum_values),
)
