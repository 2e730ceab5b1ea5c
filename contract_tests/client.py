"""An HTTP client for one API key that remembers every lead it creates.

The suite must be safe against a real server: it may change or delete only leads that it
created in this run. `CreatedLeads` is that record, shared by every client of a run, and
`cleanup()` deletes whatever is still alive when the run ends.
"""
from __future__ import annotations

import json
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

API_KEY_HEADER = "X-API-Key"
MAX_RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER_SECONDS = 65.0


class GarbageResponse(AssertionError):
    """The server answered something that is not a JSON object (HTML, empty, cut off)."""


@dataclass
class CreatedLeads:
    """Ids of the leads this run created, per API key, until they are deleted."""

    _alive: dict[str, set[str]] = field(default_factory=dict)
    _ever: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, api_key: str, lead_id: str) -> None:
        with self._lock:
            self._alive.setdefault(api_key, set()).add(lead_id)
            self._ever.add(lead_id.lower())

    def created_in_run(self, lead_id: str) -> bool:
        """Whether this run created the lead, deleted since or not (ids compare case-insensitively)."""
        with self._lock:
            return lead_id.lower() in self._ever

    def discard(self, api_key: str, lead_id: str) -> None:
        with self._lock:
            self._alive.get(api_key, set()).discard(lead_id)

    def owns(self, lead_id: str) -> bool:
        with self._lock:
            return any(lead_id in ids for ids in self._alive.values())

    def alive(self) -> dict[str, set[str]]:
        with self._lock:
            return {key: set(ids) for key, ids in self._alive.items() if ids}


def curl_line(request: httpx.Request, *, mask_key: bool = True) -> str:
    """A shell line that sends the same request again (API key masked unless asked)."""
    parts = ["curl", "-sS", "-X", request.method, str(request.url)]
    for name, value in request.headers.items():
        if name.lower() in {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept"}:
            continue
        if name.lower() == API_KEY_HEADER.lower() and mask_key and value:
            value = "***" + value[-4:] if len(value) > 8 else "***"
        parts += ["-H", f"{name}: {value}"]
    body = request.content
    if body:
        text = body.decode("utf-8", errors="replace")
        if len(text) > 2000:
            text = text[:2000] + "...(truncated)"
        parts += ["--data-binary", text]
    return " ".join(shlex.quote(part) for part in parts)


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.ledger = ledger
        self._http = httpx.Client(timeout=timeout, transport=transport)

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
            # Ctrl-C waits for the answer: a lead created but never recorded could not be cleaned up.
            with deferred_interrupt():
                try:
                    response = self._http.send(request)
                except httpx.TransportError as exc:
                    raise GarbageResponse(
                        f"{method} {path}: no HTTP answer ({type(exc).__name__}: {exc})\n  reproduce: {curl_line(request)}"
                    ) from None
                self._record(method, path, response)
            if response.status_code != 429 or attempt == MAX_RATE_LIMIT_RETRIES:
                break
            time.sleep(_retry_after_seconds(response))
        return response

    def create_lead(self, **fields: Any) -> dict[str, Any]:
        """Creates a lead (name defaults to a readable test name) and returns its data."""
        body = {"name": "Contract Test Lead", **fields}
        response = self.request("POST", "/leads", json_body=body)
        payload = body_of(response)
        assert response.status_code == 201, describe(
            "createLead", "status", 201, response.status_code, response
        )
        return payload["data"]

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


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Holds a Ctrl-C (SIGINT) back until the block ends, then raises it; only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
        if caught:
            raise KeyboardInterrupt


def body_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a response, or a divergence naming what came instead."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        snippet = response.text[:200] if response.content else "(empty body)"
        raise GarbageResponse(
            f"{response.request.method} {response.request.url}: body is not JSON "
            f"(status {response.status_code}, Content-Type {response.headers.get('content-type')!r}): {snippet!r}\n"
            f"  reproduce: {curl_line(response.request)}"
        ) from None
    if not isinstance(payload, dict):
        raise GarbageResponse(
            f"{response.request.method} {response.request.url}: body is JSON but not an object: {payload!r:.200}"
        )
    return payload


def describe(operation: str, what: str, expected: Any, actual: Any, response: httpx.Response | None = None) -> str:
    """The failure message every check uses: operation, field, expected, actual, curl."""
    message = f"{operation}: {what}: expected {expected!r}, got {actual!r}"
    if response is not None:
        message += f"\n  reproduce: {curl_line(response.request)}"
    return message


def _data_id(response: httpx.Response) -> str | None:
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return None
    return data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None


def _retry_after_seconds(response: httpx.Response) -> float:
    for header in ("Retry-After", "RateLimit-Reset"):
        value = response.headers.get(header, "")
        if value.strip().isdigit():
            return min(float(value), MAX_RETRY_AFTER_SECONDS)
    return 1.0
