"""`--state-file`: the SQLite store on disk. Acknowledged writes survive kill -9; old JSON files are imported once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from durability import KEY, ROOT, kill_during_bursts, start_mock
from mock_server.sample_data import default_dataset
from mock_server.store import MemoryStore, StateFileError, user_id_for
from mock_server.store.sqlite import SqliteStore
from tests import preloaded

OWNER = user_id_for("owner-key")


def open_store(path: Path) -> SqliteStore:
    return SqliteStore(path, default_dataset, OWNER)


def test_a_new_state_file_starts_from_the_initial_data_in_wal_mode(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    assert store.list_leads(OWNER, status=None, interest_level=None, limit=1).total == 34
    store.close()
    with sqlite3.connect(tmp_path / "state.db") as database:
        assert database.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_changes_are_there_after_reopening_and_the_clock_moves_on(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    lead = store.create(OWNER, {"name": "Kept"})
    store.update(OWNER, lead["id"], {"notes": "changed"})
    store.save_dataset("demo")
    store.close()
    again = SqliteStore(tmp_path / "state.db", lambda: pytest.fail("the data set is not needed again"), OWNER,
                        clock=lambda: 0)
    assert again.get(OWNER, lead["id"])["notes"] == "changed"
    assert again.dataset_names() == ["demo"]
    assert again.create(OWNER, {"name": "Next"})["created_at"] > lead["created_at"]


def test_an_old_json_state_file_is_imported_once_and_kept_beside(tmp_path: Path) -> None:
    old = MemoryStore(default_dataset(), owner_id=OWNER)
    lead = old.create(user_id_for("other-key"), {"name": "From JSON", "email": "j@example.com"})
    old.convert(user_id_for("other-key"), lead["id"])
    path = tmp_path / "state.json"
    path.write_text(json.dumps(old.dump()))
    store = open_store(path)
    for key in ("owner-key", "other-key"):
        assert store.inspect(key) == old.inspect(key)
    store.delete(OWNER, old.inspect("owner-key")["leads"][0]["id"])
    store.close()
    assert path.read_bytes().startswith(b"SQLite format 3\x00")
    assert json.loads((tmp_path / "state.json.json-imported").read_text()) == json.loads(json.dumps(old.dump()))
    again = open_store(path)  # not imported a second time: the delete is still there
    assert again.list_leads(OWNER, status=None, interest_level=None, limit=1).total == 33


@pytest.mark.parametrize("content", [b"{oops", b"[1, 2]", b'{"format": 999}', b'{"format": 1, "users": {"u": {}}}',
                                     b'{"format": 1, "users": {"u": {"leads": [{"id": 5}]}}}'])
def test_a_file_that_is_neither_is_refused_in_one_line_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError) as caught:
        open_store(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message and "delete it" in message
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


# -- kill -9 during a write burst (benchmarks/durability.py does 20 kills, also with 50,000 leads) ---

def test_no_acknowledged_write_is_lost_over_kill_9s_during_a_write_burst(tmp_path: Path) -> None:
    writes, lost = kill_during_bursts(tmp_path / "state.db", kills=4)
    assert writes > 20, "the bursts wrote too little to prove anything"
    assert lost == 0, f"{lost} of {writes} acknowledged writes lost"


def test_the_contract_suite_passes_against_a_sqlite_backed_mock(tmp_path: Path) -> None:
    process, base = start_mock(tmp_path / "state.db", "--api-key", KEY, "--api-key", "other-tenant-key")
    try:
        done = subprocess.run(preloaded.contract("--base-url", base + "/v1", "--api-key", KEY, "--api-key-2",
                                                    "other-tenant-key", "--quick", "--workers", "1"),
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
