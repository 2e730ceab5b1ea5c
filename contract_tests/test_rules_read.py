"""getLead and routing: the stored lead, 404 for unknown ids and routes, 400 for malformed ids, 405."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from contract_tests.checks import (
    LEAD_FIELDS,
    check_error,
    check_lead,
    check_success,
    check_validation_error,
    check_values,
    parse_instant,
)
from contract_tests.client import LeadsClient, body_of, describe
from contract_tests.findings import Blocked
from contract_tests.responses import RULE_TIMESTAMP

MALFORMED_IDS = ["not-a-uuid", "12345", "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9", "zzzzzzzz-3c5e-4f7a-9b1d-8e0c6a4f2d9b"]
# (method, path template, the methods the path really serves); {id} is a lead of this run.
WRONG_METHODS = [
    ("PATCH", "/leads", {"GET", "POST"}),
    ("POST", "/leads/{id}", {"GET", "PUT", "DELETE"}),
    ("PATCH", "/leads/{id}", {"GET", "PUT", "DELETE"}),
    ("GET", "/leads/{id}/convert", {"POST"}),
    ("PUT", "/leads/{id}/convert", {"POST"}),
]
TOLERATED_EXTRA_METHODS = {"HEAD", "OPTIONS"}
CLOCK_TOLERANCE = timedelta(minutes=15)


@pytest.fixture(scope="module")
def lead_id(client: LeadsClient) -> str:
    return client.create_lead(name="Contract Test Read Lead", budget=250000)["id"]


@pytest.mark.rule("get returns the stored lead", "getLead")
def test_get_returns_the_lead_as_created(client: LeadsClient) -> None:
    created = client.create_lead(name="Contract Test Read Lead", phone="(559) 555-0101", interest_level="cold")
    response = client.request("GET", f"/leads/{created['id']}")
    lead = check_lead("getLead", check_success("getLead", response), response)
    check_values("getLead", lead, {name: created[name] for name in LEAD_FIELDS if name in created}, response)


@pytest.mark.rule("unknown lead is 404 NOT_FOUND", "getLead")
def test_get_of_an_unknown_id_is_404_not_found(client: LeadsClient) -> None:
    check_error("getLead", client.request("GET", f"/leads/{uuid.uuid4()}"), 404, "NOT_FOUND")


@pytest.mark.rule("malformed id is 400 naming id in path", "getLead", "updateLead", "deleteLead", "convertLead")
@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
@pytest.mark.parametrize(("method", "suffix", "operation"), [
    ("GET", "", "getLead"), ("PUT", "", "updateLead"), ("DELETE", "", "deleteLead"),
    ("POST", "/convert", "convertLead"),
])
def test_malformed_id_is_rejected_with_400(
    client: LeadsClient, method: str, suffix: str, operation: str, bad_id: str
) -> None:
    body = {"status": "lost"} if method == "PUT" else None
    response = client.request(method, f"/leads/{bad_id}{suffix}", json_body=body)
    check_validation_error(operation, response, {"id": "path"})


@pytest.mark.rule("unknown route is 404 NOT_FOUND")
@pytest.mark.parametrize("path", ["/no-such-resource", "/leads/{id}/no-such-action", "/leads/{id}/convert/extra"])
def test_unknown_route_is_404_not_found(client: LeadsClient, lead_id: str, path: str) -> None:
    response = client.request("GET", path.format(id=lead_id))
    check_error(f"GET {path}", response, 404, "NOT_FOUND")


@pytest.mark.rule("trailing slash is an unknown route", "listLeads", "getLead")
@pytest.mark.parametrize("path", ["/leads/", "/leads/{id}/"])
def test_trailing_slash_is_an_unknown_route(client: LeadsClient, lead_id: str, path: str) -> None:
    response = client.request("GET", path.format(id=lead_id))
    check_error(f"GET {path}", response, 404, "NOT_FOUND")


@pytest.mark.rule("wrong method is 405 with Allow")
@pytest.mark.parametrize(("method", "path", "served"), WRONG_METHODS, ids=[f"{m} {p}" for m, p, _ in WRONG_METHODS])
def test_wrong_method_is_405_with_allow_header(
    client: LeadsClient, request: pytest.FixtureRequest, method: str, path: str, served: set[str]
) -> None:
    # Only the paths of one lead need one: the collection's 405 is judged even where create fails.
    lead_id = request.getfixturevalue("lead_id") if "{id}" in path else ""
    response = client.request(method, path.format(id=lead_id))
    operation = f"{method} {path}"
    check_error(operation, response, 405, "METHOD_NOT_ALLOWED")
    allow = response.headers.get("allow")
    assert allow is not None, describe(operation, "Allow header", ", ".join(sorted(served)), None, response)
    listed = {part.strip().upper() for part in allow.split(",") if part.strip()}
    assert served <= listed and method not in listed and listed - served <= TOLERATED_EXTRA_METHODS, describe(
        operation, "Allow header", f"the methods the path serves: {', '.join(sorted(served))}", allow, response
    )


@pytest.mark.rule("envelope timestamp is the current UTC time", "listLeads")
def test_envelope_timestamp_is_the_current_utc_time(client: LeadsClient) -> None:
    # The format is a rule of its own on every answer; this one states the clock and zone.
    response = client.request("GET", "/leads", params={"limit": 1})
    stamp_text = body_of(response).get("timestamp")
    try:
        stamp = parse_instant(stamp_text)
    except (TypeError, ValueError):
        raise Blocked(RULE_TIMESTAMP, f"listLeads answered timestamp {stamp_text!r}") from None
    # A wrong zone or a constant shows as hours of difference.
    now = datetime.now(timezone.utc)
    assert abs(stamp - now) <= CLOCK_TOLERANCE, describe(
        "listLeads", "envelope timestamp", f"the current UTC time ({now:%Y-%m-%dT%H:%M:%S}Z, +/- 15 min)",
        stamp_text, response,
    )
