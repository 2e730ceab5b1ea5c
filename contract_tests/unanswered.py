"""Operations that gave no answer within the request timeout: not sent again in the run.

A server that hangs on one operation would cost each later request to it the whole timeout, a GET
three times over (it is repeated as a cut connection is): a quick run against a server whose
`GET /leads/{id}` never answers had not ended after 25 minutes. The first timeout is reported under the
transport rule with its curl line; later requests to that operation are not sent, and the checks
that needed them are BLOCKED by that rule, naming the first timeout.
"""
from __future__ import annotations

import re
import threading
from functools import cache
from urllib.parse import urlsplit

import httpx
import requests
import urllib3

from contract_tests.deadline import AnswerTimeout


class Unanswered:
    """What timed out, per operation (`GET /leads/{id}`), with the first timeout's description."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}
        self._lock = threading.Lock()

    def record(self, operation: str, request_line: str, error: BaseException, seconds: float) -> None:
        """`request_line` (`GET /leads/4f1c...`) of `operation` got `error`, no answer within `seconds`."""
        with self._lock:
            self._first.setdefault(operation, f"{request_line}: {type(error).__name__} after {seconds:g} s")

    def refusal(self, operation: str) -> str | None:
        """Why a request to `operation` is not sent; None when it may be."""
        first = self._first.get(operation)
        if first is None:
            return None
        return f"{operation} was not sent: an earlier request to it got no answer in time ({first})"

    def export(self) -> dict[str, str]:
        with self._lock:
            return dict(self._first)

    def load(self, exported: dict[str, str]) -> None:
        """What another process of the run exported: the controlling process's probe, for a worker starting;
        a worker's timeouts, for the controlling process's cleanup."""
        with self._lock:
            self._first.update(exported)

    def clear(self) -> None:
        with self._lock:
            self._first.clear()


UNANSWERED = Unanswered()  # one per process: every client of a worker learns from any other


def is_timeout(error: BaseException) -> bool:
    """No answer within the timeout (before the head or while the body came), as either HTTP library says it."""
    if isinstance(error, AnswerTimeout):
        return True
    if isinstance(error, httpx.TimeoutException):
        return not isinstance(error, httpx.PoolTimeout)  # the client's own pool, not the server
    if isinstance(error, requests.ConnectionError) and error.args:  # requests wraps a timeout during the body
        return isinstance(error.args[0], urllib3.exceptions.ReadTimeoutError)
    return isinstance(error, requests.Timeout)


def record_timeout(error: BaseException, base_url: str, timeout: float) -> None:
    """Records the operation of a timed-out request that library code sent (a Schemathesis check's own)."""
    request = getattr(error, "request", None) if not isinstance(error, httpx.HTTPError) else _httpx_request(error)
    method, url = getattr(request, "method", None), getattr(request, "url", None)
    if not is_timeout(error) or not method or not url:
        return
    base_path = urlsplit(base_url).path.rstrip("/")
    path = urlsplit(str(url)).path
    relative = path.removeprefix(base_path)
    UNANSWERED.record(operation_of(str(method), relative), f"{str(method).upper()} {relative}", error, timeout)


def _httpx_request(error: httpx.HTTPError) -> httpx.Request | None:
    try:
        return error.request
    except RuntimeError:  # raised without a request
        return None


def operation_of(method: str, path: str) -> str:
    """`GET /leads/{id}` for `GET /leads/4f1c...`: the spec's path template a path matches, else the path."""
    bare = path.split("?", 1)[0]
    for template, pattern in _templates():
        if pattern.fullmatch(bare):
            return f"{method.upper()} {template}"
    return f"{method.upper()} {bare}"


@cache
def _templates() -> tuple[tuple[str, re.Pattern[str]], ...]:
    from contract_tests.spec import operation_ids  # the spec's module imports the client, which imports this one

    paths = {label.split(" ", 1)[1] for label in operation_ids()}
    # Literal paths first: `/leads/stats` is not `/leads/{id}`.
    ordered = sorted(paths, key=lambda template: (template.count("{"), template))
    return tuple((template, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))))
                 for template in ordered)
