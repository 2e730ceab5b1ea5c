"""The store on its own, one set of tests for every backend (memory, SQLite in tmp_path, PostgreSQL in a
throwaway cluster): order, filters, counters, mutations, atomic convert, reset, dump, restore, data sets."""

from __future__ import annotations

import json
import random

import pytest

from mock_server.api_errors import AlreadyConverted, DatasetNotFound, LeadNotFound, NoUpdates, VersionConflict
from mock_server.sample_data import default_dataset, generate_dataset
from mock_server.store import INTEREST_LEVELS, STATUSES, LeadStore, MemoryStore, Position, price_range, user_id_for
from mock_server.store.postgres import PostgresStore
from mock_server.store.sqlite import SqliteStore

OWNER, OTHER = user_id_for("owner-key"), user_id_for("other-key")


class Clock:
    def __init__(self, ms: int = 1_782_864_000_000) -> None:  # 2026-07-01T00:00:00Z
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path):
    """Builds stores of one backend: make_store(dataset) -> a store whose initial data is `dataset`."""
    made: list[LeadStore] = []

    def make(dataset, clock=None) -> LeadStore:
        clock = clock or Clock()
        if request.param == "memory":
            store: LeadStore = MemoryStore(dataset, owner_id=OWNER, clock=clock)
        elif request.param == "sqlite":
            store = SqliteStore(tmp_path / f"state-{len(made)}.db", lambda: dataset, OWNER, clock)
        else:
            url = request.getfixturevalue("pg_cluster").create_database(f"store_{len(made)}_{id(made)}")
            store = PostgresStore(url, lambda: dataset, OWNER, clock)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store) -> LeadStore:
    return make_store(default_dataset())


def ids(page) -> list[str]:
    return [lead["id"] for lead in page.leads]


def test_initial_data_belongs_to_the_owner_with_user_ids_set(store: LeadStore) -> None:
    page = store.list_leads(OWNER, status=None, interest_level=None, limit=100)
    assert page.total == 34 and all(lead["user_id"] == OWNER for lead in page.leads)
    assert store.list_leads(OTHER, status=None, interest_level=None, limit=100).total == 0


@pytest.mark.parametrize("status", [None, *STATUSES])
@pytest.mark.parametrize("interest", [None, *INTEREST_LEVELS])
def test_every_filter_index_matches_a_full_scan(store: LeadStore, status, interest) -> None:
    everything = store.inspect("owner-key")["leads"]
    expected = [lead["id"] for lead in everything if (status is None or lead["status"] == status)
                and (interest is None or lead["interest_level"] == interest)]
    page = store.list_leads(OWNER, status=status, interest_level=interest, limit=100)
    assert ids(page) == expected and page.total == len(expected)


def test_indexes_and_counters_follow_updates_deletes_and_converts(store: LeadStore) -> None:
    rng = random.Random(7)
    for step in range(200):
        leads = store.inspect("owner-key")["leads"]
        lead = rng.choice(leads)
        action = rng.choice(["update", "delete", "convert", "create"])
        if action == "update":
            changes = {"status": rng.choice(STATUSES), "interest_level": rng.choice(INTEREST_LEVELS)}
            store.update(OWNER, lead["id"], changes)
        elif action == "delete" and len(leads) > 5:
            store.delete(OWNER, lead["id"])
        elif action == "convert" and lead["status"] != "converted" and not lead["converted_to_client_id"]:
            store.convert(OWNER, lead["id"])
        else:
            store.create(OWNER, {"name": f"Lead {step}", "interest_level": rng.choice(INTEREST_LEVELS)})
    leads = store.inspect("owner-key")["leads"]
    stats = store.list_leads(OWNER, status=None, interest_level=None, limit=1).stats
    assert stats["total"] == len(leads)
    assert stats["byStatus"] == {s: sum(lead["status"] == s for lead in leads) for s in STATUSES}
    assert stats["byInterestLevel"] == {i: sum(lead["interest_level"] == i for lead in leads) for i in INTEREST_LEVELS}
    for status in STATUSES:
        expected = [lead["id"] for lead in leads if lead["status"] == status and lead["interest_level"] == "hot"]
        assert ids(store.list_leads(OWNER, status=status, interest_level="hot", limit=1000)) == expected


class CountingDict(dict):
    reads = 0

    def __getitem__(self, key):
        CountingDict.reads += 1
        return super().__getitem__(key)


def test_a_memory_page_reads_only_its_own_leads_however_many_there_are() -> None:
    store = MemoryStore(generate_dataset(20_000, 3), owner_id=OWNER, clock=Clock())
    user = store._users[OWNER]
    user.leads = CountingDict(user.leads)
    CountingDict.reads = 0
    page = store.list_leads(OWNER, status="qualified", interest_level="hot", limit=25, page=20)
    assert len(page.leads) == 25 and page.total > 500
    assert CountingDict.reads == 25


def test_cursor_positions_are_found_by_bisection_not_by_scanning(store: LeadStore) -> None:
    everything = ids(store.list_leads(OWNER, status=None, interest_level=None, limit=100))
    tenth = store.get(OWNER, everything[9])
    after = store.list_leads(OWNER, status=None, interest_level=None, limit=5,
                             position=Position((tenth["created_at"], tenth["id"]), before=False))
    assert ids(after) == everything[10:15] and after.offset == 10
    before = store.list_leads(OWNER, status=None, interest_level=None, limit=5,
                              position=Position((tenth["created_at"], tenth["id"]), before=True))
    assert ids(before) == everything[5:10] and before.offset == 5


def test_create_update_delete_and_convert_each_bump_the_revision(store: LeadStore) -> None:
    revisions = [store.revision]
    lead = store.create(OWNER, {"name": "A"})
    revisions.append(store.revision)
    store.update(OWNER, lead["id"], {"notes": "x"})
    revisions.append(store.revision)
    store.convert(OWNER, lead["id"])
    revisions.append(store.revision)
    store.delete(OWNER, lead["id"])
    revisions.append(store.revision)
    store.reset()
    revisions.append(store.revision)
    assert revisions == sorted(set(revisions))


def test_failed_operations_do_not_bump_the_revision(store: LeadStore) -> None:
    lead = store.create(OWNER, {"name": "A"})
    revision = store.revision
    with pytest.raises(NoUpdates):
        store.update(OWNER, lead["id"], {})
    with pytest.raises(VersionConflict):
        store.update(OWNER, lead["id"], {"notes": "x"}, version=5)
    with pytest.raises(LeadNotFound):
        store.delete(OTHER, lead["id"])
    store.convert(OWNER, lead["id"])
    with pytest.raises(AlreadyConverted):
        store.convert(OWNER, lead["id"])
    assert store.revision == revision + 1


def test_version_conflict_reports_current_and_attempted(store: LeadStore) -> None:
    lead = store.create(OWNER, {"name": "A"})
    with pytest.raises(VersionConflict) as caught:
        store.update(OWNER, lead["id"], {"notes": "x"}, version=3)
    assert (caught.value.current, caught.value.attempted) == (1, 3)


def test_timestamps_always_move_on_even_within_one_millisecond(store: LeadStore) -> None:
    first = store.create(OWNER, {"name": "A"})
    second = store.create(OWNER, {"name": "B"})
    updated = store.update(OWNER, first["id"], {"notes": "x"})
    assert first["created_at"] < second["created_at"] < updated["updated_at"]


def test_reset_restores_the_initial_data_for_everyone(store: LeadStore) -> None:
    initial = store.inspect("owner-key")
    store.create(OTHER, {"name": "Elsewhere"})
    store.delete(OWNER, initial["leads"][0]["id"])
    store.reset()
    assert store.inspect("owner-key") == initial
    assert store.inspect("other-key") == {"leads": [], "contacts": [], "clients": []}


def test_dump_is_json_and_restore_brings_back_the_same_state(store: LeadStore, make_store) -> None:
    lead = store.create(OTHER, {"name": "Elsewhere", "email": "e@example.com"})
    store.convert(OTHER, lead["id"])
    dump = json.loads(json.dumps(store.dump()))
    copy = make_store({"leads": []})
    copy.restore(dump)
    for key in ("owner-key", "other-key"):
        assert copy.inspect(key) == store.inspect(key)
    assert copy.revision > 0
    # contacts are still found by email after a restore
    again = copy.create(OTHER, {"name": "Again", "email": "E@example.com"})
    assert copy.convert(OTHER, again["id"])["primaryContactId"] == store.inspect("other-key")["contacts"][0]["id"]


@pytest.mark.parametrize("dump", [{}, {"format": 99, "users": {}}, {"format": 1}, {"format": 1, "users": {"u": {}}},
                                  []])
def test_restore_refuses_what_is_not_a_dump(store: LeadStore, dump) -> None:
    before = store.inspect("owner-key")
    with pytest.raises(ValueError):
        store.restore(dump)
    assert store.inspect("owner-key") == before


def test_inspect_returns_copies(store: LeadStore) -> None:
    store.inspect("owner-key")["leads"][0]["name"] = "Changed"
    assert store.inspect("owner-key")["leads"][0]["name"] != "Changed"


@pytest.mark.parametrize("budget, expected", [(380000, (342000, 418000)), (None, (None, None)), (5, (5, 6)),
                                              (1.5, (1, 2)), (250005, (225005, 275006))])
def test_price_range_rounds_half_up(budget, expected) -> None:
    assert price_range(budget) == expected


def test_ties_on_created_at_break_on_id_descending(make_store) -> None:
    made = "2026-06-01T00:00:00.000Z"
    leads = [{"id": lead_id, "name": lead_id[:4], "status": "new", "interest_level": "warm", "lead_type": "buyer",
              "version": 1, "created_at": made, "updated_at": made}
             for lead_id in ("11111111-1111-4111-8111-111111111111", "33333333-3333-4333-8333-333333333333",
                             "22222222-2222-4222-8222-222222222222")]
    store = make_store({"leads": leads})
    page = store.list_leads(OWNER, status=None, interest_level=None, limit=10)
    assert [lead["name"] for lead in page.leads] == ["3333", "2222", "1111"]


def test_the_store_imports_no_web_framework() -> None:
    """The store is plain Python: usable and testable without Connexion, Starlette or uvicorn."""
    import subprocess
    import sys

    probe = "import sys, mock_server.store.sqlite, mock_server.store.postgres; print(sorted(m for m in ('connexion', 'starlette', 'uvicorn') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_a_big_data_set_pages_by_number_and_by_cursor_like_the_memory_store(make_store) -> None:
    dataset = generate_dataset(3_000, 5)
    store, reference = make_store(dataset), MemoryStore(dataset, owner_id=OWNER, clock=Clock())
    for status, interest in [(None, None), ("qualified", None), (None, "hot"), ("new", "cold")]:
        for page in (1, 7, 400):
            mine = store.list_leads(OWNER, status=status, interest_level=interest, limit=20, page=page)
            theirs = reference.list_leads(OWNER, status=status, interest_level=interest, limit=20, page=page)
            assert (ids(mine), mine.offset, mine.total, mine.stats) == (ids(theirs), theirs.offset, theirs.total,
                                                                         theirs.stats)
            assert mine.leads_json == theirs.leads_json  # the very bytes a get or a list sends
        keys = [(lead["created_at"], lead["id"]) for lead in reference.list_leads(
            OWNER, status=status, interest_level=interest, limit=100).leads]
        for key in keys[::17] + [None]:
            for before in (False, True):
                if key is None and not before:
                    continue
                position = Position(key, before)
                mine = store.list_leads(OWNER, status=status, interest_level=interest, limit=9, position=position)
                theirs = reference.list_leads(OWNER, status=status, interest_level=interest, limit=9,
                                              position=position)
                assert (ids(mine), mine.offset, mine.total) == (ids(theirs), theirs.offset, theirs.total)


def test_get_json_is_the_json_of_get(store: LeadStore) -> None:
    lead = store.create(OWNER, {"name": "Text", "budget": 1.5, "notes": "caf\u00e9"})
    assert json.loads(store.get_json(OWNER, lead["id"])) == store.get(OWNER, lead["id"]) == lead
    assert store.get(OWNER, lead["id"].upper()) == lead  # ids are matched whatever their letter case


def test_reads_keep_answering_after_writes_that_were_rolled_back(store: LeadStore) -> None:
    lead = store.create(OWNER, {"name": "Rolled Back"})
    for number in range(8):  # often enough for a driver to prepare its statements
        store.update(OWNER, lead["id"], {"notes": f"note {number}"})
        assert store.get(OWNER, lead["id"])["notes"] == f"note {number}"
    for _ in range(2):
        with pytest.raises(VersionConflict):
            store.update(OWNER, lead["id"], {"notes": "stale"}, version=1)
        assert json.loads(store.get_json(OWNER, lead["id"]))["notes"] == "note 7"


def test_another_users_lead_is_not_found(store: LeadStore) -> None:
    lead = store.create(OWNER, {"name": "Mine"})
    for attempt in (lambda: store.get(OTHER, lead["id"]), lambda: store.update(OTHER, lead["id"], {"notes": "x"}),
                    lambda: store.delete(OTHER, lead["id"]), lambda: store.convert(OTHER, lead["id"])):
        with pytest.raises(LeadNotFound):
            attempt()
    assert store.get(OWNER, lead["id"]) == lead


def test_a_second_convert_is_refused_and_creates_nothing(store: LeadStore) -> None:
    lead = store.create(OTHER, {"name": "Once", "email": "once@example.com", "budget": 380000})
    answer = store.convert(OTHER, lead["id"], "seller")
    assert answer["client"]["client_type"] == "seller"
    assert (answer["client"]["price_range_min"], answer["client"]["price_range_max"]) == (342000, 418000)
    with pytest.raises(AlreadyConverted):
        store.convert(OTHER, lead["id"])
    owned = store.inspect("other-key")
    assert len(owned["clients"]) == 1 and len(owned["contacts"]) == 1
    assert owned["leads"][0]["status"] == "converted" and owned["leads"][0]["version"] == 2
    # the next lead with the same email, in other letters, reuses the contact
    again = store.create(OTHER, {"name": "Twice", "email": "ONCE@example.com"})
    assert store.convert(OTHER, again["id"])["primaryContactId"] == answer["primaryContactId"]


def test_a_saved_data_set_loads_back_after_changes(store: LeadStore) -> None:
    store.create(OTHER, {"name": "Kept"})
    saved = {key: store.inspect(key) for key in ("owner-key", "other-key")}
    store.save_dataset("demo")
    store.create(OTHER, {"name": "Later"})
    store.delete(OWNER, saved["owner-key"]["leads"][0]["id"])
    store.save_dataset("later")
    assert store.dataset_names() == ["demo", "later"]
    store.load_dataset("demo")
    assert {key: store.inspect(key) for key in ("owner-key", "other-key")} == saved
    store.reset()
    assert store.dataset_names() == ["demo", "later"]  # a reset keeps the saved data sets


def test_loading_an_unknown_data_set_is_a_404_domain_error_and_changes_nothing(store: LeadStore) -> None:
    before = store.inspect("owner-key")
    with pytest.raises(DatasetNotFound) as caught:
        store.load_dataset("nope")
    assert isinstance(caught.value, KeyError) and caught.value.status == 404 and "nope" in caught.value.message
    assert store.inspect("owner-key") == before



def test_a_page_number_far_past_the_end_is_an_empty_page_not_an_error(store: LeadStore) -> None:
    page = store.list_leads(OWNER, status=None, interest_level=None, limit=100, page=10**40)
    assert page.leads == [] and page.total == 34 and page.offset == (10**40 - 1) * 100
