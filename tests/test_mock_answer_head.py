"""The answer as the mock writes it: byte for byte uvicorn's, its headers checked in one pass, the cycle's state
and errors uvicorn's own."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from test_mock_serving import NotPaused, RecordingTransport

from mock_server.serving.answers import AnswerCycle

DATE = [(b"date", b"Tue, 01 Dec 2026 15:00:00 GMT")]


def cycle(kind: type[RequestResponseCycle], method: str = "GET", keep_alive: bool = True) -> RequestResponseCycle:
    """A cycle of `kind` for one request, made in a running event loop."""
    scope: Any = {"type": "http", "method": method, "path": "/v1/leads", "headers": []}
    logger = logging.getLogger("test")
    arguments: dict[str, Any] = dict(
        scope=scope, transport=RecordingTransport(), flow=NotPaused(), logger=logger, access_logger=logger, access_log=False,
        default_headers=DATE, message_event=asyncio.Event(), expect_100_continue=False, keep_alive=keep_alive,
        on_response=lambda: None)
    if kind is AnswerCycle:
        del arguments["message_event"]  # made when `receive` first waits
        return AnswerCycle(*arguments.values(), asyncio.get_running_loop())
    return kind(**arguments)


def sent(kind: type[RequestResponseCycle], messages: list[dict[str, Any]], **options: Any) -> tuple[Any, ...]:
    """What a cycle of `kind` wrote once the step that sent `messages` ended, its state, and the error it raised."""
    async def scenario() -> tuple[Any, ...]:
        made = cycle(kind, **options)
        error = None
        try:
            for message in messages:
                await made.send(message)  # type: ignore[arg-type]
        except RuntimeError as raised:
            error = str(raised)
        await asyncio.sleep(0)  # the end of the step
        return (made.transport.data, made.transport.closed, error, made.chunked_encoding,  # type: ignore[attr-defined]
                made.expected_content_length, made.keep_alive, made.response_started, made.response_complete,
                made.message_event.is_set())

    return asyncio.run(scenario())


def written(kind: type[RequestResponseCycle], message: dict[str, Any], **options: Any) -> tuple[Any, ...]:
    data, _closed, error, *state = sent(kind, [message], **options)
    if error:
        raise RuntimeError(error)
    return (data, *state)


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
    assert written(AnswerCycle, message, **options) == written(RequestResponseCycle, message, **options)


@pytest.mark.parametrize("code", [*range(0x20), 0x7F, *b'()<>@,;:[]={} \t\\"'])
def test_a_header_name_uvicorn_refuses_is_refused_with_its_error(code: int) -> None:
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"0"), (b"x-" + bytes([code]) + b"name", b"value")]}
    for kind in (AnswerCycle, RequestResponseCycle):
        with pytest.raises(RuntimeError, match="Invalid HTTP header name"):
            written(kind, message)


@pytest.mark.parametrize("code", [*range(0x09), *range(0x0A, 0x20), 0x7F])
def test_a_header_value_uvicorn_refuses_is_refused_with_its_error(code: int) -> None:
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"0"), (b"x-name", b"a" + bytes([code]) + b"b")]}
    for kind in (AnswerCycle, RequestResponseCycle):
        with pytest.raises(RuntimeError, match="Invalid HTTP header value"):
            written(kind, message)


def test_bytes_uvicorn_allows_are_allowed() -> None:
    allowed_in_values = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
    allowed_in_names = bytes(code for code in range(0x21, 0x100)
                             if code != 0x7F and bytes([code]) not in b'()<>@,;:[]={}\\"')
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"content-length", b"0"), (allowed_in_names, allowed_in_values)]}
    assert written(AnswerCycle, message) == written(RequestResponseCycle, message)


def start(headers: list[tuple[bytes, bytes]], status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


ANSWERS = {
    "whole": ([start([(b"content-length", b"2")]), body(b"{}")], {}),
    "in two chunks": ([start([(b"content-length", b"4")]), body(b"ab", more=True), body(b"cd")], {}),
    "chunked": ([start([]), body(b"ab", more=True), body(b""), ], {}),
    "chunked, last chunk with bytes": ([start([]), body(b"ab", more=True), body(b"cd")], {}),
    "HEAD": ([start([(b"content-length", b"2")]), body(b"")], {"method": "HEAD"}),
    "204": ([start([], status=204), body(b"")], {}),
    "not kept alive: closed": ([start([(b"content-length", b"2")]), body(b"{}")], {"keep_alive": False}),
    "connection close asked": ([start([(b"content-length", b"0"), (b"connection", b"close")]), body(b"")], {}),
    "body longer than its length": ([start([(b"content-length", b"1")]), body(b"{}")], {}),
    "body shorter than its length": ([start([(b"content-length", b"3")]), body(b"{}")], {}),
    "body before the head": ([body(b"{}")], {}),
    "a second head": ([start([(b"content-length", b"0")]), start([])], {}),
    "a body after the end": ([start([(b"content-length", b"0")]), body(b""), body(b"")], {}),
    "the head alone": ([start([(b"content-length", b"2")])], {}),
}


@pytest.mark.parametrize("case", ANSWERS)
def test_an_answer_is_written_as_uvicorn_writes_it(case: str) -> None:
    messages, options = ANSWERS[case]
    assert sent(AnswerCycle, messages, **options) == sent(RequestResponseCycle, messages, **options)


def test_the_cycle_has_uvicorns_attributes_and_their_first_values() -> None:
    """`AnswerCycle` sets uvicorn's attributes itself: a uvicorn that adds or changes one fails here."""
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        ours, theirs = vars(cycle(AnswerCycle)), vars(cycle(RequestResponseCycle))
        return ours, theirs

    ours, theirs = asyncio.run(scenario())
    assert set(ours) - set(theirs) == {"loop", "held", "_message_event", "_message_ready"}
    assert set(theirs) - set(ours) == {"message_event"}  # a property here
    for name in ("scope", "transport", "flow", "logger", "access_logger", "on_response"):
        ours.pop(name), theirs.pop(name)  # made afresh for each cycle
    theirs.pop("message_event")
    assert {name: value for name, value in ours.items() if name in theirs} == theirs


def test_the_message_event_is_made_when_first_used_and_keeps_what_was_set_before() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        made = cycle(AnswerCycle)
        never_used = made._message_event is None  # type: ignore[attr-defined]
        made.message_ready()  # type: ignore[attr-defined] # the request's body is complete
        await asyncio.wait_for(made.message_event.wait(), 1)  # a later `receive` does not wait for it
        made.message_event.clear()
        return never_used, made.message_event.is_set(), made.message_event is made.message_event

    assert asyncio.run(scenario()) == (True, False, True)


def test_a_request_with_a_body_is_received_whole_through_the_late_made_event() -> None:
    async def scenario() -> dict[str, Any]:
        made = cycle(AnswerCycle)
        made.body, made.more_body = bytearray(b'{"a":1}'), False
        made.message_ready()  # type: ignore[attr-defined]
        return await made.receive()  # type: ignore[return-value]

    assert asyncio.run(scenario()) == {"type": "http.request", "body": b'{"a":1}', "more_body": False}


def test_heads_whose_names_join_to_the_same_bytes_are_told_apart() -> None:
    split = [(b"content-", b"x"), (b"length", b"y")]
    whole = [(b"content-length", b"0")]
    for headers in (split, whole, split):
        message = {"type": "http.response.start", "status": 200, "headers": headers}
        assert written(AnswerCycle, message) == written(RequestResponseCycle, message)


def test_a_head_with_uppercase_names_is_written_lowercase_as_uvicorn_writes_it() -> None:
    message = {"type": "http.response.start", "status": 200,
               "headers": [(b"Content-Length", b"0"), (b"X-Trace", b"a"), (b"CONNECTION", b"close")]}
    assert written(AnswerCycle, message) == written(RequestResponseCycle, message)
