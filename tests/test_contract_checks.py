"""Rule helpers that judge one answer: they read what the server said without tripping on another rule's defect."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from schemathesis.core.failures import ServerError

from contract_tests.checks import answer_instant
from contract_tests.client import unframed
from contract_tests.extraction import findings_of
from contract_tests.findings import Blocked, Finding, key_digest
from contract_tests.ledger import CreatedLeads
from contract_tests.responses import RULE_CONTENT_TYPE, RULE_ENVELOPE, RULE_RATE_HEADERS, ResponseRules, Seen
from contract_tests.safety import Budget, RunGuard

DATE = "Tue, 01 Dec 2026 10:30:05 GMT"


def answer(body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(201, json=body, headers=headers or {})


def test_the_server_clock_is_the_envelope_timestamp_when_it_parses() -> None:
    response = answer({"success": True, "data": {}, "timestamp": "2026-12-01T10:30:00.250Z"}, {"Date": DATE})
    assert answer_instant(response) == datetime(2026, 12, 1, 10, 30, 0, 250000, tzinfo=timezone.utc)


def test_a_missing_or_malformed_timestamp_falls_back_on_the_date_header() -> None:
    for body in ({"success": True, "data": {}}, {"success": True, "timestamp": "2026-12-01T10:30:00Z"}, ["not", "an", "envelope"]):
        assert answer_instant(answer(body, {"Date": DATE})) == datetime(2026, 12, 1, 10, 30, 5, tzinfo=timezone.utc)


def test_without_timestamp_or_date_there_is_no_server_clock_to_compare_with() -> None:
    assert answer_instant(answer({"success": True, "data": {}})) is None
    assert answer_instant(httpx.Response(201, content=b"<html>", headers={"Date": "yesterday"})) is None


# -- the rules every answer is judged by ----------------------------------------------------------

RATE_HEADERS = {"ratelimit-limit": "100", "ratelimit-remaining": "99", "ratelimit-reset": "60"}


def seen(method: str, status: int, headers: dict[str, str], body: bytes = b"") -> Seen:
    return Seen(method, "http://127.0.0.1:1/v1/leads/x", "/leads/{id}", status, headers, body, (), None)


def broken(rules: ResponseRules) -> set[str]:
    return {tally.rule for tally in rules.tallies.values() if tally.failed}


def test_options_answered_204_with_no_body_is_judged_only_by_the_ratelimit_headers() -> None:
    # The decisions leave a server free to answer OPTIONS 204 (or 405): a 204 carries no body or Content-Type.
    rules = ResponseRules()
    assert rules.observe(seen("OPTIONS", 204, {"allow": "GET, PUT, DELETE", **RATE_HEADERS})) is False
    assert rules.observe(seen("OPTIONS", 204, {"allow": "GET, PUT, DELETE"})) is True
    assert broken(rules) == {RULE_RATE_HEADERS}


def test_a_delete_answered_204_with_no_body_still_breaks_the_envelope_and_content_type_rules() -> None:
    rules = ResponseRules()
    assert rules.observe(seen("DELETE", 204, dict(RATE_HEADERS))) is True
    assert broken(rules) == {RULE_ENVELOPE, RULE_CONTENT_TYPE}


def test_a_spent_request_budget_blocks_what_is_left_instead_of_failing_it() -> None:
    guard = RunGuard("http://127.0.0.1:9/v1", "key", CreatedLeads(), Budget(max_requests=0, max_seconds=60.0))
    with pytest.raises(Blocked) as raised:
        guard.resident("updateLead")  # its lead would be the run's next request
    assert raised.value.prerequisite == "the run's budget of generated requests and time"
    assert "budget of 0 generated requests" in raised.value.reason


def test_a_schemathesis_server_error_without_a_message_is_summarised_with_its_status() -> None:
    failure = ServerError(operation="POST /leads", status_code=503)
    [finding] = findings_of(failure, "createLead")
    assert finding["summary"] == "POST /leads: Server error: answered 503"


def test_a_request_of_the_second_tenant_served_instead_of_refused_is_a_cause_of_its_own() -> None:
    second = key_digest("second-tenant-key")
    deleted = Finding("getLead", "HTTP status", "404", "200", caller=key_digest("first-tenant-key"))
    foreign = Finding("getLead", "HTTP status", "404", "200", caller=second)
    assert deleted.cause_for(second) != foreign.cause_for(second)
    assert deleted.cause_for(None) == foreign.cause_for(None)  # no second tenant in the run: nothing to tell apart


def test_one_wrong_error_status_is_one_cause_whoever_asked() -> None:
    second = key_digest("second-tenant-key")
    missing = Finding("getLead", "HTTP status", "404", "403 FORBIDDEN", caller=key_digest("first-tenant-key"))
    foreign = Finding("getLead", "HTTP status", "404", "403 FORBIDDEN", caller=second)
    assert missing.cause_for(second) == foreign.cause_for(second)


def test_an_answer_without_length_or_chunks_is_cut_short_unless_it_ends_with_the_connection() -> None:
    assert unframed(200, {"content-type": "application/json"}, "GET")
    assert not unframed(200, {"content-length": "2"}, "GET")
    assert not unframed(200, {"transfer-encoding": "chunked"}, "GET")
    assert not unframed(200, {"connection": "keep-alive, Close"}, "GET")  # RFC 9112 6.3: read until closed
    assert not unframed(200, {"connection": ["close"]}, "GET")  # as Schemathesis lists header values
    assert not unframed(200, {}, "GET", "HTTP/1.0") and not unframed(200, {}, "GET", "1.0")
    assert not unframed(204, {}, "DELETE") and not unframed(200, {}, "HEAD")
