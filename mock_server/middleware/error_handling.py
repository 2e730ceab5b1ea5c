"""Connexion's two error steps, with nothing built per request until something is raised."""

from __future__ import annotations

from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .exchange import exchange_of


class ServerErrors(ServerErrorMiddleware):
    """Same handler and answer as Connexion's `ServerErrorMiddleware`, for what no other step handled.

    Whether the answer has started is read from the request's exchange, not from a `send` of its own.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange, send = exchange_of(scope, send)
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            request = Request(scope)
            if self.handler is None:
                response = self.error_response(request, exc)
            elif is_async_callable(self.handler):
                response = await self.handler(request, exc)  # type: ignore[arg-type]
            else:
                response = await run_in_threadpool(self.handler, request, exc)  # type: ignore[arg-type]
            if exchange.status is None:
                await response(scope, receive, send)
            raise exc  # the server logs it, a test client may raise it


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
        exchange, send = exchange_of(scope, send)
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            handler = None
            if isinstance(exc, HTTPException):
                handler = self._status_handlers.get(exc.status_code)
            if handler is None:
                handler = next((self._exception_handlers[cls] for cls in type(exc).__mro__
                                if cls in self._exception_handlers), None)
            if handler is None:
                raise exc
            if exchange.status is not None:
                raise RuntimeError("Caught handled exception, but response already started.") from exc
            request = Request(scope, receive, send)
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            if response is not None:
                await response(scope, receive, send)
            exc.__traceback__ = None  # reused exception instances would pile up tracebacks across requests
