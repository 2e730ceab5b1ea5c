"""One run's shared state: the target, what it created, what it saw, what its rules stand on."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from contract_tests import curl, interrupts, preflight, quiet, waits
from contract_tests.cleanup import CleanupRecord, clean_up, write_left
from contract_tests.client import LeadsClient
from contract_tests.ledger import CreatedLeads
from contract_tests.prerequisites import Outcome, Prerequisites, probe
from contract_tests.responses import ResponseRules, json_of
from contract_tests.target import Target, from_options, local_mock
from contract_tests.unanswered import UNANSWERED
from contract_tests.waits import WaitBudget

EXIT_UNREACHABLE = 3
PREFLIGHT_ENV = "LEADS_CONTRACT_PREFLIGHT"
CONSOLE_ENV = "LEADS_CONTRACT_CONSOLE"  # where `leads-contract` prints as the run goes (its own stderr)  # set by `leads-contract`, which ran the preflight itself
DEFAULT_REPORT_DIR = "leads-contract-report"
STOPPED: list[str] = []  # the line a run stopped with before any rule, for the CLI's exit status


@dataclass
class RunState:
    target: Target
    prerequisites: Prerequisites
    report_dir: Path
    report_json: Path | None
    max_wait: float
    rate_limit: dict[str, str] = field(default_factory=dict)
    ledger: CreatedLeads = field(default_factory=CreatedLeads)
    observer: ResponseRules = field(default_factory=ResponseRules)
    cleanup: CleanupRecord = field(default_factory=CleanupRecord)
    ledgers: Path | None = None  # where every process of the run records what it creates and deletes
    controller: bool = True
    pid_file: Path | None = None  # a worker's, where the controlling process finds it to pass an interrupt on
    waits: WaitBudget = field(init=False)

    def __post_init__(self) -> None:
        self.waits = WaitBudget(self.max_wait)

    def client(self, api_key: str | None) -> LeadsClient:
        return LeadsClient(self.target.base_url, api_key, self.ledger, timeout=self.target.request_timeout,
                           observer=self.observer, waits=self.waits, prerequisites=self.prerequisites)

    def blocker_of(self, findings: list[dict[str, Any]]) -> Outcome | None:
        """The failed prerequisite that every finding's answer repeats (same operation and failure), if any."""
        outcomes = [self.prerequisites.blocker_of(item.get("operation"), item.get("answer")) for item in findings]
        rules = {outcome.rule if outcome else None for outcome in outcomes}
        if not findings or len(rules) != 1 or None in rules:
            return None
        return outcomes[0]

    # -- between the controlling process and its workers ----------------------------------------------

    @property
    def lists_beside_others(self) -> bool:
        """Whether the checks reading a whole list run beside the others: as a tenant no other check writes with."""
        return bool(self.target.api_key_2)

    @property
    def quiet_marker(self) -> Path | None:
        """Created once every worker but the one running the list checks has finished (`quiet`)."""
        return self.ledgers / quiet.MARKER_NAME if self.ledgers and self.lists_beside_others else None

    def worker_input(self) -> dict[str, Any]:
        return {"target": vars(self.target), "prerequisites": self.prerequisites.export(),
                "report_dir": str(self.report_dir), "max_wait": self.max_wait, "rate_limit": self.rate_limit,
                "console": os.environ.get(CONSOLE_ENV, ""), "ledgers": str(self.ledgers),
                "unanswered": UNANSWERED.export()}

    @classmethod
    def from_worker_input(cls, config: pytest.Config, data: dict[str, Any]) -> RunState:
        curl.configure(show_key=bool(config.getoption("--show-key")), body_dir=Path(data["report_dir"]))
        if data["console"]:
            waits.CONSOLE[:] = [data["console"]]
        UNANSWERED.load(data["unanswered"])
        worker = str(getattr(config, "workerinput", {}).get("workerid", "worker"))
        ledgers = Path(data["ledgers"])
        state = cls(Target(**data["target"]), Prerequisites.from_export(data["prerequisites"]),
                    Path(data["report_dir"]), None, float(data["max_wait"]), data["rate_limit"],
                    ledger=CreatedLeads(record_to=ledgers / f"{worker}.jsonl"), ledgers=ledgers, controller=False)
        if state.quiet_marker is not None:
            quiet.expect(state.quiet_marker)
        state.pid_file = interrupts.record_worker(ledgers, worker)
        return state

    def worker_output(self) -> dict[str, Any]:
        return {"responses": self.observer.export(), "unanswered": UNANSWERED.export()}

    def absorb(self, output: dict[str, Any]) -> None:
        self.observer.merge(output["responses"])
        UNANSWERED.load(output["unanswered"])  # the cleanup's read-back does not wait on them again

    # -- start and end --------------------------------------------------------------------------------

    def clean_up(self) -> None:
        """A worker deletes what it created; the controlling process then deletes whatever any
        process of the run recorded and did not delete (a worker stopped by a Ctrl-C) and counts it all."""
        if not self.controller:
            # The controlling process reads deleted leads back, once for the whole run.
            clean_up(self.target.base_url, self.ledger, self.waits, read_back=False, timeout=self.target.request_timeout)
            return
        records = sorted(self.ledgers.glob("*.jsonl")) if self.ledgers else []
        every = CreatedLeads.replay(records) if records else self.ledger
        self.cleanup = clean_up(self.target.base_url, every, self.waits, timeout=self.target.request_timeout)
        if self.ledgers:
            shutil.rmtree(self.ledgers, ignore_errors=True)

    def header_lines(self) -> list[str]:
        target = self.target
        where = f"{target.base_url} (the project's mock, started in-process)" if target.local_mock else target.base_url
        lines = [f"leads-contract target: {where}",
                 f"api keys: {curl.mask_key(target.api_key)}, second tenant: {curl.mask_key(target.api_key_2)}"]
        if self.rate_limit:
            lines.append(f"rate limit observed: {self.rate_limit_text()}")
        return lines

    def rate_limit_text(self) -> str:
        limit, reset = self.rate_limit.get("RateLimit-Limit"), self.rate_limit.get("RateLimit-Reset")
        return f"RateLimit-Limit {limit or '?'} requests, window resets in {reset or '?'} s (RateLimit-Reset)"

    def target_document(self) -> dict[str, Any]:
        return {"base_url": self.target.base_url, "api_key": curl.mask_key(self.target.api_key),
                "api_key_2": curl.mask_key(self.target.api_key_2) if self.target.api_key_2 else None,
                "local_mock": self.target.local_mock,
                "rate_limit": self.rate_limit_text() if self.rate_limit else None}

    def cleanup_document(self) -> dict[str, Any]:
        left_file = write_left(self.cleanup, self.report_dir)
        return {"created": self.cleanup.created, "deleted": self.cleanup.deleted,
                "left": [item["id"] for item in self.cleanup.left], "left_detail": self.cleanup.left,
                "checked_after_delete": self.cleanup.checked, "still_readable": self.cleanup.still_readable,
                "left_file": str(left_file) if left_file else None}


def prepare(config: pytest.Config, resources: ExitStack) -> RunState:
    """The controlling process: the target, the preflight, the prerequisites' probe."""
    target = from_options(config.getoption("--base-url"), config.getoption("--api-key"), config.getoption("--api-key-2"))
    if target is None:
        target = resources.enter_context(local_mock())
    timeout = float(config.getoption("--request-timeout"))
    if not 0 < timeout <= 3600:
        raise pytest.UsageError("--request-timeout must be more than 0 and at most 3600 seconds")
    target = dataclasses.replace(target, request_timeout=timeout)
    report_json, report_dir = report_paths(config)
    if os.environ.get(CONSOLE_ENV):
        waits.CONSOLE[:] = [os.environ[CONSOLE_ENV]]
    curl.configure(show_key=bool(config.getoption("--show-key")), body_dir=report_dir)
    ledgers = Path(tempfile.mkdtemp(prefix="leads-contract-ledgers-"))
    resources.callback(shutil.rmtree, ledgers, ignore_errors=True)
    interrupts.watch(ledgers)
    state = RunState(target, Prerequisites.assumed(), report_dir, report_json, float(config.getoption("--max-wait")),
                     ledger=CreatedLeads(record_to=ledgers / "controller.jsonl"), ledgers=ledgers)
    checked = os.environ.get(PREFLIGHT_ENV)
    if checked is not None:
        state.rate_limit = json.loads(checked)
    else:
        result = preflight.check(target)
        if result.stop:
            stop(state, result.stop, result.verdict)
        state.rate_limit = result.rate_limit
    first = state.client(target.api_key)
    state.prerequisites, lead = probe(first)
    first.close()
    if target.api_key_2 and lead is not None:
        second = state.client(target.api_key_2)
        try:
            other = second.request("POST", "/leads", json_body={"name": "Contract Suite Probe Lead (second key)"})
            other_lead = json_of(other.content).get("data") if other.status_code < 300 else None
            if isinstance(other_lead, dict) and isinstance(other_lead.get("id"), str):
                second.request("DELETE", f"/leads/{other_lead['id']}")
                problem = preflight.same_tenant(lead, other_lead)
                if problem:
                    state.clean_up()
                    stop(state, problem, "error")
        finally:
            second.close()
    return state


def report_paths(config: pytest.Config) -> tuple[Path | None, Path]:
    junit = config.getoption("--junitxml", None) or config.getoption("xmlpath", None)
    report_json = config.getoption("--report-json")
    path = Path(report_json) if report_json else (Path(junit).with_suffix(".json") if junit else None)
    folder = config.getoption("--report-dir")
    directory = Path(folder) if folder else (path.parent if path else Path.cwd() / DEFAULT_REPORT_DIR)
    return path, directory.resolve()


def stop(state: RunState, line: str, verdict: str) -> None:
    """Ends the run before any rule with one line (and the JSON report, when one was asked for)."""
    write_stop_report(state.report_json, verdict, state.target_document(), line)
    STOPPED.append(line)
    sys.stderr.write(f"leads-contract: {line}\n")
    pytest.exit(line, returncode=EXIT_UNREACHABLE)


def write_stop_report(path: Path | None, verdict: str, target: dict[str, Any], line: str) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"verdict": verdict, "target": target, "reason": line, "rules": [], "divergences": [],
                "cleanup": {"created": 0, "deleted": 0, "left": []}}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
