"""The access log: one line per request, in the order the requests were answered, and the CLI's line format."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from conftest import KEY, RACHEL_ID, make_app

from mock_server.cli import LogFormat
from mock_server.middleware.access_log import AccessLog

LINE = re.compile(r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) \d+\.\dms")


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines logged, in order (requests answered in one step of the event loop share a record)."""
    return [line for record in caplog.records if record.name == "mock_server.access"
            for line in record.getMessage().split("\n")]


@contextlib.contextmanager
def access_lines_to(handler: logging.Handler) -> Iterator[None]:
    """The access logger at INFO, writing to `handler` as well, for the block."""
    logger = logging.getLogger("mock_server.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b""}


async def ignored(message: object) -> None:
    pass


def test_each_request_gets_one_line_with_method_path_and_status_in_answer_order(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    async def requests() -> None:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            await client.get(f"/v1/leads/{RACHEL_ID}", headers={"X-API-Key": KEY})
            await client.get("/v1/leads", headers={"X-API-Key": "wrong"})
            answers = await asyncio.gather(*(client.get(f"/v1/leads?page={page}", headers={"X-API-Key": KEY})
                                             for page in (1, 2, 3)))
            assert [answer.status_code for answer in answers] == [200, 200, 200]

    with caplog.at_level(logging.INFO, logger="mock_server.access"):
        asyncio.run(requests())
    lines = access_lines(caplog)
    assert [LINE.fullmatch(line).group("method", "path", "status") for line in lines] == [  # type: ignore[union-attr]
        ("GET", f"/v1/leads/{RACHEL_ID}", "200"), ("GET", "/v1/leads", "401"),
        ("GET", "/v1/leads", "200"), ("GET", "/v1/leads", "200"), ("GET", "/v1/leads", "200")]


def test_a_request_whose_app_fails_is_logged_as_500() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    async def failing(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("disk on fire")

    async def call(app: AccessLog) -> None:
        with pytest.raises(RuntimeError):
            await app({"type": "http", "method": "DELETE", "path": "/v1/leads/x", "headers": []}, no_body, ignored)
        await asyncio.sleep(0)  # the end of the step, where the line is logged

    with access_lines_to(Keep()):
        asyncio.run(call(AccessLog(failing)))
    assert [LINE.fullmatch(record.getMessage()).group("method", "status") for record in records] == [  # type: ignore[union-attr]
        ("DELETE", "500")]


def test_lines_answered_in_one_step_are_each_written_with_the_time_level_and_name() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormat("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    async def answer(scope: object, receive: object, send: Callable[[dict[str, object]], Awaitable[None]]) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def three_at_once(app: AccessLog) -> None:
        await asyncio.gather(*(app({"type": "http", "method": "DELETE", "path": f"/v1/leads/{number}", "headers": []},
                                   no_body, ignored) for number in range(3)))
        await asyncio.sleep(0)

    with access_lines_to(handler):
        asyncio.run(three_at_once(AccessLog(answer)))
    written = stream.getvalue().splitlines()
    prefix = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO mock_server\.access: ")
    assert [LINE.fullmatch(prefix.sub("", line, count=1)).group("path", "status") for line in written] == [  # type: ignore[union-attr]
        ("/v1/leads/0", "204"), ("/v1/leads/1", "204"), ("/v1/leads/2", "204")]
    assert all(prefix.match(line) for line in written)


def test_the_line_is_logged_by_the_end_of_the_step_that_answered_it_on_a_new_event_loop_too(
        caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    async def one(expected: int) -> None:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            await client.get("/healthz")
        await asyncio.sleep(0)
        assert len(access_lines(caplog)) == expected

    with caplog.at_level(logging.INFO, logger="mock_server.access"):
        asyncio.run(one(1))
        asyncio.run(one(2))  # a second loop, as a test client starts one per request


@pytest.mark.parametrize("created", [1_767_225_599.9994, 1_767_225_600.0, 1_767_225_600.5, 1_767_225_601.25])
def test_the_cli_log_format_writes_what_loggings_own_formatter_writes(created: float) -> None:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    ours, theirs = LogFormat(fmt), logging.Formatter(fmt)
    for moment in (created - 1.5, created, created + 0.0004):  # a second already shown, then new ones
        record = logging.LogRecord("mock_server.access", logging.INFO, __file__, 0, "GET %s", ("/v1/leads",), None)
        record.created, record.msecs = moment, (moment - int(moment)) * 1000
        assert ours.format(record) == theirs.format(record)
    assert ours.formatTime(record, "%H:%M") == time.strftime("%H:%M", time.localtime(record.created))
