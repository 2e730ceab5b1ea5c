"""Authentication, tenant isolation and rate-limit headers.

Requests without a valid key target only a lead this module created; afterwards the lead
must read exactly as before, so a server that acted on an unauthenticated request is caught.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from contract_tests.checks import (
    LEAD_FIELDS,
    check_error,
    check_rate_limit_headers,
    check_success,
    check_values,
    gone_lead_id,
)
from contract_tests.client import LeadsClient, describe, stop_if_interrupted

# operationId, method, path template ({id}: a lead of this run), body
OPERATIONS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("listLeads", "GET", "/leads", None),
    ("createLead", "POST", "/leads", {"name": "Contract Test Auth Lead"}),
    ("getLead", "GET", "/leads/{id}", None),
    ("updateLead", "PUT", "/leads/{id}", {"status": "lost", "notes": "must not be stored"}),
    ("deleteLead", "DELETE", "/leads/{id}", None),
    ("convertLead", "POST", "/leads/{id}/convert", {"clientType": "seller"}),
]
OPERATION_IDS = [operation for operation, *_ in OPERATIONS]
# Key sent -> expected code; None means no X-API-Key header at all.
BAD_KEYS: list[tuple[str, str | None, str]] = [
    ("missing", None, "NO_AUTH_TOKEN"),
    ("empty", "", "NO_AUTH_TOKEN"),
    ("unknown", f"contract-suite-unknown-key-{uuid.uuid4().hex}", "INVALID_API_KEY"),
]
MAX_REQUESTS_TO_EXHAUST = 300
MAX_WAIT_SECONDS = 65


@pytest.fixture(scope="module")
def own_lead(client: LeadsClient) -> dict[str, Any]:
    """A lead of the first tenant that unauthenticated requests aim at."""
    return client.create_lead(name="Contract Test Auth Lead", budget=200000)


def check_untouched(client: LeadsClient, lead: dict[str, Any], after_what: str) -> None:
    response = client.request("GET", f"/leads/{lead['id']}")
    if response.status_code == 404:
        what = f"lead {lead['id']} after {after_what}"
        raise AssertionError(describe("getLead", what, "still there", "deleted", response))
    check_values("getLead", check_success("getLead", response), {name: lead[name] for name in LEAD_FIELDS}, response)


@pytest.mark.rule("every operation requires a valid API key", *OPERATION_IDS)
@pytest.mark.parametrize(("label", "key", "code"), BAD_KEYS, ids=[label for label, *_ in BAD_KEYS])
@pytest.mark.parametrize(("operation", "method", "path", "body"), OPERATIONS, ids=OPERATION_IDS)
def test_request_without_valid_key_is_401(
    request: pytest.FixtureRequest, client: LeadsClient, operation: str, method: str, path: str,
    body: dict[str, Any] | None, label: str, key: str | None, code: str,
) -> None:
    # Only the operations on one lead need one: list and create are checked even where create fails.
    own_lead = request.getfixturevalue("own_lead") if "{id}" in path else None
    target = path.format(id=own_lead["id"]) if own_lead else path
    check_error(operation, client.request(method, target, json_body=body, api_key=key), 401, code)
    if own_lead and method != "GET":
        check_untouched(client, own_lead, f"{method} with a {label} API key")


# Each would be a 400 or 404 with a valid key; without one, 401 comes first.
EARLIER_THAN_OTHER_ERRORS: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    ("getLead", "GET", "/leads/not-a-uuid", {}, None),
    ("getLead", "GET", "/leads/{gone}", {}, None),
    ("listLeads", "GET", "/leads?limit=0", {}, None),
    ("createLead", "POST", "/leads", {"Content-Type": "application/json"}, b"{}"),
    ("createLead", "POST", "/leads", {"Content-Type": "application/json"}, b'{"name": '),
    ("createLead", "POST", "/leads", {"Content-Type": "text/plain"}, b"name=x"),
    ("updateLead", "PUT", "/leads/{id}", {"Content-Type": "application/json"}, b"{}"),
    ("convertLead", "POST", "/leads/{gone}/convert", {}, None),
]


@pytest.mark.rule("401 comes before 400, 404 and 415", *OPERATION_IDS)
@pytest.mark.parametrize(("operation", "method", "path", "headers", "content"), EARLIER_THAN_OTHER_ERRORS,
                         ids=["malformed-id", "unknown-id", "bad-limit", "missing-name", "malformed-json",
                              "wrong-content-type", "no-updates", "convert-unknown-id"])
def test_missing_key_is_answered_before_other_errors(
    request: pytest.FixtureRequest, client: LeadsClient, anonymous: LeadsClient, operation: str, method: str,
    path: str, headers: dict[str, str], content: bytes | None,
) -> None:
    own_id = request.getfixturevalue("own_lead")["id"] if "{id}" in path else ""
    gone_id = gone_lead_id(client) if "{gone}" in path else ""
    response = anonymous.request(method, path.format(id=own_id, gone=gone_id), content=content, headers=headers)
    check_error(operation, response, 401, "NO_AUTH_TOKEN")


@pytest.mark.rule("unknown route is 404 before auth")
def test_unknown_route_without_key_is_404_not_401(anonymous: LeadsClient) -> None:
    check_error("GET /no-such-resource", anonymous.request("GET", "/no-such-resource"), 404, "NOT_FOUND")


@pytest.mark.rule("wrong method is 405 before auth")
def test_wrong_method_without_key_is_405_not_401(anonymous: LeadsClient) -> None:
    check_error("PATCH /leads", anonymous.request("PATCH", "/leads"), 405, "METHOD_NOT_ALLOWED")


@pytest.fixture(scope="module")
def foreign_lead(client: LeadsClient, client_2: LeadsClient) -> dict[str, Any]:
    """A lead of the first tenant, for the second to reach for (the list checks alone write as the second)."""
    return client.create_lead(name="Contract Test Other Tenant Lead", budget=150000, interest_level="hot")


@pytest.mark.rule("tenant isolation: another key's lead is 404", "getLead", "updateLead", "deleteLead", "convertLead")
@pytest.mark.parametrize(("operation", "method", "path", "body"), OPERATIONS[2:], ids=OPERATION_IDS[2:])
def test_other_tenants_lead_is_404_and_unchanged(
    client: LeadsClient, client_2: LeadsClient, foreign_lead: dict[str, Any], operation: str, method: str,
    path: str, body: dict[str, Any] | None,
) -> None:
    response = client_2.request(method, path.format(id=foreign_lead["id"]), json_body=body)
    check_error(operation, response, 404, "NOT_FOUND")
    check_untouched(client, foreign_lead, f"{method} by another tenant")


@pytest.mark.rule("RateLimit-Remaining never exceeds RateLimit-Limit", *OPERATION_IDS)
def test_rate_limit_remaining_never_exceeds_the_limit(
    client: LeadsClient, anonymous: LeadsClient, own_lead: dict[str, Any]
) -> None:
    answers: list[tuple[str, httpx.Response]] = [
        ("listLeads", client.request("GET", "/leads", params={"limit": 1})),
        ("createLead", client.request("POST", "/leads", json_body={"name": "Contract Test Auth Lead"})),
        ("getLead", client.request("GET", f"/leads/{own_lead['id']}")),
        ("getLead", client.request("GET", f"/leads/{uuid.uuid4()}")),
        ("createLead", client.request("POST", "/leads", json_body={"name": "  "})),
        ("listLeads", anonymous.request("GET", "/leads")),
        ("PATCH /leads", client.request("PATCH", "/leads")),
        ("GET /no-such-resource", client.request("GET", "/no-such-resource")),
    ]
    for operation, response in answers:
        values = check_rate_limit_headers(operation, response)
        assert values["RateLimit-Remaining"] <= values["RateLimit-Limit"], describe(
            operation, "RateLimit-Remaining", f"<= RateLimit-Limit {values['RateLimit-Limit']}",
            values["RateLimit-Remaining"], response,
        )


@pytest.mark.rule("RateLimit-Remaining counts down", "listLeads")
def test_rate_limit_remaining_decreases_with_each_request(client: LeadsClient) -> None:
    answers = [client.request("GET", "/leads", params={"limit": 1}) for _ in range(3)]
    headers = [check_rate_limit_headers("listLeads", response) for response in answers]
    remaining = [values["RateLimit-Remaining"] for values in headers]
    # At most one window boundary falls between three quick requests; one step at least must count down.
    steps = list(zip(remaining, remaining[1:]))
    assert any(after < before for before, after in steps), describe(
        "listLeads", "RateLimit-Remaining over three requests", "decreasing", remaining, answers[-1]
    )
    limits = {values["RateLimit-Limit"] for values in headers}
    assert len(limits) == 1, describe(
        "listLeads", "RateLimit-Limit over three requests", "one constant limit", sorted(limits), answers[-1]
    )


@pytest.mark.rule("over the limit is 429 with Retry-After", "listLeads")
def test_requests_over_the_limit_are_answered_429(anonymous: LeadsClient) -> None:
    """Exhausts the window of requests without a valid key (never the tested key's window).

    Runs only where a window holds few enough requests, last among the checks without a key;
    the requests go through a plain HTTP client, bypassing the suite client's wait on 429.
    """
    probe = anonymous.request("GET", "/leads")
    values = check_rate_limit_headers("listLeads", probe)
    if values["RateLimit-Remaining"] + 1 > MAX_REQUESTS_TO_EXHAUST:
        pytest.skip(f"the window allows {values['RateLimit-Limit']} requests; exhausting it would take too long")
    url = anonymous.url("/leads")
    last: httpx.Response | None = None
    with httpx.Client(timeout=30.0) as raw:
        for _ in range(values["RateLimit-Remaining"] + 2):
            stop_if_interrupted()
            last = raw.get(url)
            if last.status_code == 429:
                break
    assert last is not None
    check_error("listLeads", last, 429, "RATE_LIMIT_EXCEEDED")
    retry_after = last.headers.get("retry-after", "")
    assert retry_after.strip().isdigit(), describe(
        "listLeads", "Retry-After header of a 429", "whole seconds", retry_after, last
    )
    check_rate_limit_headers("listLeads", last)
    # Let the window end, so that later checks without a key are not answered 429.
    time.sleep(min(int(retry_after), MAX_WAIT_SECONDS) + 0.2)
