"""An HTTP client for one API key that records every lead it creates in the run's ledger
(`contract_tests.ledger.CreatedLeads`), honours 429 and reports connections that fail."""
from __future__ import annotations

import functools
import json
import signal
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from contract_tests.deadline import AnswerTimeout, answer_deadline
from contract_tests.findings import Blocked, answer_text, describe, request_curl
from contract_tests.ledger import CreatedLeads
from contract_tests.prerequisites import RULE_CREATE, Prerequisites
from contract_tests.responses import RULE_ENVELOPE, RULE_TRANSPORT, ResponseRules, Seen, json_of
from contract_tests.target import REQUEST_TIMEOUT_SECONDS
from contract_tests.unanswered import UNANSWERED, is_timeout, operation_of
from contract_tests.waits import RULE_WAIT_BUDGET, WaitBudget, retry_after_seconds

__all__ = ["API_KEY_HEADER", "GarbageResponse", "LeadsClient", "body_of", "describe"]

API_KEY_HEADER = "X-API-Key"
MAX_RATE_LIMIT_RETRIES = 3
TRANSPORT_ATTEMPTS = 3


class GarbageResponse(AssertionError):
    """The server answered something that is not a JSON object (HTML, empty, cut off)."""


class LeadsClient:
    """Sends requests as one API key (or none), honouring 429 and recording creations."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        ledger: CreatedLeads,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        observer: ResponseRules | None = None,
        waits: WaitBudget | None = None,
        prerequisites: Prerequisites | None = None,
        block_on_failure: bool = True,
        stops_on_interrupt: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.ledger = ledger
        self.observer = observer
        self.waits = waits or WaitBudget(0.0)
        self.prerequisites = prerequisites or Prerequisites.assumed()
        self.block_on_failure = block_on_failure  # cleanup takes an answer as it comes
        self.stops_on_interrupt = stops_on_interrupt  # cleanup's requests are what an interrupt leads to
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._http = httpx.Client(timeout=timeout, transport=transport, verify=tls_context())

    def close(self) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        api_key: str | None = ...,  # type: ignore[assignment]
    ) -> httpx.Response:
        """One request; a 429 is waited out (bounded), a dead connection is a divergence."""
        all_headers: dict[str, str] = {}
        key = self.api_key if api_key is ... else api_key
        if key is not None:
            all_headers[API_KEY_HEADER] = key
        if json_body is not None:
            content = json.dumps(json_body)
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        request = self._http.build_request(method, self.url(path), content=content, headers=all_headers, params=params)
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            response = self._send(request, path)
            if response.status_code != 429 or attempt == MAX_RATE_LIMIT_RETRIES:
                break
            why = f"429 on {method} {path}"
            if not self.waits.wait(retry_after_seconds(response.headers), why) and self.block_on_failure:
                raise Blocked(RULE_WAIT_BUDGET, f"{why} and no budget left to wait for the window")
        return response

    def _send(self, request: httpx.Request, path: str) -> httpx.Response:
        """One answer; a cut connection is retried, counted under the transport rule, never a rule's failure."""
        if self.stops_on_interrupt:
            stop_if_interrupted()
        operation = operation_of(request.method, path)
        refusal = UNANSWERED.refusal(operation)
        if refusal is not None:
            if not self.block_on_failure:
                raise GarbageResponse(refusal)
            raise Blocked(RULE_TRANSPORT, refusal)
        timeout = self._http.timeout.read or REQUEST_TIMEOUT_SECONDS
        for attempt in range(1, TRANSPORT_ATTEMPTS + 1):
            # Ctrl-C waits for the answer (at most the timeout): a lead created, never recorded, could not be cleaned up.
            with deferred_interrupt():
                try:
                    with answer_deadline(timeout):
                        response = self._http.send(request)
                        response.read()
                    if unframed(response.status_code, response.headers, request.method, response.http_version):
                        raise httpx.RemoteProtocolError("the answer has no Content-Length or chunked framing: cut short")
                except (httpx.TransportError, httpx.DecodingError, AnswerTimeout) as exc:  # a corrupt gzip body too
                    if self.observer is not None:
                        self.observer.transport_fault(f"{request.method} {path}", request_curl(request),
                                                      f"{type(exc).__name__}: {exc}")
                    if is_timeout(exc):  # a hanging operation: waiting for it again would only cost the timeout again
                        UNANSWERED.record(operation, f"{request.method} {path}", exc, timeout)
                    elif attempt < TRANSPORT_ATTEMPTS and request.method == "GET":  # the only safe repeat
                        continue
                    if not self.block_on_failure:
                        raise GarbageResponse(f"{request.method} {path}: no HTTP answer ({type(exc).__name__})") from None
                    raise Blocked(RULE_TRANSPORT, f"{request.method} {path} got no whole HTTP answer "
                                  f"({type(exc).__name__}: {exc})") from None
                self._record(request.method, path, response)
            if self.observer is not None:
                self.observer.observe(self.seen(request, response, path))
            return response
        raise AssertionError("unreachable")

    def seen(self, request: httpx.Request, response: httpx.Response, path: str) -> Seen:
        return Seen(request.method, str(request.url), path.split("?")[0], response.status_code,
                    {name.lower(): value for name, value in response.headers.items()}, response.content,
                    tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw),
                    request.content or None)

    def create_lead(self, **fields: Any) -> dict[str, Any]:
        """Creates a lead (name defaults to a readable test name) and returns its data."""
        self.prerequisites.require(RULE_CREATE)
        body = {"name": "Contract Test Lead", **fields}
        response = self.request("POST", "/leads", json_body=body)
        payload = body_of(response)
        data = payload.get("data")
        # Any 2xx with the lead will do: the status itself is the create rule's to judge.
        assert 200 <= response.status_code < 300 and isinstance(data, dict) and isinstance(data.get("id"), str), \
            describe("createLead", "HTTP status", "2xx with the lead", answer_text(response), response)
        return data

    def _record(self, method: str, path: str, response: httpx.Response) -> None:
        if self.api_key is None:
            return
        if method == "POST" and path == "/leads" and 200 <= response.status_code < 300:
            # Any success counts: a server answering 200 instead of 201 still created a lead to clean up.
            lead_id = _data_id(response)
            if lead_id:
                self.ledger.add(self.api_key, lead_id)
        elif method == "DELETE" and path.startswith("/leads/") and response.status_code in (200, 404):
            self.ledger.discard(self.api_key, path.rsplit("/", 1)[-1])


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one verifying TLS context: loading the CA certificates again for every client costs
    tens of milliseconds of CPU each time (httpx does that by default), in every parallel worker."""
    return httpx.create_ssl_context()


INTERRUPTED = threading.Event()  # a Ctrl-C or SIGTERM came, even if library code swallowed its KeyboardInterrupt


def stop_if_interrupted() -> None:
    """Before a check's request: an interrupt that library code swallowed (raised inside a garbage-collection
    callback, say) still stops the check here, not when the whole test is done."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Holds a Ctrl-C (SIGINT) back until the block ends, then raises it; only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: (caught.append(signum), INTERRUPTED.set()))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if caught:
            raise KeyboardInterrupt


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer. Without one a rule cannot judge its subject: BLOCKED by the
    envelope rule, which counts such answers once for the whole run."""
    try:
        payload = json_of(response.content)
    except ValueError:
        snippet = response.content[:80].decode("utf-8", errors="backslashreplace") or "(empty body)"
        raise Blocked(RULE_ENVELOPE, f"{response.request.method} {response.url.path} answered {response.status_code} "
                      f"with a body that is not JSON: {snippet!r}") from None
    if not isinstance(payload, dict):
        raise Blocked(RULE_ENVELOPE, f"{response.request.method} {response.url.path} answered {response.status_code} "
                      f"with JSON that is not an object: {payload!r:.80}")
    return payload


def unframed(status: int, headers: Any, method: str, http_version: str = "1.1") -> bool:
    """An answer whose end cannot be told: what a client makes of a connection cut inside the head. An answer
    that says its end is the connection's (HTTP/1.0, or `Connection: close`) is framed (RFC 9112, 6.3)."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return False
    connection = headers.get("connection", "")
    connection = ",".join(connection) if isinstance(connection, list) else str(connection)  # Schemathesis: lists
    closes = http_version.removeprefix("HTTP/") == "1.0" or "close" in {
        token.strip() for token in connection.lower().split(",")}
    return not closes and "content-length" not in headers \
        and "chunked" not in str(headers.get("transfer-encoding", "")).lower()


def _data_id(response: httpx.Response) -> str | None:
    try:
        data = json_of(response.content).get("data")
    except (ValueError, AttributeError):
        return None
    return data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None

