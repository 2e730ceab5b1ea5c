"""Sequences of calls through the spec's OpenAPI links, run by Schemathesis' state machine.

createLead feeds getLead, updateLead, deleteLead and convertLead with the id it answered, and
deleteLead feeds getLead with the id it deleted: every step is validated like a single call, and
Schemathesis' stateful checks run on the sequence (`use_after_free`: a deleted lead must stay
gone; `ensure_resource_availability`: a created lead must be readable). Requests pass the run
guard, and the amount of steps and scenarios is bounded by `--quick` / the default run.
"""
from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from schemathesis import Case, Response
from schemathesis.core.failures import FailureGroup

from contract_tests import session
from contract_tests.deadline import answer_deadline
from contract_tests.prerequisites import RULE_CREATE, RULE_DELETE
from contract_tests.safety import attach_curl

RUN = session.current()
schema = RUN.schema()

pytestmark = pytest.mark.rule(
    "Links: a created lead is readable, a deleted lead stays gone (Schemathesis stateful)",
    "createLead", "getLead", "updateLead", "deleteLead", "convertLead",
)


class LeadLifecycle(schema.as_state_machine()):  # type: ignore[misc]
    """Schemathesis' state machine with every call sent through the run guard."""

    def call(self, case: Case, **kwargs: Any) -> Response:
        return RUN.guard.send(case, only_tombstone=True, **kwargs)

    def validate_response(self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any) -> None:
        try:
            with answer_deadline(RUN.checks_deadline):  # the stateful checks read leads again
                super().validate_response(response, case, additional_checks, **kwargs)
        except FailureGroup as failures:
            attach_curl(failures, response)  # the step that failed
            raise

    def setup(self) -> None:
        # Every scenario starts from a created lead and ends deleting it: without those, nothing to judge.
        RUN.prerequisites.require(RULE_CREATE)
        RUN.prerequisites.require(RULE_DELETE)


# Same seed, same scenarios: a fixed seed and no example database.
LeadLifecycle = hypothesis.seed(RUN.generation.seed)(LeadLifecycle)
TestLeadLifecycleThroughLinks = LeadLifecycle.TestCase
TestLeadLifecycleThroughLinks.settings = hypothesis.settings(
    max_examples=RUN.generation.stateful_examples,
    stateful_step_count=RUN.generation.stateful_steps,
    database=None,
    deadline=None,
    phases=[hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)
