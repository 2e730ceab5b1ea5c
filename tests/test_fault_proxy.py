"""The fault-injecting proxy: clean relays, each fault as a client sees it, seeded determinism, bounds."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.fault_proxy import FAULTS, FaultProxy
from tests.reference_server import create_app

KEY = "fault-proxy-key"
ROOT = Path(__file__).resolve().parents[1]
HEALTH_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """The reference server on 127.0.0.1 and a free port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app([KEY]), log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the upstream server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def raw_exchange(url: str, request: bytes = HEALTH_REQUEST) -> tuple[bytes, BaseException | None]:
    """Every byte a plain socket receives for `request` until the peer closes, and how it closed."""
    host, port = url.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as error:
            return received, error
    return received, None


def head_and_body(raw: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip()
    return fields, body


def test_clean_proxy_relays_answers_unchanged_one_connection_per_request(upstream: str) -> None:
    headers = {"X-API-Key": KEY}
    with FaultProxy(upstream).running() as proxy, httpx.Client(base_url=proxy.url, headers=headers) as client:
        created = client.post("/v1/leads", json={"name": "Via Proxy", "notes": "n" * 1_040_000})
        fetched = client.get(f"/v1/leads/{created.json()['data']['id']}")
        missing = client.get("/v1/leads/7e5a3c1b-9d8f-4e2a-b6c4-1f0e8d7a5b3c")
        direct = httpx.get(f"{upstream}/v1/leads/{created.json()['data']['id']}", headers=headers)
        assert (created.status_code, fetched.status_code, missing.status_code) == (201, 200, 404)
        assert fetched.json()["data"] == direct.json()["data"] and len(fetched.json()["data"]["notes"]) == 1_040_000
        assert fetched.headers["connection"] == "close" and fetched.headers["ratelimit-limit"] == "10000"
        assert proxy.counts() == {"relayed": 3}
        assert [exchange.request_line for exchange in proxy.exchanges()][0] == "POST /v1/leads HTTP/1.1"


def test_keep_alive_mode_relays_every_response_of_a_connection(upstream: str) -> None:
    with FaultProxy(upstream, keep_alive=True).running() as proxy, httpx.Client(base_url=proxy.url) as client:
        statuses = [client.get("/healthz").status_code for _ in range(5)]
        assert statuses == [200] * 5 and "connection" not in client.get("/healthz").headers
        assert proxy.counts() == {"relayed": 1}  # one connection: only its first response is judged


def test_cut_closes_the_connection_after_some_but_not_all_of_the_response(upstream: str) -> None:
    whole, _ = raw_exchange(upstream)
    lengths = set()
    for seed in range(8):
        with FaultProxy(upstream, cut_rate=1.0, seed=seed).running() as proxy:
            received, _ = raw_exchange(proxy.url)
        assert 0 < len(received) < len(whole) and received[:10] == whole[:min(10, len(received))]
        lengths.add(len(received))
    assert len(lengths) > 1  # the cut point varies with the seed
    with FaultProxy(upstream, cut_rate=1.0).running() as proxy, pytest.raises(httpx.TransportError):
        httpx.get(f"{proxy.url}/healthz")


def test_reset_answers_no_byte_but_a_tcp_reset_after_the_request_reached_the_server(upstream: str) -> None:
    headers = {"X-API-Key": KEY}
    before = httpx.get(f"{upstream}/v1/leads", headers=headers).json()["data"]["meta"]["total"]
    body = b'{"name": "Sent before the reset"}'
    request = (b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() +
               b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    with FaultProxy(upstream, reset_rate=1.0).running() as proxy:
        received, error = raw_exchange(proxy.url, request)
    assert received == b"" and isinstance(error, ConnectionResetError)
    assert httpx.get(f"{upstream}/v1/leads", headers=headers).json()["data"]["meta"]["total"] == before + 1


def test_truncate_sends_the_whole_head_and_less_body_than_it_promises(upstream: str) -> None:
    with FaultProxy(upstream, truncate_rate=1.0).running() as proxy:
        received, error = raw_exchange(proxy.url)
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete|complete message body"):
            httpx.get(f"{proxy.url}/healthz")
    fields, body = head_and_body(received)
    assert error is None and received.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\n\r\n" in received
    assert 0 <= len(body) < int(fields["content-length"])


def test_garbage_headers_are_unparsable_by_httpx_and_by_http_client(upstream: str) -> None:
    with FaultProxy(upstream, garbage_rate=1.0).running() as proxy:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{proxy.url}/healthz")
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        try:
            with pytest.raises(http.client.HTTPException):
                connection.request("GET", "/healthz")
                connection.getresponse()
        finally:
            connection.close()
        assert proxy.counts() == {"garbage": 2}


def observed_outcomes(upstream: str, seed: int, count: int) -> tuple[list[str], list[str]]:
    """(what the proxy did, what the client saw) for `count` sequential requests."""
    rates = {f"{fault}_rate": 0.08 for fault in FAULTS}
    seen = []
    with FaultProxy(upstream, seed=seed, **rates).running() as proxy, httpx.Client(timeout=5) as client:
        for _ in range(count):
            try:
                seen.append(str(client.get(f"{proxy.url}/healthz").status_code))
            except httpx.TransportError:
                seen.append("error")
        planned = [exchange.outcome for exchange in proxy.exchanges()]
    return planned, seen


def test_faults_follow_the_seed_and_hit_exactly_the_planned_requests(upstream: str) -> None:
    planned, seen = observed_outcomes(upstream, seed=7, count=120)
    again, _ = observed_outcomes(upstream, seed=7, count=120)
    other, _ = observed_outcomes(upstream, seed=8, count=120)
    assert planned == again and planned != other
    assert seen == ["200" if outcome == "relayed" else "error" for outcome in planned]
    assert set(planned) == {"relayed", *FAULTS}


def test_planned_fraction_matches_the_rate() -> None:
    proxy = FaultProxy("http://127.0.0.1:9", cut_rate=0.03, truncate_rate=0.02, seed=1)
    plan = [proxy.fault_for(number) for number in range(10_000)]
    assert plan == [FaultProxy("http://127.0.0.1:9", cut_rate=0.03, truncate_rate=0.02, seed=1).fault_for(n)
                    for n in range(10_000)]
    assert 0.025 < plan.count("cut") / len(plan) < 0.035 and 0.015 < plan.count("truncate") / len(plan) < 0.025
    assert plan.count("reset") == plan.count("garbage") == 0


def test_silent_client_is_dropped_after_the_idle_timeout(upstream: str) -> None:
    with FaultProxy(upstream, idle_timeout=0.3).running() as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            started = time.monotonic()
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
            assert time.monotonic() - started < 4


def test_async_use_inside_a_running_event_loop(upstream: str) -> None:
    async def scenario() -> tuple[int, dict[str, int]]:
        async with FaultProxy(upstream) as proxy, httpx.AsyncClient() as client:
            answer = await client.get(f"{proxy.url}/healthz")
            return answer.status_code, dict(proxy.counts())

    assert asyncio.run(scenario()) == (200, {"relayed": 1})


@pytest.mark.parametrize("target, rates, message", [
    ("http://10.1.2.3:80", {}, "loopback"),
    ("http://example.com:80", {}, "loopback"),
    ("https://127.0.0.1:443", {}, "http://HOST:PORT"),
    ("http://127.0.0.1:80/v1", {}, "no path"),
    ("http://127.0.0.1:80", {"cut_rate": 0.6, "reset_rate": 0.6}, "add up to at most 1"),
    ("http://127.0.0.1:80", {"garbage_rate": -0.1}, "0..1"),
])
def test_refuses_targets_off_this_machine_and_impossible_rates(target: str, rates: dict[str, float],
                                                               message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        FaultProxy(target, **rates)


def test_module_entry_point_proxies_until_terminated_and_prints_what_it_did(upstream: str) -> None:
    command = [sys.executable, "-m", "tests.fault_proxy", "--listen-port", "0", "--target", upstream,
               "--cut-rate", "0", "--seed", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)", process.stdout.readline().strip())
        assert match
        assert httpx.get(f"{match.group(1)}/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "fault proxy: 1 responses: 1 relayed, 0 cut, 0 reset, 0 truncate, 0 garbage" in errors


def test_module_entry_point_refuses_a_remote_target_as_a_usage_error() -> None:
    command = [sys.executable, "-m", "tests.fault_proxy", "--target", "http://192.0.2.1:80"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and "must be a loopback address" in done.stderr


def serve_raw_once(response: bytes) -> tuple[str, threading.Thread]:
    """A one-shot server on 127.0.0.1 that answers any request with `response` and closes."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        with listener, listener.accept()[0] as connection:
            connection.recv(65536)
            connection.sendall(response)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


@pytest.mark.parametrize("framing", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
])
def test_chunked_close_delimited_and_interim_responses_relay_whole(framing: bytes) -> None:
    target, server = serve_raw_once(framing)
    with FaultProxy(target).running() as proxy:
        answer = httpx.get(f"{proxy.url}/", timeout=5)
    server.join(timeout=5)
    assert (answer.status_code, answer.text) == (200, "hello world")
