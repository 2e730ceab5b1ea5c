"""`openapi.yaml` as Schemathesis sees it: the configured schema and the documented answers that
a JSON schema cannot express.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import schemathesis
import yaml
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.schemas import OpenApiSchema

from contract_tests.client import API_KEY_HEADER
from contract_tests.responses import json_of
from contract_tests.target import REQUEST_TIMEOUT_SECONDS
from leads_api_kit import spec_path

MAX_NAME_LENGTH = 255
# JavaScript's trim(): what the documented "name is stored trimmed" removes.
JS_WHITESPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
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


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@lru_cache(maxsize=1)
def operation_ids() -> dict[str, str]:
    """`METHOD /path` label (as Schemathesis names an operation) -> operationId, for every operation.

    Read from the document itself: building a Schemathesis schema costs a third of a second, in
    every parallel worker; read once a process (the kill-rate table runs many sessions in one).
    """
    with open(spec_path(), encoding="utf-8") as file:
        document = yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {f"{method.upper()} {path}": operation["operationId"]
            for path, item in document["paths"].items() for method, operation in item.items()
            if method in HTTP_METHODS and isinstance(operation, dict) and "operationId" in operation}


def load_schema(base_url: str, api_key: str, generation: Generation, *, show_key: bool,
                timeout: float = REQUEST_TIMEOUT_SECONDS) -> OpenApiSchema:
    """The spec, bound to the target and configured so that the same seed sends the same requests."""
    schemathesis.openapi.format("date-time", realistic_date_times())
    config = schemathesis.Config(seed=generation.seed)
    # The suite must replay identically: no example database, no cache carried between runs.
    config.cache.enabled = False
    config.output.sanitization.update(enabled=not show_key)  # X-API-Key is among its keys
    schema = schemathesis.openapi.from_path(spec_path(), config=config)
    schema.config.update(
        base_url=base_url, headers={API_KEY_HEADER: api_key}, request_timeout=timeout
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


def filter_failure(context: Any, failure: Failure, case: Case, response: Response) -> bool:
    """Drops what the documented rules require and a JSON schema cannot say: positive data rejected
    (an unknown cursor, nothing to update) and negative data accepted (a padded name within 255
    characters once trimmed)."""
    if isinstance(failure, AcceptedNegativeData):
        return not is_documented_acceptance(case)
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    return not is_documented_rejection(case, response)


def is_documented_acceptance(case: Case) -> bool:
    """A body whose only fault is a name longer than 255 characters that trims to at most 255."""
    body = case.body if isinstance(case.body, dict) else None
    name = body.get("name") if body else None
    if not isinstance(name, str) or len(name) <= MAX_NAME_LENGTH:
        return False
    trimmed = name.strip(JS_WHITESPACE)
    return 0 < len(trimmed) <= MAX_NAME_LENGTH


def is_documented_rejection(case: Case, response: Response) -> bool:
    """A schema-valid request the docs still answer with 400: an unknown cursor, or an update with nothing to update."""
    try:
        error = json_of(response.content).get("error") or {}
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
