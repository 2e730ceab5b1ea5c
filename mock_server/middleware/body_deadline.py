"""A deadline for reading a request's body, and no work for a client that left mid-body.

A client that declares a longer body than it sends (or sends it a byte at a time) would hold
its connection and a task forever: past `timeout` seconds from the start of the request the
body read fails with 408 in the envelope, and the connection closes. A client that goes away
before its body is complete stops the request where it stands, so a truncated body is never
acted on (a complete-looking JSON prefix of a longer declared body is not a request).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import error_response
from .exchange import exchange_of
from ..serving.refusals import RequestTimeout


class ClientWentAway(BaseException):
    """The client disconnected before its body was complete.

    A BaseException, like CancelledError, so that the error handlers inside (which catch
    Exception and answer 500) let it through to `BodyDeadline`, which answers no one.
    """


class BodyDeadline:
    def __init__(self, app: ASGIApp, *, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)  # nothing to wait for: the hot path of a GET stays bare
            return
        deadline = asyncio.get_running_loop().time() + self.timeout
        exchange, send = exchange_of(scope, send)
        body_complete = False

        async def receive_in_time() -> Message:
            nonlocal body_complete
            if body_complete:
                return await receive()  # only a disconnect is left to hear about
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"The request body did not arrive within {self.timeout:g} seconds",
                                     headers={"Connection": "close"}) from None
            if message["type"] == "http.disconnect":
                raise ClientWentAway()
            body_complete = not message.get("more_body", False)
            return message

        try:
            await self.app(scope, receive_in_time, send)
        except ClientWentAway:
            return
        except RequestTimeout as error:  # raised where no error handler turns it into an answer
            if exchange.status is not None:
                raise
            await error_response(error)(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    """Whether the request declares a body (HTTP/1.1 frames one only with these headers)."""
    for name, _ in scope["headers"]:
        if name == b"content-length" or name == b"transfer-encoding":
            return True
    return False
