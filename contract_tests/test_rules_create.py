"""createLead: defaults, the full representation, persistence, trimming and validation."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from contract_tests.checks import (
    LEAD_FIELDS,
    check_created,
    check_lead,
    check_success,
    check_validation_error,
    check_values,
    is_uuid,
    answer_instant,
    parse_instant,
    unique_email,
)
from contract_tests.client import LeadsClient, describe

CREATED_MESSAGE = "Lead created successfully"
FULL_LEAD: dict[str, Any] = {
    "name": "Rachel Kim",
    "phone": "(661) 555-0198",
    "source": "Website Form",
    "lead_type": "seller",
    "interest_level": "hot",
    "budget": 380000,
    "timeline": "3-6 months",
    "message": "Is the house on Elm St still available?",
    "notes": "Prefers texts after 6pm",
    "next_follow_up": "2026-12-01T09:30:00.250Z",
}
# Each value breaks exactly one documented bound of its field.
INVALID_VALUES = [
    ("email", "no-at-sign.example.com"),
    ("email", "two@@example.com"),
    ("email", "has space@example.com"),
    ("email", 42),
    ("phone", "5" * 51),
    ("source", "s" * 101),
    ("timeline", "t" * 101),
    ("lead_type", "renter"),
    ("interest_level", "lukewarm"),
    ("budget", -1),
    ("budget", "380000"),
    ("budget", True),
    ("message", 7),
    ("notes", ["a", "list"]),
    ("next_follow_up", "next tuesday"),
    ("next_follow_up", "2026-13-45T99:00:00Z"),
    ("name", "n" * 256),
    ("name", 12345),
]
INVALID_IDS = [f"{name}-{number}" for number, (name, _) in enumerate(INVALID_VALUES)]
MAXIMUM_VALUES = [("name", "N" * 255), ("phone", "5" * 50), ("source", "s" * 100), ("timeline", "t" * 100)]
# Markup, quotes, ampersands and non-ASCII text: a server that escapes or transforms them changes what it shows.
ROUND_TRIP_TEXT = {
    "name": "Zoë <b>O'Brien</b> & \"Sons\"",
    "phone": "+1 (661) 555-0198 ext. <7>",
    "source": "Zillow & Trulia <script>alert(1)</script>",
    "timeline": "3–6 months 🏡",
    "message": "Is 12 > 10 & 3 < 5? Ünïcødé, 日本語, emoji 🏠, tab\tand newline\nkept.",
    "notes": "&amp; stays &amp;; &lt;tag&gt; stays as typed; 'single' \"double\" `back`",
}
# local@domain is the whole rule: no dot needed in the domain, any non-space local part.
VALID_EMAIL_PARTS = [("first.last+tag", "sub.example.com"), ("o'brien", "example.org"), ("user", "localhost")]


def create(client: LeadsClient, body: Any) -> Any:
    return client.request("POST", "/leads", json_body=body)


@pytest.mark.rule("create answers 201 with its message", "createLead")
def test_create_answers_201_with_created_message(client: LeadsClient) -> None:
    response = create(client, {"name": "Jordan Lee"})
    check_success("createLead", response, 201, CREATED_MESSAGE)


@pytest.mark.rule("create applies documented defaults", "createLead")
def test_create_applies_documented_defaults(client: LeadsClient) -> None:
    response = create(client, {"name": "Jordan Lee"})
    lead = check_created("createLead", response)
    defaults = {"status": "new", "version": 1, "lead_type": "buyer", "interest_level": "warm"}
    check_values("createLead", lead, defaults, response)


@pytest.mark.rule("create always starts at status new and version 1", "createLead")
def test_create_ignores_server_managed_fields_sent_by_the_client(client: LeadsClient) -> None:
    managed = {
        "status": "qualified", "version": 7, "converted_to_client_id": str(uuid.uuid4()),
        "created_at": "2020-01-01T00:00:00.000Z", "updated_at": "2020-01-01T00:00:00.000Z",
        "last_contact_date": "2020-01-01T00:00:00.000Z",
    }
    response = create(client, {"name": "Jordan Lee", **managed})
    lead = check_created("createLead", response)
    check_values("createLead", lead, {"status": "new", "version": 1, "converted_to_client_id": None,
                                      "last_contact_date": None}, response)
    stamp = answer_instant(response)
    if stamp is None:  # no clock of the server's to compare with: the timestamp rule reports that
        return
    for name in ("created_at", "updated_at"):
        moment = parse_instant(lead[name]) if isinstance(lead.get(name), str) else None
        assert moment is not None and abs(moment - stamp) <= timedelta(minutes=1), describe(
            "createLead", f"lead.{name}", f"the time of creation (the server's clock said {stamp:%Y-%m-%dT%H:%M:%S}Z)",
            lead.get(name), response,
        )


@pytest.mark.rule("create persists every field sent", "createLead", "getLead")
def test_create_fields_are_persisted_and_read_back(client: LeadsClient) -> None:
    sent = {**FULL_LEAD, "email": unique_email("persist")}
    response = create(client, sent)
    lead = check_lead("createLead", check_created("createLead", response), response)
    check_values("createLead", lead, sent, response)
    fetched = client.request("GET", f"/leads/{lead['id']}")
    stored = check_lead("getLead", check_success("getLead", fetched), fetched)
    check_values("getLead", stored, {name: lead[name] for name in LEAD_FIELDS}, fetched)


@pytest.mark.rule("date-time offsets are converted to UTC", "createLead", "getLead")
def test_create_converts_date_time_offset_to_utc(client: LeadsClient) -> None:
    response = create(client, {"name": "Jordan Lee", "next_follow_up": "2026-12-01T10:30:00.250+02:00"})
    lead = check_created("createLead", response)
    assert lead.get("next_follow_up") == "2026-12-01T08:30:00.250Z", describe(
        "createLead", "lead.next_follow_up", "2026-12-01T08:30:00.250Z", lead.get("next_follow_up"), response
    )
    fetched = client.request("GET", f"/leads/{lead['id']}")
    stored = check_success("getLead", fetched)
    assert stored.get("next_follow_up") == "2026-12-01T08:30:00.250Z", describe(
        "getLead", "lead.next_follow_up", "2026-12-01T08:30:00.250Z", stored.get("next_follow_up"), fetched
    )


@pytest.mark.rule("name is stored trimmed", "createLead", "getLead")
def test_create_stores_name_trimmed(client: LeadsClient) -> None:
    response = create(client, {"name": "  \tJordan Lee  "})
    lead = check_created("createLead", response)
    check_values("createLead", lead, {"name": "Jordan Lee"}, response)
    fetched = client.request("GET", f"/leads/{lead['id']}")
    check_values("getLead", check_success("getLead", fetched), {"name": "Jordan Lee"}, fetched)


@pytest.mark.rule("blank name is rejected", "createLead")
@pytest.mark.parametrize("name", ["", "   ", "\t\n "], ids=["empty", "spaces", "whitespace"])
def test_create_rejects_name_without_a_non_space_character(client: LeadsClient, name: str) -> None:
    check_validation_error("createLead", create(client, {"name": name}), {"name": "body"})


@pytest.mark.rule("name is required", "createLead")
def test_create_without_name_is_rejected(client: LeadsClient) -> None:
    check_validation_error("createLead", create(client, {"email": unique_email("noname")}), {"name": "body"})


@pytest.mark.rule("invalid field value is rejected naming the field", "createLead")
@pytest.mark.parametrize(("field", "value"), INVALID_VALUES, ids=INVALID_IDS)
def test_create_rejects_invalid_field_value(client: LeadsClient, field: str, value: Any) -> None:
    body = {"name": "Jordan Lee", field: value}
    check_validation_error("createLead", create(client, body), {field: "body"})


@pytest.mark.rule("validation names every offending field", "createLead")
def test_create_reports_every_offending_field_at_once(client: LeadsClient) -> None:
    body = {"email": "not-an-email", "lead_type": "renter", "interest_level": "lukewarm", "budget": -5}
    expected = {"name": "body", "email": "body", "lead_type": "body", "interest_level": "body", "budget": "body"}
    check_validation_error("createLead", create(client, body), expected)


@pytest.mark.rule("email is local@domain", "createLead")
@pytest.mark.parametrize(("local", "domain"), VALID_EMAIL_PARTS)
def test_create_accepts_any_local_at_domain_email(client: LeadsClient, local: str, domain: str) -> None:
    email = f"{local}-{uuid.uuid4().hex[:8]}@{domain}"
    # Accepted is the rule; reading it back exactly is the round-trip rule's.
    check_created("createLead", create(client, {"name": "Jordan Lee", "email": email}))


@pytest.mark.rule("null for a non-nullable field is rejected", "createLead")
@pytest.mark.parametrize("field", ["name", "lead_type", "interest_level"])
def test_create_rejects_null_for_non_nullable_field(client: LeadsClient, field: str) -> None:
    body = {"name": "Jordan Lee", field: None}
    check_validation_error("createLead", create(client, body), {field: "body"})


@pytest.mark.rule("nullable fields accept null", "createLead")
def test_create_accepts_null_for_nullable_fields(client: LeadsClient) -> None:
    nullable = ("email", "phone", "source", "budget", "timeline", "message", "notes", "next_follow_up")
    nulls = {name: None for name in nullable}
    response = create(client, {"name": "Jordan Lee", **nulls})
    lead = check_created("createLead", response)
    check_values("createLead", lead, nulls, response)


@pytest.mark.rule("unknown body fields are ignored", "createLead")
def test_create_ignores_unknown_fields(client: LeadsClient) -> None:
    response = create(client, {"name": "Jordan Lee", "favourite_colour": "teal", "nested": {"a": [1, 2]}})
    lead = check_created("createLead", response)
    check_values("createLead", lead, {"name": "Jordan Lee"}, response)


@pytest.mark.rule("a value of exactly the documented maximum length is accepted", "createLead")
@pytest.mark.parametrize(("field", "value"), MAXIMUM_VALUES, ids=[field for field, _ in MAXIMUM_VALUES])
def test_create_accepts_a_value_of_exactly_the_maximum_length(client: LeadsClient, field: str, value: str) -> None:
    response = create(client, {"name": "Jordan Lee", field: value})
    check_values("createLead", check_created("createLead", response), {field: value}, response)


@pytest.mark.rule("create accepts the documented bounds", "createLead")
def test_create_accepts_values_at_their_bounds(client: LeadsClient) -> None:
    body = {"budget": 0, "email": unique_email("bounds"), "lead_type": "both", "interest_level": "cold"}
    response = create(client, {**body, "name": "Jordan Lee"})
    check_values("createLead", check_created("createLead", response), body, response)


@pytest.mark.rule("name's 255 characters count after trimming", "createLead")
def test_create_accepts_a_padded_name_that_trims_to_255(client: LeadsClient) -> None:
    name = "N" * 255
    response = create(client, {"name": " " * 25 + name + " " * 20})
    check_values("createLead", check_created("createLead", response), {"name": name}, response)


@pytest.mark.rule("text is stored and returned exactly as sent", "createLead", "getLead")
def test_text_fields_round_trip_exactly(client: LeadsClient) -> None:
    sent = dict(ROUND_TRIP_TEXT, email=f"o'brien&co-{uuid.uuid4().hex[:8]}@example.com")
    response = create(client, sent)
    lead = check_created("createLead", response)
    check_values("createLead", lead, sent, response)
    fetched = client.request("GET", f"/leads/{lead['id']}")
    check_values("getLead", check_success("getLead", fetched), sent, fetched)


@pytest.mark.rule("the server assigns id (UUID v4) and user_id", "createLead")
def test_create_assigns_a_v4_id_and_the_keys_user(client: LeadsClient) -> None:
    sent_id, sent_user = str(uuid.uuid4()), str(uuid.uuid4())
    sent = {"name": "Jordan Lee", "id": sent_id, "user_id": sent_user}
    first = check_created("createLead", create(client, sent))
    response = create(client, {"name": "Jordan Lee"})
    second = check_created("createLead", response)
    assert first.get("id") != sent_id and first.get("user_id") != sent_user, describe(
        "createLead", "id and user_id sent by the client", "ignored (server-assigned)",
        (first.get("id"), first.get("user_id")), response,
    )
    assert is_uuid(second.get("id")) and uuid.UUID(second["id"]).version == 4, describe(
        "createLead", "lead.id", "a UUID version 4", second.get("id"), response
    )
    assert first.get("id") != second.get("id"), describe(
        "createLead", "lead.id of two leads", "different", second.get("id"), response
    )
    assert first.get("user_id") == second.get("user_id"), describe(
        "createLead", "lead.user_id of two leads of one key", first.get("user_id"), second.get("user_id"), response
    )
