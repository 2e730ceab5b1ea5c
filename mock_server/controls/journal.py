"""A journal of the Leads API requests the mock answered, bounded in entries and in bytes, for developers.

Each entry keeps the request and the response (headers and bodies) as raw bytes, cut to a few
kilobytes per value; decoding, masking and the curl line are made only when someone reads it.
"""

from __future__ import annotations

import asyncio
import itertools
import shlex
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive

from ..timestamps import format_ms

DEFAULT_CAPACITY = 500
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_BODY = 16 * 1024  # bytes kept of each request and response body
MAX_VALUE = 2048  # bytes kept of a path, a query string, a header name or value
MAX_TEST_CASE_ID = 128
MAX_HEADERS = 64  # headers kept per request and per response
ENTRY_OVERHEAD = 600  # bytes an entry costs beyond its values (objects, lists), counted towards the bound
HEADER_OVERHEAD = 120  # the same per kept header
CUT_MARK = "…[cut]"
TEST_CASE_HEADER = b"x-schemathesis-testcaseid"
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "cookie"})
# Headers a client adds by itself: left out of the curl line, which curl completes on its own.
_NOT_REPEATED = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding",
                           "accept-encoding", "user-agent", "origin", "referer", "cookie", "accept-language",
                           "cache-control", "pragma", "te", "upgrade"})
RawHeaders = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class JournalEntry:
    """One answered request. `status` is None when the client went away before any answer.

    `request_body` is None when the mock never read the body (a GET, or an answer given before
    reading it). `cut` maps each value kept only in part to its full size in bytes. The masked
    key, the test-case id and the time are derived from the kept values when read.
    """

    method: str
    path: str
    query: str
    status: int | None
    duration_ms: float
    started_ms: int
    request_headers: RawHeaders = field(default_factory=list)
    request_body: bytes | None = None
    response_headers: RawHeaders = field(default_factory=list)
    response_body: bytes = b""
    cut: dict[str, int] = field(default_factory=dict)
    size: int = ENTRY_OVERHEAD
    seq: int = 0
    raw_path: str | None = None  # the path as sent, when it differs from `path` (percent escapes)

    @property
    def time(self) -> str:
        return format_ms(self.started_ms)

    @property
    def api_key(self) -> str | None:
        """The masked key, from the first `X-API-Key` header."""
        raw = _first_header(self.request_headers, b"x-api-key")
        return mask_api_key(raw.decode("latin-1")) if raw is not None else None

    @property
    def test_case_id(self) -> str | None:
        raw = _first_header(self.request_headers, TEST_CASE_HEADER)
        if raw is None:
            return None
        return cut_text(raw.decode("latin-1"), MAX_TEST_CASE_ID)

    def _cut_parts(self) -> list[str]:
        parts = set(self.cut)
        raw = _first_header(self.request_headers, TEST_CASE_HEADER)
        if raw is not None and len(raw) > MAX_TEST_CASE_ID:
            parts.add("test_case_id")
        return sorted(parts)

    def as_dict(self) -> dict[str, Any]:
        """The summary: what a row of the journal shows."""
        return {"method": self.method, "path": self.path, "query": self.query, "status": self.status,
                "duration_ms": round(self.duration_ms, 3), "time": self.time, "api_key": self.api_key,
                "test_case_id": self.test_case_id, "seq": self.seq, "cut": self._cut_parts()}

    def detail(self, base_url: str) -> dict[str, Any]:
        """The summary plus the request and response, secrets masked, and a curl line repeating the request."""
        return {
            **self.as_dict(),
            "request": {"headers": _shown_headers(self.request_headers, self.cut, "request"),
                        "body": _shown_body(self.request_body, self.cut.get("request.body")),
                        "body_read": self.request_body is not None},
            "response": {"headers": _shown_headers(self.response_headers, self.cut, "response"),
                         "body": _shown_body(self.response_body, self.cut.get("response.body"))},
            "curl": self.curl(base_url),
            "curl_is_exact": not any(part.startswith("request.") or part in ("path", "query") for part in self.cut)
                             and all(_typeable(value) for _, value in self._repeated_headers()),
        }

    def curl(self, base_url: str) -> str:
        """A shell command that sends this request again (secrets included: it is for repeating it): the path
        as sent, the headers a client chose, the body's bytes."""
        path = (self.raw_path or self.path).removesuffix(CUT_MARK)
        query = self.query.removesuffix(CUT_MARK)
        url = base_url.rstrip("/") + path + (f"?{query}" if query else "")
        body = self.request_body
        if self.method == "HEAD" and not body:
            words = ["curl", "-I"]
        else:
            words = ["curl", "-i"] + (["-X", self.method] if self.method != "GET" or body else [])  # a body alone: POST
        if any(mark in url for mark in "[]{}"):
            words.append("--globoff")  # brackets and braces are curl's URL patterns otherwise
        if any(segment in (".", "..") for segment in path.split("/")):
            words.append("--path-as-is")  # curl resolves dot segments otherwise
        words.append(shlex.quote(url))
        headers = self._repeated_headers()
        for name, value in headers:
            words += ["-H", shlex.quote(f"{_shown_text(name)}: {_shown_text(value)}")]
        if not any(name.lower() == b"accept" for name, _ in headers):
            words += ["-H", "Accept:"]  # curl would send one of its own
        if not body:
            return " ".join(words)
        if not any(name.lower() == b"content-type" for name, _ in headers):
            words += ["-H", "Content-Type:"]  # curl would send a form type of its own
        if _typeable(body):
            return " ".join([*words, "--data-raw", shlex.quote(body.decode("utf-8"))])
        # Bytes a typed argument cannot carry (NUL, line ends, invalid UTF-8): printf writes them, in octal.
        escaped = "".join(chr(byte) if 32 <= byte < 127 and chr(byte) not in "\\%'" else f"\\{byte:03o}"
                          for byte in body)
        return f"printf '{escaped}' | " + " ".join([*words, "--data-binary", "@-"])

    def _repeated_headers(self) -> RawHeaders:
        return [(name, value) for name, value in self.request_headers
                if name.decode("latin-1").lower() not in _NOT_REPEATED]


class Journal:
    """The latest entries, oldest dropped first once there are `capacity` of them or they hold `max_bytes`."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if capacity < 1:
            raise ValueError("journal capacity must be at least 1")
        if max_bytes < 1:
            raise ValueError("the journal's byte bound must be at least 1")
        self.max_bytes = max_bytes
        self._capacity = capacity
        self._entries: deque[JournalEntry] = deque()
        self._bytes = 0
        self._numbers = itertools.count(1)  # keeps counting across clear(), so `seq` never repeats
        self.last_seq = 0
        self._changed: asyncio.Event | None = None  # made by the first waiter, set by the next record
        self._released = False

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def bytes(self) -> int:
        """What the kept entries count against `max_bytes`."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, entry: JournalEntry) -> JournalEntry:
        entry.seq = self.last_seq = next(self._numbers)
        entries = self._entries
        entries.append(entry)
        self._bytes += entry.size
        while len(entries) > self._capacity or (self._bytes > self.max_bytes and len(entries) > 1):
            self._bytes -= entries.popleft().size
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        return entry

    def newest(self, limit: int | None = None, after: int = 0) -> list[JournalEntry]:
        """Entries newest first, at most `limit` of them, only those numbered above `after`."""
        found: list[JournalEntry] = []
        for entry in reversed(self._entries):
            if entry.seq <= after or (limit is not None and len(found) >= limit):
                break
            found.append(entry)
        return found

    def find(self, seq: int) -> JournalEntry | None:
        for entry in reversed(self._entries):
            if entry.seq == seq:
                return entry
            if entry.seq < seq:
                break
        return None

    async def wait_for_newer(self, after: int, timeout: float, receive: Receive | None = None) -> None:
        """Return once an entry numbered above `after` is recorded, after `timeout` seconds, or, given
        the waiting request's `receive`, once its client has gone away."""
        if self.last_seq > after or self._released:
            return
        if self._changed is None:
            self._changed = asyncio.Event()
        waiters = [asyncio.ensure_future(self._changed.wait())]
        if receive is not None:
            waiters.append(asyncio.ensure_future(_disconnected(receive)))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def release_waiters(self) -> None:
        """End every wait now and any later one at once: the server is stopping, and waits for open requests."""
        self._released = True
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        removed = len(self._entries)
        self._entries.clear()
        self._bytes = 0
        return removed


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def mask_api_key(key: str | None) -> str | None:
    """`****` and the key's last 4 characters; a key of 4 or fewer is masked whole."""
    if not key:
        return None
    return "****" + (key[-4:] if len(key) > 4 else "")


def cut_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + CUT_MARK


def _first_header(headers: RawHeaders, name: bytes) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def _typeable(value: bytes) -> bool:
    """Whether these bytes, shown as UTF-8 text on one line, are typed back exactly."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char == "\t" or char.isprintable() for char in text)


def _shown_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _shown_body(body: bytes | None, full_size: int | None) -> str | None:
    if body is None:
        return None
    text = body.decode("utf-8", errors="replace")
    return text + f"{CUT_MARK} ({full_size} bytes in all)" if full_size is not None else text


def _shown_headers(headers: RawHeaders, cut: dict[str, int], side: str) -> list[list[str]]:
    shown = []
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name.lower() in SECRET_HEADERS:
            value = mask_api_key(value) or ""
        full_size = cut.get(f"{side}.headers.{name.lower()}")
        if full_size is not None:
            value += f"{CUT_MARK} ({full_size} bytes in all)"
        shown.append([name, value])
    return shown
