"""The six operations over ASGI: what each answers, per the docs and the API decisions."""

from __future__ import annotations

import math
import uuid

import pytest

from conftest import KEY, OTHER_KEY, RACHEL_ID, TIMESTAMP, ApiClient, assert_error, issues
from mock_server.store import LEAD_FIELDS, STATUSES, user_id_for

DATE_FIELDS = ("last_contact_date", "next_follow_up", "created_at", "updated_at")


def assert_full_lead(lead: dict) -> None:
    assert tuple(lead) == LEAD_FIELDS  # every field, absent values as null
    for name in DATE_FIELDS:
        assert lead[name] is None or TIMESTAMP.fullmatch(lead[name])


# -- list ----------------------------------------------------------------------------------------

def test_list_answers_the_first_page_of_25_with_meta_stats_and_cursors(api: ApiClient, spec_checker) -> None:
    response = api.get("/v1/leads")
    spec_checker.check(response, "/leads", "GET")
    body = response.json()
    assert body["success"] is True and TIMESTAMP.fullmatch(body["timestamp"])
    data = body["data"]
    assert len(data["leads"]) == 25
    assert data["meta"] == {"page": 1, "limit": 25, "total": 34, "totalPages": 2, "hasMore": True}
    assert data["stats"]["total"] == 34
    assert set(data["stats"]["byStatus"]) == set(STATUSES)
    assert sum(data["stats"]["byStatus"].values()) == 34 == sum(data["stats"]["byInterestLevel"].values())
    assert data["cursors"]["prev"] is None and isinstance(data["cursors"]["next"], str)
    for lead in data["leads"]:
        assert_full_lead(lead)
        assert lead["user_id"] == user_id_for(KEY)


def test_list_is_newest_first_then_id_descending(api: ApiClient) -> None:
    leads = api.get("/v1/leads", params={"limit": 100}).json()["data"]["leads"]
    keys = [(lead["created_at"], lead["id"]) for lead in leads]
    assert keys == sorted(keys, reverse=True)
    assert leads[0]["id"] == RACHEL_ID


def test_filters_combine_with_and_and_stats_ignore_them(api: ApiClient) -> None:
    everything = api.get("/v1/leads", params={"limit": 100}).json()["data"]
    response = api.get("/v1/leads", params={"status": "new", "interest_level": "warm", "limit": 100})
    data = response.json()["data"]
    expected = [lead for lead in everything["leads"] if lead["status"] == "new" and lead["interest_level"] == "warm"]
    assert data["leads"] == expected and data["meta"]["total"] == len(expected) > 0
    assert data["stats"] == everything["stats"]


@pytest.mark.parametrize("params", [{"status": "lost"}, {"interest_level": "cold"}])
def test_a_single_filter_counts_only_matching_leads(api: ApiClient, params: dict) -> None:
    data = api.get("/v1/leads", params={**params, "limit": 100}).json()["data"]
    (name, value), = params.items()
    assert all(lead[name] == value for lead in data["leads"])
    counts = data["stats"]["byStatus"] if name == "status" else data["stats"]["byInterestLevel"]
    assert data["meta"]["total"] == counts[value] == len(data["leads"])


def test_total_pages_is_the_ceiling_and_has_more_is_page_below_it(api: ApiClient) -> None:
    for limit in (1, 7, 34, 100):
        meta = api.get("/v1/leads", params={"limit": limit, "page": 2}).json()["data"]["meta"]
        assert meta["totalPages"] == math.ceil(34 / limit)
        assert meta["hasMore"] is (2 < meta["totalPages"])


def test_a_page_past_the_end_is_an_empty_list_not_an_error(api: ApiClient) -> None:
    response = api.get("/v1/leads", params={"page": 99})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["leads"] == [] and data["meta"]["page"] == 99 and data["meta"]["hasMore"] is False


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"page": 0}, "page"),
    ({"status": "open"}, "status"), ({"interest_level": "lukewarm"}, "interest_level"), ({"cursor": ""}, "cursor"),
])
def test_out_of_range_or_unknown_query_values_are_400_not_clamped(api: ApiClient, params: dict, field: str) -> None:
    assert issues(api.get("/v1/leads", params=params))[field][0] == "query"


@pytest.mark.parametrize("value", ["+1", "1.0", " 1", "0x10", "1e1", "٣", "-1", ""])
def test_query_integers_must_be_plain_decimal_digits(api: ApiClient, value: str) -> None:
    assert "page" in issues(api.get("/v1/leads", params={"page": value}))


def test_huge_page_numbers_are_an_empty_page_or_a_clear_400(api: ApiClient) -> None:
    response = api.get("/v1/leads", params={"page": "9" * 40})
    assert response.status_code == 200 and response.json()["data"]["leads"] == []
    assert "page" in issues(api.get("/v1/leads", params={"page": "9" * 5000}))


def test_every_offending_query_parameter_is_reported(api: ApiClient) -> None:
    found = issues(api.get("/v1/leads", params={"page": "x", "limit": "500", "status": "nope"}))
    assert set(found) == {"page", "limit", "status"}


def test_list_shows_only_the_callers_leads(api: ApiClient, other: ApiClient) -> None:
    assert other.get("/v1/leads").json()["data"]["meta"]["total"] == 0
    mine = other.create(name="Only Mine")
    data = other.get("/v1/leads").json()["data"]
    assert [lead["id"] for lead in data["leads"]] == [mine["id"]]
    assert data["leads"][0]["user_id"] == user_id_for(OTHER_KEY)
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 34


# -- create --------------------------------------------------------------------------------------

def test_create_answers_201_with_the_full_new_lead_and_message(api: ApiClient, spec_checker) -> None:
    response = api.post("/v1/leads", json={"name": "Jordan Lee"})
    spec_checker.check(response, "/leads", "POST")
    body = response.json()
    assert response.status_code == 201 and body["message"] == "Lead created successfully"
    lead = body["data"]
    assert_full_lead(lead)
    assert lead["status"] == "new" and lead["version"] == 1
    assert lead["lead_type"] == "buyer" and lead["interest_level"] == "warm"
    assert lead["created_at"] == lead["updated_at"] and lead["user_id"] == user_id_for(KEY)
    assert uuid.UUID(lead["id"]).version == 4
    assert api.get(f"/v1/leads/{lead['id']}").json()["data"] == lead


def test_create_stores_every_accepted_field_and_ignores_status_and_unknown_fields(api: ApiClient) -> None:
    fields = {
        "name": "Rachel Kim", "email": "rachel@example.com", "phone": "(661) 555-0198", "source": "Zillow",
        "lead_type": "seller", "interest_level": "hot", "budget": 380000, "timeline": "3-6 months",
        "message": "Hello", "notes": "Prefers email", "next_follow_up": "2026-07-08T17:00:00.000Z",
    }
    lead = api.create(**fields, status="qualified", version=9, favourite_colour="blue")
    assert {name: lead[name] for name in fields} == fields
    assert lead["status"] == "new" and lead["version"] == 1 and "favourite_colour" not in lead


def test_name_is_stored_trimmed(api: ApiClient) -> None:
    assert api.create(name="  Jordan Lee \t")["name"] == "Jordan Lee"


def test_date_time_with_an_offset_is_stored_in_utc_with_milliseconds(api: ApiClient) -> None:
    lead = api.create(next_follow_up="2026-07-08T10:00:00.5-07:00")
    assert lead["next_follow_up"] == "2026-07-08T17:00:00.500Z"


def test_new_leads_come_first_in_creation_order(api: ApiClient) -> None:
    first, second = api.create(name="First"), api.create(name="Second")
    leads = api.get("/v1/leads", params={"limit": 2}).json()["data"]["leads"]
    assert [lead["id"] for lead in leads] == [second["id"], first["id"]]


# -- get -----------------------------------------------------------------------------------------

def test_get_answers_the_full_lead(api: ApiClient, spec_checker) -> None:
    response = api.get(f"/v1/leads/{RACHEL_ID}")
    spec_checker.check(response, "/leads/{id}", "GET")
    lead = response.json()["data"]
    assert_full_lead(lead)
    assert lead["name"] == "Rachel Kim" and lead["budget"] == 380000


def test_unknown_lead_is_404_not_found(api: ApiClient) -> None:
    assert_error(api.get("/v1/leads/00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND")


def test_uppercase_uuid_finds_the_same_lead(api: ApiClient) -> None:
    assert api.get(f"/v1/leads/{RACHEL_ID.upper()}").json()["data"]["id"] == RACHEL_ID


@pytest.mark.parametrize("method, suffix, body", [
    ("GET", "", None), ("PUT", "", {"notes": "mine now"}), ("DELETE", "", None), ("POST", "/convert", None),
])
def test_another_users_lead_is_404_and_untouched(api: ApiClient, other: ApiClient, method: str, suffix: str,
                                                  body: dict | None) -> None:
    before = api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]
    response = other.request(method, f"/v1/leads/{RACHEL_ID}{suffix}", json=body)
    assert_error(response, 404, "NOT_FOUND")
    assert api.get(f"/v1/leads/{RACHEL_ID}").json()["data"] == before


# -- update --------------------------------------------------------------------------------------

def test_update_changes_only_the_fields_sent_and_moves_version_and_updated_at(api: ApiClient, spec_checker) -> None:
    before = api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]
    response = api.put(f"/v1/leads/{RACHEL_ID}", json={"status": "contacted", "version": before["version"]})
    spec_checker.check(response, "/leads/{id}", "PUT")
    after = response.json()["data"]
    assert after["status"] == "contacted" and after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]
    unchanged = {k: v for k, v in after.items() if k not in ("status", "version", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("status", "version", "updated_at")}


def test_update_accepts_every_create_field_plus_status_and_last_contact_date(api: ApiClient) -> None:
    fields = {
        "name": "R. Kim", "email": "r@example.org", "phone": "555", "source": "Referral", "lead_type": "both",
        "interest_level": "cold", "budget": 1.5, "timeline": "ASAP", "message": "m", "notes": "n",
        "next_follow_up": "2026-08-01T09:00:00Z", "status": "qualified",
        "last_contact_date": "2026-07-30T12:00:00+00:00",
    }
    lead = api.put(f"/v1/leads/{RACHEL_ID}", json=fields).json()["data"]
    assert lead["next_follow_up"] == "2026-08-01T09:00:00.000Z"
    assert lead["last_contact_date"] == "2026-07-30T12:00:00.000Z"
    assert {k: lead[k] for k in fields if "date" not in k and k != "next_follow_up"} == \
        {k: v for k, v in fields.items() if "date" not in k and k != "next_follow_up"}


def test_null_clears_a_nullable_field(api: ApiClient) -> None:
    lead = api.put(f"/v1/leads/{RACHEL_ID}", json={"budget": None, "email": None, "timeline": None}).json()["data"]
    assert lead["budget"] is None and lead["email"] is None and lead["timeline"] is None


@pytest.mark.parametrize("field, limit", [("name", 255), ("phone", 50), ("source", 100), ("timeline", 100)])
def test_text_fields_have_their_maximum_length(api: ApiClient, field: str, limit: int) -> None:
    too_long = "a" * (limit + 1)
    assert len(too_long) == limit + 1
    assert field in issues(api.put(f"/v1/leads/{RACHEL_ID}", json={field: too_long}))
    at_limit = too_long[1:]
    assert api.put(f"/v1/leads/{RACHEL_ID}", json={field: at_limit}).json()["data"][field] == at_limit


def test_unknown_fields_beside_known_ones_are_ignored_on_update(api: ApiClient) -> None:
    response = api.put(f"/v1/leads/{RACHEL_ID}", json={"notes": "kept", "colour": "blue", "user_id": "someone"})
    lead = response.json()["data"]
    assert lead["notes"] == "kept" and lead["user_id"] == user_id_for(KEY) and "colour" not in lead


@pytest.mark.parametrize("field", ["name", "status", "lead_type", "interest_level", "version"])
def test_null_for_a_non_nullable_field_is_400(api: ApiClient, field: str) -> None:
    assert issues(api.put(f"/v1/leads/{RACHEL_ID}", json={field: None, "notes": "x"}))[field][0] == "body"


def test_stale_version_is_rejected_with_409_and_nothing_changes(api: ApiClient) -> None:
    before = api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]
    response = api.put(f"/v1/leads/{RACHEL_ID}", json={"status": "lost", "version": before["version"] + 5})
    error = assert_error(response, 409, "VERSION_CONFLICT")
    assert error["details"] == {"currentVersion": before["version"], "attemptedVersion": before["version"] + 5}
    assert api.get(f"/v1/leads/{RACHEL_ID}").json()["data"] == before


def test_without_version_the_last_write_wins(api: ApiClient) -> None:
    api.put(f"/v1/leads/{RACHEL_ID}", json={"notes": "first"})
    lead = api.put(f"/v1/leads/{RACHEL_ID}", json={"notes": "second"}).json()["data"]
    assert lead["notes"] == "second" and lead["version"] == 3


@pytest.mark.parametrize("body", [{}, {"version": 1}, {"unknown": "field"}, {"id": RACHEL_ID, "user_id": "x"}])
def test_a_body_without_an_updatable_field_is_no_updates(api: ApiClient, body: dict) -> None:
    assert_error(api.put(f"/v1/leads/{RACHEL_ID}", json=body), 400, "NO_UPDATES")


@pytest.mark.parametrize("version", [0, -1, 1.5, "1", True])
def test_version_must_be_an_integer_of_at_least_1(api: ApiClient, version: object) -> None:
    assert "version" in issues(api.put(f"/v1/leads/{RACHEL_ID}", json={"notes": "x", "version": version}))


# -- delete --------------------------------------------------------------------------------------

def test_delete_answers_empty_data_and_message(api: ApiClient, spec_checker) -> None:
    response = api.delete(f"/v1/leads/{RACHEL_ID}")
    spec_checker.check(response, "/leads/{id}", "DELETE")
    body = response.json()
    assert body["data"] == {} and body["message"] == "Lead deleted successfully"


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/convert")])
def test_a_deleted_lead_is_gone_for_every_operation(api: ApiClient, method: str, suffix: str) -> None:
    api.delete(f"/v1/leads/{RACHEL_ID}")
    body = {"notes": "x"} if method == "PUT" else None
    assert_error(api.request(method, f"/v1/leads/{RACHEL_ID}{suffix}", json=body), 404, "NOT_FOUND")
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 33
