"""A failed test's exception as findings: what was expected, what came, the curl line, the cause.

Rule checks fail with a `Finding`; Schemathesis fails with groups of its `Failure`s (each an
answer that broke a check), to which the conformance test attaches the answer's request.
"""
from __future__ import annotations

import re
from typing import Any

from schemathesis.core.failures import Failure, ServerError

from contract_tests.findings import Finding

VOLATILE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\d+")
MAX_FINDINGS = 5
FINDING_TEXT = re.compile(r"(?P<operation>[^:]+): (?P<what>.+?): expected (?P<expected>.+), got (?P<actual>.+)$")


def findings_of(error: BaseException, operation: str | None, second_tenant: str | None = None) -> list[dict[str, Any]]:
    """The findings of a failure; `second_tenant` is `key_digest` of the run's second key."""
    found: list[dict[str, Any]] = []
    _walk(error, operation, getattr(error, "leads_curl", None), found, second_tenant)
    unique = {item["cause"]: item for item in found}
    return list(unique.values())[:MAX_FINDINGS]


def _walk(error: BaseException, operation: str | None, curl: str | None, found: list[dict[str, Any]],
          second_tenant: str | None) -> None:
    curl = getattr(error, "leads_curl", None) or curl
    if isinstance(error, Failure):
        found.append(_from_failure(error, operation, curl))
        return
    if isinstance(error, BaseExceptionGroup):
        for member in error.exceptions:
            _walk(member, operation, curl, found, second_tenant)
        return
    message = error.args[0] if error.args else None
    if isinstance(message, Finding):
        found.append({**message.as_dict(), "summary": str(message).split("\n")[0], "cause": message.cause_for(second_tenant)})
        return
    text = (str(error) or type(error).__name__).strip().split("\n")[0]
    parsed = FINDING_TEXT.match(text) if isinstance(error, AssertionError) else None
    if parsed:  # a Finding whose parts pytest's assertion rewriting turned into text
        finding = Finding(parsed["operation"], parsed["what"], parsed["expected"], parsed["actual"], _curl_in(str(error)))
        found.append({**finding.as_dict(), "summary": text, "cause": finding.cause})
        return
    found.append({"operation": operation, "what": type(error).__name__, "expected": None, "actual": text[:300],
                  "curl": curl, "summary": f"{operation}: {text[:300]}" if operation else text[:300],
                  "cause": f"{type(error).__name__}|{VOLATILE.sub('#', text)[:200]}"})


def _from_failure(failure: Failure, operation: str | None, curl: str | None) -> dict[str, Any]:
    detail = _first_line(getattr(failure, "validation_message", None) or failure.message)
    if not detail and isinstance(failure, ServerError):  # Schemathesis gives it no message: say what came
        detail = f"answered {failure.status_code}"
    where = failure.operation or operation or ""
    return {
        "operation": operation or where,
        "what": failure.title,
        "expected": "the answer the spec documents",
        "actual": detail,
        "curl": curl,
        "summary": f"{where}: {failure.title}: {detail}",
        "cause": f"schemathesis|{type(failure).__name__}|{VOLATILE.sub('#', detail)[:200]}",
    }


def _curl_in(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip().startswith("reproduce: "):
            return line.strip()[len("reproduce: "):]
    return None


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
