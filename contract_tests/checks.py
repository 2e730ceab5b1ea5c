"""One documented rule per function; each fails with the operation, the field, expected and actual."""
from __future__ import annotations

import email.utils
import functools
import math
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ParamSpec

import httpx

from contract_tests import quiet
from contract_tests.client import LeadsClient, body_of
from contract_tests.findings import Blocked, answer_text, describe
from contract_tests.prerequisites import RULE_DELETE
from contract_tests.responses import (  # noqa: F401 - the rule modules import the lead's names from here
    ENUMS,
    INTEREST_LEVELS,
    LEAD_FIELDS,
    LEAD_TYPES,
    RULE_ENVELOPE,
    RULE_RATE_HEADERS,
    STATUSES,
    UUID,
    json_of,
)

DATETIME_FIELDS = ("last_contact_date", "next_follow_up", "created_at", "updated_at")
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
REREAD_ATTEMPTS = 3
Params = ParamSpec("Params")


def is_uuid(value: Any) -> bool:
    """The canonical 8-4-4-4-12 hex form (either case)."""
    return isinstance(value, str) and UUID.fullmatch(value) is not None


def parse_instant(text: str) -> datetime:
    """A wire timestamp (`YYYY-MM-DDTHH:MM:SS.mmmZ`) as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def answer_instant(response: httpx.Response) -> datetime | None:
    """When the server answered: the envelope's timestamp, else the `Date` header, else None.

    A missing or malformed timestamp is the timestamp rule's divergence; a rule that only needs
    the server's clock falls back on `Date` instead of failing on it.
    """
    try:
        stamp = json_of(response.content).get("timestamp")
        return parse_instant(stamp)
    except (ValueError, TypeError, AttributeError):
        pass
    try:
        moment = email.utils.parsedate_to_datetime(response.headers.get("date", ""))
    except (ValueError, TypeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_status(operation: str, response: httpx.Response, expected: int | str) -> None:
    """The status a rule demands; the failure names the answer's error code and fields (which 400 it was)."""
    actual = response.status_code
    matches = actual == expected if isinstance(expected, int) else str(actual).startswith(expected.rstrip("x"))
    if not matches:
        raise AssertionError(describe(operation, "HTTP status", str(expected), answer_text(response), response))


def data_of(operation: str, response: httpx.Response) -> Any:
    """The envelope's `data`; without it the rule cannot judge (BLOCKED by the envelope rule)."""
    payload = body_of(response)
    if "data" not in payload:
        raise Blocked(RULE_ENVELOPE, f"{operation} answered {response.status_code} without data (keys {sorted(payload)})")
    return payload["data"]


def check_success(
    operation: str, response: httpx.Response, status: int = 200, message: str | None = None
) -> Any:
    """`status`, and `message` when the rule states one; returns `data`.

    Envelope keys, content type and timestamp are rules of their own, checked on every answer
    (`contract_tests.responses`): a rule never fails for them.
    """
    check_status(operation, response, status)
    data = data_of(operation, response)
    if message is not None:
        actual = body_of(response).get("message")
        assert actual == message, describe(operation, "envelope message", message, actual, response)
    return data


def check_created(operation: str, response: httpx.Response) -> dict[str, Any]:
    """A create that succeeded: any 2xx whose `data` is the lead; returns the lead.

    Only the create-status rule demands 201 (and its message): the rules that judge what a
    created lead holds fail only on that.
    """
    check_status(operation, response, "2xx")
    lead = data_of(operation, response)
    assert isinstance(lead, dict) and isinstance(lead.get("id"), str), describe(
        operation, "data", "the created lead (an object with its id)", lead, response
    )
    return lead


def check_error(operation: str, response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """`status` and `error.code`; returns the `error` object."""
    check_status(operation, response, status)
    payload = body_of(response)
    error = payload.get("error")
    if not isinstance(error, dict):
        raise Blocked(RULE_ENVELOPE, f"{operation} answered {response.status_code} without an error object")
    assert error.get("code") == code, describe(operation, "error.code", code, error.get("code"), response)
    return error


def check_validation_error(operation: str, response: httpx.Response, offending: dict[str, str]) -> list[Any]:
    """400 VALIDATION_ERROR whose details name every offending field with its location."""
    error = check_error(operation, response, 400, "VALIDATION_ERROR")
    details = error.get("details")
    assert isinstance(details, list) and details, describe(
        operation, "error.details", "a non-empty list of {field, location, message}", details, response
    )
    for item in details:
        assert isinstance(item, dict) and {"field", "location", "message"} <= set(item), describe(
            operation, "error.details[] keys", "field, location, message", item, response
        )
    named = {(item["field"], item["location"]) for item in details}
    for field, location in offending.items():
        assert (field, location) in named, describe(
            operation, "error.details", f"an entry with field {field!r}, location {location!r}", details, response
        )
    return details


def check_rate_limit_headers(operation: str, response: httpx.Response) -> dict[str, int]:
    """The RateLimit-* values of an answer; without them a rule about the window cannot judge (BLOCKED)."""
    values: dict[str, int] = {}
    for header in RATE_LIMIT_HEADERS:
        raw = response.headers.get(header)
        if raw is None or not raw.strip().isdigit():
            raise Blocked(RULE_RATE_HEADERS, f"{operation} answered without a whole-number {header} ({raw!r})")
        values[header] = int(raw)
    return values


def check_lead(operation: str, lead: Any, response: httpx.Response) -> dict[str, Any]:
    """A lead object; its fields' shapes are the lead-shape rule's (checked on every answer)."""
    assert isinstance(lead, dict), describe(operation, "lead", "a JSON object", lead, response)
    return lead


def same_enum(actual: Any, expected: str) -> bool:
    """An enum value as the rule means it: the spelling of enum values is the enum rule's to judge."""
    return isinstance(actual, str) and actual.lower() == expected.lower()


def check_values(operation: str, lead: dict[str, Any], expected: dict[str, Any], response: httpx.Response) -> None:
    """Each field of `expected` reads back as given (numbers compared by value, dates as instants)."""
    for name, value in expected.items():
        actual = lead.get(name)
        if name in DATETIME_FIELDS and isinstance(value, str) and isinstance(actual, str):
            same = _same_instant(value, actual)
        elif name in ENUMS and isinstance(value, str) and isinstance(actual, str):
            same = same_enum(actual, value)
        else:
            same = actual == value and isinstance(actual, bool) == isinstance(value, bool)
        assert same, describe(operation, f"lead.{name}", value, actual, response)


def check_later(operation: str, field: str, before: str, after: str, response: httpx.Response) -> None:
    assert parse_instant(after) > parse_instant(before), describe(
        operation, field, f"later than {before}", after, response
    )


def check_meta_math(
    operation: str, data: dict[str, Any], page: int, limit: int, response: httpx.Response
) -> dict[str, Any]:
    """meta = {page, limit, total, totalPages = ceil(total/limit), hasMore = page < totalPages}; page size fits."""
    meta = data.get("meta")
    assert isinstance(meta, dict), describe(operation, "data.meta", "an object", meta, response)
    for key in ("page", "limit", "total", "totalPages", "hasMore"):
        assert key in meta, describe(operation, f"data.meta.{key}", "present", "missing", response)
    assert meta["page"] == page, describe(operation, "data.meta.page", page, meta["page"], response)
    assert meta["limit"] == limit, describe(operation, "data.meta.limit", limit, meta["limit"], response)
    total = meta["total"]
    assert isinstance(total, int) and not isinstance(total, bool) and total >= 0, describe(
        operation, "data.meta.total", "an integer >= 0", total, response
    )
    pages = math.ceil(total / limit)
    assert meta["totalPages"] == pages, describe(
        operation, "data.meta.totalPages", f"ceil({total}/{limit}) = {pages}", meta["totalPages"], response
    )
    assert meta["hasMore"] is (page < pages), describe(
        operation, "data.meta.hasMore", f"{page} < {pages} = {page < pages}", meta["hasMore"], response
    )
    leads = data.get("leads")
    assert isinstance(leads, list), describe(operation, "data.leads", "a list", leads, response)
    size = max(0, min(limit, total - (page - 1) * limit))
    assert len(leads) == size, describe(
        operation, "number of data.leads", f"min(limit {limit}, total {total} - {(page - 1) * limit}) = {size}",
        len(leads), response,
    )
    return meta


def listed_leads(operation: str, data: dict[str, Any], response: httpx.Response) -> list[Any]:
    """The leads a list answer holds: `data.leads`, or, in an answer of another shape, its one list of objects.

    Filters, order and stats are judged on the leads wherever they are; the answer's shape (its
    keys, `meta`) is the rules of the list's shape and of pagination to judge.
    """
    leads = data.get("leads")
    if isinstance(leads, list):
        return leads
    lists = [value for value in data.values()
             if isinstance(value, list) and all(isinstance(item, dict) for item in value)]
    assert len(lists) == 1, describe(operation, "data.leads", "a list", leads, response)
    return lists[0]


def meta_total(data: dict[str, Any]) -> int | None:
    """`data.meta.total` when the answer has it as a whole number; a missing `meta` is pagination's divergence."""
    meta = data.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def check_newest_first(operation: str, leads: list[dict[str, Any]], response: httpx.Response) -> None:
    """created_at descending, ties broken by id descending."""
    keys = [(parse_instant(lead["created_at"]), lead["id"].lower()) for lead in leads]
    for position in range(1, len(keys)):
        assert keys[position - 1] > keys[position], describe(
            operation, f"order of data.leads at index {position}",
            "created_at descending, then id descending",
            [(lead["created_at"], lead["id"]) for lead in leads[position - 1:position + 1]], response,
        )


def check_stats_consistent(operation: str, stats: Any, response: httpx.Response) -> dict[str, Any]:
    """Every status and interest key present; both breakdowns sum to stats.total."""
    assert isinstance(stats, dict), describe(operation, "data.stats", "an object", stats, response)
    total = stats.get("total")
    assert isinstance(total, int) and not isinstance(total, bool), describe(
        operation, "data.stats.total", "an integer", total, response
    )
    for key, names in (("byStatus", STATUSES), ("byInterestLevel", INTEREST_LEVELS)):
        counts = stats.get(key)
        assert isinstance(counts, dict), describe(operation, f"data.stats.{key}", "an object", counts, response)
        missing = [name for name in names if name not in counts]
        assert not missing, describe(
            operation, f"data.stats.{key}", f"every key of {names}", f"missing {missing}", response
        )
        summed = sum(counts[name] for name in names)
        assert summed == total, describe(
            operation, f"sum of data.stats.{key}", f"stats.total = {total}", summed, response
        )
    return stats


def _same_instant(sent: str, read: str) -> bool:
    try:
        sent_at, read_at = (datetime.fromisoformat(text.replace("Z", "+00:00")) for text in (sent, read))
        return sent_at == read_at
    except ValueError:
        return False


def unique_email(tag: str) -> str:
    """An address no earlier run used, on a reserved domain that never delivers."""
    return f"contract-{tag}-{uuid.uuid4().hex[:12]}@example.com"


def gone_lead_id(client: LeadsClient) -> str:
    """The id of a lead this run created and then deleted: safe for 404 probes of every operation."""
    client.prerequisites.require(RULE_DELETE)
    lead_id = client.create_lead(name="Contract Test Deleted Lead")["id"]
    response = client.request("DELETE", f"/leads/{lead_id}")
    check_status("deleteLead", response, 200)
    return lead_id


def rereads(check: Callable[Params, None]) -> Callable[Params, None]:
    """For a check comparing several reads of the caller's leads: retried, up to 3 attempts.

    Writes of parallel checks may show meanwhile; a real divergence fails every attempt. A check
    that failed beside other workers is tried again once they have all finished (`quiet`).
    """
    @functools.wraps(check)
    def retrying(*args: Params.args, **kwargs: Params.kwargs) -> None:
        try:
            return _attempts(check, *args, **kwargs)
        except AssertionError:
            if not quiet.wait():
                raise
        return _attempts(check, *args, **kwargs)
    return retrying


def _attempts(check: Callable[Params, None], *args: Params.args, **kwargs: Params.kwargs) -> None:
    for attempt in range(1, REREAD_ATTEMPTS + 1):
        try:
            return check(*args, **kwargs)
        except AssertionError:
            if attempt == REREAD_ATTEMPTS:
                raise
    return None
