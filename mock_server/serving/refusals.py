"""What the protocol answers itself, in the API's error envelope, to a request it will not pass to the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from ..api_errors import ApiError
from ..errors import error_body

if TYPE_CHECKING:
    from .connections import ConnectionLimits


class MalformedRequest(ApiError):
    status, code, default_message = 400, "MALFORMED_REQUEST", "Malformed HTTP request"


class RequestTimeout(ApiError):
    status, code, default_message = 408, "REQUEST_TIMEOUT", "The request did not arrive in time"


class UriTooLong(ApiError):
    status, code = 414, "URI_TOO_LONG"


class HeadersTooLarge(ApiError):
    status, code = 431, "HEADERS_TOO_LARGE"


class Refusal(Exception):
    """Raised in a parser callback to stop parsing; the parser wraps it, `_feed` answers `error`."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def parser_error_reason(error: Exception, cause: BaseException | None) -> str:
    text = str(error)
    if "PRI" in text:
        return "HTTP/2 is not served here; use HTTP/1.1"
    if cause is not None:  # a parser callback failed on what it was given
        return "the request target or a header cannot be read"
    return text or "unparsable bytes"


def refusal_answer(error: ApiError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole answer to a refused request, closing its connection, with the server's default headers first."""
    body = error_body(error)
    head = [STATUS_LINE[error.status]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
             b"connection: close\r\n\r\n"]
    return b"".join(head) + body


class Refusals:
    """The refusals and deadlines of `GuardedHttpProtocol`: what it answers itself, and when it stops waiting.

    `_head_timer` is the connection's one deadline: for a request head (408 when it runs out), or
    for the rest of a body the app answered without reading (the connection closes).
    """

    limits: ConnectionLimits
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    server_state: Any
    _head_timer: asyncio.TimerHandle | None
    _refused: bool
    _in_head: bool
    _request_begun: bool

    def _parse_failed(self, error: Exception) -> None:
        if isinstance(error, httptools.HttpParserUpgrade):
            return  # no WebSockets here: the app answers the request as plain HTTP, then the connection closes
        cause = error.__cause__ or error.__context__
        if isinstance(cause, Refusal):
            self._refuse(cause.error)
        elif not self._refused:
            self._refuse(MalformedRequest(f"Malformed HTTP request: {parser_error_reason(error, cause)}"))

    def send_400_response(self, msg: str) -> None:
        self._refuse(MalformedRequest(f"Malformed HTTP request: {msg}"))

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
        self.transport.write(refusal_answer(error, self.server_state.default_headers))
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
