"""How an answer's bytes reach the socket: its head checked and written as uvicorn writes it, then sent with its body.

An answer's head and its body reach the socket in one write (`JoinedWrites`), where uvicorn
would make two: one system call and one TCP segment an answer, not two. The head is checked and
laid out by `HeadCheckedAtOnce`, byte for byte as uvicorn's response cycle does.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, RequestResponseCycle


class JoinedWrites:
    """A connection's transport as uvicorn's response cycle sees it: a write waits for the next one, at
    most to the end of the event loop's current step, and goes out with it in one `write`.

    uvicorn writes an answer's status line and headers, then its body; a plain answer sends both in
    one step, so here they leave together. A head whose body comes later (a stream) still leaves in
    its own step, and so does anything else written (`100 Continue`).
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._held = None
            self._transport.write(b"".join((held, data)))

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


# The bytes uvicorn's HEADER_RE and HEADER_VALUE_RE refuse in a header name and in a value
_NOT_IN_NAMES = bytes([*range(0x20), 0x7F]) + b'()<>@,;:[]={} \t\\"'
_NOT_IN_VALUES = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F])


class HeadCheckedAtOnce(RequestResponseCycle):
    """uvicorn's response cycle, writing an answer's head as uvicorn 0.54 does, its headers checked at once.

    uvicorn searches each header name and value with a regular expression: 14 searches for a plain
    answer of the mock, about a tenth of the CPU time its request costs. Here all names, then all
    values, are checked in one pass each for the same bytes, with the same error. Body messages,
    and a head logged by uvicorn's own access log, go through uvicorn's `send` unchanged.
    """

    async def send(self, message: Message) -> None:
        if (self.response_started or self.disconnected or self.flow.write_paused or self.access_log
                or message["type"] != "http.response.start"):
            await super().send(message)
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        headers = self.default_headers + list(message.get("headers", []))
        names = b"".join([name for name, _ in headers])
        if len(names.translate(None, _NOT_IN_NAMES)) != len(names):
            raise RuntimeError("Invalid HTTP header name.")
        values = b"".join([value for _, value in headers])
        if len(values.translate(None, _NOT_IN_VALUES)) != len(values):
            raise RuntimeError("Invalid HTTP header value.")
        content = [STATUS_LINE[status_code]]
        has_connection_close = False
        for name, value in headers:
            name = name.lower()
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
            content.extend([name, b": ", value, b"\r\n"])
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status_code not in (204, 304):
            self.chunked_encoding = True  # neither content-length nor transfer-encoding given
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.transport.write(b"".join(content))
