"""The run in progress: what the Schemathesis test modules build their tests from at import time.

Schemathesis turns a schema into one pytest test per operation while pytest collects, so the
schema (base URL, key, seed, amount of generation) must exist before collection: `start()` is
called from `pytest_configure`, and the test modules read `current()`.
"""
from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import pytest
from schemathesis import Case, Response
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.schemas import OpenApiSchema

from contract_tests.ledger import CreatedLeads
from contract_tests.prerequisites import Prerequisites
from contract_tests.responses import ResponseRules
from contract_tests.safety import Budget, RunGuard
from contract_tests.spec import Generation, load_schema, operation_ids, pin_generation_to_seed
from contract_tests.target import Target
from contract_tests.waits import WaitBudget

SCHEMATHESIS_WARNINGS = (
    "Unused OpenAPI auth configuration",
    "Constant reuse skipped",
    "Skipped test cases with unsupported payload media types",
)
DEFAULT_BUDGET = Budget(max_requests=20_000, max_seconds=900.0)
QUICK_BUDGET = Budget(max_requests=3_000, max_seconds=180.0)


@dataclass
class ContractRun:
    target: Target
    generation: Generation
    guard: RunGuard
    show_key: bool
    operation_ids: dict[str, str]
    observer: ResponseRules
    waits: WaitBudget
    prerequisites: Prerequisites
    _schema: OpenApiSchema | None = None

    def schema(self) -> OpenApiSchema:
        """The schema bound to the target, built once per process (a third of a second each time)."""
        if self._schema is not None:
            return self._schema
        schema = self._schema = load_schema(self.target.base_url, self.target.api_key, self.generation,
                                            show_key=self.show_key, timeout=self.target.request_timeout)
        guard = self.guard

        def filter_failure(context: Any, failure: Failure, case: Case, response: Response) -> bool:
            return guard.keeps_failure(failure, case)

        schema.hook(filter_failure)
        return schema

    @property
    def checks_deadline(self) -> float:
        """How long Schemathesis' checks of one answer may take: they may send a few requests of their own."""
        return 3 * self.target.request_timeout

    def operation_id(self, label: str) -> str:
        return self.operation_ids.get(label, label)


_current: ContractRun | None = None


def start(config: pytest.Config, target: Target, ledger: CreatedLeads, *, observer: ResponseRules,
          waits: WaitBudget, prerequisites: Prerequisites) -> ContractRun:
    global _current
    pin_generation_to_seed()
    quick = bool(config.getoption("--quick"))
    generation = Generation.from_options(config.getoption("--seed"), config.getoption("--max-examples"), quick)
    guard = RunGuard(target.base_url, target.api_key, ledger, QUICK_BUDGET if quick else DEFAULT_BUDGET,
                     timeout=target.request_timeout, observer=observer, waits=waits, prerequisites=prerequisites)
    _current = ContractRun(target, generation, guard, bool(config.getoption("--show-key")), operation_ids(),
                           observer, waits, prerequisites)
    return _current


def active() -> bool:
    return _current is not None


def current() -> ContractRun:
    if _current is None:
        raise RuntimeError("no contract run in progress: run the suite with `leads-contract` or `pytest contract_tests`")
    return _current


def finish() -> None:
    """Closes the guard's connections; its counts stay readable for the summary."""
    if _current is not None:
        _current.guard.close()


class WarningsFail:
    """A pytest plugin: an operation's Schemathesis test that passed its checks still fails when no
    schema-valid request was served (what Schemathesis itself only reports as a warning)."""

    def pytest_configure(self, config: pytest.Config) -> None:
        # The warnings Schemathesis' pytest plugin emits mean part of the spec went untested.
        for message in SCHEMATHESIS_WARNINGS:
            config.addinivalue_line("filterwarnings", f"error:{message}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        result = yield
        label = getattr(item, "operation_label", None)
        if label and _current is not None:
            problem = _current.guard.observations.unserved(label)
            if problem:
                raise AssertionError(problem)
        return result
