"""What a failed rule found, as data: so failures can be grouped by cause and written to JSON.

`describe()` builds the message every check fails with; it is a `Finding`, a string that also
keeps its parts. `Blocked` ends a rule that could not reach what it tests because a prerequisite
failed: it is reported as BLOCKED (a skip, in JUnit), never as a divergence of its own.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest

from contract_tests.curl import curl_line
from contract_tests.responses import json_of

BLOCKED_PREFIX = "BLOCKED by "
BLOCKED_SEPARATOR = " — "  # rule names may hold ": "
_VOLATILE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d+")


class Finding(str):
    """`operation: what: expected X, got Y` plus the curl line, with each part kept."""

    operation: str
    what: str
    expected: str
    actual: str
    curl: str | None
    answer: str | None  # the answer's status, error code and named fields
    caller: str | None  # which API key sent the request, as a digest (a finding's cause may be written out)

    def __new__(cls, operation: str, what: str, expected: Any, actual: Any, curl: str | None = None,
                answer: str | None = None, caller: str | None = None) -> Finding:
        expected_text = expected if isinstance(expected, str) and what == "HTTP status" else repr(expected)
        actual_text = actual if isinstance(actual, str) and what == "HTTP status" else _short_repr(actual)
        text = f"{operation}: {what}: expected {expected_text}, got {actual_text}"
        if curl:
            text += f"\n  reproduce: {curl}"
        finding = super().__new__(cls, text)
        finding.operation, finding.what, finding.curl, finding.answer = operation, what, curl, answer
        finding.caller = caller
        finding.expected, finding.actual = expected_text, actual_text
        return finding

    @property
    def cause(self) -> str:
        """What makes two findings the same divergence: the field, the expectation and the answer."""
        return _VOLATILE.sub("#", f"{self.what}|{self.expected}|{self.actual}") if self.what != "HTTP status" \
            else f"{self.what}|{self.expected}|{self.actual}"

    def cause_for(self, second_tenant: str | None) -> str:
        """The cause, where a request of the second tenant (`caller_of` its key) that was served instead of
        refused is a cause of its own: another tenant's lead answered 200 (no owner check) and a deleted lead
        answered 200 (a soft delete) are two defects, while one wrong error status for both (403) is one."""
        served = self.what == "HTTP status" and self.actual[:1] == "2" and self.expected[:1] != "2"
        if served and second_tenant is not None and self.caller == second_tenant:
            return self.cause + "|as the second tenant"
        return self.cause

    def as_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "what": self.what, "expected": self.expected,
                "actual": self.actual, "curl": self.curl, "answer": self.answer}


class Blocked(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The rule could not run: `prerequisite` (a rule of the run) failed with `reason`."""

    def __init__(self, prerequisite: str, reason: str) -> None:
        super().__init__(f"{BLOCKED_PREFIX}{prerequisite}{BLOCKED_SEPARATOR}{reason}", pytrace=False)
        self.prerequisite, self.reason = prerequisite, reason


def parse_blocked(text: str) -> tuple[str, str] | None:
    """(prerequisite, reason) of a BLOCKED skip message, or None for a plain skip."""
    start = text.find(BLOCKED_PREFIX)  # after "Skipped: " or the exception's name, as pytest formats it
    if start < 0:
        return None
    prerequisite, _, reason = text[start + len(BLOCKED_PREFIX):].strip().partition(BLOCKED_SEPARATOR)
    return prerequisite, reason


def request_curl(request: httpx.Request) -> str:
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
    return curl_line(request.method, str(request.url), headers, request.content or None)


def answer_text(response: httpx.Response) -> str:
    """`400 VALIDATION_ERROR (firstName, lastName)`: the status, the error code and the fields it names."""
    text = str(response.status_code)
    try:
        error = json_of(response.content).get("error")
    except (ValueError, AttributeError):
        return text
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        text += f" {error['code']}"
        details = error.get("details")
        if isinstance(details, list):
            fields = [str(item["field"]) for item in details if isinstance(item, dict) and "field" in item]
            if fields:
                text += f" ({', '.join(dict.fromkeys(fields))})"
    return text


def describe(operation: str, what: str, expected: Any, actual: Any, response: httpx.Response | None = None) -> Finding:
    """The failure message every check uses: operation, field, expected, actual, curl."""
    if response is None:
        return Finding(operation, what, expected, actual)
    return Finding(operation, what, expected, actual, request_curl(response.request), answer_text(response),
                   caller_of(response.request))


def caller_of(request: httpx.Request) -> str | None:
    """Which key sent the request, as `key_digest` gives it; None without a key."""
    key = request.headers.get("x-api-key")
    return None if key is None else key_digest(key)


def key_digest(key: str) -> str:
    """A short digest of an API key: which tenant asked, without the key."""
    return hashlib.sha256(key.strip().encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."
