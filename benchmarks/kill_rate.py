"""Kill rate of the contract suite: how many deliberately broken servers it catches.

Each defect of the reference server (`tests/reference_server/defects.py`) breaks one documented
rule. The suite's rule checks run against a fresh server per defect; a defect is killed when
the run fails and its summary marks the defect's rule FAIL. Prints the table and the rate.

    python benchmarks/kill_rate.py [--workers 2] [--full | --targeted] [DEFECT ...]

`--full` runs the whole suite (Schemathesis included) per defect in a subprocess instead
of the rule checks in-process: slower, and a superset of what is checked.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEYS = ("kill-rate-key-tenant-1", "kill-rate-key-tenant-2")
# The rule checks: every test module of the suite except the generated (Schemathesis) ones.
RULE_FILES = sorted(str(path) for path in (ROOT / "contract_tests").glob("test_rules_*.py")) + [
    str(ROOT / "contract_tests" / "test_robustness.py")
]
# A window small enough for the 429 check to exhaust it; the run itself stays under it.
LOW_LIMIT = {"rate_limit": 120, "window_seconds": 600}
SERVER_OPTIONS: dict[str, dict[str, int]] = {"rate_limit_not_enforced": LOW_LIMIT}

# defect -> the rule (a substring of its name in the summary) that must be marked FAIL
EXPECTED_RULES: dict[str, str] = {
    "timestamp_without_millis": "envelope timestamp is UTC with milliseconds",
    "null_fields_omitted": "every lead carries all 19 fields with their types",
    "unknown_route_plain_text": "every answer has the documented envelope",
    "datetime_offset_dropped": "date-time offsets are converted to UTC",
    "create_returns_200": "create answers 201 with its message",
    "default_interest_cold": "create applies documented defaults",
    "name_not_trimmed": "name is stored trimmed",
    "blank_name_accepted": "blank name is rejected",
    "email_format_unchecked": "invalid field value is rejected naming the field",
    "invalid_enum_accepted": "invalid field value is rejected naming the field",
    "negative_budget_accepted": "invalid field value is rejected naming the field",
    "null_interest_level_accepted": "null for a non-nullable field is rejected",
    "limit_clamped": "out-of-range paging is 400, not clamped",
    "query_int_lenient": "query integers are plain decimal digits",
    "unknown_field_rejected": "unknown body fields are ignored",
    "malformed_id_404": "malformed id is 400 naming id in path",
    "bad_cursor_ignored": "bad cursor is 400 naming cursor",
    "malformed_json_500": "malformed JSON is 400 INVALID_JSON",
    "content_type_unchecked": "non-JSON content type is 415",
    "payload_size_unchecked": "body over 1 MiB is 413",
    "allow_header_missing": "wrong method is 405 with Allow",
    "trailing_slash_served": "trailing slash is an unknown route",
    "any_api_key_accepted": "every operation requires a valid API key",
    "empty_key_invalid": "every operation requires a valid API key",
    "delete_skips_auth": "every operation requires a valid API key",
    "list_leaks_other_tenants": "tenant isolation: the list shows only the caller's leads",
    "get_ignores_owner": "tenant isolation: another key's lead is 404",
    "foreign_lead_403": "tenant isolation: another key's lead is 404",
    "version_not_bumped": "update bumps version by exactly 1",
    "updated_at_frozen": "update moves updated_at",
    "stale_version_accepted": "stale version is rejected with 409",
    "conflict_still_applies": "stale version is rejected with 409",
    "update_not_persisted": "update is persisted",
    "no_updates_accepted": "update with no updatable field is NO_UPDATES",
    "soft_delete_visible": "deleted lead is 404 everywhere",
    "total_pages_off_by_one": "pagination math",
    "has_more_on_last_page": "pagination math",
    "total_ignores_filters": "status filter returns only matching leads",
    "filters_ored": "filters are AND-ed",
    "oldest_first": "order is newest first",
    "stats_follow_filters": "stats count all leads whatever the filters",
    "next_cursor_on_last_page": "cursors: next null on the last page",
    "convert_keeps_status": "convert marks the lead converted",
    "price_range_bankers_rounding": "price range rounds budget * 0.9 .. * 1.1 half up",
    "contact_not_reused": "convert reuses the contact with the same email",
    "contact_match_case_sensitive": "convert reuses the contact with the same email",
    "client_type_ignored": "convert applies clientType",
    "double_convert_allowed": "second convert is 409 ALREADY_CONVERTED",
    "rate_limit_headers_missing": "every answer carries the RateLimit headers",
    "rate_limit_not_enforced": "over the limit is 429 with Retry-After",
    "create_needs_other_fields": "create with the documented body (prerequisite)",
    "pagination_other_shape": "pagination math",
    "html_escaped_text": "text is stored and returned exactly as sent",
    "capitalised_enums": "enum values are the documented lowercase ones",
    "errors_without_timestamp": "envelope timestamp is UTC with milliseconds",
    "missing_lead_403": "unknown lead is 404 NOT_FOUND",
    "delete_refused_until_archived": "delete a lead the run created (prerequisite)",
    "convert_without_contact_fields": "convert answers the client, the lead and the contact",
    "server_error_at_max_length": "a value of exactly the documented maximum length is accepted",
    "null_version_conflict": "null for a non-nullable field is rejected",
    "name_limit_before_trimming": "name's 255 characters count after trimming",
    "body_limit_1000000": "body just under 1 MiB is accepted",
}
# Rules of the run itself (prerequisites, every-answer rules) are judged in any module's run.
RUN_RULES = (
    "(prerequisite)", "envelope timestamp is UTC with milliseconds", "every lead carries all 19 fields",
    "every answer carries the RateLimit headers", "enum values are the documented lowercase ones",
    "every answer is application/json", "every answer has the documented envelope",
)
ANY_MODULE = str(ROOT / "contract_tests" / "test_rules_read.py")


@dataclass
class Outcome:
    """One suite run against one server."""

    defect: str | None
    exit_code: int
    failed_rules: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return self.exit_code != 0 and bool(self.failed_rules)

    @property
    def named(self) -> bool:
        """The expected rule is among those marked FAIL."""
        expected = EXPECTED_RULES.get(self.defect or "", "")
        return bool(expected) and any(expected in rule for rule in self.failed_rules)


def failed_rules(output: str) -> list[str]:
    """Rule names marked FAIL in the summary's `per rule:` section."""
    rules: list[str] = []
    in_section = False
    for line in output.splitlines():
        if line.strip() == "per rule:":
            in_section = True
        elif in_section and not line.strip():
            break
        elif in_section and line.strip().startswith("FAIL"):
            rule = line.strip()[len("FAIL"):].strip()
            rules.append(rule.rsplit("  (", 1)[0])
    return rules


def suite_arguments(base_url: str, cli: bool = False) -> list[str]:
    """Options of a quick run; the command line tool sets pytest's own options itself."""
    arguments = ["--base-url", base_url, "--api-key", KEYS[0], "--api-key-2", KEYS[1], "--quick"]
    return arguments if cli else [*arguments, "-p", "no:cacheprovider", "--assert=plain"]


def is_run_rule(rule: str) -> bool:
    """A rule of the run itself (judged over every answer), not of particular checks."""
    return any(marker in rule for marker in RUN_RULES)


def files_declaring(rule: str) -> tuple[str, ...]:
    """The rule-check modules whose `rule` markers name `rule`: enough to show a defect is caught."""
    if is_run_rule(rule):
        return (ANY_MODULE,)
    return tuple(name for name in RULE_FILES if f'"{rule}"' in Path(name).read_text(encoding="utf-8"))


class OnlyChecksOf:
    """A pytest plugin keeping only the checks whose `rule` marker names `rule`; the rest are deselected."""

    def __init__(self, rule: str) -> None:
        self.rule = rule

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        def enforces(item: Any) -> bool:
            marker = item.get_closest_marker("rule")
            return bool(marker and marker.args) and self.rule in str(marker.args[0])

        kept = [item for item in items if enforces(item)]
        config.hook.pytest_deselected(items=[item for item in items if not enforces(item)])
        items[:] = kept


def run_rule_checks(
    defect: str | None,
    selection: tuple[str, ...] = (),
    server_options: dict[str, int] | None = None,
    extra_arguments: tuple[str, ...] = (),
    only_rule: str | None = None,
) -> Outcome:
    """Rule checks (all, or the `selection` of modules; of those, only the checks of `only_rule` when given)
    in this process against a fresh in-thread server."""
    import pytest

    from contract_tests.target import serve_in_thread
    from tests.reference_server import create_app

    started = time.monotonic()
    options = SERVER_OPTIONS.get(defect or "", {}) if server_options is None else server_options
    output = io.StringIO()
    plugins = [OnlyChecksOf(only_rule)] if only_rule else []
    with serve_in_thread(create_app(list(KEYS), defect, **options)) as url, contextlib.redirect_stdout(output):
        arguments = [*(selection or RULE_FILES), *suite_arguments(url + "/v1"), "-q", "--tb=line", *extra_arguments]
        exit_code = int(pytest.main(arguments, plugins=plugins))
    text = output.getvalue()
    return Outcome(defect, exit_code, failed_rules(text), text, time.monotonic() - started)


def run_targeted(defect: str) -> Outcome:
    """Only the checks of the defect's expected rule (for a rule of the run itself, one module's checks):
    a failure there is a failure of the whole suite."""
    rule = EXPECTED_RULES[defect]
    return run_rule_checks(defect, files_declaring(rule), only_rule=None if is_run_rule(rule) else rule)


def run_full_suite(defect: str | None, server_options: dict[str, int] | None = None) -> Outcome:
    """The whole suite (`leads-contract --quick`) in a subprocess against a fresh in-thread server."""
    from contract_tests.target import serve_in_thread
    from tests.reference_server import create_app

    started = time.monotonic()
    options = SERVER_OPTIONS.get(defect or "", {}) if server_options is None else server_options
    with serve_in_thread(create_app(list(KEYS), defect, **options)) as url:
        # `python -m contract_tests` is the `leads-contract` command.
        command = [sys.executable, "-m", "contract_tests", *suite_arguments(url + "/v1", cli=True), "--workers", "1"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    text = done.stdout + done.stderr
    return Outcome(defect, done.returncode, failed_rules(text), text, time.monotonic() - started)


def _quiet_worker() -> None:
    # Third-party pytest plugins only slow the in-process runs down; the checks need none.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"


def _targeted_in_worker(defect: str) -> Outcome:
    outcome = run_targeted(defect)
    if not gc.get_freeze_count():
        # What the first run imported stays for the process's life: out of the collector's way (pytest
        # collects garbage several times at the end of every run), the later runs are a fifth cheaper.
        gc.collect()
        gc.freeze()
    return outcome


def kill_table(defects: list[str], workers: int = 2, full: bool = False, targeted: bool = False) -> list[Outcome]:
    """One outcome per defect, run on `workers` processes.

    `targeted` runs, per defect, only the checks of its expected rule: a failure there is a
    failure of the whole suite, found in a fraction of the time.
    """
    context = get_context("spawn")  # the caller may be a threaded process (pytest, uvicorn)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_quiet_worker) as pool:
        if full:
            return list(pool.map(run_full_suite, defects))
        if targeted:
            return list(pool.map(_targeted_in_worker, defects))
        return list(pool.map(run_rule_checks, defects))


def render(outcomes: list[Outcome]) -> list[str]:
    width = max(len(outcome.defect or "") for outcome in outcomes)
    lines = [f"{'defect':<{width}}  killed  named  seconds  rules that failed"]
    for outcome in outcomes:
        killed = "yes" if outcome.killed else "NO"
        named = "yes" if outcome.named else "NO"
        rules = "; ".join(outcome.failed_rules) or "-"
        lines.append(f"{outcome.defect:<{width}}  {killed:<6}  {named:<5}  {outcome.seconds:7.1f}  {rules}")
    killed = sum(outcome.killed for outcome in outcomes)
    named = sum(outcome.killed and outcome.named for outcome in outcomes)
    lines.append("")
    lines.append(f"kill rate: {killed}/{len(outcomes)} = {killed / len(outcomes):.0%} "
                 f"(broken rule named: {named}/{len(outcomes)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    from tests.reference_server import DEFECTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("defects", nargs="*", help="defects to run (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="run the whole suite per defect (slow)")
    parser.add_argument("--targeted", action="store_true", help="per defect, only the checks of its expected rule")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.defects) - set(DEFECTS))
    if unknown:
        parser.error(f"unknown defects: {', '.join(unknown)}")
    outcomes = kill_table(args.defects or sorted(DEFECTS), args.workers, args.full, args.targeted)
    for line in render(outcomes):
        print(line)
    return 0 if all(outcome.killed and outcome.named for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
