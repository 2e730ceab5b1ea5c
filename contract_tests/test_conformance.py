"""Every operation of `openapi.yaml`, fuzzed by Schemathesis with valid and invalid data.

Phases: the spec's examples, coverage (boundary and invalid values of every parameter and field)
and fuzzing, each in positive and negative mode. Every answer goes through all of Schemathesis'
checks (status code, content type, required headers such as RateLimit-*, response schema,
negative data rejected with a 4xx, positive data accepted, no server error, auth enforced);
failures that an every-answer rule already reports for the same answer (envelope, headers,
lead shapes) are counted there, once. Requests pass the run guard, so only the run's own leads are touched.
An operation where no schema-valid request was served fails too (see `session.WarningsFail`).
"""
from __future__ import annotations

from schemathesis import Case
from schemathesis.core.failures import FailureGroup

from contract_tests import session
from contract_tests.deadline import answer_deadline
from contract_tests.safety import attach_curl

RUN = session.current()
schema = RUN.schema()


@schema.parametrize()
def test_operation_conforms_to_the_spec(case: Case) -> None:
    response = RUN.guard.send(case)
    try:
        with answer_deadline(RUN.checks_deadline):  # some checks send requests of their own
            case.validate_response(response)
    except FailureGroup as failures:
        attach_curl(failures, response)
        raise
