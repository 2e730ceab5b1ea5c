"""convertLead: the answer, the lead marked converted, client type, price range, contacts, 409.

Every conversion creates a client (and maybe a contact) that the API cannot delete, so the
module converts only leads it created and keeps their number small.
"""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from contract_tests.checks import (
    check_error,
    check_later,
    check_lead,
    check_success,
    check_validation_error,
    check_values,
    is_uuid,
    unique_email,
)
from contract_tests.client import LeadsClient, describe

CONVERTED_MESSAGE = "Lead successfully converted to client"
# budget -> (round half up of budget * 0.9, of budget * 1.1); halves appear where floats would mislead.
PRICE_RANGES = [(380000, 342000, 418000), (12345, 11111, 13580), (15, 14, 17), (5, 5, 6), (0, 0, 0)]


def convert(client: LeadsClient, lead_id: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    return client.request("POST", f"/leads/{lead_id}/convert", json_body=body, **kwargs)


def check_conversion(response: httpx.Response, lead_id: str, client_type: str | None = None, *,
                     full: bool = False) -> dict[str, Any]:
    """A conversion's 200 answer; returns its data.

    Each rule states one thing of it: `client_type` is checked when given, and the whole documented
    shape (ids, message, lead summary, contact fields) only with `full`, by the rule that states it.
    Enum spelling is the enum rule's, so values compare without case.
    """
    data = check_success("convertLead", response, 200, CONVERTED_MESSAGE if full else None)
    assert isinstance(data, dict), describe("convertLead", "data", "an object", data, response)
    new_client = data.get("client")
    assert isinstance(new_client, dict), describe("convertLead", "data.client", "an object", new_client, response)
    if client_type is not None:
        actual = new_client.get("client_type")
        assert isinstance(actual, str) and actual.lower() == client_type, describe(
            "convertLead", "data.client.client_type", client_type, actual, response
        )
    if not full:
        return data
    for key in ("id", "contact_id"):
        assert is_uuid(new_client.get(key)), describe(
            "convertLead", f"data.client.{key}", "a UUID", new_client.get(key), response
        )
    status = new_client.get("status")
    assert isinstance(status, str) and status.lower() == "active", describe(
        "convertLead", "data.client.status", "active", status, response
    )
    for key in ("price_range_min", "price_range_max"):
        assert key in new_client, describe(
            "convertLead", f"data.client.{key}", "present (null without budget)", "missing", response
        )
    shown = data.get("lead") if isinstance(data.get("lead"), dict) else {}
    summary = {"id": shown.get("id"), "lead_status": str(shown.get("lead_status")).lower(),
               "client_id": shown.get("client_id")}
    expected_lead = {"id": lead_id, "lead_status": "converted", "client_id": new_client["id"]}
    assert summary == expected_lead, describe("convertLead", "data.lead", expected_lead, data.get("lead"), response)
    assert data.get("primaryContactId") == new_client["contact_id"], describe(
        "convertLead", "data.primaryContactId", f"client.contact_id = {new_client['contact_id']}",
        data.get("primaryContactId"), response,
    )
    assert data.get("additionalContactsCount") == 0, describe(
        "convertLead", "data.additionalContactsCount", 0, data.get("additionalContactsCount"), response
    )
    return data


@pytest.mark.rule("convert answers the client, the lead and the contact", "convertLead")
def test_convert_answers_client_lead_and_contact(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead", email=unique_email("convert"), budget=380000)
    check_conversion(convert(client, lead["id"], {"clientType": "buyer"}), lead["id"], "buyer", full=True)


@pytest.mark.rule("convert marks the lead converted", "convertLead", "getLead")
def test_converted_lead_is_marked_converted_with_its_client(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    data = check_conversion(convert(client, lead["id"]), lead["id"])
    response = client.request("GET", f"/leads/{lead['id']}")
    stored = check_lead("getLead", check_success("getLead", response), response)
    expected = {"status": "converted", "converted_to_client_id": data["client"]["id"], "version": lead["version"] + 1}
    check_values("getLead", stored, expected, response)
    check_later("getLead", "lead.updated_at after convert", lead["updated_at"], stored["updated_at"], response)


@pytest.mark.rule("convert applies clientType", "convertLead")
@pytest.mark.parametrize("client_type", ["seller", "both"])
def test_convert_applies_client_type(client: LeadsClient, client_type: str) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    check_conversion(convert(client, lead["id"], {"clientType": client_type}), lead["id"], client_type)


@pytest.mark.rule("convert body is optional, clientType defaults to buyer", "convertLead")
@pytest.mark.parametrize("how", ["no-body", "empty-json-content", "empty-text-content", "empty-object"])
def test_convert_without_client_type_makes_a_buyer(client: LeadsClient, how: str) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead", lead_type="seller")
    if how == "no-body":
        response = convert(client, lead["id"])
    elif how in ("empty-json-content", "empty-text-content"):
        # An empty body is no body, whatever its content type.
        content_type = "application/json" if how == "empty-json-content" else "text/plain"
        response = convert(client, lead["id"], content=b"", headers={"Content-Type": content_type})
    else:
        response = convert(client, lead["id"], {})
    check_conversion(response, lead["id"], "buyer")


@pytest.mark.rule("price range rounds budget * 0.9 .. * 1.1 half up", "convertLead")
@pytest.mark.parametrize(("budget", "low", "high"), PRICE_RANGES, ids=[str(row[0]) for row in PRICE_RANGES])
def test_convert_price_range_rounds_half_up(client: LeadsClient, budget: int, low: int, high: int) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead", budget=budget)
    response = convert(client, lead["id"])
    data = check_conversion(response, lead["id"])
    actual = (data["client"].get("price_range_min"), data["client"].get("price_range_max"))
    assert actual == (low, high), describe(
        "convertLead", f"client (price_range_min, price_range_max) for budget {budget}", (low, high), actual, response
    )


@pytest.mark.rule("price range is null without budget", "convertLead")
def test_convert_without_budget_has_null_price_range(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    response = convert(client, lead["id"])
    data = check_conversion(response, lead["id"])
    actual = (data["client"].get("price_range_min"), data["client"].get("price_range_max"))
    assert actual == (None, None), describe(
        "convertLead", "client price range without budget", (None, None), actual, response
    )


@pytest.mark.rule("convert reuses the contact with the same email", "convertLead")
def test_convert_reuses_contact_of_same_email_in_any_case(client: LeadsClient) -> None:
    email = unique_email("reuse")
    first = client.create_lead(name="Contract Test Convert Lead", email=email)
    second = client.create_lead(name="Contract Test Convert Lead", email=email.upper())
    one = check_conversion(convert(client, first["id"]), first["id"])
    response = convert(client, second["id"])
    two = check_conversion(response, second["id"])
    assert two["client"].get("contact_id") == one["client"].get("contact_id"), describe(
        "convertLead", f"client.contact_id for {email.upper()} after converting {email}",
        one["client"].get("contact_id"), two["client"].get("contact_id"), response,
    )
    assert two["client"]["id"] != one["client"]["id"], describe(
        "convertLead", "client.id of a second conversion", f"a new client, not {one['client']['id']}",
        two["client"]["id"], response,
    )


@pytest.mark.rule("convert creates a new contact for a lead without email", "convertLead")
def test_convert_creates_a_new_contact_for_each_lead_without_email(client: LeadsClient) -> None:
    first = client.create_lead(name="Contract Test Convert Lead")
    second = client.create_lead(name="Contract Test Convert Lead")
    one = check_conversion(convert(client, first["id"]), first["id"])
    response = convert(client, second["id"])
    two = check_conversion(response, second["id"])
    assert two["client"].get("contact_id") != one["client"].get("contact_id"), describe(
        "convertLead", "client.contact_id of a second lead without email",
        f"a new contact, not {one['client'].get('contact_id')}",
        two["client"].get("contact_id"), response,
    )


@pytest.mark.rule("convert works from any status", "convertLead")
@pytest.mark.parametrize("status", ["new", "contacted", "qualified", "unqualified", "lost"])
def test_convert_works_from_any_status(client: LeadsClient, status: str) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    if status != "new":
        check_success("updateLead", client.request("PUT", f"/leads/{lead['id']}", json_body={"status": status}))
    check_conversion(convert(client, lead["id"]), lead["id"])


@pytest.mark.rule("second convert is 409 ALREADY_CONVERTED", "convertLead")
def test_second_convert_is_409_and_changes_nothing(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead", budget=100000)
    check_conversion(convert(client, lead["id"]), lead["id"])
    before = check_success("getLead", client.request("GET", f"/leads/{lead['id']}"))
    check_error("convertLead", convert(client, lead["id"], {"clientType": "seller"}), 409, "ALREADY_CONVERTED")
    response = client.request("GET", f"/leads/{lead['id']}")
    check_values("getLead", check_success("getLead", response), before, response)


@pytest.mark.rule("second convert is 409 ALREADY_CONVERTED", "convertLead", "updateLead")
def test_converted_lead_stays_converted_after_a_status_change(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    check_conversion(convert(client, lead["id"]), lead["id"])
    check_success("updateLead", client.request("PUT", f"/leads/{lead['id']}", json_body={"status": "qualified"}))
    # converted_to_client_id is still set: converting again would make a second client.
    check_error("convertLead", convert(client, lead["id"]), 409, "ALREADY_CONVERTED")


@pytest.mark.rule("lead with status converted is 409 ALREADY_CONVERTED", "convertLead")
def test_lead_set_to_converted_by_update_cannot_be_converted(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    check_success("updateLead", client.request("PUT", f"/leads/{lead['id']}", json_body={"status": "converted"}))
    check_error("convertLead", convert(client, lead["id"]), 409, "ALREADY_CONVERTED")


@pytest.mark.rule("invalid clientType is rejected", "convertLead")
@pytest.mark.parametrize("client_type", ["renter", None, 3])
def test_convert_rejects_invalid_client_type(client: LeadsClient, client_type: Any) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    response = convert(client, lead["id"], {"clientType": client_type})
    check_validation_error("convertLead", response, {"clientType": "body"})
    response = client.request("GET", f"/leads/{lead['id']}")
    unchanged = {"status": "new", "converted_to_client_id": None, "version": 1}
    check_values("getLead", check_success("getLead", response), unchanged, response)


@pytest.mark.rule("unknown body fields are ignored", "convertLead")
def test_convert_ignores_unknown_fields(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Convert Lead")
    response = convert(client, lead["id"], {"clientType": "seller", "favourite_colour": "teal"})
    check_conversion(response, lead["id"], "seller")
