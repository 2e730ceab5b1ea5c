"""The diagnosis a person reads at the end of a run, and the same as JSON.

Every test carries its rule and operations (`user_properties`, so they reach the JUnit XML and
travel from parallel workers). A failure carries its findings as data; failures with the same
cause (the same field, expectation and answer) are one divergence, however many rules and
operations show it. The summary opens with the distinct divergences, ranked by what they block
and how often they were seen, then the blocked rules by prerequisite, then every rule's verdict.
"""
from __future__ import annotations

import json
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

from contract_tests.findings import BLOCKED_PREFIX, BLOCKED_SEPARATOR, parse_blocked
from contract_tests.prerequisites import Prerequisites
from contract_tests.responses import EVERY_ANSWER, RULES, RULE_TRANSPORT, ResponseRules

CONFORMANCE_RULE = "OpenAPI conformance (Schemathesis)"
LEAD_IN_PATH = re.compile(r"/leads/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
VERDICT_ORDER = {"fail": 3, "blocked": 2, "pass": 1, "skip": 0}
LABEL = {"fail": "FAIL", "blocked": "BLOCKED", "pass": "PASS", "skip": "SKIP"}


@dataclass
class RuleResult:
    rule: str
    operations: list[str] = field(default_factory=list)
    verdict: str = "skip"
    blocked_by: str | None = None
    reason: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    checks: int = 0
    failing_operations: list[str] = field(default_factory=list)

    def add(self, verdict: str, reason: str | None, blocked_by: str | None, findings: list[dict[str, Any]],
            operations: list[str]) -> None:
        self.checks += 1
        self.operations = sorted(set(self.operations) | set(operations))
        if VERDICT_ORDER[verdict] > VERDICT_ORDER[self.verdict]:
            self.verdict = verdict
            self.reason, self.blocked_by = reason, blocked_by
        if verdict == "fail":
            self.failures += findings
            self.failing_operations = sorted(set(self.failing_operations) | set(operations))


def rule_and_operations(item: pytest.Item) -> tuple[str, tuple[str, ...]]:
    """From the `rule` marker, or, for a Schemathesis test, from the operation it was generated for."""
    marker = item.get_closest_marker("rule")
    rule = str(marker.args[0]) if marker and marker.args else None
    operations = tuple(str(arg) for arg in marker.args[1:]) if marker else ()
    label = getattr(item, "operation_label", None)
    if label:
        from contract_tests import session

        operations = (session.current().operation_id(label),)
        rule = rule or CONFORMANCE_RULE
    return rule or item.name, operations


class ContractReport:
    """A pytest plugin of the controlling process: collects verdicts, prints the diagnosis, writes JSON."""

    def __init__(self, config: pytest.Config, state: Any) -> None:
        self.config = config
        self.state = state
        self.rules: dict[str, RuleResult] = {}
        self.emitted = False

    # -- collection and results ---------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        properties = dict(report.user_properties)
        rule = str(properties.get("rule", report.nodeid))
        operations = [op for op in str(properties.get("operations", "")).split(",") if op]
        result = self.rules.setdefault(rule, RuleResult(rule))
        if report.skipped:
            message = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
            blocked = parse_blocked(message)
            if blocked:
                result.add("blocked", blocked[1], blocked[0], [], operations)
            else:
                result.add("skip", message.removeprefix("Skipped: "), None, [], operations)
        elif report.failed:
            findings = json.loads(str(properties.get("findings", "[]")))
            result.add("fail", findings[0]["summary"] if findings else None, None, findings, operations)
        else:
            result.add("pass", None, None, [], operations)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        outcome = yield
        self.emit_run_rules(session)
        return outcome

    def emit_run_rules(self, session: pytest.Session) -> None:
        """The prerequisites and the every-answer rules, reported like tests (terminal, JUnit, exit status)."""
        if self.emitted:
            return
        self.emitted = True
        prerequisites: Prerequisites = self.state.prerequisites
        for outcome in prerequisites.outcomes.values():
            if outcome.blocked_by:
                self._emit(outcome.rule, [outcome.operation], "skipped", f"{BLOCKED_PREFIX}{outcome.blocked_by}{BLOCKED_SEPARATOR}{outcome.reason}")
            elif outcome.ok:
                self._emit(outcome.rule, [outcome.operation], "passed")
            else:
                finding = {"operation": outcome.operation, "what": "HTTP status", "expected": outcome.expected,
                           "actual": outcome.actual, "curl": outcome.curl, "summary": outcome.reason,
                           "cause": f"prerequisite|{outcome.rule}"}
                self._emit(outcome.rule, [outcome.operation], "failed", outcome.reason, [finding])
        observer: ResponseRules = self.state.observer
        for rule in [name for name, _ in RULES] + [RULE_TRANSPORT]:
            tally = observer.tallies.get(rule)
            if tally is None or tally.checked == 0:
                continue
            if tally.failed and tally.first:
                first = tally.first
                summary = (f"{tally.failed} of {tally.checked} answers; first: {first['operation']}: "
                           f"expected {first['expected']}, got {first['actual']}")
                finding = {**first, "summary": summary, "cause": f"answers|{rule}", "count": tally.failed}
                self._emit(rule, [EVERY_ANSWER], "failed", summary, [finding])
            else:
                self._emit(rule, [EVERY_ANSWER], "passed")

    def _emit(self, rule: str, operations: list[str], outcome: str, message: str | None = None,
              findings: list[dict[str, Any]] | None = None) -> None:
        nodeid = f"contract_tests::run[{rule}]"
        longrepr: Any = None
        if outcome == "skipped":
            longrepr = ("contract_tests", 0, f"Skipped: {message}")
        elif outcome == "failed":
            longrepr = message
        report = pytest.TestReport(
            nodeid, ("contract_tests", None, rule), {}, outcome, longrepr, "call",
            user_properties=[("rule", rule), ("operations", ",".join(operations)),
                             ("findings", json.dumps(findings or []))],
        )
        self.config.hook.pytest_runtest_logreport(report=report)

    # -- the diagnosis ------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
        document = self.document(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
        for line in render(document):
            terminalreporter.write_line(line)
        path = self.state.report_json
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            terminalreporter.write_line(f"report: {path}")

    def document(self, *, interrupted: bool = False) -> dict[str, Any]:
        """The report; an interrupted run that found no divergence gives no verdict on the server."""
        rules = sorted(self.rules.values(), key=lambda result: (-VERDICT_ORDER[result.verdict], result.rule))
        failing = any(result.verdict == "fail" for result in rules)
        return {
            "verdict": "diverged" if failing else "interrupted" if interrupted else "pass",
            "interrupted": interrupted,
            "target": self.state.target_document(),
            "rules": [_rule_document(result) for result in rules],
            "divergences": divergences(rules),
            "cleanup": self.state.cleanup_document(),
        }


def divergences(rules: list[RuleResult]) -> list[dict[str, Any]]:
    """Failures grouped by cause, ranked: what blocks most, then what was seen most."""
    blocked_counts: dict[str, int] = {}
    for result in rules:
        if result.verdict == "blocked" and result.blocked_by:
            blocked_counts[result.blocked_by] = blocked_counts.get(result.blocked_by, 0) + 1
    groups: dict[str, dict[str, Any]] = {}
    for result in rules:
        if result.verdict != "fail":
            continue
        for finding in result.failures or [{"cause": result.rule, "summary": result.reason}]:
            cause = finding.get("cause") or result.rule
            group = groups.setdefault(cause, {"rules": [], "operations": [], "count": 0, "first": finding})
            if result.rule not in group["rules"]:
                group["rules"].append(result.rule)
            for operation in result.failing_operations or result.operations:
                if operation not in group["operations"]:
                    group["operations"].append(operation)
            group["count"] += int(finding.get("count", 1))
    ranked = sorted(groups.values(), key=lambda group: (
        -sum(blocked_counts.get(rule, 0) for rule in group["rules"]), -len(group["rules"]), -group["count"]))
    return [{
        "rule": group["rules"][0],
        "rules": group["rules"],
        "operations": group["operations"],
        "summary": group["first"].get("summary") or "",
        "count": group["count"],
        "blocks": sum(blocked_counts.get(rule, 0) for rule in group["rules"]),
        "curl": group["first"].get("curl"),
    } for group in ranked]


def _rule_document(result: RuleResult) -> dict[str, Any]:
    return {
        "rule": result.rule,
        "operations": result.operations,
        "failing_operations": result.failing_operations,
        "verdict": result.verdict,
        "blocked_by": result.blocked_by if result.verdict == "blocked" else None,
        "reason": result.reason if result.verdict != "pass" else None,
        "failures": [{"expected": f.get("expected"), "actual": f.get("actual"), "curl": f.get("curl")}
                     for f in result.failures],
    }


def render(document: dict[str, Any]) -> list[str]:
    """The terminal summary: verdict, divergences, blocked rules, every rule, cleanup."""
    rules = document["rules"]
    counts = {verdict: sum(rule["verdict"] == verdict for rule in rules) for verdict in LABEL}
    target = document["target"]
    lines = ["", "=" * 25 + " Leads API contract summary " + "=" * 25, f"target: {target['base_url']}"]
    if target.get("rate_limit"):
        lines.append(f"rate limit observed: {target['rate_limit']}")
    distinct = document["divergences"]
    if distinct:
        lines += ["", f"{len(distinct)} distinct divergence{'s' if len(distinct) != 1 else ''}, root causes first:"]
        for number, item in enumerate(distinct, 1):
            where = ", ".join(item["operations"]) or "-"
            lines.append(f"  {number}. [{where}] {item['rule']}")
            lines.append(f"       {item['summary']}")
            others = [rule for rule in item["rules"] if rule != item["rule"]]
            if others:
                lines.append(f"       same cause fails: {_names(others)}")
            if item["blocks"]:
                lines.append(f"       blocks {item['blocks']} rule{'s' if item['blocks'] != 1 else ''}")
            if item["count"] > 1:
                lines.append(f"       seen {item['count']} times")
            if item.get("curl"):
                lines.append(f"       reproduce: {item['curl']}")
        if (document.get("cleanup") or {}).get("deleted") and any(
                LEAD_IN_PATH.search(item.get("curl") or "") for item in distinct):
            lines.append("  note: the run deleted its own leads at the end; a curl line naming one needs a lead "
                         "like it again (create it with the documented body, then put its id in the line)")
    blocked: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        if rule["verdict"] == "blocked":
            blocked.setdefault(rule["blocked_by"] or "?", []).append(rule)
    if blocked:
        lines += ["", "blocked rules (not divergences of their own):"]
        for prerequisite, group in sorted(blocked.items(), key=lambda item: -len(item[1])):
            reason = group[0]["reason"] or ""
            lines.append(f"  {len(group)} rule{'s' if len(group) != 1 else ''} blocked by: {prerequisite}: {reason}")
            lines.append(f"       {_names([rule['rule'] for rule in group])}")
    lines += ["", "per rule:"]
    for rule in rules:
        failing = rule["failing_operations"] or rule["operations"]
        where = f"  ({', '.join(failing)})" if rule["verdict"] == "fail" and failing else ""
        lines.append(f"  {LABEL[rule['verdict']]:<7} {rule['rule']}{where}")
    cleanup = document.get("cleanup") or {}
    if cleanup:
        left = cleanup.get("left") or []
        line = f"cleanup: created {cleanup.get('created', 0)} leads, deleted {cleanup.get('deleted', 0)}"
        if left:
            reasons = sorted({item.get("answer", "?") for item in cleanup.get("left_detail", [])})
            line += f", could not delete {len(left)} ({'; '.join(reasons)})"
            if cleanup.get("left_file"):
                line += f": ids in {cleanup['left_file']}"
        still = cleanup.get("still_readable") or []
        if still:
            line += (f"; but {len(still)} of {cleanup.get('checked_after_delete', 0)} read back still answer 200 "
                     f"after their DELETE was answered: the server may keep deleted leads ({', '.join(still[:3])}"
                     f"{', ...' if len(still) > 3 else ''})")
        lines += ["", line]
    verdict = {"pass": "the server matches the spec and the documented rules",
               "interrupted": "interrupted before every rule ran: no verdict on the server"}.get(
        document["verdict"], "the server diverges")
    if document.get("interrupted") and document["verdict"] == "diverged":
        verdict += " (interrupted: not every rule ran)"
    lines += ["", f"{len(rules)} rules: {counts['pass']} PASS, {counts['fail']} FAIL, {counts['blocked']} BLOCKED, "
                  f"{counts['skip']} SKIP; {len(distinct)} distinct divergences: {verdict}"]
    return lines


def _names(names: list[str], limit: int = 8) -> str:
    shown = "; ".join(names[:limit])
    return shown + (f"; and {len(names) - limit} more" if len(names) > limit else "")
