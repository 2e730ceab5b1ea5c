"""`leads-contract` end to end: its exit status, its summary, its JUnit file and its refusals.

Each run is a `leads-contract` process, as a user or CI starts it (forked from a process that has loaded the
suite: tests/preloaded.py); the servers
(the reference server, tiny broken Starlette apps, a socket that hangs up) run on 127.0.0.1 in
this process.
"""
from __future__ import annotations

import json
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
from tests import preloaded
from tests.reference_server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
KEY = "cli-test-key-0123456789"
KEY_2 = "cli-test-key-9876543210"
RUN_TIMEOUT = 300
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADS_API_")}
    workers = [] if "--workers" in args else ["--workers", "1"]  # a small run: one process is quicker
    return subprocess.run(
        preloaded.contract(*workers, *args),
        cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
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
def shapes_run(wrong_shapes_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    junit = tmp_path_factory.mktemp("junit") / "contract.xml"
    return run_cli("--base-url", wrong_shapes_server, "--api-key", KEY, "--quick", "--junit-xml", str(junit)), junit


@pytest.fixture(scope="module")
def reference_server() -> Iterator[str]:
    with serve_in_thread(create_app([KEY, KEY_2])) as url:
        yield url


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


def test_clean_server_passes_with_exit_status_0(tmp_path: Path) -> None:
    junit = tmp_path / "mock.xml"
    result = run_cli("--quick", "--junit-xml", str(junit))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "the server matches the spec and the documented rules" in result.stdout
    assert "Traceback" not in result.stderr


def test_server_answering_html_stops_before_any_rule_with_one_line(html_server: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = run_cli("--base-url", html_server, "--api-key", KEY, "--report-json", str(report))
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.stderr.strip() == f"leads-contract: no Leads API at {html_server}: GET {html_server}/leads answers 200 with an HTML page"
    assert "Leads API contract summary" not in result.stdout
    assert json.loads(report.read_text())["verdict"] == "unreachable"


def test_base_url_without_v1_suggests_the_url_of_the_api(reference_server: str) -> None:
    result = run_cli("--base-url", reference_server, "--api-key", KEY)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().endswith(f"use --base-url {reference_server}/v1"), result.stderr
    assert result.stderr.count("\n") == 1


def test_a_rejected_key_is_named_in_one_line(reference_server: str) -> None:
    first = run_cli("--base-url", reference_server + "/v1", "--api-key", "not-a-known-key-0000")
    assert first.returncode == 3
    assert first.stderr.strip() == "leads-contract: the server rejects --api-key ***0000: GET /leads answers 401 INVALID_API_KEY"
    second = run_cli("--base-url", reference_server + "/v1", "--api-key", KEY, "--api-key-2", "not-a-known-key-9999")
    assert second.returncode == 3
    assert "rejects --api-key-2 ***9999" in second.stderr


def test_two_keys_of_one_tenant_stop_the_run() -> None:
    with serve_in_thread(create_app([KEY], "any_api_key_accepted")) as url:
        result = run_cli("--base-url", url + "/v1", "--api-key", "shared-tenant-aaaa", "--api-key-2", "shared-tenant-bbbb")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "--api-key and --api-key-2 are the same tenant" in result.stderr
    assert "Leads API contract summary" not in result.stdout


def test_divergent_json_server_is_diagnosed_not_flooded(shapes_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = shapes_run
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.split("Leads API contract summary", 1)[-1]
    assert "the server diverges" in summary
    assert "1. [createLead] create with the documented body (prerequisite)" in summary, summary[:3000]
    assert "rules blocked by: create with the documented body (prerequisite)" in summary
    distinct = int(re.search(r"(\d+) distinct divergences", summary).group(1))  # type: ignore[union-attr]
    assert distinct <= 15, summary[:4000]  # about a dozen independent ways this server breaks the docs
    assert "INTERNALERROR" not in result.stdout + result.stderr


def test_api_key_is_masked_one_way_everywhere(shapes_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, junit = shapes_run
    output = result.stdout + result.stderr
    assert KEY not in output
    assert KEY not in junit.read_text(encoding="utf-8")
    assert KEY not in junit.with_suffix(".json").read_text(encoding="utf-8")
    assert "***" + KEY[-4:] in result.stdout
    assert "[Filtered]" not in output


def test_show_key_prints_the_key_in_curl_lines(wrong_shapes_server: str) -> None:
    result = run_cli("--base-url", wrong_shapes_server, "--api-key", KEY, "--quick", "--show-key", "--", "-k", "conforms")
    assert result.returncode == 1
    assert any("curl " in line and KEY in line for line in result.stdout.splitlines())


def test_junit_records_failures_with_operations_and_blocked_rules_as_skipped(
    shapes_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, junit = shapes_run
    cases = ElementTree.parse(junit).getroot().findall(".//testcase")
    failed = [case for case in cases if case.find("failure") is not None]
    assert failed
    operations = {prop.get("value") for case in failed for prop in case.iter("property") if prop.get("name") == "operations"}
    assert "listLeads" in operations
    blocked = [case.find("skipped") for case in cases if case.find("skipped") is not None
               and "BLOCKED by create with the documented body (prerequisite)" in (case.find("skipped").get("message") or "")]
    assert len(blocked) > 20


def test_json_report_has_the_documented_shape(shapes_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, junit = shapes_run
    report = json.loads(junit.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["verdict"] == "diverged"
    assert report["target"]["base_url"].endswith("/v1")
    names = {rule["rule"] for rule in report["rules"]}
    for rule in report["rules"]:
        assert set(rule) >= {"rule", "operations", "verdict", "blocked_by", "reason", "failures"}
        assert rule["verdict"] in {"pass", "fail", "blocked", "skip"}
        if rule["verdict"] == "blocked":
            assert rule["blocked_by"] in names and rule["reason"]
        if rule["verdict"] == "fail":
            assert rule["failures"] and set(rule["failures"][0]) == {"expected", "actual", "curl"}
    assert report["divergences"] and set(report["divergences"][0]) >= {"rule", "summary", "count"}
    assert set(report["cleanup"]) >= {"created", "deleted", "left"}


def test_same_seed_sends_the_same_requests_and_another_seed_does_not() -> None:
    first, again, other = requests_of_a_run("7"), requests_of_a_run("7"), requests_of_a_run("8")
    assert len(first) > 50
    assert sorted(first) == sorted(again)  # parallel workers interleave them: the same requests, not one order
    assert sorted(first) != sorted(other)


def test_generated_requests_share_connections_instead_of_opening_one_each() -> None:
    # Against a staging server over HTTPS a connection per request is a TLS handshake per request.
    clients: list[tuple[str, int]] = []
    app = create_app([KEY])

    async def recording_clients(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            clients.append(scope["client"])
        await app(scope, receive, send)

    with serve_in_thread(recording_clients) as url:
        result = run_cli("--base-url", url + "/v1", "--api-key", KEY, "--quick", "--", "-k", "conforms")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # Schemathesis' own probes of a request without its key open one each (over a third of the requests here).
    assert len(clients) > 100 and len(set(clients)) < len(clients) / 2, (len(set(clients)), len(clients))


def test_reset_connections_are_the_transport_rule_not_a_crash_of_the_suite() -> None:
    with hanging_up_server() as base_url:
        result = run_cli("--base-url", base_url, "--api-key", KEY, "--quick", "--", "-k", "conforms")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.split("Leads API contract summary", 1)[-1]
    assert "FAIL    every request gets a whole HTTP answer" in summary
    assert "Traceback" not in result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr


def test_unreachable_server_is_one_clear_line_without_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = run_cli("--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", KEY)
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("leads-contract: cannot reach http://127.0.0.1:")
    assert "Traceback" not in result.stdout + result.stderr


def test_base_url_without_a_key_is_a_usage_error() -> None:
    result = run_cli("--base-url", "http://127.0.0.1:9/v1")
    assert result.returncode == 4
    assert result.stderr.strip() == "leads-contract: an API key is required with --base-url (--api-key or LEADS_API_KEY)"


def test_unknown_option_is_a_usage_error_with_status_4() -> None:
    result = run_cli("--bogus")
    assert result.returncode == 4
    assert "unrecognized arguments: --bogus" in result.stderr


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "3601"])
def test_a_request_timeout_outside_0_to_3600_seconds_is_a_usage_error(seconds: str) -> None:
    result = run_cli("--base-url", "http://127.0.0.1:9/v1", "--api-key", KEY, "--request-timeout", seconds)
    assert result.returncode == 4
    assert "--request-timeout must be more than 0 and at most 3600 seconds" in result.stderr


def test_the_same_bound_holds_for_the_suite_run_by_pytest() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests", "-p", "no:cacheprovider", "--base-url", "http://127.0.0.1:9/v1",
         "--api-key", KEY, "--request-timeout", "0"], cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 4  # pytest's usage error
    assert "--request-timeout must be more than 0 and at most 3600 seconds" in result.stderr


def test_pytest_statuses_map_to_the_documented_exit_codes() -> None:
    from contract_tests.cli import exit_status

    assert [exit_status(code) for code in (0, 1, 2, 3, 4, 5)] == [0, 1, 2, 5, 4, 4]



def test_an_error_of_the_suite_itself_exits_5_not_as_a_divergence(reference_server: str) -> None:
    # pytest.main broken on purpose, in a process of its own: a bug of the suite, not of the server.
    code = ("import sys, pytest\n"
            "def broken(*args, **kwargs): raise RuntimeError('a bug of the suite')\n"
            "pytest.main = broken\n"
            "from contract_tests import cli\n"
            "sys.exit(cli.main(sys.argv[1:]))")
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADS_API_")}
    result = subprocess.run([sys.executable, "-c", code, "--base-url", reference_server + "/v1", "--api-key", KEY,
                             "--workers", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 5, result.stderr[-2000:]
    assert "RuntimeError: a bug of the suite" in result.stderr
    assert "leads-contract: internal error of the suite (above): the server was not judged" in result.stderr
