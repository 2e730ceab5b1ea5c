"""One wrapper of `send` for the whole stack: what an answer has sent so far, and what the steps add to its head.

Each step that must see or stamp the answer (the access log, the journal, the error steps, CORS,
the rate limit) used to wrap `send` in a coroutine of its own, so that every message of every
answer went through six of them. Now the outermost of those steps wraps it once, in an `Exchange`
kept in the scope; the steps inside pass that `send` on, read the exchange, and add plain
functions to run on the head. Any step also works alone: it then makes the exchange itself.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXCHANGE = "mock.exchange"  # the scope key

HeadHook = Callable[[Message], None]


class Exchange:
    """One HTTP request's answer as it goes out through `send`.

    `on_head` hooks run on the `http.response.start` message, the last added first (the step
    nearest the app first, as nested wrappers would), and may change its headers. `status` and
    `headers` are those of the head as sent (None and () until then); the body's first
    `keep_body` bytes are kept in `body_chunks`, and `body_size` counts all of it. `on_complete`
    functions run once the last body chunk has been sent.
    """

    __slots__ = ("_send", "status", "headers", "on_head", "on_complete", "keep_body", "body_chunks", "body_size")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.headers: object = ()
        self.on_head: list[HeadHook] = []
        self.on_complete: list[Callable[[], None]] = []
        self.keep_body = 0
        self.body_chunks: list[bytes] = []
        self.body_size = 0

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            for hook in reversed(self.on_head):
                hook(message)
            self.status, self.headers = message["status"], message.get("headers", ())
            await self._send(message)
            return
        if kind == "http.response.body":
            chunk = message.get("body", b"")
            if chunk:
                kept, size = self.keep_body, self.body_size
                if size < kept:
                    self.body_chunks.append(chunk[:kept - size] if size + len(chunk) > kept else chunk)
                self.body_size = size + len(chunk)
            await self._send(message)
            if not message.get("more_body", False):
                for done in self.on_complete:
                    done()
            return
        await self._send(message)


def exchange_of(scope: Scope, send: Send) -> tuple[Exchange, Send]:
    """The request's exchange and the `send` to pass on: the one the scope holds, or a new one wrapping `send`."""
    exchange = scope.get(EXCHANGE)
    if exchange is None:
        exchange = scope[EXCHANGE] = Exchange(send)
        return exchange, exchange.send
    return exchange, send


async def call_with_head_hook(app: ASGIApp, scope: Scope, receive: Receive, send: Send, hook: HeadHook) -> None:
    """Calls `app` with `hook` run on the answer's head, as a `send` wrapper around `app` would: once an
    exception has left `app`, an answer made further out (by an error step) does not get it."""
    exchange, send = exchange_of(scope, send)
    exchange.on_head.append(hook)
    try:
        await app(scope, receive, send)
    except BaseException:
        exchange.on_head.remove(hook)
        raise


def release_exchange(scope: Scope) -> None:
    """Takes the request's exchange out of its scope, once the outermost step is done with the request.

    The exchange holds the server's `send`, whose response cycle holds the scope: left in place,
    that is a reference cycle per request, which only the garbage collector frees (a collection
    every few dozen requests, each walking every young object).
    """
    scope.pop(EXCHANGE, None)
