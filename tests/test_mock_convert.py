"""Converting a lead: contact reuse, the client, the lead's new state, atomicity and the answer."""

from __future__ import annotations

import pytest

from conftest import KEY, OTHER_KEY, RACHEL_ID, ApiClient, assert_error

CONVERTED_FIXTURE_STATUS = "converted"


def convert(api: ApiClient, lead_id: str, **body: str):
    return api.post(f"/v1/leads/{lead_id}/convert", json=body or None)


def test_convert_answers_client_lead_contact_and_message(api: ApiClient, app, spec_checker) -> None:
    response = convert(api, RACHEL_ID)
    spec_checker.check(response, "/leads/{id}/convert", "POST")
    body = response.json()
    assert body["message"] == "Lead successfully converted to client"
    data = body["data"]
    client = data["client"]
    assert set(client) == {"id", "contact_id", "client_type", "status", "price_range_min", "price_range_max"}
    assert client["client_type"] == "buyer" and client["status"] == "active"
    assert (client["price_range_min"], client["price_range_max"]) == (342000, 418000)
    assert data["lead"] == {"id": RACHEL_ID, "lead_status": "converted", "client_id": client["id"]}
    assert data["primaryContactId"] == client["contact_id"] and data["additionalContactsCount"] == 0
    state = app.store.inspect(KEY)
    assert client["id"] in {c["id"] for c in state["clients"]}
    assert client["contact_id"] in {c["id"] for c in state["contacts"]}


def test_convert_marks_the_lead_converted_with_version_and_updated_at_moved(api: ApiClient) -> None:
    before = api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]
    client_id = convert(api, RACHEL_ID).json()["data"]["client"]["id"]
    after = api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]
    assert after["status"] == "converted" and after["converted_to_client_id"] == client_id
    assert after["version"] == before["version"] + 1 and after["updated_at"] > before["updated_at"]


@pytest.mark.parametrize("client_type", ["buyer", "seller", "both"])
def test_client_type_comes_from_the_body(api: ApiClient, client_type: str) -> None:
    assert convert(api, RACHEL_ID, clientType=client_type).json()["data"]["client"]["client_type"] == client_type


def test_a_new_contact_is_made_from_the_leads_name_email_and_phone(api: ApiClient, app) -> None:
    lead = api.create(name="Pat Doe", email="pat@example.com", phone="(805) 555-0100")
    contact_id = convert(api, lead["id"]).json()["data"]["primaryContactId"]
    contact = next(c for c in app.store.inspect(KEY)["contacts"] if c["id"] == contact_id)
    assert (contact["name"], contact["email"], contact["phone"]) == ("Pat Doe", "pat@example.com", "(805) 555-0100")


def test_the_contact_with_the_same_email_is_reused_whatever_the_letter_case(api: ApiClient, app) -> None:
    first = api.create(name="Pat Doe", email="Pat.Doe@Example.com")
    second = api.create(name="Patricia Doe", email="pat.doe@example.COM")
    contacts_before = len(app.store.inspect(KEY)["contacts"])
    one = convert(api, first["id"]).json()["data"]
    two = convert(api, second["id"]).json()["data"]
    assert one["primaryContactId"] == two["primaryContactId"]
    assert one["client"]["id"] != two["client"]["id"]
    assert len(app.store.inspect(KEY)["contacts"]) == contacts_before + 1


def test_a_fixture_contact_is_reused_by_the_returning_client(api: ApiClient, app) -> None:
    state = app.store.inspect(KEY)
    by_email = {c["email"].lower(): c["id"] for c in state["contacts"] if c["email"]}
    returning = next(lead for lead in state["leads"]
                     if lead["status"] != "converted" and (lead["email"] or "").lower() in by_email)
    data = convert(api, returning["id"]).json()["data"]
    assert data["primaryContactId"] == by_email[returning["email"].lower()]


def test_contacts_are_never_shared_across_users(api: ApiClient, other: ApiClient, app) -> None:
    mine = convert(api, api.create(email="same@example.com")["id"]).json()["data"]
    theirs = convert(other, other.create(email="same@example.com")["id"]).json()["data"]
    assert mine["primaryContactId"] != theirs["primaryContactId"]
    assert [c["id"] for c in app.store.inspect(OTHER_KEY)["contacts"]] == [theirs["primaryContactId"]]


def test_leads_without_email_each_get_their_own_contact(api: ApiClient) -> None:
    one = convert(api, api.create(name="A")["id"]).json()["data"]
    two = convert(api, api.create(name="A")["id"]).json()["data"]
    assert one["primaryContactId"] != two["primaryContactId"]


@pytest.mark.parametrize("budget, low, high", [
    (380000, 342000, 418000), (5, 5, 6), (15, 14, 17), (25, 23, 28), (0.5, 0, 1), (0, 0, 0), (None, None, None),
    (123456.78, 111111, 135802),
])
def test_price_range_rounds_budget_times_0_9_and_1_1_half_up(api: ApiClient, budget, low, high) -> None:
    lead = api.create(budget=budget)
    client = convert(api, lead["id"]).json()["data"]["client"]
    assert (client["price_range_min"], client["price_range_max"]) == (low, high)


def test_any_status_can_be_converted(api: ApiClient) -> None:
    for status in ("new", "contacted", "qualified", "unqualified", "lost"):
        lead = api.create()
        api.put(f"/v1/leads/{lead['id']}", json={"status": status})
        assert convert(api, lead["id"]).status_code == 200


def test_converting_twice_is_409_and_creates_nothing(api: ApiClient, app) -> None:
    convert(api, RACHEL_ID)
    before = app.store.inspect(KEY)
    assert_error(convert(api, RACHEL_ID), 409, "ALREADY_CONVERTED")
    assert app.store.inspect(KEY) == before


def test_a_lead_whose_status_is_converted_is_already_converted(api: ApiClient, app) -> None:
    lead = api.create()
    api.put(f"/v1/leads/{lead['id']}", json={"status": "converted"})
    before = app.store.inspect(KEY)
    assert_error(convert(api, lead["id"]), 409, "ALREADY_CONVERTED")
    assert app.store.inspect(KEY) == before


def test_fixture_leads_already_converted_answer_409(api: ApiClient, app) -> None:
    converted = [lead for lead in app.store.inspect(KEY)["leads"] if lead["status"] == CONVERTED_FIXTURE_STATUS]
    assert converted and all(lead["converted_to_client_id"] for lead in converted)
    assert_error(convert(api, converted[0]["id"]), 409, "ALREADY_CONVERTED")


def test_a_failed_convert_changes_nothing(api: ApiClient, app, monkeypatch) -> None:
    """All or nothing: a failure part-way (here, while making the client) leaves no contact behind."""
    import mock_server.store.memory as store_module

    def broken_price_range(budget):
        raise RuntimeError("simulated failure")

    before = app.store.inspect(KEY)
    monkeypatch.setattr(store_module, "price_range", broken_price_range)
    lead = next(lead for lead in before["leads"] if lead["id"] == RACHEL_ID)
    assert lead["email"]
    assert_error(convert(api, RACHEL_ID), 500, "SERVER_ERROR")
    assert app.store.inspect(KEY) == before
