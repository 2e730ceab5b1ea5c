"""uvicorn's httptools protocol with the limits a server facing hostile clients needs.

- A request line longer than `max_url_bytes` is answered 414, a request head (line and
  headers) longer than `max_head_bytes` 431, both before more of it is buffered.
- An `Upgrade` request (WebSocket) is answered as plain HTTP by the app, then the connection closes.
- Bytes the HTTP parser rejects (a lowercase method, a duplicate Content-Length, a raw
  non-ASCII path) are answered 400; all of these in the API's error envelope, not text/plain.
- A request's head must arrive within `header_timeout` seconds of its first byte, or of the
  connection's opening: 408 (or a silent close when nothing was sent).
- A client that half-closes after its request (shuts down its sending side) still gets its
  answers; the connection closes after the last of them.
- At most `max_connections` are open: past it the connection idle the longest (waiting for a
  request head or a body, never one being answered) is closed, so idle sockets cannot use up
  the process's file descriptors while real requests wait.

How an answer's bytes go out (one write for its head and body, the head's headers checked at
once) is in `answers.py`. The parser's callbacks for each request are uvicorn 0.54's, with these
checks inside them (one call each, where a subclass calling uvicorn's would make two).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .answers import AnswerCycle
from .connections import ConnectionLimits, IdleConnections
from .refusals import HeadersTooLarge, MalformedRequest, Refusal, Refusals, RequestTimeout, UriTooLong

__all__ = ["ConnectionLimits", "GuardedHttpProtocol", "IdleConnections", "RequestTimeout", "guarded_protocol"]


class GuardedHttpProtocol(Refusals, HttpToolsProtocol):
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
        self._idle_since: float | None = None  # when the last answer ended, while no new byte has come
        self._client_done = False  # the client has half-closed: it sends nothing more

    # -- connection life -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()
        if self.connections_of_server is not None:
            self.connections_of_server.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self.connections_of_server is not None:
            self.connections_of_server.closed(self)
        super().connection_lost(exc)

    def _keep_alive_ended(self) -> None:
        """uvicorn's keep-alive timeout, counted from the last answer: bytes since stop it, a later answer restarts it."""
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # a request came in: its answer arms the timer again
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_ended)
        else:
            self.timeout_keep_alive_handler()

    def eof_received(self) -> bool:
        """The client sent its last byte. A request it sent whole is still answered (the transport stays
        open for writing, closed after the answer); with nothing to answer asyncio closes it now."""
        self._client_done = True
        cycle = self.cycle
        return bool(self.pipeline) or (cycle is not None and not cycle.response_complete and not cycle.more_body)

    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.close()

    # -- bytes in -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._idle_since = None  # busy: the keep-alive timer, left running, finds it so
        if self._in_head and self._head_bytes + len(data) <= self.limits.max_head_bytes:
            self._head_bytes += len(data)  # the common case: within the head's limit at once
            try:
                self.parser.feed_data(data)
            except (httptools.HttpParserUpgrade, httptools.HttpParserError) as error:
                self._parse_failed(error)
        else:
            self._data_past_head(data)
        if self._refused or (self._in_head and not self._request_begun):
            return  # refused, or each request in these bytes complete (its connection is busy, not idle)
        if self.connections_of_server is not None:
            self.connections_of_server.touched(self)  # a request still coming in: idle, but the latest so
        if self._in_head and self._head_timer is None:
            # a request head begun in these bytes and not complete: its deadline runs from now (a head
            # that arrives whole, as most do, never needs a timer)
            self._arm_head_timer()

    def _data_past_head(self, data: bytes) -> None:
        """Bytes of a body, or that take a request head past its limit: fed up to the limit, then refused."""
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

    def _feed(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserUpgrade, httptools.HttpParserError) as error:
            self._parse_failed(error)

    # -- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        self._request_begun = True
        self._url_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            raise Refusal(UriTooLong(self._url_message()))
        self.url += url

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._cancel_head_timer()
        try:
            self.url.decode("ascii")
        except UnicodeDecodeError:
            raise Refusal(MalformedRequest("Malformed HTTP request: the path must be ASCII (percent-encode "
                                            "other characters)")) from None
        parser, scope = self.parser, self.scope
        http_version = parser.get_http_version()
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        upgrade = parser.should_upgrade()
        if upgrade and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        scope["query_string"] = parsed_url.query or b""
        app = self.app
        if self.limit_concurrency is not None and (
                len(self.connections) >= self.limit_concurrency or len(self.tasks) >= self.limit_concurrency):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        existing_cycle = self.cycle
        self.cycle = cycle = AnswerCycle(
            scope, self.transport, self.flow, self.logger, self.access_logger, self.access_log,
            self.server_state.default_headers, self.expect_100_continue,
            http_version != "1.0" and parser.should_keep_alive(), self.on_response_complete, self.loop)
        if upgrade:
            cycle.keep_alive = False  # the parser reads nothing after an upgrade request
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(cycle, app)
        else:  # pipelined: waits for the answer before it
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if not ((self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete):
            cycle.more_body = False
            cycle.message_ready()
        if self._head_timer is not None:
            self._cancel_head_timer()  # and the deadline for the rest of a body answered early
        self._in_head, self._head_bytes, self._request_begun = True, 0, False
        if self.connections_of_server is not None:
            self.connections_of_server.busy(self)

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        closing = self.transport.is_closing()
        if not closing:
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
            else:
                # the keep-alive deadline runs from now; one timer a connection, not one an answer
                self._idle_since = self.loop.time()
                if self.timeout_keep_alive_task is None:
                    self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_ended)
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and cycle.more_body and not closing:
            # answered before its body was read (a 401, a 413): the rest may come, but not forever
            self._arm_head_timer(self.limits.body_timeout, self._drain_timed_out)
        serving = cycle is not None and not cycle.response_complete and not cycle.more_body
        if self._client_done and not serving and not self.pipeline and not closing:
            self.transport.close()  # the last answer to a half-closed client is out (close() flushes it)
            return
        if self.connections_of_server is not None and not serving and not closing:
            self.connections_of_server.idle(self)


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class for one server: its limits, and its own table of open connections."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {
        "limits": limits, "connections_of_server": IdleConnections(limits.connection_cap()),
    })
