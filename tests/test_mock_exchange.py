"""The exchange: one wrapper of `send` per request, the head hooks of the steps inside, what it saw go out."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import httpx
import pytest
from conftest import KEY, RACHEL_ID, make_app

from mock_server.auth import ApiKeys
from mock_server.config import Runtime, Settings
from mock_server.errors import ErrorTranslator
from mock_server.middleware.cors import Cors
from mock_server.middleware.error_handling import ServerErrors
from mock_server.middleware.exchange import EXCHANGE, Exchange, exchange_of
from mock_server.ratelimit import RateLimiter, RateLimitMiddleware


def sent_through(exchange: Exchange, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async def go() -> None:
        for message in messages:
            await exchange.send(message)

    asyncio.run(go())
    return messages


def test_head_hooks_run_nearest_the_app_first_and_what_they_add_is_what_goes_out() -> None:
    out: list[dict[str, Any]] = []

    async def server_send(message: dict[str, Any]) -> None:
        out.append(message)

    exchange = Exchange(server_send)
    order: list[str] = []
    exchange.on_head.append(lambda message: (order.append("outer"), message["headers"].append((b"x-outer", b"1"))))
    exchange.on_head.append(lambda message: (order.append("inner"), message["headers"].append((b"x-inner", b"1"))))
    sent_through(exchange, [{"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"2")]},
                            {"type": "http.response.body", "body": b"{}"}])
    assert order == ["inner", "outer"]
    assert out[0]["headers"] == [(b"content-length", b"2"), (b"x-inner", b"1"), (b"x-outer", b"1")]
    assert (exchange.status, exchange.headers) == (201, out[0]["headers"])


def test_the_body_is_kept_up_to_its_bound_and_counted_whole_and_completion_is_told_once_after_the_last_chunk() -> None:
    told: list[int] = []

    async def server_send(message: dict[str, Any]) -> None:
        pass

    exchange = Exchange(server_send)
    exchange.keep_body = 5
    exchange.on_complete.append(lambda: told.append(exchange.body_size))
    sent_through(exchange, [{"type": "http.response.start", "status": 200, "headers": []},
                            {"type": "http.response.body", "body": b"abc", "more_body": True},
                            {"type": "http.response.body", "body": b"defg", "more_body": True},
                            {"type": "http.response.body", "body": b"h"}])
    assert (b"".join(exchange.body_chunks), exchange.body_size, told) == (b"abcde", 8, [8])


def test_a_request_has_one_exchange_whichever_step_makes_it() -> None:
    async def server_send(message: dict[str, Any]) -> None:
        pass

    scope: dict[str, Any] = {"type": "http"}
    first, send = exchange_of(scope, server_send)
    again, same_send = exchange_of(scope, send)
    assert scope[EXCHANGE] is first is again
    assert same_send is send


def test_a_500_made_outside_a_step_has_none_of_its_headers_and_an_answer_made_inside_has_them() -> None:
    api_keys = ApiKeys((KEY,))
    limiter = RateLimiter(Runtime.from_settings(Settings(api_keys=(KEY,))))

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("disk on fire")

    async def answering(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def stack(inner: Any) -> Any:
        limited = RateLimitMiddleware(inner, limiter=limiter, api_keys=api_keys)
        return ServerErrors(Cors(limited, allow_origins=["*"]), handler=ErrorTranslator(lambda path: None).unexpected)

    async def call(app: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.get("/v1/leads/abc", headers={"X-API-Key": KEY})

    failed, answered = asyncio.run(call(stack(failing))), asyncio.run(call(stack(answering)))
    assert failed.status_code == 500 and failed.json()["error"]["code"] == "SERVER_ERROR"
    assert "ratelimit-limit" not in failed.headers and "vary" not in failed.headers
    assert answered.status_code == 404
    assert answered.headers["ratelimit-limit"] == "2000" and answered.headers["vary"] == "Origin"


class ResponseCycle:
    """As uvicorn's response cycle: it holds the request's scope, and the app sends through its bound method."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


@pytest.mark.parametrize("access_log_level", [logging.INFO, logging.WARNING])
def test_an_answered_request_leaves_no_reference_cycle_for_the_garbage_collector(access_log_level: int) -> None:
    app = make_app()
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": f"/v1/leads/{RACHEL_ID}", "raw_path": f"/v1/leads/{RACHEL_ID}".encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", KEY.encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }
    cycle = ResponseCycle(scope)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    access_logger = logging.getLogger("mock_server.access")
    level = access_logger.level
    access_logger.setLevel(access_log_level)
    gc.collect()
    gc.disable()
    try:
        asyncio.run(app.served(scope, receive, cycle.send))  # type: ignore[arg-type]
        assert cycle.messages[0]["status"] == 200
        assert EXCHANGE not in scope
        del cycle, scope
        assert not [item for item in gc.get_objects() if isinstance(item, Exchange)], "left for the collector"
    finally:
        gc.enable()
        access_logger.setLevel(level)
