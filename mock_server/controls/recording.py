"""What each Leads API request leaves in the journal: `JournalMiddleware`, and the recording of one request."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..middleware.exchange import Exchange, exchange_of
from .faults import API_PATH
from .journal import (ENTRY_OVERHEAD, HEADER_OVERHEAD, MAX_BODY, MAX_HEADERS, MAX_VALUE, Journal, JournalEntry,
                      RawHeaders, cut_text)

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_API_PATHS = API_PATH + "/"


class JournalMiddleware:
    """Pure ASGI middleware recording every `/v1/leads*` request into a Journal.

    Messages pass through untouched as they come, so streaming and timing are unaffected;
    the entry is written once the last body chunk has been sent (or the app has failed). Only
    references to the messages' bytes are kept on the way; the cutting happens once, at the end.
    """

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not (path == API_PATH or path.startswith(_API_PATHS)):
            await self.app(scope, receive, send)
            return
        exchange, send = exchange_of(scope, send)
        exchange.keep_body = MAX_BODY
        recording = Recording(self.journal, scope, exchange)
        exchange.on_complete.append(recording.record)  # recorded as soon as the answer is out
        try:
            await self.app(scope, receive if scope["method"] in _BODYLESS_METHODS else recording.watching(receive),
                           send)
        except Exception:
            recording.failed = True
            raise
        finally:
            recording.record()
            exchange.on_complete.clear()  # `record` holds the scope, which holds the exchange: no cycle left to collect


class Recording:
    """One request on its way through the app: what it has read of its body, and its entry once answered."""

    __slots__ = ("journal", "scope", "exchange", "started_ms", "started", "failed", "recorded", "request_chunks",
                 "received")

    def __init__(self, journal: Journal, scope: Scope, exchange: Exchange) -> None:
        self.journal, self.scope, self.exchange = journal, scope, exchange
        self.started_ms = time.time_ns() // 1_000_000  # `now_ms()`, minus a call
        self.started = time.perf_counter()
        self.failed = self.recorded = False
        self.request_chunks: list[bytes] | None = None  # None: the body was never read
        self.received = 0

    def watching(self, receive: Receive) -> Receive:
        """`receive`, keeping the first MAX_BODY bytes of the body it reads."""
        async def watching_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received = self.received
                if self.request_chunks is None:
                    self.request_chunks = []
                if received < MAX_BODY and chunk:
                    self.request_chunks.append(chunk[:MAX_BODY - received] if received + len(chunk) > MAX_BODY
                                               else chunk)
                self.received = received + len(chunk)
            return message

        return watching_receive

    def record(self) -> None:
        """The request's entry, into the journal, once."""
        if self.recorded:
            return
        self.recorded = True
        scope, exchange = self.scope, self.exchange
        status = exchange.status
        if status is None and self.failed:
            status = 500  # what the server's outermost error handler answers
        # One light pass over the headers here: the cutting loop runs for oversized ones alone.
        cut: dict[str, int] = {}
        request_headers = scope["headers"]
        request_size = 0
        for name, value in request_headers:  # plain loops, here: faster than sum(map(...)) and than a call
            request_size += len(name) + len(value)
        if request_size > MAX_VALUE or len(request_headers) > MAX_HEADERS:
            request_headers, request_size = _kept_headers(request_headers, cut, "request")
        response_headers: Any = exchange.headers
        response_size = 0
        for name, value in response_headers:
            response_size += len(name) + len(value)
        if response_size > MAX_VALUE or len(response_headers) > MAX_HEADERS or not isinstance(response_headers, list):
            response_headers, response_size = _kept_headers(response_headers, cut, "response")
        path = scope["path"]
        if len(path) > MAX_VALUE:
            cut["path"] = len(path)
            path = cut_text(path, MAX_VALUE)
        raw_path = scope.get("raw_path")
        sent_path = None  # kept only when escapes make it differ from the decoded path
        if raw_path and b"%" in raw_path:
            sent_path = cut_text(raw_path[:MAX_VALUE + 1].decode("latin-1"), MAX_VALUE)
            if len(raw_path) > MAX_VALUE:
                cut["path"] = len(raw_path)
        query = scope.get("query_string", b"")
        if len(query) > MAX_VALUE:
            cut["query"] = len(query)
            query_text = cut_text(query[:MAX_VALUE + 1].decode("latin-1"), MAX_VALUE)
        else:
            query_text = query.decode("latin-1")
        request_body = None
        chunks = self.request_chunks
        if chunks is not None:
            request_body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if self.received > MAX_BODY:
                cut["request.body"] = self.received
        chunks = exchange.body_chunks
        response_body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if exchange.body_size > MAX_BODY:
            cut["response.body"] = exchange.body_size
        size = (ENTRY_OVERHEAD + request_size + response_size + HEADER_OVERHEAD * (
            len(request_headers) + len(response_headers)) + len(path) + len(query_text)
            + len(request_body or b"") + len(response_body) + len(sent_path or ""))
        self.journal.record(JournalEntry(
            scope["method"], path, query_text, status, (time.perf_counter() - self.started) * 1000, self.started_ms,
            request_headers, request_body, response_headers, response_body, cut, size, raw_path=sent_path,
        ))


def _kept_headers(headers: Any, cut: dict[str, int], side: str) -> tuple[RawHeaders, int]:
    """The headers as kept (long ones cut, at most MAX_HEADERS), and the bytes of their names and values."""
    headers = list(headers)
    kept: RawHeaders = []
    size = 0
    for name, value in headers:
        if len(kept) == MAX_HEADERS:
            cut[f"{side}.headers"] = len(headers)
            break
        if len(name) > MAX_VALUE or len(value) > MAX_VALUE:
            cut[f"{side}.headers.{name[:MAX_VALUE].decode('latin-1').lower()}"] = len(value)
            name, value = name[:MAX_VALUE], value[:MAX_VALUE]
        kept.append((name, value))
        size += len(name) + len(value)
    return kept, size
