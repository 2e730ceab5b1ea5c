"""updateLead: persisted partial updates, versions, optimistic locking, NO_UPDATES and validation."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from contract_tests.checks import (
    LEAD_FIELDS,
    check_error,
    check_later,
    check_lead,
    check_success,
    check_validation_error,
    check_values,
    gone_lead_id,
    unique_email,
)
from contract_tests.client import LeadsClient, describe


def update(client: LeadsClient, lead_id: str, body: Any) -> httpx.Response:
    return client.request("PUT", f"/leads/{lead_id}", json_body=body)


def check_stored(client: LeadsClient, lead_id: str, expected: dict[str, Any]) -> None:
    """getLead reads `expected` back: the change was persisted, not only answered."""
    response = client.request("GET", f"/leads/{lead_id}")
    check_values("getLead", check_success("getLead", response), expected, response)


def check_unchanged(client: LeadsClient, before: dict[str, Any], after_what: str) -> None:
    """The stored lead reads exactly as `before` (a rejected update must change nothing)."""
    response = client.request("GET", f"/leads/{before['id']}")
    now = check_success("getLead", response)
    for name in LEAD_FIELDS:
        assert now.get(name) == before.get(name), describe(
            "updateLead", f"lead.{name} after {after_what}", before.get(name), now.get(name), response
        )


@pytest.mark.rule("update is persisted", "updateLead", "getLead")
def test_update_is_answered_and_persisted(client: LeadsClient) -> None:
    lead = client.create_lead()
    changes = {
        "name": "Jane Smith", "email": unique_email("update"), "phone": "(555) 987-6543", "source": "Referral",
        "status": "contacted", "lead_type": "both", "interest_level": "hot", "budget": 512000.5,
        "timeline": "6-12 months", "message": "Call me", "notes": "Called back",
        "last_contact_date": "2026-11-28T16:00:00.000Z", "next_follow_up": "2026-12-02T09:15:00.500Z",
    }
    response = update(client, lead["id"], {**changes, "version": 1})
    answered = check_lead("updateLead", check_success("updateLead", response), response)
    check_values("updateLead", answered, changes, response)
    check_stored(client, lead["id"], {name: answered[name] for name in LEAD_FIELDS})


@pytest.mark.rule("update bumps version by exactly 1", "updateLead")
def test_each_update_bumps_version_by_exactly_one(client: LeadsClient) -> None:
    lead = client.create_lead()
    for expected_version, status in ((2, "contacted"), (3, "qualified")):
        response = update(client, lead["id"], {"status": status})
        check_values("updateLead", check_success("updateLead", response), {"version": expected_version}, response)
    check_stored(client, lead["id"], {"version": 3})


@pytest.mark.rule("update moves updated_at", "updateLead")
def test_update_moves_updated_at_and_keeps_created_at(client: LeadsClient) -> None:
    lead = client.create_lead()
    response = update(client, lead["id"], {"notes": "moved"})
    answered = check_success("updateLead", response)
    check_later("updateLead", "lead.updated_at", lead["updated_at"], answered["updated_at"], response)
    check_values("updateLead", answered, {"created_at": lead["created_at"]}, response)


@pytest.mark.rule("partial update leaves other fields unchanged", "updateLead")
def test_partial_update_leaves_other_fields_unchanged(client: LeadsClient) -> None:
    lead = client.create_lead(email=unique_email("partial"), phone="(805) 555-0133", source="Zillow", budget=450000,
                              timeline="0-3 months", message="Hi", notes="n", lead_type="both", interest_level="cold")
    response = update(client, lead["id"], {"timeline": "6-12 months"})
    answered = check_success("updateLead", response)
    untouched = {name: lead[name] for name in LEAD_FIELDS if name not in ("timeline", "version", "updated_at")}
    check_values("updateLead", answered, untouched, response)
    check_stored(client, lead["id"], untouched)


@pytest.mark.rule("null clears a nullable field", "updateLead")
def test_null_clears_nullable_fields(client: LeadsClient) -> None:
    lead = client.create_lead(email=unique_email("clear"), budget=300000, timeline="ASAP",
                              next_follow_up="2026-12-24T10:00:00.000Z")
    cleared = {"email": None, "budget": None, "timeline": None, "next_follow_up": None}
    response = update(client, lead["id"], cleared)
    check_values("updateLead", check_success("updateLead", response), cleared, response)
    check_stored(client, lead["id"], cleared)


@pytest.mark.rule("null for a non-nullable field is rejected", "updateLead")
@pytest.mark.parametrize("field", ["name", "status", "lead_type", "interest_level", "version"])
def test_update_rejects_null_for_non_nullable_field(client: LeadsClient, field: str) -> None:
    lead = client.create_lead()
    body = {"notes": "x", field: None} if field == "version" else {field: None}
    check_validation_error("updateLead", update(client, lead["id"], body), {field: "body"})
    check_unchanged(client, lead, f"PUT {body}")


@pytest.mark.rule("stale version is rejected with 409", "updateLead")
@pytest.mark.parametrize("attempted", [1, 9], ids=["older", "newer"])
def test_stale_version_is_rejected_with_409_and_nothing_changes(client: LeadsClient, attempted: int) -> None:
    lead = client.create_lead()
    current = check_success("updateLead", update(client, lead["id"], {"status": "contacted", "version": 1}))
    response = update(client, lead["id"], {"status": "lost", "notes": "should not stick", "version": attempted})
    error = check_error("updateLead", response, 409, "VERSION_CONFLICT")
    expected = {"currentVersion": 2, "attemptedVersion": attempted}
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    assert {key: details.get(key) for key in expected} == expected, describe(
        "updateLead", "error.details", expected, error.get("details"), response
    )
    check_unchanged(client, current, "a 409 VERSION_CONFLICT")


@pytest.mark.rule("update without version: last write wins", "updateLead")
def test_update_without_version_last_write_wins(client: LeadsClient) -> None:
    lead = client.create_lead()
    check_success("updateLead", update(client, lead["id"], {"status": "contacted"}))
    response = update(client, lead["id"], {"status": "qualified"})
    check_values("updateLead", check_success("updateLead", response), {"status": "qualified", "version": 3}, response)
    check_stored(client, lead["id"], {"status": "qualified", "version": 3})


@pytest.mark.rule("update with no updatable field is NO_UPDATES", "updateLead")
@pytest.mark.parametrize("body", [
    {}, {"version": 1}, {"favourite_colour": "teal"},
    {"converted_to_client_id": "7e5a3c1b-9d8f-4e2a-b6c4-1f0e8d7a5b3c", "created_at": "2020-01-01T00:00:00.000Z",
     "id": "x"},
], ids=["empty", "version-alone", "unknown-only", "server-managed-only"])
def test_update_without_updatable_field_is_400_no_updates(client: LeadsClient, body: dict[str, Any]) -> None:
    lead = client.create_lead()
    check_error("updateLead", update(client, lead["id"], body), 400, "NO_UPDATES")
    check_unchanged(client, lead, f"PUT {body}")


@pytest.mark.rule("version must be an integer >= 1", "updateLead")
@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True], ids=["zero", "negative", "string", "fraction", "bool"])
def test_update_rejects_invalid_version(client: LeadsClient, version: Any) -> None:
    lead = client.create_lead()
    response = update(client, lead["id"], {"status": "lost", "version": version})
    check_validation_error("updateLead", response, {"version": "body"})
    check_unchanged(client, lead, "an invalid version")


@pytest.mark.rule("validation names every offending field", "updateLead")
def test_update_reports_every_offending_field_and_changes_nothing(client: LeadsClient) -> None:
    lead = client.create_lead()
    body = {"status": "archived", "email": "bad address", "budget": -5, "name": "   ", "last_contact_date": "yesterday"}
    expected = {"status": "body", "email": "body", "budget": "body", "name": "body", "last_contact_date": "body"}
    check_validation_error("updateLead", update(client, lead["id"], body), expected)
    check_unchanged(client, lead, "a 400 VALIDATION_ERROR")


@pytest.mark.rule("name is stored trimmed", "updateLead")
def test_update_stores_name_trimmed(client: LeadsClient) -> None:
    lead = client.create_lead()
    response = update(client, lead["id"], {"name": "  Jane Smith "})
    check_values("updateLead", check_success("updateLead", response), {"name": "Jane Smith"}, response)


@pytest.mark.rule("unknown body fields are ignored", "updateLead")
def test_update_ignores_unknown_fields(client: LeadsClient) -> None:
    lead = client.create_lead()
    response = update(client, lead["id"], {"status": "lost", "favourite_colour": "teal"})
    check_values("updateLead", check_success("updateLead", response), {"status": "lost", "version": 2}, response)


@pytest.mark.rule("date-time offsets are converted to UTC", "updateLead")
def test_update_converts_date_time_offset_to_utc(client: LeadsClient) -> None:
    lead = client.create_lead()
    response = update(client, lead["id"], {"last_contact_date": "2026-11-30T19:05:00.500-05:00"})
    expected = {"last_contact_date": "2026-12-01T00:05:00.500Z"}
    answered = check_success("updateLead", response)
    assert answered.get("last_contact_date") == expected["last_contact_date"], describe(
        "updateLead", "lead.last_contact_date", expected["last_contact_date"],
        answered.get("last_contact_date"), response,
    )


@pytest.mark.rule("unknown lead is 404 NOT_FOUND", "updateLead")
def test_update_of_an_unknown_lead_is_404(client: LeadsClient) -> None:
    check_error("updateLead", update(client, gone_lead_id(client), {"status": "lost"}), 404, "NOT_FOUND")


@pytest.mark.rule("order of answers: body errors before the lead's 404", "updateLead")
def test_update_checks_the_body_before_looking_up_the_lead(client: LeadsClient) -> None:
    gone = gone_lead_id(client)
    check_error("updateLead", update(client, gone, {"version": 1}), 400, "NO_UPDATES")
    check_validation_error("updateLead", update(client, gone, {"status": "archived"}), {"status": "body"})
