"""Connexion's exception step, with nothing built per request until something is raised."""

from __future__ import annotations

from connexion.middleware.exceptions import ExceptionMiddleware
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send


class ErrorHandling(ExceptionMiddleware):
    """Same handlers and answers as `ExceptionMiddleware`.

    Starlette's version builds a `Request` and a wrapping app for every HTTP request; here the
    request object is built only for a handler, once an exception has been raised.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["starlette.exception_handlers"] = (self._exception_handlers, self._status_handlers)
        response_started = False

        async def sender(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, sender)
        except Exception as exc:
            handler = None
            if isinstance(exc, HTTPException):
                handler = self._status_handlers.get(exc.status_code)
            if handler is None:
                handler = next((self._exception_handlers[cls] for cls in type(exc).__mro__
                                if cls in self._exception_handlers), None)
            if handler is None:
                raise exc
            if response_started:
                raise RuntimeError("Caught handled exception, but response already started.") from exc
            request = Request(scope, receive, send)
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            if response is not None:
                await response(scope, receive, sender)
            exc.__traceback__ = None  # reused exception instances would pile up tracebacks across requests
