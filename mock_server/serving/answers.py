"""How an answer's bytes reach the socket: uvicorn's response cycle, its head checked at once and sent with its body.

uvicorn writes an answer's status line and headers, then its body: two writes, two TCP segments.
`AnswerCycle` holds the head until the body comes, at most to the end of the event loop's current
step (a head whose body comes later, a stream, still leaves in its own step), and sends both in
one write. The head is checked and laid out byte for byte as uvicorn 0.54's cycle does, and every
error and state change is uvicorn's; `receive` and the 500 answer are uvicorn's own code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from starlette.types import ASGIApp, Message
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

# The bytes uvicorn's HEADER_RE and HEADER_VALUE_RE refuse in a header name and in a value, as translation
# tables that turn each of them into 0 and every other byte into 1
_NOT_IN_NAMES = bytes([*range(0x20), 0x7F]) + b'()<>@,;:[]={} \t\\"'
_NOT_IN_VALUES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])
_NAME_FLAGS = bytes(0 if code in _NOT_IN_NAMES else 1 for code in range(256))
_VALUE_FLAGS = bytes(0 if code in _NOT_IN_VALUES else 1 for code in range(256))
_SPECIAL_NAMES = frozenset({b"content-length", b"transfer-encoding", b"connection"})  # those that change the cycle
_NAME, _VALUE = itemgetter(0), itemgetter(1)
_HEADER_LINE = b": ".join  # (name, value) -> b"name: value"
_HEAD_SHAPES: dict[tuple[bytes, ...], tuple[bool, tuple[int, ...]]] = {}  # see `_head_shape`
_MAX_HEAD_SHAPES = 256


def _head_shape(headers: list[tuple[bytes, bytes]]) -> tuple[bool, tuple[int, ...]]:
    """Whether a head's names are all lowercase, and where its names that change the cycle are; RuntimeError for
    a name uvicorn refuses. Remembered by the names, which are the same few, answer after answer."""
    names = tuple(map(_NAME, headers))
    shape = _HEAD_SHAPES.get(names)
    if shape is None:
        if 0 in b"".join(names).translate(_NAME_FLAGS):
            raise RuntimeError("Invalid HTTP header name.")
        lowercase = all(name == name.lower() for name, _ in headers)
        shape = (lowercase, tuple(index for index, (name, _) in enumerate(headers)
                                  if name.lower() in _SPECIAL_NAMES))
        if len(_HEAD_SHAPES) < _MAX_HEAD_SHAPES:
            _HEAD_SHAPES[names] = shape
    return shape


class AnswerCycle(RequestResponseCycle):
    """uvicorn's response cycle for one request, writing its answer's head with the body's first bytes.

    Made with the arguments of uvicorn's cycle, in order, minus its `message_event` (made once
    `receive` waits, see `message_event`), plus the event loop (for the end-of-step write of a head
    left alone). `held` is the head not yet written.
    """

    def __init__(self, scope: Any, transport: asyncio.Transport, flow: FlowControl, logger: logging.Logger,
                 access_logger: logging.Logger, access_log: bool, default_headers: list[tuple[bytes, bytes]],
                 expect_100_continue: bool, keep_alive: bool, on_response: Callable[..., None],
                 loop: asyncio.AbstractEventLoop) -> None:
        # uvicorn's attributes, set as its __init__ sets them (one call, no keywords, on every request)
        self.scope, self.transport, self.flow, self.logger = scope, transport, flow, logger
        self.access_logger, self.access_log, self.default_headers = access_logger, access_log, default_headers
        self._message_event: asyncio.Event | None = None
        self._message_ready = False  # the event's flag until the event is made
        self.on_response = on_response
        self.disconnected, self.keep_alive, self.waiting_for_100_continue = False, keep_alive, expect_100_continue
        self.body, self.more_body = bytearray(), True
        self.response_started = self.response_complete = False
        self.chunked_encoding: bool | None = None
        self.expected_content_length = 0
        self.loop = loop
        self.held: bytes | None = None

    @property
    def message_event(self) -> asyncio.Event:  # type: ignore[override]
        """uvicorn's event for `receive` (body bytes came, the request ended, the client left), made when first
        used: a request whose handler never reads its body (a GET) makes none."""
        event = self._message_event
        if event is None:
            event = self._message_event = asyncio.Event()
            if self._message_ready:
                event.set()
        return event

    def message_ready(self) -> None:
        """`message_event.set()`, without making the event."""
        if self._message_event is None:
            self._message_ready = True
        else:
            self._message_event.set()

    async def run_asgi(self, app: ASGIApp) -> None:  # type: ignore[override]
        """uvicorn's, the held head written before any close."""
        try:
            result = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except BaseException as exc:
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self.close()
        else:
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                self.close()
            elif not self.response_started and not self.disconnected:
                self.logger.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                self.logger.error("ASGI callable returned without completing response.")
                self.close()
        finally:
            self.on_response = lambda: None

    async def send(self, message: Message) -> None:  # type: ignore[override]
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self._start(message)
        elif not self.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
            self._body(message)
        else:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")

    def _start(self, message: Message) -> None:
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        raw = message.get("headers", [])
        headers = self.default_headers + (raw if type(raw) is list else list(raw))  # a new list either way
        if self.access_log:
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(self.scope), self.scope["method"],
                                    get_path_with_query_string(self.scope), self.scope["http_version"], status_code)
        shape = _head_shape(headers)
        values = b"".join(map(_VALUE, headers))
        if 0 in values.translate(_VALUE_FLAGS):
            raise RuntimeError("Invalid HTTP header value.")
        lowercase, specials = shape
        if not lowercase:
            headers = [(name.lower(), value) for name, value in headers]
        has_connection_close = False
        for index in specials:  # in order, as uvicorn meets them
            name, value = headers[index]
            if name == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif name == b"connection":
                connection = [token.lower().strip() for token in value.split(b",")]
                if b"close" in connection:
                    self.keep_alive = False
                    has_connection_close = True
        content = [STATUS_LINE[status_code], b"\r\n".join(map(_HEADER_LINE, headers)), b"\r\n" if headers else b""]
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status_code not in (204, 304):
            self.chunked_encoding = True  # neither content-length nor transfer-encoding given
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.held = b"".join(content)
        self.loop.call_soon(self.write_held)

    def _body(self, message: Message) -> None:
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
        elif self.chunked_encoding:
            content = [b"%x\r\n" % len(body), body, b"\r\n"] if body else []
            if not more_body:
                content.append(b"0\r\n\r\n")
            self._write(b"".join(content))
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
            self._write(body)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_ready()
            if not self.keep_alive:
                self.close()
            self.on_response()

    def _write(self, data: bytes) -> None:
        held = self.held
        if held is None:
            self.transport.write(data)
        else:
            self.held = None
            self.transport.write(held + data)

    def write_held(self) -> None:
        """Writes the head still held, if any (its body did not come in the step that sent it)."""
        held, self.held = self.held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def close(self) -> None:
        self.write_held()
        self.transport.close()
