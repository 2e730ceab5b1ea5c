"""Fixture files and state files pass one check: whatever loads can be served and written, never a 500 later."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from conftest import KEY, TEST_SETTINGS, ApiClient
from mock_server.app import create_app
from mock_server.dataset import DatasetError
from mock_server.store import StateFileError
from mock_server.records_check import RecordsError, check_dataset, check_state
from mock_server.store import user_id_for

LEAD_ID = "0b6f1c7e-2a4d-4e8f-9c1b-3d5e7f9a1b2c"
LEAD: dict[str, Any] = {
    "id": LEAD_ID, "name": "Jordan Lee", "status": "new", "interest_level": "warm",
    "created_at": "2026-06-01T10:00:00.000Z", "updated_at": "2026-06-01T10:00:00.000Z",
}
OWNER = user_id_for(KEY)
# (a change to the one lead, the place the error must name, words of the message)
BAD_LEADS: list[tuple[dict[str, Any], str, str]] = [
    ({"created_at": None}, "created_at", "date-time"),
    ({"updated_at": "yesterday"}, "updated_at", "date-time"),
    ({"id": "lead-1"}, "id", "UUID"),
    ({"name": "   "}, "name", "non-space"),
    ({"name": "x" * 256}, "name", "at most 255"),
    ({"status": "New"}, "status", "one of"),
    ({"interest_level": None}, "interest_level", "one of"),
    ({"lead_type": "tenant"}, "lead_type", "one of"),
    ({"version": "2"}, "version", "whole number"),
    ({"version": 0}, "version", "whole number"),
    ({"version": 1e400}, "version", "whole number"),
    ({"budget": -5}, "budget", "number"),
    ({"budget": True}, "budget", "number"),
    ({"email": "not an email"}, "email", "email"),
    ({"phone": "9" * 51}, "phone", "at most 50"),
    ({"notes": 42}, "notes", "string"),
    ({"notes": "lone \ud800"}, "notes", "surrogate"),
    ({"next_follow_up": "2026-13-45T00:00:00Z"}, "next_follow_up", "date-time"),
    ({"converted_to_client_id": "client-7"}, "converted_to_client_id", "UUID"),
]
REQUIRED = ["id", "name", "status", "interest_level", "created_at", "updated_at"]


def dataset(**changes: Any) -> dict[str, Any]:
    lead = {**LEAD, **changes}
    return {"leads": [{k: v for k, v in lead.items() if v is not _DROP}], "contacts": [], "clients": []}


_DROP = object()


def state(users: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {"format": 1, "revision": 3, "clock": 1_780_000_000_000,
            "users": users if users is not None else {OWNER: dataset()}, **top}


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def load_as_fixtures(tmp_path: Path, data: Any) -> Any:
    return create_app(replace(TEST_SETTINGS, fixtures=write_json(tmp_path / "fixtures.json", data)))


def load_as_state(tmp_path: Path, data: Any) -> Any:
    return create_app(replace(TEST_SETTINGS, state_file=write_json(tmp_path / "state.json", data)))


@pytest.mark.parametrize(("change", "field", "words"), BAD_LEADS)
def test_a_bad_lead_is_refused_the_same_way_in_fixtures_and_in_state_files(
        tmp_path: Path, change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(DatasetError) as from_fixtures:
        load_as_fixtures(tmp_path, dataset(**change))
    with pytest.raises(StateFileError) as from_state:
        load_as_state(tmp_path, state({OWNER: dataset(**change)}))
    fixture_message, state_message = str(from_fixtures.value), str(from_state.value)
    assert f"leads[0].{field}: " in fixture_message and words in fixture_message
    assert f"users.{OWNER}.leads[0].{field}: " in state_message and words in state_message
    assert fixture_message.split(f"leads[0].{field}: ", 1)[1] in state_message  # the same words for the same fault
    assert "\n" not in fixture_message and "\n" not in state_message


@pytest.mark.parametrize("field", REQUIRED)
def test_a_lead_missing_a_required_field_is_refused(tmp_path: Path, field: str) -> None:
    with pytest.raises(DatasetError, match=rf"leads\[0\]\.{field}: is missing"):
        load_as_fixtures(tmp_path, dataset(**{field: _DROP}))
    with pytest.raises(StateFileError, match=rf"leads\[0\]\.{field}: is missing"):
        load_as_state(tmp_path, state({OWNER: dataset(**{field: _DROP})}))


@pytest.mark.parametrize(("top", "named"), [
    ({"clock": 1e400}, "clock"), ({"clock": 10**17}, "clock"), ({"clock": -1}, "clock"), ({"clock": "now"}, "clock"),
    ({"revision": 1e400}, "revision"), ({"revision": 2.5}, "revision"), ({"revision": True}, "revision"),
    ({"format": 2}, "format"), ({"users": []}, "users"),
])
def test_a_bad_state_value_is_a_one_line_start_up_error_naming_it(
        tmp_path: Path, top: dict[str, Any], named: str) -> None:
    with pytest.raises(StateFileError) as refused:
        load_as_state(tmp_path, state(**top))
    message = str(refused.value)
    assert f"({named}: " in message and str(tmp_path / "state.json") in message and "\n" not in message


def test_a_state_file_with_clock_1e400_written_by_hand_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format": 1, "revision": 1, "clock": 1e400, "users": {}}', encoding="utf-8")
    with pytest.raises(StateFileError, match="clock: must be a whole number"):
        create_app(replace(TEST_SETTINGS, state_file=path))


@pytest.mark.parametrize("kind", ["leads", "contacts", "clients"])
def test_a_repeated_id_is_refused(kind: str) -> None:
    records = {
        "leads": [LEAD, LEAD],
        "contacts": [{"id": LEAD_ID, "name": "A"}, {"id": LEAD_ID.upper(), "name": "B"}],
        "clients": [{"id": LEAD_ID, "client_type": "buyer"}, {"id": LEAD_ID, "client_type": "seller"}],
    }
    data = {"leads": [LEAD], "contacts": [], "clients": [], kind: records[kind]}
    with pytest.raises(RecordsError, match=rf"{kind}\[1\]\.id: .* appears twice"):
        check_dataset(data)


@pytest.mark.parametrize(("kind", "record", "field"), [
    ("contacts", {"name": "No Id"}, "id"),
    ("contacts", {"id": LEAD_ID, "email": 5}, "email"),
    ("clients", {"id": LEAD_ID, "client_type": "tenant"}, "client_type"),
    ("clients", {"id": LEAD_ID, "price_range_min": 1.5}, "price_range_min"),
])
def test_bad_contacts_and_clients_are_refused(kind: str, record: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordsError, match=rf"{kind}\[0\]\.{field}: "):
        check_dataset({"leads": [], kind: [record]})


def test_values_are_normalised_and_optional_fields_filled_in() -> None:
    checked = check_dataset({"leads": [{**LEAD, "id": LEAD_ID.upper(), "name": "  Jordan Lee ",
                                        "created_at": "2026-06-01T12:00:00+02:00"}]})
    lead = checked["leads"][0]
    assert lead["id"] == LEAD_ID and lead["name"] == "Jordan Lee"
    assert lead["created_at"] == "2026-06-01T10:00:00.000Z"
    assert (lead["version"], lead["lead_type"], lead["email"], lead["budget"]) == (1, "buyer", None, None)
    assert checked["contacts"] == [] and checked["clients"] == []


def test_a_minimal_fixture_lead_can_be_read_updated_converted_and_deleted(tmp_path: Path) -> None:
    api = ApiClient(load_as_fixtures(tmp_path, {"leads": [{**LEAD, "id": LEAD_ID.upper()}]}))
    assert api.get(f"/v1/leads/{LEAD_ID}").json()["data"]["version"] == 1
    assert api.put(f"/v1/leads/{LEAD_ID}", json={"notes": "called"}).json()["data"]["version"] == 2
    assert api.post(f"/v1/leads/{LEAD_ID}/convert").status_code == 200
    assert api.delete(f"/v1/leads/{LEAD_ID}").status_code == 200


def test_a_saved_state_passes_the_check_unchanged() -> None:
    app = create_app(TEST_SETTINGS)
    ApiClient(app).create(name="Saved Lead", next_follow_up="2026-08-01T09:00:00+02:00")
    dump = app.store.dump()
    for records in dump["users"].values():
        for lead in records["leads"]:
            del lead["user_id"]  # the store sets it from the user a lead is filed under
    assert check_state(copy.deepcopy(dump)) == dump


def test_the_shipped_fixtures_pass_the_check() -> None:
    path = Path(__file__).resolve().parent.parent / "fixtures" / "leads.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert check_dataset(data) == {kind: data[kind] for kind in ("leads", "contacts", "clients")}
