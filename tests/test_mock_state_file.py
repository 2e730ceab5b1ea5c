"""`--state-file`: the SQLite store on disk. Acknowledged writes survive kill -9; old JSON files are imported once."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mock_server.sample_data import default_dataset
from mock_server.store import MemoryStore, StateFileError, user_id_for
from mock_server.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
OWNER = user_id_for("owner-key")
KEY = "leads-mock-key"


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


# -- kill -9 during a write burst ---------------------------------------------------------------------

def start_mock(state: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "mock_server", "--port", "0", "--state-file", str(state),
               "--rate-limit", "1000000/minute", *args]
    log = state.with_suffix(".log").open("ab")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
    line = process.stdout.readline().decode()  # the banner's first line names the address
    assert line.startswith("Leads API mock at "), line
    base = line.split()[-1].removesuffix("/v1")
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the mock did not come up"
            time.sleep(0.05)


def write_burst(base: str, acknowledged: dict[str, int], stop: threading.Event) -> None:
    """Create leads and update them, recording every answered write: lead id -> its acknowledged version."""
    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=10) as client:
        while not stop.is_set():
            try:
                created = client.post("/v1/leads", json={"name": "Burst Lead"})
                if created.status_code != 201:
                    continue
                lead_id = created.json()["data"]["id"]
                acknowledged[lead_id] = 1
                updated = client.put(f"/v1/leads/{lead_id}", json={"notes": "updated", "version": 1})
                if updated.status_code == 200:
                    acknowledged[lead_id] = updated.json()["data"]["version"]
            except httpx.TransportError:
                return  # killed


def kill_during_bursts(state: Path, kills: int, writers: int = 4, *args: str) -> tuple[int, int]:
    """(acknowledged writes, of them lost) over `kills` kill -9s, each at a random moment of a write burst."""
    acknowledged: dict[str, int] = {}
    rng = random.Random(11)
    writes = 0
    for _ in range(kills):
        process, base = start_mock(state, *args)
        stop = threading.Event()
        before = dict(acknowledged)
        threads = [threading.Thread(target=write_burst, args=(base, acknowledged, stop)) for _ in range(writers)]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.3, 1.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        writes += sum(version for lead_id, version in acknowledged.items()) - sum(before.values())
    store = SqliteStore(state, lambda: pytest.fail("the initial data is not needed again"),
                        user_id_for(KEY))
    found = {lead["id"]: lead["version"] for lead in store.inspect(KEY)["leads"]}
    store.close()
    lost = sum(version - found.get(lead_id, 0) for lead_id, version in acknowledged.items()
               if found.get(lead_id, 0) < version)
    return writes, lost


def test_no_acknowledged_write_is_lost_over_kill_9s_during_a_write_burst(tmp_path: Path) -> None:
    writes, lost = kill_during_bursts(tmp_path / "state.db", kills=4)
    assert writes > 20, "the bursts wrote too little to prove anything"
    assert lost == 0, f"{lost} of {writes} acknowledged writes lost"
