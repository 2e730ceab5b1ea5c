"""kill -9 of a mock with `--state-file` during write bursts, counting acknowledged writes that were lost.

Shared by the test (a few kills) and `benchmarks/durability.py` (20 kills, also with 50,000 leads).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from mock_server.store import user_id_for
from mock_server.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
KEY = "leads-mock-key"


def _not_needed() -> Any:
    raise AssertionError("a seeded state file never needs the initial data again")


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


def kill_during_bursts(state: Path, kills: int, *args: str, writers: int = 4, seed: int = 11) -> tuple[int, int]:
    """(acknowledged writes, of them lost) over `kills` kill -9s, each at a random moment of a write burst."""
    acknowledged: dict[str, int] = {}
    rng = random.Random(seed)
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
    store = SqliteStore(state, _not_needed, user_id_for(KEY))
    found = {lead["id"]: lead["version"] for lead in store.inspect(KEY)["leads"]}
    store.close()
    lost = sum(version - found.get(lead_id, 0) for lead_id, version in acknowledged.items()
               if found.get(lead_id, 0) < version)
    return writes, lost


