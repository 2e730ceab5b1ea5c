"""The summary a person reads at the end of a run: per operation and per rule, pass or fail, and
for each divergence what was expected, what came, and a curl line that reproduces it.

Each test's rule and operations travel as `user_properties`, so they also land in the JUnit XML.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import pytest
from _pytest.nodes import coerce_node_id

from contract_tests import session
from contract_tests.target import Target

CONFORMANCE_RULE = "OpenAPI conformance (Schemathesis)"
MAX_DETAIL_LINES = 6
MAX_LISTED_DIVERGENCES = 40
MAX_LINE_WIDTH = 160
SEVERITY = {"passed": 0, "skipped": 1, "failed": 2}


@dataclass
class Result:
    rule: str
    operations: tuple[str, ...]
    outcome: str = "passed"
    message: str = ""


def rule_and_operations(item: pytest.Item) -> tuple[str, tuple[str, ...]]:
    """From the `rule` marker, or, for a Schemathesis test, from the operation it was generated for."""
    marker = item.get_closest_marker("rule")
    rule = str(marker.args[0]) if marker and marker.args else None
    operations = tuple(str(arg) for arg in marker.args[1:]) if marker else ()
    label = getattr(item, "operation_label", None)
    if label:
        operations = (session.current().operation_id(label),)
        rule = rule or CONFORMANCE_RULE
    return rule or item.name, operations


def exception_text(exc: BaseException) -> str:
    """The message of a failure; the members of a plain exception group are joined."""
    if isinstance(exc, BaseExceptionGroup) and not str(exc).strip().startswith("Schemathesis"):
        return "\n".join(exception_text(member) for member in exc.exceptions)
    return str(exc) or type(exc).__name__


class ContractSummary:
    """A pytest plugin: records what each test checked and how it ended, and prints the summary."""

    def __init__(self, config: pytest.Config, target: Target) -> None:
        self.config = config
        self.target = target
        self.show_key = bool(config.getoption("--show-key"))
        self.results: dict[str, Result] = {}
        self.messages: dict[str, str] = {}

    def mask(self, text: str) -> str:
        if self.show_key:
            return text
        for key in (self.target.api_key, self.target.api_key_2):
            if key:
                text = text.replace(key, self.target.masked(key))
        return text

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            rule, operations = rule_and_operations(item)
            if getattr(item, "operation_label", None) and not item.nodeid.endswith("]"):
                # Schemathesis gives every operation's test the same node id; JUnit readers and
                # pytest-xdist need them apart.
                item._id = coerce_node_id(f"{item.nodeid}[{operations[0]}]")
            item.user_properties.append(("rule", rule))
            item.user_properties.append(("operations", ",".join(operations)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.excinfo is not None and not report.skipped:
            operations = dict(item.user_properties).get("operations", "")
            self.messages[f"{item.nodeid}|{operations}"] = exception_text(call.excinfo.value)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        operations = tuple(op for op in str(properties.get("operations", "")).split(",") if op)
        key = f"{report.nodeid}|{','.join(operations)}"
        result = self.results.setdefault(key, Result(str(properties.get("rule", report.nodeid)), operations))
        outcome = "failed" if report.failed else ("skipped" if report.skipped else "passed")
        if report.when != "call" and outcome == "passed":
            return
        if SEVERITY[outcome] >= SEVERITY[result.outcome]:
            result.outcome = outcome
        if report.failed and not result.message:
            result.message = self.messages.get(key) or report.longreprtext

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for line in self.render():
            terminalreporter.write_line(line)

    def render(self) -> list[str]:
        results = list(self.results.values())
        if not results:
            return []
        # Under pytest-xdist the tests (and their guard) live in the workers, not here.
        distributed = self.config.pluginmanager.hasplugin("dsession")
        guard = session.current().guard if session.active() and not distributed else None
        lines = ["", "=" * 25 + " Leads API contract summary " + "=" * 25, f"target: {self.target.base_url}"]
        if guard is not None:
            lines.append(
                f"Schemathesis sent {guard.requests_sent} requests; {guard.swapped_ids} ids not created by this run "
                "were swapped for the run's own"
            )
        lines += ["", "per operation:"]
        for name, group in _grouped(results, by_operation=True):
            lines.append(f"  {_verdict(group)}  {name:<16} {_counts(group)}")
        lines += ["", "per rule:"]
        for name, group in _grouped(results, by_operation=False):
            failing = sorted({op for result in group if result.outcome == "failed" for op in result.operations})
            where = f"  ({', '.join(failing)})" if failing else ""
            lines.append(f"  {_verdict(group)}  {name}{where}")
        failures = [result for result in results if result.outcome == "failed"]
        if failures:
            # One entry per rule and operations: a parametrized rule failing 20 times is one divergence to read.
            grouped: dict[tuple[str, tuple[str, ...]], list[Result]] = {}
            for result in failures:
                grouped.setdefault((result.rule, result.operations), []).append(result)
            lines += ["", f"divergences ({len(failures)} failed checks, {len(grouped)} distinct):"]
            for number, ((rule, operations), group) in enumerate(grouped.items(), 1):
                if number > MAX_LISTED_DIVERGENCES:
                    lines.append(f"  ... and {len(grouped) - MAX_LISTED_DIVERGENCES} more: see the failures above")
                    break
                times = f" ({len(group)} failed checks, the first shown)" if len(group) > 1 else ""
                lines.append(f"  {number}. [{', '.join(operations) or '-'}] {rule}{times}")
                lines += [f"       {line}" for line in self.digest(group[0].message)]
        passed = sum(result.outcome == "passed" for result in results)
        skipped = sum(result.outcome == "skipped" for result in results)
        verdict = "the server matches the spec and the documented rules" if not failures else "the server diverges"
        lines += ["", f"{len(results)} checks: {passed} passed, {len(failures)} failed, {skipped} skipped: {verdict}"]
        return lines

    def digest(self, message: str) -> list[str]:
        """The first lines of a failure (expected vs actual) and the curl line that reproduces it."""
        lines = [line.rstrip() for line in self.mask(message).splitlines()]
        curls = list(dict.fromkeys(line[line.index("curl ") :].strip() for line in lines if "curl " in line))
        if message.lstrip().startswith("Schemathesis found"):
            details = _schemathesis_digest(lines)
        else:
            details = [line.strip() for line in lines if line.strip() and "curl " not in line][:MAX_DETAIL_LINES]
        return [_clip(line) for line in details] + [f"reproduce: {curl}" for curl in curls[:2]]


def _schemathesis_digest(lines: list[str]) -> list[str]:
    """Each failure's title and its first explanation lines, then the status and body that came."""
    digest: list[str] = []
    explained = 0
    for number, line in enumerate(lines):
        text = line.strip()
        if line.startswith("- "):
            digest.append(text)
            explained = 0
        elif line.startswith("    ") and not line.startswith("        ") and digest and explained < 2:
            if text and not text.startswith(("Validated against", "Schema at", "Value:", "curl ")):
                digest.append("  " + text)
                explained += 1
        elif line.startswith("[") and "]" in line and line.endswith(":"):
            body = next((later.strip() for later in lines[number + 1 :] if later.strip()), "")
            digest.append(f"answer: {text} {body}")
            break
    return digest


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_WIDTH else line[: MAX_LINE_WIDTH - 3] + "..."


def _grouped(results: list[Result], *, by_operation: bool) -> list[tuple[str, list[Result]]]:
    groups: dict[str, list[Result]] = {}
    for result in results:
        names = (result.operations or ("(whole API)",)) if by_operation else (result.rule,)
        for name in names:
            groups.setdefault(name, []).append(result)
    return sorted(groups.items())


def _verdict(group: list[Result]) -> str:
    if any(result.outcome == "failed" for result in group):
        return "FAIL"
    return "SKIP" if all(result.outcome == "skipped" for result in group) else "PASS"


def _counts(group: list[Result]) -> str:
    failed = sum(result.outcome == "failed" for result in group)
    skipped = sum(result.outcome == "skipped" for result in group)
    text = f"{failed} of {len(group)} checks failed" if failed else f"{len(group)} checks"
    return text + (f", {skipped} skipped" if skipped else "")
