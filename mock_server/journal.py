"""A bounded journal of the Leads API requests the mock answered, for inspection by developers."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import is_leads_path
from .timestamps import format_ms, now_ms

DEFAULT_CAPACITY = 500
TEST_CASE_HEADER = b"x-schemathesis-testcaseid"


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One answered request. `status` is None when the client went away before any answer."""

    method: str
    path: str
    query: str
    status: int | None
    duration_ms: float
    time: str
    api_key: str | None
    test_case_id: str | None
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Journal:
    """Ring buffer of the latest entries; the oldest drop out once `capacity` is reached."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("journal capacity must be at least 1")
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._numbers = itertools.count(1)  # keeps counting across clear(), so `seq` never repeats

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, entry: JournalEntry) -> JournalEntry:
        numbered = JournalEntry(entry.method, entry.path, entry.query, entry.status, entry.duration_ms, entry.time,
                                entry.api_key, entry.test_case_id, next(self._numbers))  # replace() is slow
        self._entries.append(numbered)
        return numbered

    def newest(self, limit: int | None = None) -> list[JournalEntry]:
        """Entries newest first, at most `limit` of them."""
        count = len(self._entries) if limit is None else min(limit, len(self._entries))
        return [self._entries[-index] for index in range(1, count + 1)]

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        removed = len(self._entries)
        self._entries.clear()
        return removed


def mask_api_key(key: str | None) -> str | None:
    """`****` and the key's last 4 characters; a key of 4 or fewer is masked whole."""
    if not key:
        return None
    return "****" + (key[-4:] if len(key) > 4 else "")


class JournalMiddleware:
    """Pure ASGI middleware recording every `/v1/leads*` request into a Journal.

    Messages pass through untouched as they come, so streaming and timing are unaffected;
    the entry is written once the last body chunk has been sent (or the app has failed).
    """

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_leads_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        started_at = now_ms()
        started = time.perf_counter()
        status: int | None = None
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            api_key = test_case_id = None
            for name, value in scope["headers"]:  # the first of each, as a header lookup would give
                name = name.lower()
                if name == b"x-api-key":
                    if api_key is None:
                        api_key = value.decode("latin-1")
                elif name == TEST_CASE_HEADER and test_case_id is None:
                    test_case_id = value.decode("latin-1")
            self.journal.record(
                JournalEntry(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    time=format_ms(started_at),
                    api_key=mask_api_key(api_key),
                    test_case_id=test_case_id,
                )
            )

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record()

        try:
            await self.app(scope, receive, watching_send)
        except Exception:
            if status is None:
                status = 500  # what the server's outermost error handler answers
            raise
        finally:
            record()
