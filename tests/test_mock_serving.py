"""How the mock's connections are served: an answer's head and body leave in one write, nothing written waits
past the event loop's current step, and a request head's deadline holds on a kept-alive connection too."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from conftest import serving
from test_mock_protocol import HEAD, closed, connect, envelope, read_answer

from mock_server.serving.answers import AnswerCycle


class RecordingTransport:
    """A transport that keeps each write (one written after its close is marked)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data) if not self.closed else b"<written after close>")

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    @property
    def data(self) -> bytes:
        """Everything written, as the peer reads it."""
        return b"".join(self.writes)


class NotPaused:
    write_paused = False

    def resume_reading(self) -> None:
        pass


def answer_cycle(transport: RecordingTransport) -> AnswerCycle:
    logger = logging.getLogger("test")
    scope: Any = {"type": "http", "method": "GET", "path": "/v1/leads", "headers": [], "http_version": "1.1"}
    return AnswerCycle(scope, transport, NotPaused(), logger, logger, False, [],  # type: ignore[arg-type]
                       False, True, lambda: None, asyncio.get_running_loop())


async def one_step() -> None:
    await asyncio.sleep(0)


HEAD_OF_2 = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
CHUNKED = {"type": "http.response.start", "status": 200, "headers": []}


def test_a_head_and_its_body_sent_in_one_step_leave_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        transport = RecordingTransport()
        cycle = answer_cycle(transport)
        await cycle.send(HEAD_OF_2)  # type: ignore[arg-type]
        await cycle.send({"type": "http.response.body", "body": b"{}"})
        sent_at_once = list(transport.writes)
        await one_step()
        assert transport.writes == sent_at_once, "nothing more to send after the body"
        return sent_at_once

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_a_lone_head_leaves_at_the_end_of_the_step() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        transport = RecordingTransport()
        await answer_cycle(transport).send(HEAD_OF_2)  # type: ignore[arg-type]
        held = list(transport.writes)
        await one_step()
        return held, transport.writes

    held, sent = asyncio.run(scenario())
    assert held == []
    assert sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"]


def test_a_streamed_head_does_not_wait_for_a_late_body() -> None:
    async def scenario() -> list[bytes]:
        transport = RecordingTransport()
        cycle = answer_cycle(transport)
        await cycle.send(CHUNKED)  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        head_sent = list(transport.writes)
        await cycle.send({"type": "http.response.body", "body": b"{}", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b""})
        assert transport.writes[len(head_sent):] == [b"2\r\n{}\r\n", b"0\r\n\r\n"]
        return head_sent

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]


def test_an_app_failing_after_its_head_gets_the_head_written_then_the_connection_closed() -> None:
    async def failing_app(scope: Any, receive: Any, send: Any) -> None:
        await send(HEAD_OF_2)
        raise ValueError("broken mid-answer")

    async def scenario() -> RecordingTransport:
        transport = RecordingTransport()
        await answer_cycle(transport).run_asgi(failing_app)  # type: ignore[arg-type]
        await one_step()  # the end-of-step write finds nothing left, and a closed transport
        return transport

    transport = asyncio.run(scenario())
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"]
    assert transport.closed


def test_a_second_request_whose_head_trickles_on_a_kept_alive_connection_gets_408() -> None:
    with serving(header_timeout=1.0, keep_alive_timeout=5.0) as (base, _app), connect(base) as sock:
        sock.sendall(f"GET /v1/leads?limit=1 HTTP/1.1\r\n{HEAD}\r\n".encode())
        status, _, _, was_closed = read_answer(sock, close_wait=0.05)
        assert status == 200 and not was_closed
        sock.sendall(b"GET /v1/leads HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        started = time.monotonic()
        status, headers, body, was_closed = read_answer(sock)
        envelope(status, headers, body, 408, "REQUEST_TIMEOUT")
        assert was_closed and time.monotonic() - started < 4


def test_a_kept_alive_connection_closes_its_keep_alive_timeout_after_its_last_answer_not_its_first() -> None:
    with serving(keep_alive_timeout=1.0) as (base, _app), connect(base) as sock:
        sock.sendall(f"GET /v1/leads?limit=1 HTTP/1.1\r\n{HEAD}\r\n".encode())
        assert read_answer(sock, close_wait=0.6)[3] is False  # answered, and still open 0.6 s on
        sock.sendall(f"GET /v1/leads?limit=1 HTTP/1.1\r\n{HEAD}\r\n".encode())
        answered = time.monotonic()
        status, _, _, was_closed = read_answer(sock, close_wait=0.7)
        assert status == 200 and not was_closed, "open past the first answer's deadline: the second one counts"
        assert closed(sock, wait=3.0), "closed once idle for the keep-alive timeout"
        assert 0.9 < time.monotonic() - answered < 2.5
