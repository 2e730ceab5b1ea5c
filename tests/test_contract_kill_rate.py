"""The contract suite catches every defect of the reference server (that it passes against the clean
server is checked in test_contract_diagnosis.py).

A defect counts as caught when the run fails and the summary marks the defect's rule FAIL.
Per defect only the checks of that rule run (a failure there fails the whole suite), one run after
another in one process; `benchmarks/kill_rate.py` runs every rule check per defect and prints the full table.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import kill_rate  # noqa: E402  (needs the project root on sys.path)
from tests.reference_server import DEFECTS  # noqa: E402

MIN_DEFECTS = 20


@pytest.fixture(scope="module")
def outcomes() -> dict[str, kill_rate.Outcome]:
    table = kill_rate.kill_table(sorted(DEFECTS), workers=1, targeted=True)
    return {outcome.defect or "": outcome for outcome in table}


def test_every_defect_has_the_rule_it_breaks_mapped() -> None:
    assert len(DEFECTS) >= MIN_DEFECTS
    assert sorted(set(DEFECTS) - set(kill_rate.EXPECTED_RULES)) == []
    for defect, rule in kill_rate.EXPECTED_RULES.items():
        assert kill_rate.files_declaring(rule), f"{defect}: no rule check is marked {rule!r}"


def test_rate_limit_check_passes_where_a_window_can_be_exhausted() -> None:
    # The default run skips the 429 check (the window is too large to exhaust); here it must run and pass.
    outcome = kill_rate.run_rule_checks(
        None,
        selection=kill_rate.files_declaring(kill_rate.EXPECTED_RULES["rate_limit_not_enforced"]),
        server_options={"rate_limit": 60, "window_seconds": 2},
        extra_arguments=("-k", "over_the_limit", "-rs"),
    )
    assert outcome.exit_code == 0, outcome.output[-4000:]
    last_line = outcome.output.strip().splitlines()[-1]
    assert "1 passed" in last_line and "skipped" not in last_line, outcome.output[-2000:]


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_is_caught_and_its_rule_named(outcomes: dict[str, kill_rate.Outcome], defect: str) -> None:
    outcome = outcomes[defect]
    expected = kill_rate.EXPECTED_RULES[defect]
    assert outcome.killed, f"{defect} ({DEFECTS[defect]}) passed the suite:\n{outcome.output[-3000:]}"
    assert outcome.named, f"{defect}: expected rule {expected!r} among the failures, got {outcome.failed_rules}"
