"""`openapi.yaml` as Schemathesis sees it: the configured schema, the envelope check and the
documented answers that a JSON schema cannot express.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.core.failures import Failure
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.schemas import OpenApiSchema

from contract_tests.client import API_KEY_HEADER
from leads_api_kit import spec_path

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
REQUEST_TIMEOUT_SECONDS = 30.0
UPDATABLE_FIELDS = frozenset({
    "name", "email", "phone", "source", "status", "lead_type", "interest_level", "budget", "timeline",
    "message", "notes", "last_contact_date", "next_follow_up",
})


@dataclass(frozen=True)
class Generation:
    """How much Schemathesis generates: from `--seed`, `--max-examples` and `--quick`."""

    seed: int
    max_examples: int
    phases: tuple[str, ...]
    stateful_examples: int
    stateful_steps: int

    @classmethod
    def from_options(cls, seed: int, max_examples: int | None, quick: bool) -> Generation:
        if quick:
            # The examples phase plus a handful of generated cases per mode; coverage is the costly phase.
            return cls(seed, max_examples or 10, ("examples", "fuzzing"), 3, 8)
        return cls(seed, max_examples or 100, ("examples", "coverage", "fuzzing"), 25, 10)


def pin_generation_to_seed() -> None:
    """Makes the generated data depend on the seed and the spec only.

    Hypothesis mixes literals found in every imported local module into generated values, so the
    requests would change with any edit of any module, and with whether the mock runs in this
    process. Its pool of local constants is pinned empty (Hypothesis has no setting for this).
    """
    from hypothesis.internal.conjecture import providers

    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        providers._get_local_constants = providers.Constants


def realistic_date_times() -> st.SearchStrategy[str]:
    """RFC 3339 date-times with offsets, within 1970..2100.

    The docs set no range, and a date whose UTC conversion leaves years 1..9999 (such as
    `0001-01-01T00:00:00+01:00`) has no defined answer: the suite does not judge servers on it.
    """
    moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30))
    offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda minutes: minutes - minutes % 15)
    fractions = st.sampled_from(["", ".0", ".5", ".123", ".123456"])

    def render(moment: datetime, offset: int, fraction: str) -> str:
        sign = "+" if offset >= 0 else "-"
        zone = "Z" if offset == 0 else f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone

    return st.builds(render, moments, offsets, fractions)


def operation_ids() -> dict[str, str]:
    """`METHOD /path` label -> operationId, for every operation of the spec."""
    schema = schemathesis.openapi.from_path(spec_path())
    return {result.ok().label: result.ok().definition.raw["operationId"] for result in schema.get_all_operations()}


def load_schema(base_url: str, api_key: str, generation: Generation, *, show_key: bool) -> OpenApiSchema:
    """The spec, bound to the target and configured so that the same seed sends the same requests."""
    schemathesis.openapi.format("date-time", realistic_date_times())
    config = schemathesis.Config(seed=generation.seed)
    # The suite must replay identically: no example database, no cache carried between runs.
    config.cache.enabled = False
    config.output.sanitization.update(enabled=not show_key)  # X-API-Key is among its keys
    schema = schemathesis.openapi.from_path(spec_path(), config=config)
    schema.config.update(
        base_url=base_url, headers={API_KEY_HEADER: api_key}, request_timeout=REQUEST_TIMEOUT_SECONDS
    )
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=generation.max_examples,
        database="none",
        deterministic=True,
        unique_inputs=True,
    )
    schema.config.phases.update(phases=[*generation.phases, "stateful"])
    schema.config.phases.stateful.max_steps = generation.stateful_steps
    schema.hook(filter_failure)
    return schema


def envelope_conformance(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every error answer is `{"success": false, "error": {"code", "message"}, "timestamp"}`."""
    if response.status_code < 400:
        return None
    where = f"{case.operation.label} answered {response.status_code}"
    try:
        payload = response.json()
    except Exception:
        snippet = response.content[:120].decode("utf-8", errors="replace") or "(empty body)"
        raise AssertionError(f"Error envelope expected; {where} with a body that is not JSON: {snippet!r}") from None
    problems = []
    if not isinstance(payload, dict):
        raise AssertionError(f"Error envelope expected; {where} with JSON that is not an object: {payload!r:.120}")
    if payload.get("success") is not False:
        problems.append(f"`success` is {payload.get('success')!r}, expected false")
    error = payload.get("error")
    if not isinstance(error, dict):
        problems.append(f"`error` is {error!r:.80}, expected an object with `code` and `message`")
    else:
        for key in ("code", "message"):
            if not isinstance(error.get(key), str) or not error.get(key):
                problems.append(f"`error.{key}` is {error.get(key)!r:.80}, expected a non-empty string")
    timestamp = payload.get("timestamp")
    if not isinstance(timestamp, str) or not TIMESTAMP.match(timestamp):
        problems.append(f"`timestamp` is {timestamp!r}, expected UTC with milliseconds like 2026-07-01T22:52:30.664Z")
    if problems:
        raise AssertionError(f"Error envelope expected; {where}: " + "; ".join(problems))
    return None


def filter_failure(context: Any, failure: Failure, case: Case, response: Response) -> bool:
    """Drops the positive-data rejections that the documented rules require (a JSON schema cannot say them)."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    return not is_documented_rejection(case, response)


def is_documented_rejection(case: Case, response: Response) -> bool:
    """A schema-valid request the docs still answer with 400: an unknown cursor, or an update with nothing to update."""
    try:
        error = response.json().get("error") or {}
    except Exception:
        return False
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id == "listLeads" and case.query and "cursor" in case.query:
        # Cursors are opaque: only the server's own are valid, so a generated one must be refused.
        details = error.get("details") or []
        return error.get("code") == "VALIDATION_ERROR" and any(
            isinstance(item, dict) and item.get("field") == "cursor" for item in details
        )
    if operation_id == "updateLead" and isinstance(case.body, dict) and not UPDATABLE_FIELDS & set(case.body):
        return error.get("code") == "NO_UPDATES"
    return False
