"""The guard every generated request passes: the suite touches only leads it created in this run.

Schemathesis sends whatever ids it meets: the spec's example id, random uuids and, on a real
server, ids that belong to someone. Before a request goes out, a lead id this run did not create
is swapped for one it did: a live lead of the run, or the run's tombstone (a lead it created and
deleted, so "not found" answers are still exercised). Leads Schemathesis creates go to the ledger
that the session cleanup empties. Requests are bounded in number and time, a 429 is waited out,
and a dead connection is reported as a divergence.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from schemathesis import Case, Response
from schemathesis.core.failures import Failure, FailureGroup, MalformedJson
from schemathesis.openapi.checks import (
    EnsureResourceAvailability,
    JsonSchemaError,
    MalformedMediaType,
    MissingContentType,
    MissingHeaders,
    UndefinedContentType,
)
from schemathesis.transport.requests import ManagedCookiesSession

from contract_tests.client import (
    API_KEY_HEADER,
    LeadsClient,
    deferred_interrupt,
    stop_if_interrupted,
    unframed,
)
from contract_tests.curl import curl_line
from contract_tests.deadline import AnswerTimeout, answer_deadline
from contract_tests.findings import Blocked
from contract_tests.ledger import CreatedLeads
from contract_tests.prerequisites import RULE_CREATE, RULE_DELETE, Prerequisites
from contract_tests.responses import RULE_TRANSPORT, ResponseRules, Seen, json_of
from contract_tests.target import REQUEST_TIMEOUT_SECONDS
from contract_tests.unanswered import UNANSWERED, is_timeout
from contract_tests.waits import RULE_WAIT_BUDGET, WaitBudget, retry_after_seconds

UUID_LIKE = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
MAX_RATE_LIMIT_RETRIES = 3
TRANSPORT_ATTEMPTS = 3
SERVED = range(200, 300)
RATE_LIMITED_SHARE = 0.1
# Schemathesis failures that an every-answer rule (envelope, timestamp, content type, RateLimit headers,
# lead shapes, enums) already reports for the same answer: counted there once, not per operation here.
SHAPE_FAILURES = (JsonSchemaError, MissingHeaders, MalformedJson, MissingContentType, MalformedMediaType,
                  UndefinedContentType)


RULE_REQUEST_BUDGET = "the run's budget of generated requests and time"


class BudgetExhausted(Blocked):
    """The run sent as many generated requests, or spent as long, as it may: what is left is BLOCKED by
    the budget (not a divergence; a server too slow to answer shows under the transport rule)."""

    def __init__(self, reason: str) -> None:
        super().__init__(RULE_REQUEST_BUDGET, reason)


@dataclass(frozen=True)
class Budget:
    max_requests: int
    max_seconds: float


@dataclass
class Observations:
    """Status codes per operation label, split by whether Schemathesis meant the request to be valid."""

    by_operation: dict[str, Counter[tuple[bool, int]]] = field(default_factory=dict)

    def add(self, label: str, positive: bool, status: int) -> None:
        self.by_operation.setdefault(label, Counter())[(positive, status)] += 1

    def positive_statuses(self, label: str) -> Counter[int]:
        counts = self.by_operation.get(label, Counter())
        return Counter({status: n for (positive, status), n in counts.items() if positive})

    def unserved(self, label: str) -> str | None:
        """What Schemathesis would end its run with as a warning (missing auth, missing test data,
        validation mismatch, rate limited), or None: a run where no valid request got through proves nothing."""
        every = self.by_operation.get(label, Counter())
        limited = sum(count for (_, status), count in every.items() if status == 429)
        if limited >= RATE_LIMITED_SHARE * max(sum(every.values()), 1) and limited:
            return (f"{label}: rate limited: {limited} of {sum(every.values())} answers were 429 even after "
                    "waiting out Retry-After; the results say little about the API")
        statuses = self.positive_statuses(label)
        if not statuses:
            return f"{label}: Schemathesis sent no schema-valid request, so nothing was checked for valid input"
        if any(200 <= status < 300 or status == 409 for status in statuses):
            return None
        codes = set(statuses)
        if codes <= {401, 403}:
            reason = "missing auth: every valid request was refused as unauthenticated; is the API key right?"
        elif codes <= {404}:
            reason = "missing test data or wrong base URL: every valid request answered 404"
        elif codes <= {400, 422}:
            reason = "validation mismatch: the server rejects every request the spec allows"
        else:
            reason = "none of the answers to valid requests was a success"
        return f"{label}: no schema-valid request was served: {reason} (statuses {dict(sorted(statuses.items()))})"


class RunGuard:
    """Sends Schemathesis cases for one API key, keeping them to the run's own leads."""

    def __init__(self, base_url: str, api_key: str, ledger: CreatedLeads, budget: Budget, *,
                 timeout: float = REQUEST_TIMEOUT_SECONDS, observer: ResponseRules | None = None,
                 waits: WaitBudget | None = None, prerequisites: Prerequisites | None = None) -> None:
        self.api_key = api_key
        self.ledger = ledger
        self.budget = budget
        self.observations = Observations()
        self.observer = observer
        self.waits = waits or WaitBudget(0.0)
        self.prerequisites = prerequisites or Prerequisites.assumed()
        self.requests_sent = 0
        self.timeout = timeout
        self._swapped_cases: set[str] = set()
        self._shape_broken: set[str] = set()
        self._base_path = urlsplit(base_url).path.rstrip("/")
        self._started = time.monotonic()
        self._client = LeadsClient(base_url, api_key, ledger, timeout=timeout, observer=observer, waits=self.waits,
                                   prerequisites=self.prerequisites)
        # One keep-alive session for every case (over HTTPS, no handshake per request); cookies are dropped
        # after each answer, as between the separate sessions Schemathesis would open.
        self._session = ManagedCookiesSession()
        self._tombstone: str | None = None
        self._residents: dict[str, str] = {}
        self._turns: Counter[tuple[str, bool]] = Counter()

    def close(self) -> None:
        self._client.close()
        self._session.close()

    def send(self, case: Case, *, only_tombstone: bool = False, **kwargs: Any) -> Response:
        """`case.call()` on the run's own leads only, with 429 waited out and dead connections reported.

        `only_tombstone` swaps foreign ids for the tombstone alone: a state machine tracks which lead
        each id came from, and a swapped-in live lead would break that bookkeeping.
        """
        self.adopt(case, only_tombstone=only_tombstone)
        response = self._call_and_record(case, kwargs)
        for _ in range(MAX_RATE_LIMIT_RETRIES):
            if response.status_code != 429:
                break
            why = f"429 on {case.operation.label}"
            if not self.waits.wait(retry_after_seconds(response.headers), why):
                raise Blocked(RULE_WAIT_BUDGET, f"{why} and no budget left to wait for the window")
            response = self._call_and_record(case, kwargs)
        return response

    def _call_and_record(self, case: Case, kwargs: dict[str, Any]) -> Response:
        stop_if_interrupted()
        # Ctrl-C waits for the answer (at most the timeout): a lead created, never recorded, could not be cleaned up.
        with deferred_interrupt():
            response = self._call(case, kwargs)
            self._record(case, response)
        return response

    def adopt(self, case: Case, *, only_tombstone: bool = False) -> None:
        """Swaps a lead id this run did not create for one it did (assignment makes Schemathesis revalidate)."""
        value = case.path_parameters.get("id") if case.path_parameters else None
        if value is None:
            return
        text = str(value)
        foreign = [match for match in UUID_LIKE.findall(text) if not self.ledger.created_in_run(_canonical(match))]
        if not foreign:
            return  # no id of a lead in it, or only ids of this run's leads
        operation_id = case.operation.definition.raw.get("operationId", case.operation.label)
        # Alternate per operation and mode, a live lead first: valid cases are served, and not-found is exercised.
        turn = (operation_id, case.meta is not None and case.meta.generation.mode.is_positive)
        self._turns[turn] += 1
        if only_tombstone or self._turns[turn] % 2 == 0:
            replacement = self.tombstone()
        elif case.method.upper() == "DELETE":
            replacement = self._create("deleted by the contract suite")
        else:
            replacement = self.resident(operation_id)
        case.path_parameters = {**case.path_parameters, "id": replacement}
        self._swapped_cases.add(case.id)

    @property
    def swapped_ids(self) -> int:
        return len(self._swapped_cases)

    def keeps_failure(self, failure: Failure, case: Case) -> bool:
        """For a `filter_failure` hook: a swapped id looks to stateful checks like one a link supplied,
        so "created resource not found" on such a case would blame the server for the guard's doing."""
        if isinstance(failure, SHAPE_FAILURES) and case.id in self._shape_broken:
            return False
        return not (isinstance(failure, EnsureResourceAvailability) and case.id in self._swapped_cases)

    def tombstone(self) -> str:
        """A lead this run created and deleted: its id answers 404 without being anyone's."""
        if self._tombstone is None:
            self.prerequisites.require(RULE_DELETE)
            lead_id = self._create("tombstone of the contract suite")
            self._spend()
            self._client.request("DELETE", f"/leads/{lead_id}")
            self._tombstone = lead_id
        return self._tombstone

    def resident(self, operation_id: str) -> str:
        """A live lead of this run that one operation's generated requests may change."""
        lead_id = self._residents.get(operation_id)
        if lead_id is None or not self.ledger.owns(lead_id):
            lead_id = self._residents[operation_id] = self._create(f"target of {operation_id} cases")
        return lead_id

    def _create(self, purpose: str) -> str:
        self.prerequisites.require(RULE_CREATE)
        self._spend()
        response = self._client.request("POST", "/leads", json_body={"name": f"Contract Suite Lead ({purpose})"})
        lead_id = _data_id(response) if response.status_code in SERVED else None
        if lead_id is None:
            raise AssertionError(
                f"createLead: the suite could not create a lead of its own to aim generated requests at: "
                f"status {response.status_code}, body {response.text[:200]!r}"
            )
        return lead_id

    def _spend(self) -> None:
        elapsed = time.monotonic() - self._started
        if self.requests_sent >= self.budget.max_requests or elapsed >= self.budget.max_seconds:
            raise BudgetExhausted(
                f"the run's budget of {self.budget.max_requests} generated requests / "
                f"{self.budget.max_seconds:.0f} s is spent ({self.requests_sent} sent in {elapsed:.0f} s): "
                "later checks did not run"
            )
        self.requests_sent += 1

    def _call(self, case: Case, kwargs: dict[str, Any]) -> Response:
        refusal = UNANSWERED.refusal(case.operation.label)
        if refusal is not None:
            raise Blocked(RULE_TRANSPORT, refusal)
        self._spend()
        for attempt in range(1, TRANSPORT_ATTEMPTS + 1):
            try:
                with answer_deadline(kwargs.get("timeout", self.timeout)):
                    response = case.call(session=self._session, **kwargs)
                if unframed(response.status_code, {name.lower(): value for name, value in response.headers.items()},
                            case.method.upper(), response.http_version):
                    raise requests.ConnectionError("the answer has no Content-Length or chunked framing: cut short")
                return response
            except (requests.RequestException, AnswerTimeout) as exc:
                reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                if self.observer is not None:
                    self.observer.transport_fault(case.operation.label, _case_curl(case), f"{type(exc).__name__}: {reason}")
                if is_timeout(exc):  # a hanging operation: waiting for it again would only cost the timeout again
                    UNANSWERED.record(case.operation.label, f"{case.method.upper()} {case.formatted_path}", exc,
                                      kwargs.get("timeout", self.timeout))
                elif attempt < TRANSPORT_ATTEMPTS and case.method.upper() == "GET":  # the only safe repeat
                    continue
                raise Blocked(RULE_TRANSPORT, f"{case.operation.label} got no whole HTTP answer "
                              f"({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    def _record(self, case: Case, response: Response) -> None:
        meta = case.meta
        positive = meta is not None and meta.generation.mode.is_positive
        self.observations.add(case.operation.label, positive, response.status_code)
        if self.observer is not None and self.observer.observe(self._seen(response)):
            self._shape_broken.add(case.id)
        key = response.request.headers.get(API_KEY_HEADER)
        operation_id = case.operation.definition.raw.get("operationId")
        if operation_id == "createLead" and response.status_code in SERVED:
            lead_id = _data_id(response)
            if lead_id is not None:
                # Whatever key it went with: a server that ignores keys still gets its lead deleted.
                self.ledger.add(key or self.api_key, lead_id)
        elif case.method.upper() == "DELETE" and response.status_code in (200, 404) and key:
            self.ledger.discard(key, str(case.path_parameters.get("id", "")))

    def _seen(self, response: Response) -> Seen:
        request = response.request
        path = urlsplit(str(request.url)).path
        if path.startswith(self._base_path):
            path = path[len(self._base_path):]
        body = request.body.encode() if isinstance(request.body, str) else request.body
        headers = {name.lower(): ", ".join(value) if isinstance(value, list) else str(value)
                   for name, value in response.headers.items()}
        return Seen(str(request.method), str(request.url), path, response.status_code, headers,
                    response.content or b"", tuple(request.headers.items()), body or None)


def _canonical(match: str) -> str:
    hex_digits = match.replace("-", "").lower()
    return f"{hex_digits[:8]}-{hex_digits[8:12]}-{hex_digits[12:16]}-{hex_digits[16:20]}-{hex_digits[20:]}"


def _data_id(response: Response | Any) -> str | None:
    try:
        data = json_of(response.content).get("data")
    except Exception:
        return None
    return data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None


def response_curl(response: Response) -> str:
    """The request behind a Schemathesis answer, as the suite prints every request."""
    request = response.request
    body = request.body.encode() if isinstance(request.body, str) else request.body
    return curl_line(str(request.method), str(request.url), list(request.headers.items()), body or None)


def attach_curl(failures: FailureGroup, response: Response) -> None:
    """Gives the group and each failure in it the curl line of `response`, for the report: the group a
    test ends with may be one Schemathesis or Hypothesis builds afresh from the same failures."""
    curl = response_curl(response)
    for failure in (failures, *failures.exceptions):
        failure.leads_curl = curl  # type: ignore[attr-defined]


def _case_curl(case: Case) -> str:
    """The request a case sends, as the suite prints every request (one masking style)."""
    prepared = case.as_transport_kwargs() if hasattr(case, "as_transport_kwargs") else {}
    url = prepared.get("url") or case.formatted_path
    headers = list((prepared.get("headers") or {}).items())
    body = prepared.get("data") or prepared.get("json")
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return curl_line(case.method, str(url), headers, body.encode() if isinstance(body, str) else body)
