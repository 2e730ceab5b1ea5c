"""uvicorn's httptools protocol with the limits a server facing hostile clients needs.

- A request line longer than `max_url_bytes` is answered 414, a request head (line and
  headers) longer than `max_head_bytes` 431, both before more of it is buffered.
- An `Upgrade` request (WebSocket) is answered as plain HTTP by the app, then the connection closes.
- Bytes the HTTP parser rejects (a lowercase method, a duplicate Content-Length, a raw
  non-ASCII path) are answered 400; all of these in the API's error envelope, not text/plain.
- A request's head must arrive within `header_timeout` seconds of its first byte, or of the
  connection's opening: 408 (or a silent close when nothing was sent).
- At most `max_connections` are open: past it the connection idle the longest (waiting for a
  request head or a body, never one being answered) is closed, so idle sockets cannot use up
  the process's file descriptors while real requests wait.

How an answer's bytes go out (one write for its head and body, the head's headers checked at
once) is in `answers.py`.
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ..api_errors import ApiError
from ..errors import error_body
from .answers import HeadCheckedAtOnce, JoinedWrites

DEFAULT_MAX_URL_BYTES = 16 * 1024
DEFAULT_MAX_HEAD_BYTES = 64 * 1024
_DESCRIPTORS_KEPT = 64  # for the state file, logs and the listening socket
_MAX_DEFAULT_CONNECTIONS = 1024


class MalformedRequest(ApiError):
    status, code, default_message = 400, "MALFORMED_REQUEST", "Malformed HTTP request"


class RequestTimeout(ApiError):
    status, code, default_message = 408, "REQUEST_TIMEOUT", "The request did not arrive in time"


class UriTooLong(ApiError):
    status, code = 414, "URI_TOO_LONG"


class HeadersTooLarge(ApiError):
    status, code = 431, "HEADERS_TOO_LARGE"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0  # here: for the rest of a body the app answered without reading
    max_connections: int | None = None
    max_url_bytes: int = DEFAULT_MAX_URL_BYTES
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES

    def connection_cap(self) -> int:
        """`max_connections`, or what the file descriptor limit leaves room for."""
        if self.max_connections is not None:
            return self.max_connections
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return _MAX_DEFAULT_CONNECTIONS
        return max(8, min(_MAX_DEFAULT_CONNECTIONS, soft - _DESCRIPTORS_KEPT))


class IdleConnections:
    """The open connections of one server; the idle ones in order of their last activity, for O(1) eviction."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open = 0
        self._idle: OrderedDict[GuardedHttpProtocol, None] = OrderedDict()
        self._closing: set[GuardedHttpProtocol] = set()

    def opened(self, connection: GuardedHttpProtocol) -> None:
        self.open += 1
        self._idle[connection] = None
        while self.open - len(self._closing) > self.cap and self._idle:
            oldest, _ = self._idle.popitem(last=False)  # the newest connection itself, when all else is busy
            self._closing.add(oldest)
            oldest.evict()

    def touched(self, connection: GuardedHttpProtocol) -> None:
        if connection in self._idle:
            self._idle.move_to_end(connection)

    def busy(self, connection: GuardedHttpProtocol) -> None:
        self._idle.pop(connection, None)

    def idle(self, connection: GuardedHttpProtocol) -> None:
        if connection not in self._closing:
            self._idle[connection] = None
            self._idle.move_to_end(connection)

    def closed(self, connection: GuardedHttpProtocol) -> None:
        self.open -= 1
        self._idle.pop(connection, None)
        self._closing.discard(connection)


class GuardedHttpProtocol(HttpToolsProtocol):
    """See the module's docstring. `limits` and `connections` are set per server by `guarded_protocol`."""

    limits: ConnectionLimits = ConnectionLimits()
    connections_of_server: IdleConnections | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # until the current request's headers are complete
        self._head_bytes = 0
        self._url_bytes = 0
        self._request_begun = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    # -- connection life -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._answer_writes = JoinedWrites(transport, self.loop)
        self._arm_head_timer()
        if self.connections_of_server is not None:
            self.connections_of_server.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self.connections_of_server is not None:
            self.connections_of_server.closed(self)
        super().connection_lost(exc)

    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.close()

    # -- bytes in -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head and self._head_bytes + len(data) <= self.limits.max_head_bytes:
            self._head_bytes += len(data)  # the common case: within the head's limit at once
            self._feed(data)
            data = b""
        while data and self._in_head and not self._refused:
            room = self.limits.max_head_bytes - self._head_bytes
            if room <= 0:  # a URL this long was refused by `on_url` already: the headers are what is too large
                self._refuse(HeadersTooLarge(f"Request headers exceed {self.limits.max_head_bytes} bytes"))
                return
            piece, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
            self._head_bytes += len(piece)
            self._feed(piece)
        if data and not self._refused:
            self._feed(data)
        if self._refused or (self._in_head and not self._request_begun):
            return  # refused, or each request in these bytes complete (its connection is busy, not idle)
        if self.connections_of_server is not None:
            self.connections_of_server.touched(self)  # a request still coming in: idle, but the latest so
        if self._in_head and self._head_timer is None:
            # a request head begun in these bytes and not complete: its deadline runs from now (a head
            # that arrives whole, as most do, never needs a timer)
            self._arm_head_timer()

    def _feed(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no WebSockets here: the app answers the request as plain HTTP, then the connection closes
        except httptools.HttpParserError as error:
            cause = error.__cause__ or error.__context__
            if isinstance(cause, _Refusal):
                self._refuse(cause.error)
            elif not self._refused:
                self._refuse(MalformedRequest(f"Malformed HTTP request: {_reason(error, cause)}"))

    # -- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._url_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            raise _Refusal(UriTooLong(self._url_message()))
        super().on_url(url)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._cancel_head_timer()
        try:
            self.url.decode("ascii")
        except UnicodeDecodeError:
            raise _Refusal(MalformedRequest("Malformed HTTP request: the path must be ASCII (percent-encode "
                                            "other characters)")) from None
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.__class__ = HeadCheckedAtOnce  # the same object, answering through the `send` above
            self.cycle.transport = self._answer_writes  # type: ignore[assignment] # write, close, is_closing: all it uses
        if self.parser.should_upgrade() and self.cycle is not None:
            self.cycle.keep_alive = False  # the parser reads nothing after an upgrade request

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._head_timer is not None:
            self._cancel_head_timer()  # and the deadline for the rest of a body answered early
        self._in_head, self._head_bytes, self._request_begun = True, 0, False
        if self.connections_of_server is not None:
            self.connections_of_server.busy(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and cycle.more_body and not self.transport.is_closing():
            # answered before its body was read (a 401, a 413): the rest may come, but not forever
            self._arm_head_timer(self.limits.body_timeout, self._drain_timed_out)
        serving = cycle is not None and not cycle.response_complete and not cycle.more_body
        if self.connections_of_server is not None and not serving and not self.transport.is_closing():
            self.connections_of_server.idle(self)

    def send_400_response(self, msg: str) -> None:
        self._refuse(MalformedRequest(f"Malformed HTTP request: {msg}"))

    # -- refusals -------------------------------------------------------------------------------

    def _url_message(self) -> str:
        return f"Request URL exceeds {self.limits.max_url_bytes} bytes"

    def _refuse(self, error: ApiError) -> None:
        """Answer `error` in the envelope from the protocol itself, then close: the request never reaches the app."""
        self._refused = True
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            self.transport.close()  # mid-answer: nothing sensible can be added
            return
        body = error_body(error)
        head = [STATUS_LINE[error.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                 b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _arm_head_timer(self, delay: float | None = None, callback: Callable[[], None] | None = None) -> None:
        """The connection's one deadline: for a request head by default, or `callback` after `delay`."""
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout if delay is None else delay,
                                                callback or self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _drain_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._request_begun:
            self._refuse(RequestTimeout(f"The request headers did not arrive within {self.limits.header_timeout:g} "
                                        "seconds"))
        elif self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # nothing sent since the connection opened or the last answer


class _Refusal(Exception):
    """Raised in a parser callback to stop parsing; the parser wraps it, `_feed` answers `error`."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _reason(error: Exception, cause: BaseException | None) -> str:
    text = str(error)
    if "PRI" in text:
        return "HTTP/2 is not served here; use HTTP/1.1"
    if cause is not None:  # a parser callback failed on what it was given
        return "the request target or a header cannot be read"
    return text or "unparsable bytes"


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class for one server: its limits, and its own table of open connections."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {
        "limits": limits, "connections_of_server": IdleConnections(limits.connection_cap()),
    })
