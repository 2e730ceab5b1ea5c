"""The mock's seed data: the committed fixture, the docs' example lead, and consistent, realistic records."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from mock_server.sample_data import default_dataset, generate_dataset

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "fixtures" / "generate.py"
FIXTURE = ROOT / "fixtures" / "leads.json"

STATUSES = {"new", "contacted", "qualified", "unqualified", "converted", "lost"}
INTEREST_LEVELS = {"hot", "warm", "cold"}
LEAD_FIELDS = {
    "id", "name", "email", "phone", "source", "status", "lead_type", "interest_level", "budget", "timeline",
    "message", "notes", "last_contact_date", "next_follow_up", "converted_to_client_id", "version",
    "created_at", "updated_at",
}
PHONE = re.compile(r"^\(\d{3}\) \d{3}-\d{4}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RACHEL = {
    "id": "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b", "name": "Rachel Kim", "email": "rachel.kim@example.com",
    "phone": "(661) 555-0198", "source": "Website Form", "status": "new", "lead_type": "buyer",
    "interest_level": "warm", "budget": 380000, "timeline": "3-6 months", "version": 1,
}
Dataset = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def default() -> Dataset:
    return default_dataset()


@pytest.fixture(scope="module")
def generated() -> Dataset:
    return generate_dataset(1000, 7)


def both(default: Dataset, generated: Dataset) -> list[Dataset]:
    return [default, generated]


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GENERATOR), *args], capture_output=True, text=True, timeout=120)


def half_up(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), ROUND_HALF_UP))


def test_regenerating_the_fixture_reproduces_the_committed_file_byte_for_byte(tmp_path: Path) -> None:
    fresh = tmp_path / "leads.json"
    assert run_generator("--output", str(fresh)).returncode == 0
    assert fresh.read_bytes() == FIXTURE.read_bytes()
    assert run_generator("--check").returncode == 0


def test_check_fails_when_the_fixture_on_disk_differs(tmp_path: Path) -> None:
    stale = tmp_path / "leads.json"
    stale.write_bytes(FIXTURE.read_bytes().replace(b"Rachel Kim", b"Rachel Kym"))
    result = run_generator("--check", "--output", str(stale))
    assert result.returncode != 0
    assert "out of date" in result.stderr
    assert run_generator("--check", "--output", str(tmp_path / "missing.json")).returncode != 0


def test_default_has_34_leads_with_the_docs_rachel_kim_newest(default: Dataset) -> None:
    leads = default["leads"]
    assert len(leads) == 34
    newest = max(leads, key=lambda lead: lead["created_at"])
    assert {key: newest[key] for key in RACHEL} == RACHEL
    assert leads[0] is newest
    assert newest["converted_to_client_id"] is None and newest["last_contact_date"] is None
    assert sum(lead["created_at"] == newest["created_at"] for lead in leads) == 1


def test_leads_come_newest_first(default: Dataset, generated: Dataset) -> None:
    for data in both(default, generated):
        created = [lead["created_at"] for lead in data["leads"]]
        assert created == sorted(created, reverse=True)


@pytest.mark.parametrize("seed", [0, 1, 7, 2026])
def test_every_status_and_interest_level_is_present_from_12_leads(default: Dataset, seed: int) -> None:
    for leads in (default["leads"], generate_dataset(12, seed)["leads"]):
        assert {lead["status"] for lead in leads} == STATUSES
        assert {lead["interest_level"] for lead in leads} == INTEREST_LEVELS


def test_every_lead_has_every_field_and_no_owner(default: Dataset, generated: Dataset) -> None:
    for data in both(default, generated):
        for lead in data["leads"]:
            assert set(lead) == LEAD_FIELDS
            assert lead["lead_type"] in {"buyer", "seller", "both"}
            assert isinstance(lead["version"], int) and lead["version"] >= 1


def test_converted_leads_link_to_a_client_that_links_to_a_contact(default: Dataset, generated: Dataset) -> None:
    for data in both(default, generated):
        clients = {client["id"]: client for client in data["clients"]}
        contacts = {contact["id"]: contact for contact in data["contacts"]}
        converted = [lead for lead in data["leads"] if lead["status"] == "converted"]
        assert len(clients) == len(converted) and len(contacts) == len(converted)
        for lead in data["leads"]:
            assert (lead["converted_to_client_id"] is not None) == (lead["status"] == "converted")
        for lead in converted:
            client = clients[lead["converted_to_client_id"]]
            assert set(client) == {"id", "contact_id", "client_type", "status", "price_range_min",
                                   "price_range_max", "created_at"}
            assert client["status"] == "active" and client["client_type"] in {"buyer", "seller", "both"}
            assert client["created_at"] == lead["updated_at"]
            contact = contacts[client["contact_id"]]
            assert set(contact) == {"id", "name", "email", "phone", "created_at"}
            assert (contact["name"], contact["email"], contact["phone"]) == (lead["name"], lead["email"], lead["phone"])
            if lead["budget"] is None:
                assert client["price_range_min"] is None and client["price_range_max"] is None
            else:
                budget = Decimal(lead["budget"])
                assert client["price_range_min"] == half_up(budget * Decimal("0.9"))
                assert client["price_range_max"] == half_up(budget * Decimal("1.1"))


def test_default_has_several_conversions_and_an_email_shared_in_other_case(default: Dataset) -> None:
    leads = default["leads"]
    assert sum(lead["status"] == "converted" for lead in leads) >= 3
    by_email: dict[str, list[dict[str, Any]]] = {}
    for lead in leads:
        if lead["email"]:
            by_email.setdefault(lead["email"].lower(), []).append(lead)
    shared = [group for group in by_email.values() if len(group) > 1]
    assert len(shared) == 1 and len(shared[0]) == 2
    first, second = shared[0]
    assert first["email"] != second["email"]
    assert sorted(lead["status"] == "converted" for lead in shared[0]) == [False, True]


def test_generated_emails_are_unique_and_at_reserved_example_domains(generated: Dataset) -> None:
    emails = [lead["email"] for lead in generated["leads"] if lead["email"] is not None]
    assert len({email.lower() for email in emails}) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9._]+@example\.(com|org|net)", email) for email in emails)


def test_phones_look_like_the_docs_example(default: Dataset, generated: Dataset) -> None:
    for data in both(default, generated):
        for record in data["leads"] + data["contacts"]:
            assert record["phone"] is None or PHONE.fullmatch(record["phone"])
            assert record["phone"] is not None or record["email"] is not None  # always some way to reach them


def test_ids_are_unique_version_4_uuids(default: Dataset, generated: Dataset) -> None:
    for data in both(default, generated):
        ids = [record["id"] for records in data.values() for record in records]
        assert len(ids) == len(set(ids))
        for text in ids:
            parsed = uuid.UUID(text)
            assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_same_seed_gives_the_same_dataset_and_another_seed_a_different_one() -> None:
    assert generate_dataset(50, 3) == generate_dataset(50, 3)
    assert default_dataset() == default_dataset()
    other = generate_dataset(50, 4)
    assert other != generate_dataset(50, 3)
    assert {lead["id"] for lead in other["leads"]}.isdisjoint(lead["id"] for lead in generate_dataset(50, 3)["leads"])


def test_a_thousand_leads_have_unique_ids_and_distinct_created_at(generated: Dataset) -> None:
    leads = generated["leads"]
    assert len(leads) == 1000
    assert len({lead["id"] for lead in leads}) == 1000
    assert len({lead["created_at"] for lead in leads}) == 1000


def test_histories_are_consistent_with_status_and_version(default: Dataset, generated: Dataset) -> None:
    for data in both(default, generated):
        for lead in data["leads"]:
            stamps = [lead[key] for key in ("created_at", "updated_at", "last_contact_date", "next_follow_up")]
            assert all(stamp is None or DATETIME.fullmatch(stamp) for stamp in stamps)
            assert lead["updated_at"] >= lead["created_at"]
            if lead["status"] == "new":
                assert lead["version"] == 1 and lead["updated_at"] == lead["created_at"]
                assert lead["last_contact_date"] is None
            else:
                assert lead["version"] >= 2
                assert lead["created_at"] <= lead["last_contact_date"] <= lead["updated_at"]
            if lead["status"] in {"unqualified", "converted", "lost"}:
                assert lead["next_follow_up"] is None
            if lead["next_follow_up"] is not None:
                assert lead["next_follow_up"] > (lead["last_contact_date"] or lead["created_at"])


def test_dates_fall_in_the_weeks_before_start() -> None:
    start = datetime(2025, 3, 15, 12, 0, tzinfo=timezone.utc)
    leads = generate_dataset(200, 11, start=start)["leads"]
    assert all("2024-12-01" < lead["created_at"] < "2025-03-15T12:00:00.000Z" for lead in leads)
    assert all(lead["updated_at"] <= "2025-03-15T12:00:00.000Z" for lead in leads)
    assert generate_dataset(200, 11, start=start.replace(tzinfo=None)) == generate_dataset(200, 11, start=start)


def test_budgets_and_timelines_fit_the_lead_type(generated: Dataset) -> None:
    budgets = [lead["budget"] for lead in generated["leads"] if lead["lead_type"] == "buyer" and lead["budget"]]
    assert budgets and all(150_000 <= budget <= 1_500_000 and budget % 5000 == 0 for budget in budgets)
    timelines = {lead["timeline"] for lead in generated["leads"] if lead["lead_type"] == "buyer"}
    assert timelines - {None} == {"0-3 months", "3-6 months", "6-12 months", "12+ months"}


def test_zero_leads_is_empty_and_a_negative_count_is_rejected() -> None:
    assert generate_dataset(0, 1) == {"leads": [], "contacts": [], "clients": []}
    with pytest.raises(ValueError):
        generate_dataset(-1, 1)
