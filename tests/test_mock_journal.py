"""The request journal and the middleware that fills it, tested on a small Starlette app."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from contract_tests.target import serve_in_thread
from mock_server.controls.journal import CUT_MARK, MAX_BODY, MAX_HEADERS, MAX_VALUE, Journal, JournalEntry
from mock_server.controls.recording import JournalMiddleware
from mock_server.controls.journal import mask_api_key

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def entry(path: str = "/v1/leads", status: int = 200) -> JournalEntry:
    return JournalEntry("GET", path, "", status, 1.0, 1_782_864_000_000)


async def answer(request: Request) -> Response:
    status = int(request.query_params.get("status", "200"))
    return JSONResponse({"success": status < 400}, status_code=status)


def journaled_app(journal: Journal) -> JournalMiddleware:
    routes = [
        Route("/v1/leads", answer, methods=["GET", "POST"]),
        Route("/v1/leads/{id}", answer, methods=["GET", "PUT", "DELETE"]),
        Route("/health", answer),
        Route("/__mock/journal", answer),
    ]
    return JournalMiddleware(Starlette(routes=routes), journal)


def call(app: Any, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(send())


def http_scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": headers or []}


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def test_journal_keeps_only_the_newest_entries_up_to_its_capacity() -> None:
    journal = Journal(capacity=3)
    for number in range(5):
        journal.record(entry(f"/v1/leads/{number}"))
    assert len(journal) == 3
    assert [item.path for item in journal.newest()] == ["/v1/leads/4", "/v1/leads/3", "/v1/leads/2"]


def test_default_capacity_is_500_entries() -> None:
    journal = Journal()
    for _ in range(501):
        journal.record(entry())
    assert journal.capacity == 500
    assert len(journal) == 500


def test_newest_honours_the_limit() -> None:
    journal = Journal()
    for number in range(4):
        journal.record(entry(f"/v1/leads/{number}"))
    assert [item.path for item in journal.newest(2)] == ["/v1/leads/3", "/v1/leads/2"]
    assert len(journal.newest(100)) == 4


def test_clear_empties_the_journal_and_sequence_numbers_never_repeat() -> None:
    journal = Journal()
    first = journal.record(entry())
    journal.record(entry())
    assert journal.clear() == 2
    assert len(journal) == 0
    assert journal.record(entry()).seq == first.seq + 2


def test_capacity_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Journal(capacity=0)


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("key-tenant-a-1234", "****1234"), ("abcde", "****bcde"), ("abcd", "****"), ("ab", "****"),
        ("", None), (None, None),
    ],
)
def test_api_key_is_masked_to_its_last_four_characters(key: str | None, masked: str | None) -> None:
    assert mask_api_key(key) == masked


def test_leads_requests_are_recorded_with_method_path_query_status_and_masked_key() -> None:
    journal = Journal()
    app = journaled_app(journal)
    call(app, "GET", "/v1/leads?status=404&limit=5", {"X-API-Key": "secret-key-9876"})
    call(app, "DELETE", "/v1/leads/abc")
    newest, oldest = journal.newest()
    assert oldest.method == "GET"
    assert oldest.path == "/v1/leads"
    assert oldest.query == "status=404&limit=5"
    assert oldest.status == 404
    assert oldest.api_key == "****9876"
    assert oldest.duration_ms >= 0
    assert TIMESTAMP.fullmatch(oldest.time)
    assert (newest.method, newest.path, newest.status, newest.api_key) == ("DELETE", "/v1/leads/abc", 200, None)


def test_schemathesis_test_case_id_is_recorded_when_sent() -> None:
    journal = Journal()
    app = journaled_app(journal)
    call(app, "GET", "/v1/leads", {"X-Schemathesis-TestCaseId": "d2f1a"})
    call(app, "GET", "/v1/leads")
    without, with_id = journal.newest()
    assert with_id.test_case_id == "d2f1a"
    assert without.test_case_id is None


def test_entries_serialise_to_plain_dicts() -> None:
    journal = Journal()
    call(journaled_app(journal), "GET", "/v1/leads")
    assert set(journal.newest()[0].as_dict()) == {
        "method", "path", "query", "status", "duration_ms", "time", "api_key", "test_case_id", "seq", "cut",
    }


@pytest.mark.parametrize("path", ["/health", "/__mock/journal", "/v1/leadsx", "/v2/leads"])
def test_requests_outside_the_leads_api_are_not_recorded(path: str) -> None:
    journal = Journal()
    call(journaled_app(journal), "GET", path)
    assert len(journal) == 0


def test_streamed_chunks_pass_through_before_the_response_ends() -> None:
    journal = Journal()

    async def scenario() -> list[Message]:
        release, first_chunk_out = asyncio.Event(), asyncio.Event()
        start = {"type": "http.response.start", "status": 200, "headers": []}
        chunks = [
            {"type": "http.response.body", "body": b"one", "more_body": True},
            {"type": "http.response.body", "body": b"two", "more_body": False},
        ]

        async def streaming_app(scope: Scope, receive: Receive, send: Send) -> None:
            await send(start)
            await send(chunks[0])
            await release.wait()
            await send(chunks[1])

        received: list[Message] = []

        async def server_send(message: Message) -> None:
            received.append(message)
            if message.get("body") == b"one":
                first_chunk_out.set()

        middleware = JournalMiddleware(streaming_app, journal)
        task = asyncio.create_task(middleware(http_scope("/v1/leads"), no_body, server_send))
        await asyncio.wait_for(first_chunk_out.wait(), timeout=10)
        assert len(journal) == 0  # the entry waits for the end of the response
        release.set()
        await task
        assert received == [start, *chunks]
        return received

    asyncio.run(scenario())
    assert journal.newest()[0].status == 200


def test_app_failure_is_recorded_as_500_and_the_error_propagates() -> None:
    journal = Journal()

    async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def discard(message: Message) -> None:
        return None

    with pytest.raises(RuntimeError):
        asyncio.run(JournalMiddleware(failing_app, journal)(http_scope("/v1/leads/x"), no_body, discard))
    assert journal.newest()[0].status == 500


def test_non_http_scopes_pass_through_untouched() -> None:
    journal = Journal()
    seen: list[str] = []

    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def discard(message: Message) -> None:
        return None

    asyncio.run(JournalMiddleware(lifespan_app, journal)({"type": "lifespan"}, no_body, discard))
    assert seen == ["lifespan"]
    assert len(journal) == 0


# -- request and response, and the bounds ---------------------------------------------------------

async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body * int(request.query_params.get("times", "1")), media_type="text/plain",
                    headers={"X-Echo": request.headers.get("x-big", "")[:10]})


def echo_app(journal: Journal) -> JournalMiddleware:
    return JournalMiddleware(Starlette(routes=[Route("/v1/leads", echo, methods=["GET", "POST"])]), journal)


def call_raw(app: Any, method: str, path: str, headers: list[tuple[str, str]] | None = None,
             content: bytes | None = None) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, headers=headers, content=content)

    return asyncio.run(send())


def test_request_and_response_headers_and_bodies_are_recorded() -> None:
    journal = Journal()
    call_raw(echo_app(journal), "POST", "/v1/leads", [("X-API-Key", "secret-key-9876"), ("X-Big", "hello")],
             b'{"name": "Jordan"}')
    entry = journal.newest()[0]
    detail = entry.detail("http://127.0.0.1:8080/")
    assert ["x-api-key", "****9876"] in detail["request"]["headers"]
    assert detail["request"]["body"] == '{"name": "Jordan"}' and detail["request"]["body_read"] is True
    assert ["x-echo", "hello"] in detail["response"]["headers"]
    assert detail["response"]["body"] == '{"name": "Jordan"}'
    assert "-H 'x-api-key: secret-key-9876'" in detail["curl"] and detail["curl"].startswith(
        "curl -i -X POST http://127.0.0.1:8080/v1/leads ")
    assert detail["cut"] == [] and detail["curl_is_exact"] is True


def test_long_values_are_cut_and_marked_as_cut() -> None:
    journal = Journal()
    app = echo_app(journal)
    long_query = "q=" + "x" * 30_000
    call_raw(app, "POST", f"/v1/leads?times=3&{long_query}",
             [("X-Big", "y" * 1_000_000), ("X-Schemathesis-TestCaseId", "c" * 5_000)], b"z" * 40_000)
    entry = journal.newest()[0]
    assert len(entry.query) <= MAX_VALUE + len(CUT_MARK) and entry.query.endswith(CUT_MARK)
    assert entry.test_case_id is not None and entry.test_case_id.endswith(CUT_MARK)
    assert len(entry.test_case_id) <= 128 + len(CUT_MARK)
    assert all(len(value) <= MAX_VALUE for _, value in entry.request_headers)
    assert len(entry.request_body or b"") == MAX_BODY and len(entry.response_body) == MAX_BODY
    assert entry.cut == {"query": len(long_query) + len("times=3&"), "request.headers.x-big": 1_000_000,
                         "request.headers.x-schemathesis-testcaseid": 5_000, "request.body": 40_000,
                         "response.body": 120_000}
    summary = entry.as_dict()
    assert summary["cut"] == sorted([*entry.cut, "test_case_id"])
    detail = entry.detail("http://testserver/")
    assert dict(detail["request"]["headers"])["x-big"].endswith(f"{CUT_MARK} (1000000 bytes in all)")
    assert detail["response"]["body"].endswith(f"{CUT_MARK} (120000 bytes in all)")
    assert detail["curl_is_exact"] is False


def test_a_flood_of_headers_keeps_only_the_first_ones() -> None:
    journal = Journal()
    call_raw(echo_app(journal), "GET", "/v1/leads", [(f"X-H{number}", "v") for number in range(500)])
    entry = journal.newest()[0]
    assert len(entry.request_headers) == MAX_HEADERS and "request.headers" in entry.cut


def test_the_journal_is_bounded_in_bytes_dropping_the_oldest_entries() -> None:
    journal = Journal(capacity=500, max_bytes=200_000)
    app = echo_app(journal)
    for number in range(60):  # each: a 1 MB header, cut to 2 KB, and 16 KB bodies each way
        call_raw(app, "POST", f"/v1/leads?n={number}", [("X-Big", "y" * 1_000_000)], b"b" * 20_000)
    assert journal.bytes <= journal.max_bytes
    assert 3 <= len(journal) < 60
    assert journal.newest()[0].query == "n=59"
    assert journal.bytes == sum(entry.size for entry in journal.newest())
    kept = sum(len(entry.request_body or b"") + len(entry.response_body) + sum(len(n) + len(v) for n, v in
               entry.request_headers) for entry in journal.newest())
    assert kept <= journal.max_bytes  # what is counted covers at least what is kept


def test_one_entry_bigger_than_the_byte_bound_is_still_kept_alone() -> None:
    journal = Journal(max_bytes=1_000)
    call_raw(echo_app(journal), "POST", "/v1/leads", None, b"b" * 10_000)
    call_raw(echo_app(journal), "POST", "/v1/leads?second", None, b"b" * 10_000)
    assert [entry.query for entry in journal.newest()] == ["second"]


def test_the_default_journal_holds_at_most_8_mib() -> None:
    assert Journal().max_bytes == 8 * 1024 * 1024
    with pytest.raises(ValueError):
        Journal(max_bytes=0)


def test_find_returns_an_entry_by_number_while_it_is_kept() -> None:
    journal = Journal(capacity=2)
    for number in range(3):
        journal.record(entry(f"/v1/leads/{number}"))
    assert journal.find(1) is None
    assert (found := journal.find(2)) is not None and found.path == "/v1/leads/1"
    assert journal.find(4) is None


def test_waiting_for_newer_entries_returns_at_the_next_record_or_the_timeout() -> None:
    journal = Journal()

    async def scenario() -> tuple[float, float]:
        started = time.monotonic()
        await journal.wait_for_newer(0, 0.2)  # nothing recorded: the timeout
        timed_out = time.monotonic() - started
        waiter = asyncio.create_task(journal.wait_for_newer(0, 20))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        started = time.monotonic()
        journal.record(entry())
        await asyncio.wait_for(waiter, 5)
        return timed_out, time.monotonic() - started

    timed_out, woke = asyncio.run(scenario())
    assert timed_out >= 0.2 and woke < 1


def test_released_waiters_return_at_once_and_later_waits_do_not_wait() -> None:
    journal = Journal()

    async def scenario() -> float:
        waiter = asyncio.create_task(journal.wait_for_newer(0, 20))
        await asyncio.sleep(0.05)
        journal.release_waiters()
        await asyncio.wait_for(waiter, 5)
        started = time.monotonic()
        await journal.wait_for_newer(0, 20)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1


# -- the curl line, run -----------------------------------------------------------------------------

REPLAYED = [  # (request line's method and target, headers, body): what each curl line must send again
    ("POST", "/v1/leads/a%3Fx=1?q=[1]&r={2}", [("X-API-Key", "key-1"), ("Content-Type", "application/json")],
     '{"name": "Zoë O\'Neil"}'.encode()),
    ("GET", "/v1/leads/%00x/../y%2Fz", [("Accept", "application/json")], b""),
    ("PUT", "/v1/leads/b", [("X-API-Key", "key-2")], b"\xff\xfe\x00 it's 100% \\ back\r\nslash\t$HOME"),
    ("GET", "/v1/leads", [("X-API-Key", "key-3")], b"a body on a GET"),
]


def send_raw(base: str, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> None:
    host, port = base.removeprefix("http://").split(":")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close", *(f"{n}: {v}" for n, v in headers)]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
        while sock.recv(65536):
            pass


def sent(entry: JournalEntry) -> tuple[Any, ...]:
    headers = sorted((name.lower(), value) for name, value in entry.request_headers
                     if name.lower() not in (b"host", b"connection", b"content-length", b"user-agent"))
    return entry.method, entry.raw_path or entry.path, entry.query, headers, entry.request_body or b""


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_each_curl_line_run_in_a_shell_sends_the_same_request_again() -> None:
    journal = Journal()
    app = JournalMiddleware(Starlette(routes=[Route("/{rest:path}", echo, methods=["GET", "POST", "PUT"])]), journal)
    with serve_in_thread(app) as base:
        for method, target, headers, body in REPLAYED:
            send_raw(base, method, target, headers, body)
            original = journal.newest()[0]
            detail = original.detail(base)
            assert detail["curl_is_exact"] is True, target
            done = subprocess.run(["bash", "-c", detail["curl"]], capture_output=True, timeout=30)
            assert done.returncode == 0, (detail["curl"], done.stderr)
            assert sent(journal.newest()[0]) == sent(original), detail["curl"]


def test_a_header_a_terminal_cannot_type_makes_the_curl_line_inexact() -> None:
    latin_1 = JournalEntry("GET", "/v1/leads", "", 200, 1.0, 1_782_864_000_000, [(b"x-note", b"caf\xe9")])
    utf_8 = JournalEntry("GET", "/v1/leads", "", 200, 1.0, 1_782_864_000_000, [(b"x-note", "café".encode())])
    assert latin_1.detail("http://testserver/")["curl_is_exact"] is False
    assert utf_8.detail("http://testserver/")["curl_is_exact"] is True
    assert "-H 'x-note: café'" in utf_8.curl("http://testserver/")
