"""On servers that diverge in many ways at once, the suite's report is a diagnosis.

Each run is `leads-contract --quick` (forked from a process that has loaded the suite:
tests/preloaded.py) against the independent reference server with several defects on at
once, reading the JSON report it writes: each defect is named by a FAIL of its own rule, what a
failed prerequisite keeps from running is BLOCKED, failures of one cause are one divergence, and
every divergence reported is explained by a defect that is on.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.kill_rate import EXPECTED_RULES, failed_rules
from contract_tests.report import LEAD_IN_PATH
from contract_tests.target import serve_in_thread
from tests import preloaded
from tests.fault_proxy import FaultProxy
from tests.reference_server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("diagnosis-key-one-1111", "diagnosis-key-two-2222")
RUN_TIMEOUT = 600
CREATE_PREREQUISITE = "create with the documented body (prerequisite)"
SCHEMATHESIS_RULE = "OpenAPI conformance (Schemathesis)"
LINKS_RULE = "Links: a created lead is readable, a deleted lead stays gone (Schemathesis stateful)"
CREATE_STATUS_RULE = "create answers 201 with its message"
# Thirteen defects of different kinds, with creating a lead still working.
MANY_DEFECTS = (
    "pagination_other_shape", "html_escaped_text", "capitalised_enums", "errors_without_timestamp",
    "missing_lead_403", "convert_without_contact_fields", "server_error_at_max_length", "null_version_conflict",
    "name_limit_before_trimming", "body_limit_1000000", "oldest_first", "rate_limit_headers_missing",
    "malformed_json_500",
)
# Creating a lead fails, and ten defects that read-only requests still show.
CREATE_BROKEN_DEFECTS = (
    "create_needs_other_fields", "errors_without_timestamp", "rate_limit_headers_missing", "malformed_id_404",
    "limit_clamped", "query_int_lenient", "empty_key_invalid", "missing_lead_403", "bad_cursor_ignored",
    "allow_header_missing",
)
NEEDS_A_CREATED_LEAD = (
    "stale version is rejected with 409", "convert marks the lead converted", "deleted lead is 404 everywhere",
    "create applies documented defaults", "text is stored and returned exactly as sent",
)


def run_suite(url: str, tmp_path: Path, *args: str, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path / "report.json"
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADS_API_")}
    workers = [] if "--workers" in args else ["--workers", "1"]  # what is reported does not depend on it; one is cheapest
    command = preloaded.contract("--base-url", url, "--api-key", KEYS[0], "--api-key-2", KEYS[1], "--quick",
                                    "--report-json", str(report), *workers, *args)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    document = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return result, document


def verdicts(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["rule"]: rule for rule in document["rules"]}


def failing(document: dict[str, Any]) -> set[str]:
    return {rule["rule"] for rule in document["rules"] if rule["verdict"] == "fail"}


def run_against(defects: Iterable[str], tmp_path: Path, *args: str, **options: int) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    with serve_in_thread(create_app(list(KEYS), frozenset(defects), **options)) as url:
        return run_suite(url + "/v1", tmp_path, *args)


@pytest.fixture(scope="module")
def many_defects_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the run against many defects writes its report (and the bodies its curl lines send)."""
    return tmp_path_factory.mktemp("many")


@pytest.fixture(scope="module")
def many_defects_run(many_defects_folder: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    return run_against(MANY_DEFECTS, many_defects_folder)


@pytest.fixture(scope="module")
def create_broken_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    return run_against(CREATE_BROKEN_DEFECTS, tmp_path_factory.mktemp("create-broken"))


@pytest.mark.parametrize("defect", MANY_DEFECTS)
def test_each_of_many_defects_is_named_by_a_fail_of_its_own_rule(many_defects_run: Any, defect: str) -> None:
    result, document = many_defects_run
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert EXPECTED_RULES[defect] in failing(document), sorted(failing(document))


def test_many_defects_give_at_most_one_and_a_half_divergences_each(many_defects_run: Any) -> None:
    _, document = many_defects_run
    assert len(document["divergences"]) <= 1.5 * len(MANY_DEFECTS), [d["summary"] for d in document["divergences"]]


def test_every_divergence_is_explained_by_a_defect_that_is_on(many_defects_run: Any) -> None:
    _, document = many_defects_run
    expected = {EXPECTED_RULES[defect] for defect in MANY_DEFECTS} | {SCHEMATHESIS_RULE}
    unexplained = [item for item in document["divergences"] if not set(item["rules"]) & expected]
    assert unexplained == []


def test_each_read_only_defect_is_named_while_create_fails(create_broken_run: Any) -> None:
    result, document = create_broken_run
    assert result.returncode == 1
    missing = [defect for defect in CREATE_BROKEN_DEFECTS if EXPECTED_RULES[defect] not in failing(document)]
    assert missing == [], sorted(failing(document))
    assert document["divergences"][0]["rule"] == CREATE_PREREQUISITE  # what blocks most comes first


def test_rules_that_need_a_created_lead_are_blocked_by_create_not_failed(create_broken_run: Any) -> None:
    _, document = create_broken_run
    rules = verdicts(document)
    for name in NEEDS_A_CREATED_LEAD:
        assert rules[name]["verdict"] == "blocked", rules[name]
        assert rules[name]["blocked_by"] == CREATE_PREREQUISITE
        assert "400 VALIDATION_ERROR (firstName, lastName)" in rules[name]["reason"]
    assert len(document["divergences"]) <= 1.5 * len(CREATE_BROKEN_DEFECTS)


def test_create_needing_other_fields_alone_fails_at_most_three_rules(tmp_path: Path) -> None:
    result, document = run_against(["create_needs_other_fields"], tmp_path)
    assert result.returncode == 1
    assert CREATE_PREREQUISITE in failing(document)
    assert len(failing(document)) <= 3, sorted(failing(document))
    summary = result.stdout.split("Leads API contract summary", 1)[-1]
    assert re.search(r"\d+ rules blocked by: create with the documented body \(prerequisite\): "
                     r"create with the documented body \{\"name\": \.\.\.\} answers 400 VALIDATION_ERROR "
                     r"\(firstName, lastName\)", summary), summary[:3000]


def test_create_answering_200_fails_only_the_rule_that_demands_201(tmp_path: Path) -> None:
    # The rules judging what a created lead holds take any 2xx with the lead; Schemathesis judges the
    # undocumented status on its own, for the single call and for the links.
    result, document = run_against(["create_returns_200"], tmp_path)
    assert result.returncode == 1
    assert failing(document) - {SCHEMATHESIS_RULE, LINKS_RULE} == {CREATE_STATUS_RULE}, sorted(failing(document))
    assert not [rule["rule"] for rule in document["rules"] if rule["verdict"] == "blocked"]


def test_a_list_of_another_pagination_shape_leaves_the_filters_judged_on_the_listed_leads(tmp_path: Path) -> None:
    # `data.pagination` instead of `data.meta`, and filters OR-ed: each is named by its own rule, for its own cause.
    defects = ("pagination_other_shape", "filters_ored")
    result, document = run_against(defects, tmp_path)
    assert result.returncode == 1
    assert {EXPECTED_RULES[defect] for defect in defects} <= failing(document), sorted(failing(document))
    causes = {rule: item["summary"] for item in document["divergences"] for rule in item["rules"]}
    assert "data.meta" in causes[EXPECTED_RULES["pagination_other_shape"]]
    assert "data.meta" not in causes[EXPECTED_RULES["filters_ored"]]
    assert "lead.interest_level" in causes[EXPECTED_RULES["filters_ored"]], causes[EXPECTED_RULES["filters_ored"]]
    rules = verdicts(document)
    for judged_on_the_leads in ("status filter returns only matching leads",
                                "interest_level filter returns only matching leads",
                                "stats count all leads whatever the filters", "order is newest first",
                                "cursors walk the pages without overlap", "limit 100 is accepted"):
        assert rules[judged_on_the_leads]["verdict"] == "pass", rules[judged_on_the_leads]


def test_a_list_leaking_other_tenants_gets_the_same_verdicts_on_four_workers_as_on_one(tmp_path: Path) -> None:
    # The list checks run as the second tenant beside the others, which write as the first: on this server
    # those writes show in the second tenant's list too, and a check they upset is judged again once they end.
    runs = [run_against(["list_leaks_other_tenants"], tmp_path / workers, "--workers", workers)
            for workers in ("4", "1")]
    parallel, serial = ({rule["rule"]: rule["verdict"] for rule in document["rules"]} for _, document in runs)
    assert parallel == serial, {rule: (parallel.get(rule), serial.get(rule)) for rule in parallel
                                if parallel.get(rule) != serial.get(rule)}
    assert EXPECTED_RULES["list_leaks_other_tenants"] in failing(runs[0][1])


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    return run_against([], tmp_path_factory.mktemp("clean"))


def test_clean_reference_server_has_no_fail_and_no_blocked_rule(clean_run: Any) -> None:
    result, document = clean_run
    assert result.returncode == 0, result.stdout[-3000:]
    assert document["verdict"] == "pass"
    assert {rule["verdict"] for rule in document["rules"]} <= {"pass", "skip"}


def test_whole_suite_passes_against_the_clean_reference_server(clean_run: Any) -> None:
    result, _ = clean_run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert failed_rules(output) == []
    assert " 0 FAIL, 0 BLOCKED" in output, output[-3000:]


def test_deletes_the_server_refuses_are_reported_with_their_answer_and_ids(tmp_path: Path) -> None:
    result, document = run_against(["delete_refused_until_archived"], tmp_path, "--", "-k", "create")
    cleanup = document["cleanup"]
    assert cleanup["left"] and cleanup["created"] == cleanup["deleted"] + len(cleanup["left"])
    assert "could not delete" in result.stdout and "400 LEAD_NOT_ARCHIVED" in result.stdout
    listed = (tmp_path / "leads-left.txt").read_text(encoding="utf-8").split()
    assert set(cleanup["left"]) <= set(listed)


def test_deleted_leads_that_stay_readable_are_reported_under_cleanup(tmp_path: Path) -> None:
    # The server answers every DELETE 200 and keeps the lead: "deleted" alone would be untrue.
    result, document = run_against(["soft_delete_visible"], tmp_path, "--", "-k", "create")
    cleanup = document["cleanup"]
    assert cleanup["checked_after_delete"] > 0
    assert cleanup["still_readable"] and len(cleanup["still_readable"]) == cleanup["checked_after_delete"]
    assert "still answer 200 after their DELETE was answered" in result.stdout, result.stdout[-2000:]


def test_a_server_that_deletes_reports_no_lead_still_readable(clean_run: Any) -> None:
    cleanup = clean_run[1]["cleanup"]
    assert cleanup["checked_after_delete"] > 0 and cleanup["still_readable"] == []


def test_waits_for_429_are_printed_and_bounded_by_max_wait(tmp_path: Path) -> None:
    started = time.monotonic()
    result, document = run_against([], tmp_path, "--max-wait", "3", "--", "-k", "create",
                                   rate_limit=30, window_seconds=2)
    elapsed = time.monotonic() - started
    assert re.search(r"429 on .+: waiting \d+ s for the rate-limit window", result.stderr), result.stderr[-2000:]
    assert "the --max-wait budget of 3 s is spent" in result.stderr
    assert any(rule["blocked_by"] == "the run's wait budget for 429 answers (--max-wait)" for rule in document["rules"])
    assert elapsed < 120


def test_a_body_that_a_terminal_cannot_carry_is_reproduced_from_a_file(many_defects_run: Any, many_defects_folder: Path) -> None:
    # body_limit_1000000 refuses a body of almost 1 MiB; malformed_json_500 answers a non-UTF-8 body with 500.
    _, document = many_defects_run
    curls = [failure["curl"] for rule in document["rules"] for failure in rule["failures"] if failure["curl"]]
    from_files = [curl for curl in curls if "--data-binary @" in curl]
    assert from_files, curls
    for curl in from_files:
        path = Path(curl.split("--data-binary @", 1)[1].split()[0].strip("'"))
        assert path.is_file() and path.parent.parent == many_defects_folder
    assert not any("truncated" in curl for curl in curls)
    non_utf8 = verdicts(document)["non-UTF-8 body is 400 INVALID_JSON"]["failures"][0]["curl"]
    body = Path(non_utf8.split("@", 1)[1].split()[0].strip("'")).read_bytes()
    assert b"\xe9 \xff\xfe" in body  # the bytes that were sent, not U+FFFD


def test_curl_lines_naming_the_runs_deleted_leads_come_with_a_note_saying_so(many_defects_run: Any) -> None:
    result, document = many_defects_run
    assert any(LEAD_IN_PATH.search(item["curl"] or "") for item in document["divergences"])
    assert "note: the run deleted its own leads at the end" in result.stdout


def test_a_clean_run_has_no_note_on_curl_lines(clean_run: Any) -> None:
    assert "note: the run deleted" not in clean_run[0].stdout


def quiet_start_seed(rate: float, first_connections: int = 12) -> int:
    """A seed whose proxy leaves the run's first connections (preflight, prerequisite probes) whole."""
    return next(seed for seed in range(1000)
                if all(FaultProxy("http://127.0.0.1:9", cut_rate=rate, seed=seed).fault_for(n) is None
                       for n in range(first_connections)))


def test_cut_connections_are_one_transport_divergence_without_tracebacks(tmp_path: Path) -> None:
    seed = quiet_start_seed(0.03)
    with serve_in_thread(create_app(list(KEYS))) as url, FaultProxy(url, cut_rate=0.03, seed=seed).running() as proxy:
        result, document = run_suite(proxy.url + "/v1", tmp_path)
        cut = proxy.counts().get("cut", 0)
    output = result.stdout + result.stderr
    assert cut > 0
    rules = verdicts(document)
    transport = rules["every request gets a whole HTTP answer"]
    assert transport["verdict"] == "fail"
    assert rules[SCHEMATHESIS_RULE]["verdict"] != "fail", rules[SCHEMATHESIS_RULE]
    assert "Traceback" not in output and "urllib3" not in output and "INTERNALERROR" not in output
    assert failing(document) == {"every request gets a whole HTTP answer"}, sorted(failing(document))


def test_two_defects_answering_200_where_404_is_due_stay_two_divergences(tmp_path: Path) -> None:
    # No owner check and a soft delete both answer 200 for 404: one divergence would hide the second defect.
    result, document = run_against(["get_ignores_owner", "soft_delete_visible"], tmp_path)
    assert result.returncode == 1
    position = {rule: index for index, item in enumerate(document["divergences"]) for rule in item["rules"]}
    tenant, deleted = EXPECTED_RULES["get_ignores_owner"], EXPECTED_RULES["soft_delete_visible"]
    assert tenant in position and deleted in position, [item["rules"] for item in document["divergences"]]
    assert position[tenant] != position[deleted], [item["rules"] for item in document["divergences"]]


def test_one_wrong_error_status_for_missing_and_foreign_leads_stays_one_divergence(tmp_path: Path) -> None:
    result, document = run_against(["missing_lead_403"], tmp_path)
    assert result.returncode == 1
    groups = [item["rules"] for item in document["divergences"] if EXPECTED_RULES["missing_lead_403"] in item["rules"]]
    assert len(groups) == 1, [item["rules"] for item in document["divergences"]]
    assert "tenant isolation: another key's lead is 404" in groups[0]  # the second tenant's 403, the same cause


def test_every_divergence_of_many_defects_comes_with_a_curl_line(many_defects_run: Any) -> None:
    _, document = many_defects_run
    without = [item["summary"] for item in document["divergences"] if not item["curl"]]
    assert without == []


def test_a_failed_stateful_scenario_names_the_request_of_the_step_that_failed(tmp_path: Path) -> None:
    result, document = run_against(["soft_delete_visible"], tmp_path, "--", "-k", "Lifecycle")
    assert result.returncode == 1, result.stdout[-3000:]
    [links] = [item for item in document["divergences"] if item["rule"] == LINKS_RULE]
    assert re.match(r"curl -sS -X GET http://127\.0\.0\.1:\d+/v1/leads/[0-9a-f-]{36} ", links["curl"] or ""), links
