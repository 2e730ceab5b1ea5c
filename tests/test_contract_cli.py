"""`leads-contract` end to end: its exit status, its summary, its JUnit file and its refusals.

Each run is a `python -m contract_tests` subprocess, as a user or CI starts it; the servers
(the reference server, tiny broken Starlette apps, a socket that hangs up) run on 127.0.0.1 in
this process.
"""
from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from contract_tests.target import serve_in_thread
from tests.reference_server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
KEY = "cli-test-key-0123456789"
RUN_TIMEOUT = 300
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADS_API_")}
    return subprocess.run(
        [sys.executable, "-m", "contract_tests", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )


async def html_everywhere(request: Request) -> Response:
    """What a misconfigured proxy answers: an HTML page, whatever was asked."""
    return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=200)


async def wrong_shapes(request: Request) -> Response:
    """JSON, but never the documented envelope, status codes or headers."""
    if request.method == "DELETE":
        return Response(b"", status_code=204)
    return JSONResponse({"ok": True, "items": [], "id": 7}, status_code=200)


def app_answering(endpoint: object) -> Starlette:
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def html_server() -> Iterator[str]:
    with serve_in_thread(app_answering(html_everywhere)) as url:
        yield url + "/v1"


@pytest.fixture(scope="module")
def wrong_shapes_server() -> Iterator[str]:
    with serve_in_thread(app_answering(wrong_shapes)) as url:
        yield url + "/v1"


@pytest.fixture(scope="module")
def html_run(html_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    junit = tmp_path_factory.mktemp("junit") / "contract.xml"
    return run_cli("--base-url", html_server, "--api-key", KEY, "--quick", "--junit-xml", str(junit)), junit


def test_clean_server_passes_with_exit_status_0(tmp_path: Path) -> None:
    junit = tmp_path / "mock.xml"
    result = run_cli("--quick", "--junit-xml", str(junit))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "the server matches the spec and the documented rules" in result.stdout
    assert "Traceback" not in result.stderr


def test_server_answering_html_fails_with_non_zero_status(html_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = html_run
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "the server diverges" in result.stdout
    assert "INTERNALERROR" not in result.stdout + result.stderr


def test_summary_names_failing_operations_with_a_curl_line(html_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    summary = html_run[0].stdout.split("Leads API contract summary", 1)[-1]
    for operation_id in ("listLeads", "createLead", "getLead", "updateLead", "deleteLead", "convertLead"):
        assert f"FAIL  {operation_id}" in summary, summary[:3000]
    assert "reproduce: curl " in summary
    assert "Content-Type" in summary or "content type" in summary.lower()


def test_api_key_is_masked_by_default(html_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, junit = html_run
    assert KEY not in result.stdout + result.stderr
    assert KEY not in junit.read_text(encoding="utf-8")
    assert "[Filtered]" in result.stdout or "***" + KEY[-4:] in result.stdout


def test_show_key_prints_the_key_in_curl_lines(html_server: str) -> None:
    result = run_cli("--base-url", html_server, "--api-key", KEY, "--quick", "--show-key", "--", "-k", "conforms")
    assert result.returncode == 1
    assert any("curl " in line and KEY in line for line in result.stdout.splitlines())


def test_junit_file_records_each_failure_with_its_operation(html_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, junit = html_run
    root = ElementTree.parse(junit).getroot()
    cases = root.findall(".//testcase")
    failed = [case for case in cases if case.find("failure") is not None or case.find("error") is not None]
    assert cases and failed
    operations = {prop.get("value") for case in failed for prop in case.iter("property") if prop.get("name") == "operations"}
    assert "listLeads" in operations


def test_server_with_wrong_shapes_fails_on_schema_and_status(wrong_shapes_server: str) -> None:
    result = run_cli("--base-url", wrong_shapes_server, "--api-key", KEY, "--quick", "--", "-k", "conforms")
    assert result.returncode == 1, result.stdout[-3000:]
    summary = result.stdout.split("Leads API contract summary", 1)[-1]
    assert "FAIL  createLead" in summary and "FAIL  deleteLead" in summary
    assert "Response violates schema" in summary or "Undocumented HTTP status" in summary


def test_every_request_refused_as_unauthenticated_fails_the_run() -> None:
    """Schemathesis would only warn about missing auth; the suite fails."""
    with serve_in_thread(create_app(["the-right-key-000"])) as url:
        result = run_cli("--base-url", url + "/v1", "--api-key", "a-wrong-key-0000", "--quick", "--", "-k", "conforms")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "missing auth" in result.stdout


def recording_requests(app: Any, seen: list[str]) -> Any:
    """Records each request as method, path and body, with lead ids (server-assigned) blanked out."""

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body = bytearray()

        async def tapped() -> dict[str, Any]:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        await app(scope, tapped, send)
        line = f"{scope['method']} {scope.get('raw_path', b'').decode('latin-1')}?{scope['query_string'].decode()} {bytes(body)!r}"
        seen.append(UUID.sub("<id>", line))

    return wrapper


def requests_of_a_run(seed: str) -> list[str]:
    seen: list[str] = []
    with serve_in_thread(recording_requests(create_app([KEY]), seen)) as url:
        result = run_cli("--base-url", url + "/v1", "--api-key", KEY, "--quick", "--seed", seed, "--", "-k", "conforms")
    assert "Leads API contract summary" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    return seen


def test_same_seed_sends_the_same_requests_and_another_seed_does_not() -> None:
    first, again, other = requests_of_a_run("7"), requests_of_a_run("7"), requests_of_a_run("8")
    assert len(first) > 50
    assert first == again
    assert first != other


@contextmanager
def hanging_up_server() -> Iterator[str]:
    """Answers its first connection (the reachability check) with JSON, then resets every other one."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        answered = False
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                if not answered:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                    answered = True
                else:  # linger 0: the close is a reset, as from a crashing proxy
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_reset_connections_are_divergences_not_a_crash_of_the_suite() -> None:
    with hanging_up_server() as base_url:
        result = run_cli("--base-url", base_url, "--api-key", KEY, "--quick", "--", "-k", "conforms")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "no HTTP answer" in result.stdout
    assert "INTERNALERROR" not in result.stdout + result.stderr


def test_unreachable_server_is_one_clear_line_without_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = run_cli("--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", KEY)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("leads-contract: cannot reach http://127.0.0.1:")
    assert "Traceback" not in result.stdout + result.stderr


def test_base_url_without_a_key_is_refused_with_a_clear_line() -> None:
    result = run_cli("--base-url", "http://127.0.0.1:9/v1")
    assert result.returncode != 0
    assert result.stderr.strip() == "leads-contract: an API key is required with --base-url (--api-key or LEADS_API_KEY)"
