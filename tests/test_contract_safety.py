"""The suite is safe against a real server: it leaves every lead it did not create as it was,
never sends an update, delete or convert to such a lead, and cleans up even when interrupted.

The server is the independent reference server, preloaded with leads of both keys the suite
uses, behind an ASGI wrapper that records every request and the id of every lead created.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from contract_tests.target import serve_in_thread
from tests import preloaded
from tests.reference_server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
KEY, KEY_2 = "safety-key-one-0001", "safety-key-two-0002"
UUID_LIKE = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
MUTATING = re.compile(r"^/v1/leads/(?P<id>[^/]+)(?P<convert>/convert)?$")
RUN_TIMEOUT = 600
STOP_SECONDS = 5.0  # from an interrupt to the end of every process of the run, cleanup included


@dataclass
class Recorder:
    """Every request the server saw, and the id of every lead it created."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mutations(self) -> list[tuple[str, str]]:
        """(method, raw id) of every update, delete and convert."""
        found = []
        for method, path in self.requests:
            match = MUTATING.match(path)
            if match and (method in ("PUT", "DELETE", "PATCH") or (method == "POST" and match["convert"])):
                found.append((method, match["id"]))
        return found


def recording(app: Any, recorder: Recorder) -> Any:
    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        raw_path = unquote(scope.get("raw_path", b"").decode("latin-1") or scope["path"])
        with recorder.lock:
            recorder.requests.append((scope["method"], raw_path))
        creating = scope["method"] == "POST" and scope["path"] == "/v1/leads"
        status, chunks = 0, []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and creating:
                chunks.append(message.get("body", b""))
            await send(message)

        await app(scope, receive, capture)
        if creating and 200 <= status < 300:
            lead_id = json.loads(b"".join(chunks))["data"]["id"]
            with recorder.lock:
                recorder.created.add(lead_id.lower())

    return wrapper


def all_leads(base_url: str, key: str) -> dict[str, dict[str, Any]]:
    """Every lead of a key, in full, by id."""
    leads: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        answer = httpx.get(f"{base_url}/leads", params={"page": page, "limit": 100}, headers={"X-API-Key": key})
        data = answer.json()["data"]
        leads.update({lead["id"]: lead for lead in data["leads"]})
        if not data["meta"]["hasMore"]:
            return leads
        page += 1


def preload(base_url: str) -> None:
    """Leads a real tenant would have: several states, versions above 1, one converted."""
    for key, count in ((KEY, 14), (KEY_2, 5)):
        for number in range(count):
            body = {"name": f"Existing Lead {number}", "email": f"existing{number}@example.com", "budget": 1000 * number}
            lead = httpx.post(f"{base_url}/leads", json=body, headers={"X-API-Key": key}).json()["data"]
            if number % 3 == 0:
                httpx.put(f"{base_url}/leads/{lead['id']}", json={"status": "contacted"}, headers={"X-API-Key": key})
            if number == 4:
                httpx.post(f"{base_url}/leads/{lead['id']}/convert", headers={"X-API-Key": key})


@dataclass
class Server:
    base_url: str
    recorder: Recorder
    before: dict[str, dict[str, dict[str, Any]]]


@contextmanager
def preloaded_server() -> Iterator[Server]:
    recorder = Recorder()
    with serve_in_thread(recording(create_app([KEY, KEY_2]), recorder)) as url:
        base_url = url + "/v1"
        preload(base_url)
        before = {key: all_leads(base_url, key) for key in (KEY, KEY_2)}
        recorder.requests.clear()
        recorder.created.clear()
        yield Server(base_url, recorder, before)


@pytest.fixture(scope="module")
def full_run() -> Iterator[tuple[Server, subprocess.CompletedProcess[str]]]:
    """One default run of the whole suite against a preloaded server, on one worker (which requests are sent
    does not depend on it; cleaning up after several workers is the interrupted run's to show)."""
    with preloaded_server() as server:
        result = subprocess.run(preloaded.contract(*cli_arguments(server.base_url, "--workers", "1")), cwd=ROOT,
                                env=clean_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT)
        yield server, result


def cli_arguments(base_url: str, *extra: str) -> list[str]:
    return ["--base-url", base_url, "--api-key", KEY, "--api-key-2", KEY_2, *extra]


def clean_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("LEADS_API_")}


def test_full_run_leaves_existing_leads_exactly_as_they_were(full_run: tuple[Server, subprocess.CompletedProcess[str]]) -> None:
    server, result = full_run
    assert "Leads API contract summary" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert server.recorder.created, "the run created no lead: it did not run"
    after = {key: all_leads(server.base_url, key) for key in (KEY, KEY_2)}
    assert after == server.before


def test_full_run_never_updates_deletes_or_converts_a_lead_it_did_not_create(
    full_run: tuple[Server, subprocess.CompletedProcess[str]],
) -> None:
    server, _ = full_run
    mutations = server.recorder.mutations()
    assert len(mutations) > 50, "too few updates, deletes and converts were sent to tell anything"
    sent_ids = [(method, _canonical(match)) for method, raw_id in mutations for match in UUID_LIKE.findall(raw_id)]
    foreign = [(method, lead_id) for method, lead_id in sent_ids if lead_id not in server.recorder.created]
    assert not foreign, f"{len(foreign)} mutations of leads the run did not create, e.g. {foreign[:5]}"
    preloaded = {lead_id.lower() for leads in server.before.values() for lead_id in leads}
    assert not preloaded & {lead_id for _, lead_id in sent_ids}


@dataclass
class Interrupted:
    server: Server
    output: str
    returncode: int
    created_before_interrupt: int
    seconds_to_end: float | None  # from the interrupt until no process of the run is left (None: not measurable)


@pytest.fixture(scope="module")
def interrupted_run() -> Iterator[Interrupted]:
    """One run on two workers against a preloaded server, sent SIGINT once it has created 30 leads, as
    `kill -INT` or a CI runner sends it: to the controlling process alone. Its tests read what it left."""
    with preloaded_server() as server:
        yield interrupt_mid_run(server)


def test_interrupted_run_still_deletes_what_it_created(interrupted_run: Interrupted) -> None:
    run = interrupted_run
    assert run.returncode != 0
    assert run.created_before_interrupt >= 30
    after = {key: all_leads(run.server.base_url, key) for key in (KEY, KEY_2)}
    assert after == run.server.before, run.output[-3000:]


def test_an_interrupted_run_gives_no_verdict_on_the_server(interrupted_run: Interrupted) -> None:
    summary = interrupted_run.output.split("Leads API contract summary", 1)[-1]
    assert "interrupted before every rule ran: no verdict on the server" in summary, summary[-2000:]
    assert "the server matches the spec" not in summary


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the run's processes from /proc")
def test_an_interrupt_to_the_controlling_process_stops_its_workers_within_seconds(interrupted_run: Interrupted) -> None:
    # pytest-xdist alone gives its workers 5 s to end before it interrupts them; the run passes the interrupt on.
    seconds = interrupted_run.seconds_to_end
    assert seconds is not None, "the run's processes did not end within 120 s of the interrupt"
    assert seconds < STOP_SECONDS, f"the run's processes ran on for {seconds:.1f} s after the interrupt"


def interrupt_mid_run(server: Server) -> Interrupted:
    # Two workers: what every process of a parallel run created is deleted, at half the start-up of the default four.
    # A session of its own: its processes are told apart from any other by their session id.
    # Started afresh (not forked by tests/preloaded.py): its processes are those of the session it starts.
    process = subprocess.Popen([sys.executable, "-m", "contract_tests", *cli_arguments(server.base_url, "--workers", "2")],
                               cwd=ROOT, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(server.recorder.created) < 30 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be interrupted"
        created = len(server.recorder.created)
        process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.append(process.communicate(timeout=120)[0]), daemon=True)
        reader.start()
        ended = wait_for_session_end(process.pid, deadline=interrupted + 120)
        reader.join(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return Interrupted(server, "".join(output), process.returncode, created,
                       None if ended is None else ended - interrupted)


def wait_for_session_end(session: int, deadline: float) -> float | None:
    """When no live process of `session` is left (a zombie has ended); None without /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    while time.monotonic() < deadline:
        alive = False
        for entry in proc.iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # not a process, or one that has just gone
            if int(fields[3]) == session and fields[0] != "Z":  # fields: state, ppid, pgrp, session, ...
                alive = True
                break
        if not alive:
            return time.monotonic()
        time.sleep(0.02)
    return None


def _canonical(match: str) -> str:
    hex_digits = match.replace("-", "").lower()
    return f"{hex_digits[:8]}-{hex_digits[8:12]}-{hex_digits[12:16]}-{hex_digits[16:20]}-{hex_digits[20:]}"
