"""The answer's head as the mock writes it: byte for byte uvicorn's, its headers checked in one pass."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from mock_server.serving.answers import HeadCheckedAtOnce

DATE = [(b"date", b"Tue, 01 Dec 2026 15:00:00 GMT")]


class Written:
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False


class NotPaused:
    write_paused = False


def cycle(kind: type[RequestResponseCycle], method: str = "GET", keep_alive: bool = True) -> RequestResponseCycle:
    scope: Any = {"type": "http", "method": method, "path": "/v1/leads", "headers": []}
    logger = logging.getLogger("test")
    made = kind(scope=scope, transport=Written(), flow=NotPaused(), logger=logger,  # type: ignore[arg-type]
                access_logger=logger, access_log=False, default_headers=DATE, message_event=asyncio.Event(),
                expect_100_continue=False, keep_alive=keep_alive, on_response=lambda: None)
    return made


def written(kind: type[RequestResponseCycle], message: dict[str, Any], **options: Any) -> tuple[Any, ...]:
    made = cycle(kind, **options)
    asyncio.run(made.send(message))  # type: ignore[arg-type]
    return (made.transport.data, made.chunked_encoding, made.expected_content_length,  # type: ignore[attr-defined]
            made.keep_alive, made.response_started)


HEADS = {
    "plain": ({"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"2"), (b"content-type", b"application/json"),
                           (b"RateLimit-Limit", b"100"), (b"vary", b"Origin")]}, {}),
    "no length: chunked": ({"type": "http.response.start", "status": 200, "headers": []}, {}),
    "no length, HEAD": ({"type": "http.response.start", "status": 200, "headers": []}, {"method": "HEAD"}),
    "no length, 204": ({"type": "http.response.start", "status": 204}, {}),
    "no length, 304": ({"type": "http.response.start", "status": 304, "headers": []}, {}),
    "connection close": ({"type": "http.response.start", "status": 408,
                          "headers": [(b"content-length", b"0"), (b"Connection", b"keep-alive, Close")]}, {}),
    "not kept alive": ({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]},
                       {"keep_alive": False}),
    "chunked asked": ({"type": "http.response.start", "status": 201,
                       "headers": [(b"Transfer-Encoding", b"Chunked")]}, {}),
    "non-ASCII value": ({"type": "http.response.start", "status": 200,
                         "headers": [(b"content-length", b"0"), (b"x-name", "Zoë".encode())]}, {}),
}


@pytest.mark.parametrize("case", HEADS)
def test_the_head_and_the_cycles_state_are_uvicorns_own(case: str) -> None:
    message, options = HEADS[case]
    assert written(HeadCheckedAtOnce, message, **options) == written(RequestResponseCycle, message, **options)


@pytest.mark.parametrize("code", [*range(0x20), 0x7F, *b'()<>@,;:[]={} \t\\"'])
def test_a_header_name_uvicorn_refuses_is_refused_with_its_error(code: int) -> None:
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"0"), (b"x-" + bytes([code]) + b"name", b"value")]}
    for kind in (HeadCheckedAtOnce, RequestResponseCycle):
        with pytest.raises(RuntimeError, match="Invalid HTTP header name"):
            written(kind, message)


@pytest.mark.parametrize("code", [*range(0x09), *range(0x0A, 0x20), 0x7F])
def test_a_header_value_uvicorn_refuses_is_refused_with_its_error(code: int) -> None:
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"0"), (b"x-name", b"a" + bytes([code]) + b"b")]}
    for kind in (HeadCheckedAtOnce, RequestResponseCycle):
        with pytest.raises(RuntimeError, match="Invalid HTTP header value"):
            written(kind, message)


def test_bytes_uvicorn_allows_are_allowed() -> None:
    allowed_in_values = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
    allowed_in_names = bytes(code for code in range(0x21, 0x100)
                             if code != 0x7F and bytes([code]) not in b'()<>@,;:[]={}\\"')
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"0"), (allowed_in_names, allowed_in_values)]}
    assert written(HeadCheckedAtOnce, message) == written(RequestResponseCycle, message)
