"""What most rules stand on: creating, updating and deleting a lead with the documented bodies.

They are probed once, before any rule runs. A rule that needs one that failed ends BLOCKED by it
(named, with its failure) instead of failing under its own name; a rule whose failing answer is
the very answer a failed prerequisite got is blocked the same way.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import httpx

from contract_tests.findings import Blocked, answer_text, request_curl
from contract_tests.responses import json_of

RULE_CREATE = "create with the documented body (prerequisite)"
RULE_UPDATE = "update with the documented body (prerequisite)"
RULE_DELETE = "delete a lead the run created (prerequisite)"
OPERATIONS = {RULE_CREATE: "createLead", RULE_UPDATE: "updateLead", RULE_DELETE: "deleteLead"}
PROBE_BODY = {"name": "Contract Suite Probe Lead"}


@dataclass
class Outcome:
    rule: str
    operation: str
    ok: bool
    reason: str | None = None  # one line: what the failed request answered
    expected: str | None = None
    actual: str | None = None
    curl: str | None = None
    blocked_by: str | None = None  # not probed because this prerequisite failed


@dataclass
class Prerequisites:
    outcomes: dict[str, Outcome]

    def require(self, rule: str) -> None:
        """Raises `Blocked` when `rule` (or what it stands on) failed."""
        outcome = self.outcomes.get(rule)
        if outcome is None or outcome.ok:
            return
        if outcome.blocked_by:
            self.require(outcome.blocked_by)
        raise Blocked(rule, outcome.reason or "failed")

    def blocker_of(self, operation: str | None, answer: str | None) -> Outcome | None:
        """The failed prerequisite whose failure an answer repeats: the same operation, status and error
        code, naming (at least) the same fields."""
        if not operation or not answer:
            return None
        for outcome in self.outcomes.values():
            if not outcome.ok and not outcome.blocked_by and operation == outcome.operation \
                    and _same_failure(outcome.actual or "", answer):
                return outcome
        return None

    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes.values() if not outcome.ok and not outcome.blocked_by]

    def export(self) -> list[dict[str, Any]]:
        return [asdict(outcome) for outcome in self.outcomes.values()]

    @classmethod
    def from_export(cls, items: list[dict[str, Any]]) -> Prerequisites:
        return cls({item["rule"]: Outcome(**item) for item in items})

    @classmethod
    def assumed(cls) -> Prerequisites:
        """Nothing probed (a run that was told not to): every rule runs and judges for itself."""
        return cls({})


def probe(client: Any) -> tuple[Prerequisites, dict[str, Any] | None]:
    """Creates, updates and deletes one lead of the run; returns the outcomes and the lead as created."""
    outcomes: dict[str, Outcome] = {}
    try:
        created = client.request("POST", "/leads", json_body=PROBE_BODY)
    except Blocked as blocked:  # no whole answer at all
        outcomes[RULE_CREATE] = Outcome(RULE_CREATE, "createLead", False, f"{blocked.prerequisite}: {blocked.reason}",
                                        "2xx with the new lead in data", "no answer")
        for rule in (RULE_UPDATE, RULE_DELETE):
            outcomes[rule] = Outcome(rule, OPERATIONS[rule], False, blocked_by=RULE_CREATE,
                                     reason=f"not tried: {RULE_CREATE} failed")
        return Prerequisites(outcomes), None
    lead = _data(created)
    ok = 200 <= created.status_code < 300 and isinstance(lead, dict) and isinstance(lead.get("id"), str)
    outcomes[RULE_CREATE] = _outcome(RULE_CREATE, ok, "2xx with the new lead in data", created,
                                     "create with the documented body {\"name\": ...}")
    if not ok:
        for rule in (RULE_UPDATE, RULE_DELETE):
            outcomes[rule] = Outcome(rule, OPERATIONS[rule], False, blocked_by=RULE_CREATE,
                                     reason=f"not tried: {RULE_CREATE} failed")
        return Prerequisites(outcomes), None
    path = f"/leads/{lead['id']}"
    steps = ((RULE_UPDATE, "PUT", {"notes": "probed by the contract suite"}, "2xx with the updated lead",
              "update with the documented body {\"notes\": ...}"),
             (RULE_DELETE, "DELETE", None, "2xx", "delete of a lead the run created"))
    for rule, method, body, expected, doing in steps:
        try:
            answer = client.request(method, path, json_body=body)
        except Blocked as blocked:
            outcomes[rule] = Outcome(rule, OPERATIONS[rule], False, f"{blocked.prerequisite}: {blocked.reason}",
                                     expected, "no answer")
            continue
        outcomes[rule] = _outcome(rule, 200 <= answer.status_code < 300, expected, answer, doing)
    return Prerequisites(outcomes), lead


def _same_failure(prerequisite: str, answer: str) -> bool:
    head, fields = _split_answer(prerequisite)
    other_head, other_fields = _split_answer(answer)
    return head == other_head and fields <= other_fields


def _split_answer(answer: str) -> tuple[str, set[str]]:
    head, _, fields = answer.partition(" (")
    return head, {name.strip() for name in fields.rstrip(")").split(",") if name.strip()}


def _outcome(rule: str, ok: bool, expected: str, response: httpx.Response, doing: str) -> Outcome:
    actual = answer_text(response)
    reason = None if ok else f"{doing} answers {actual}"
    return Outcome(rule, OPERATIONS[rule], ok, reason, expected, actual, request_curl(response.request))


def _data(response: httpx.Response) -> Any:
    try:
        payload = json_of(response.content)
    except ValueError:
        return None
    return payload.get("data") if isinstance(payload, dict) else None
