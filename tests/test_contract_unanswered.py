"""A server that hangs on one operation costs the run one timeout, not one per request: later requests
to that operation are not sent, their checks are BLOCKED naming the first timeout, and the run ends."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis

from contract_tests.cleanup import CONCURRENT_DELETES, clean_up
from contract_tests.deadline import AnswerTimeout, answer_deadline
from contract_tests.client import GarbageResponse, LeadsClient
from contract_tests.findings import Blocked
from contract_tests.ledger import CreatedLeads
from contract_tests.responses import RULE_TRANSPORT
from contract_tests.safety import Budget, RunGuard
from contract_tests.spec import spec_path
from contract_tests.target import serve_in_thread
from contract_tests.unanswered import UNANSWERED, operation_of, record_timeout
from contract_tests.waits import WaitBudget
from tests import preloaded
from tests.reference_server.app import create_app

KEY, KEY_2 = "unanswered-key-0001", "unanswered-key-0002"
ONE_LEAD = re.compile(r"^/v1/leads/[^/]+$")
TIMEOUT = 0.5
RUN_TIMEOUT = 300


@dataclass
class Hanging:
    """A reference server whose `METHOD /v1/leads/{id}` never answers; what reached it, by method and path."""

    base_url: str
    seen: list[str] = field(default_factory=list)

    def hits(self, method: str) -> list[str]:
        return [line for line in self.seen if line.startswith(method + " ") and ONE_LEAD.match(line.split(" ", 1)[1])]


@contextmanager
def hanging(method: str, *, drip: bool = False) -> Iterator[Hanging]:
    """Never answers `method /v1/leads/{id}`; with `drip`, answers it a byte every 0.1 s, for minutes."""
    inner = create_app([KEY, KEY_2])
    release = threading.Event()  # set at the end, so that the server's shutdown does not wait on a hung request
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(f"{scope['method']} {scope['path']}")
            if scope["method"] == method and ONE_LEAD.match(scope["path"]):
                if drip:
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-type", b"application/json"), (b"content-length", b"3000")]})
                for _ in range(3000):
                    if release.is_set():
                        return
                    if drip:
                        await send({"type": "http.response.body", "body": b" ", "more_body": True})
                    await asyncio.sleep(0.1)
                seen.append("answer complete")
                return
        await inner(scope, receive, send)

    UNANSWERED.clear()
    try:
        with serve_in_thread(app) as url:
            try:
                yield Hanging(url + "/v1", seen)
            finally:
                release.set()
    finally:
        UNANSWERED.clear()


def created_lead(client: LeadsClient) -> str:
    return str(client.request("POST", "/leads", json_body={"name": "Unanswered Lead"}).json()["data"]["id"])


def test_paths_are_named_by_the_operation_they_reach() -> None:
    assert operation_of("get", "/leads/4f1c0e2a-0000-4000-8000-000000000001") == "GET /leads/{id}"
    assert operation_of("GET", "/leads?page=2") == "GET /leads"
    assert operation_of("POST", "/leads/x/convert") == "POST /leads/{id}/convert"
    assert operation_of("GET", "/leads/a/b") == "GET /leads/a/b"  # no operation: the path itself


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_a_timeout_met_by_library_code_blocks_its_operation_too(library: str) -> None:
    with hanging("GET") as server:
        lead_id = created_lead(LeadsClient(server.base_url, KEY, CreatedLeads()))
        url = f"{server.base_url}/leads/{lead_id}"
        send = requests.get if library == "requests" else httpx.get
        with pytest.raises(Exception) as timed_out:  # noqa: PT011 - each library raises its own
            send(url, headers={"X-API-Key": KEY}, timeout=TIMEOUT)
        assert UNANSWERED.refusal("GET /leads/{id}") is None
        record_timeout(timed_out.value, server.base_url, TIMEOUT)
        refusal = UNANSWERED.refusal("GET /leads/{id}")
        assert refusal is not None and f"GET /leads/{lead_id}: ReadTimeout after {TIMEOUT:g} s" in refusal


def test_a_timed_out_request_is_sent_once_and_later_ones_to_its_operation_are_blocked_unsent() -> None:
    with hanging("GET") as server:
        client = LeadsClient(server.base_url, KEY, CreatedLeads(), timeout=TIMEOUT)
        first, second = created_lead(client), created_lead(client)
        with pytest.raises(Blocked) as timed_out:
            client.request("GET", f"/leads/{first}")
        assert timed_out.value.prerequisite == RULE_TRANSPORT
        assert "ReadTimeout" in timed_out.value.reason
        assert len(server.hits("GET")) == 1  # a timeout is not repeated as a cut connection is
        with pytest.raises(Blocked) as refused:
            client.request("GET", f"/leads/{second}")
        assert refused.value.prerequisite == RULE_TRANSPORT
        assert refused.value.reason.startswith("GET /leads/{id} was not sent: an earlier request to it got no answer")
        assert f"GET /leads/{first}: ReadTimeout after {TIMEOUT:g} s" in refused.value.reason
        assert len(server.hits("GET")) == 1
        # Other operations, the same path included, are still sent.
        assert client.request("GET", "/leads").status_code == 200
        assert client.request("DELETE", f"/leads/{second}").status_code == 200


def test_an_answer_dripped_slower_than_the_timeout_as_a_whole_times_out() -> None:
    # Each byte comes well within the timeout; the whole answer would take five minutes.
    with hanging("GET", drip=True) as server:
        client = LeadsClient(server.base_url, KEY, CreatedLeads(), timeout=TIMEOUT)
        lead_id = created_lead(client)
        with pytest.raises(Blocked) as timed_out:
            client.request("GET", f"/leads/{lead_id}")
        assert timed_out.value.prerequisite == RULE_TRANSPORT and "Timeout" in timed_out.value.reason
        assert "answer complete" not in server.seen  # given up on, not waited for
        assert UNANSWERED.refusal("GET /leads/{id}") is not None


def test_a_dripped_generated_answer_times_out_as_a_whole() -> None:
    with hanging("GET", drip=True) as server:
        schema = schemathesis.openapi.from_path(spec_path())
        schema.config.update(base_url=server.base_url, headers={"X-API-Key": KEY})
        ledger = CreatedLeads()
        guard = RunGuard(server.base_url, KEY, ledger, Budget(max_requests=100, max_seconds=60.0), timeout=TIMEOUT)
        lead_id = created_lead(LeadsClient(server.base_url, KEY, ledger))
        case = schema["/leads/{id}"]["GET"].Case(path_parameters={"id": lead_id})
        with pytest.raises(Blocked) as timed_out:
            guard.send(case, timeout=TIMEOUT)
        assert timed_out.value.prerequisite == RULE_TRANSPORT
        assert "answer complete" not in server.seen
        assert UNANSWERED.refusal("GET /leads/{id}") is not None


def test_a_timed_out_generated_request_blocks_its_operation_for_later_cases() -> None:
    with hanging("GET") as server:
        schema = schemathesis.openapi.from_path(spec_path())
        schema.config.update(base_url=server.base_url, headers={"X-API-Key": KEY})
        ledger = CreatedLeads()
        guard = RunGuard(server.base_url, KEY, ledger, Budget(max_requests=100, max_seconds=60.0), timeout=TIMEOUT)
        lead_id = created_lead(LeadsClient(server.base_url, KEY, ledger))
        for attempt in range(2):
            case = schema["/leads/{id}"]["GET"].Case(path_parameters={"id": lead_id})
            with pytest.raises(Blocked) as blocked:
                guard.send(case, timeout=TIMEOUT)
            assert blocked.value.prerequisite == RULE_TRANSPORT
        assert blocked.value.reason.startswith("GET /leads/{id} was not sent")
        assert len(server.hits("GET")) == 1
        assert guard.requests_sent == 1  # the refused case cost no budget


def test_cleanup_reports_deletes_it_could_not_send_after_a_delete_timed_out() -> None:
    with hanging("DELETE") as server:
        ledger = CreatedLeads()
        client = LeadsClient(server.base_url, KEY, ledger)
        lead_ids = {created_lead(client) for _ in range(3 * CONCURRENT_DELETES)}
        record = clean_up(server.base_url, ledger, WaitBudget(0.0), timeout=TIMEOUT)
        assert (record.created, record.deleted) == (len(lead_ids), 0)
        assert {left["id"] for left in record.left} == lead_ids
        not_sent = [left for left in record.left if "was not sent" in left["answer"]]
        assert len(not_sent) >= len(lead_ids) - CONCURRENT_DELETES, record.left
        # Only the deletes sent before the first timeout waited for it.
        assert len(server.hits("DELETE")) <= CONCURRENT_DELETES


def test_a_client_that_takes_answers_as_they_come_gets_the_refusal_as_no_answer() -> None:
    with hanging("DELETE") as server:
        client = LeadsClient(server.base_url, KEY, CreatedLeads(), timeout=TIMEOUT, block_on_failure=False)
        first, second = created_lead(client), created_lead(client)
        with pytest.raises(GarbageResponse, match="no HTTP answer"):
            client.request("DELETE", f"/leads/{first}")
        with pytest.raises(GarbageResponse, match="DELETE /leads/{id} was not sent"):
            client.request("DELETE", f"/leads/{second}")
        assert len(server.hits("DELETE")) == 1


@pytest.mark.parametrize(("method", "workers", "most_sent"), [
    ("GET", 1, 1),
    ("GET", 2, 2),  # one per worker; the controlling process's cleanup does not read the leads back again
    ("PUT", 2, 1),  # the controlling process's probe updates a lead first: its workers do not send one again
])
def test_a_run_against_a_server_hanging_on_one_operation_waits_once_and_diagnoses_it(
    tmp_path: Path, method: str, workers: int, most_sent: int
) -> None:
    report = tmp_path / "report.json"
    with hanging(method) as server:
        env = {name: value for name, value in os.environ.items() if not name.startswith("LEADS_API_")}
        result = subprocess.run(
            preloaded.contract("--base-url", server.base_url, "--api-key", KEY, "--api-key-2", KEY_2, "--quick",
                               "--workers", str(workers), "--request-timeout", str(TIMEOUT), "--report-json", str(report)),
            env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        hits = server.hits(method)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert 1 <= len(hits) <= most_sent, hits[:5]
    summary = result.stdout.split("Leads API contract summary", 1)[-1]
    assert f"FAIL    {RULE_TRANSPORT}" in summary
    assert "Traceback" not in output and "INTERNALERROR" not in output
    data = json.loads(report.read_text())
    blocked = [rule["rule"] for rule in data["rules"] if rule["blocked_by"] == RULE_TRANSPORT]
    assert len(blocked) >= 3, [(rule["rule"], rule["verdict"], rule["reason"]) for rule in data["rules"]]
    first = data["divergences"][0]
    assert first["rule"] == RULE_TRANSPORT and f"-X {method} " in (first["curl"] or ""), data["divergences"][:2]


def test_the_answer_deadline_leaves_an_alarm_set_by_others_running() -> None:
    rung: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: rung.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with answer_deadline(5.0):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 0.3
        with pytest.raises(AnswerTimeout), answer_deadline(0.05):
            time.sleep(1.0)
        time.sleep(0.6)  # the outer alarm, due at 0.3 s, rings the handler restored above
        assert rung == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
