"""One log line per request: method, path, status and duration."""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from .exchange import exchange_of, release_exchange

logger = logging.getLogger("mock_server.access")
LINE_FORMAT = "%s %s %d %.1fms"


class AccessLog:
    """Each request's line is logged at the end of the event loop's step in which it was answered.

    The outermost step of the stack: it also takes the request's exchange out of the scope when
    the request is done (see `release_exchange`).

    A busy server answers several requests a step: their lines go out as one record, a line each
    in its message (`record.access_lines` holds them apart), which costs a fraction of a record
    per request. A lone request's line still follows at once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._pending: list[tuple[str, str, int, float]] = []
        self._writing_on: asyncio.AbstractEventLoop | None = None  # the loop where the pending lines will be logged

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not logger.isEnabledFor(logging.INFO):
            try:
                await self.app(scope, receive, send)
            finally:
                release_exchange(scope)  # the outermost step: no one reads it after this
            return
        started = time.perf_counter()
        exchange, send = exchange_of(scope, send)
        try:
            await self.app(scope, receive, send)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            loop = asyncio.get_running_loop()
            if self._writing_on is not loop:
                loop.call_soon(self._log_pending)
                self._writing_on = loop
            status = exchange.status
            # an app that fails before answering gets 500 from the server
            self._pending.append((scope["method"], scope["path"], 500 if status is None else status, elapsed))
            release_exchange(scope)

    def _log_pending(self) -> None:
        pending, self._pending, self._writing_on = self._pending, [], None
        lines = [LINE_FORMAT % line for line in pending]
        # logger.info minus its stack walk for the caller's file and line, which no access line shows
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "%s", ("\n".join(lines),), None)
        record.access_lines = lines
        logger.handle(record)
