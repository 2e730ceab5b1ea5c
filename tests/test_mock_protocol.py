"""The mock served as `leads-mock` serves it, driven over raw sockets as hostile or broken clients would."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

import httpx
import pytest

from conftest import KEY, TIMESTAMP, serving

HEAD = "Host: 127.0.0.1\r\nX-API-Key: " + KEY + "\r\n"


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def connect(base: str) -> socket.socket:
    sock = socket.create_connection(address(base), timeout=10)
    return sock


def read_answer(sock: socket.socket, timeout: float = 10, close_wait: float = 2.0) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, closed within `close_wait` after it) of one answer on `sock`."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return status, headers, body[:length], closed(sock, close_wait)


def closed(sock: socket.socket, wait: float = 2.0) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def exchange(base: str, raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    with connect(base) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def envelope(status: int, headers: dict[str, str], body: bytes, expected_status: int, code: str) -> dict[str, Any]:
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["success"] is False and TIMESTAMP.fullmatch(payload["timestamp"])
    assert payload["error"]["code"] == code and payload["error"]["message"]
    return payload["error"]


def lead_total(base: str) -> int:
    return int(httpx.get(base + "/v1/leads", headers={"X-API-Key": KEY}).json()["data"]["meta"]["total"])


@pytest.fixture(scope="module")
def served() -> Any:
    with serving(header_timeout=1.0, body_timeout=1.0, keep_alive_timeout=1.0, max_connections=40) as (base, _app):
        yield base


# -- sizes ----------------------------------------------------------------------------------------

def test_a_header_past_the_limit_is_431_in_the_envelope_and_the_connection_closes(served: str) -> None:
    raw = f"GET /v1/leads HTTP/1.1\r\n{HEAD}X-Padding: {'a' * 100_000}\r\n\r\n".encode()
    status, headers, body, was_closed = exchange(served, raw)
    assert "exceed" in envelope(status, headers, body, 431, "HEADERS_TOO_LARGE")["message"]
    assert was_closed


@pytest.mark.parametrize("before", ["", HEAD], ids=["first-header", "after-others"])
def test_an_8_mb_header_is_refused_without_reading_it_all(served: str, before: str) -> None:
    with connect(served) as sock:
        sock.sendall(f"GET /v1/leads HTTP/1.1\r\n{before}X-Padding: ".encode())
        try:
            for _ in range(128):  # 8 MiB in 64 KiB pieces; the mock answers and closes long before the end
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        envelope(*read_answer(sock)[:3], 431, "HEADERS_TOO_LARGE")


def test_a_url_past_the_limit_is_414_in_the_envelope(served: str) -> None:
    raw = f"GET /v1/leads?cursor={'A' * 64 * 1024} HTTP/1.1\r\n{HEAD}\r\n".encode()
    status, headers, body, was_closed = exchange(served, raw)
    envelope(status, headers, body, 414, "URI_TOO_LONG")
    assert was_closed


def test_a_5_kb_url_is_still_served(served: str) -> None:
    status, _, body, _ = exchange(served, f"GET /v1/leads/{'a' * 5000} HTTP/1.1\r\n{HEAD}\r\n".encode())
    assert status == 400 and json.loads(body)["error"]["code"] == "VALIDATION_ERROR"


# -- malformed requests ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    f"get /v1/leads HTTP/1.1\r\n{HEAD}\r\n".encode(),
    f"POST /v1/leads HTTP/1.1\r\n{HEAD}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}".encode(),
    f"GET /v1/leads/caf\xe9 HTTP/1.1\r\n{HEAD}\r\n".encode("latin-1"),
    "GET /v1/leads/\u00e9t\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    b"GET /v1/leads HTTP/1.1\r\nBad Header Name: 1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello sent to plain HTTP
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    f"GET /v1/leads HTTP/1.1\r\n{HEAD} X-Folded: y\r\n\r\n".encode(),
], ids=["lowercase-method", "duplicate-content-length", "latin-1-path", "utf-8-path", "bad-header-name", "tls",
        "http2-preface", "connect", "bad-chunk", "folded-header"])
def test_a_malformed_request_is_400_in_the_envelope(served: str, raw: bytes) -> None:
    status, headers, body, was_closed = exchange(served, raw)
    assert envelope(status, headers, body, 400, "MALFORMED_REQUEST")["message"].startswith("Malformed HTTP request")
    assert was_closed


def test_a_websocket_upgrade_is_answered_as_plain_http_in_the_envelope_then_closed(served: str) -> None:
    upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
              "Sec-WebSocket-Version: 13\r\n"
    status, headers, body, was_closed = exchange(served, f"GET /v1/leads HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n".encode())
    envelope(status, headers, body, 401, "NO_AUTH_TOKEN")
    assert was_closed


def test_a_padded_api_key_sent_over_the_wire_is_the_key(served: str) -> None:
    for padded in (f"X-API-Key: {KEY} \r\n", f"X-API-Key:\t {KEY}\t\r\n"):
        status, _, body, _ = exchange(served, f"GET /v1/leads HTTP/1.1\r\nHost: x\r\n{padded}\r\n".encode())
        assert status == 200, body
        assert json.loads(body)["data"]["meta"]["total"] == 34


# -- slow and lying clients -----------------------------------------------------------------------

def test_headers_sent_too_slowly_get_408_in_the_envelope(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /v1/leads HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        status, headers, body, was_closed = read_answer(sock)
        envelope(status, headers, body, 408, "REQUEST_TIMEOUT")
        assert was_closed and time.monotonic() - started < 8


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(served: str) -> None:
    with connect(served) as sock:
        sock.settimeout(8)
        assert sock.recv(1) == b""  # closed without an answer: nothing was asked


def test_a_body_shorter_than_its_content_length_gets_408_and_nothing_is_stored(served: str) -> None:
    before = lead_total(served)
    with connect(served) as sock:
        body = b'{"name": "Never Finished"}'
        sock.sendall(f"POST /v1/leads HTTP/1.1\r\n{HEAD}Content-Type: application/json\r\n"
                     f"Content-Length: {len(body) + 50}\r\n\r\n".encode() + body)
        status, headers, answer, was_closed = read_answer(sock)
        envelope(status, headers, answer, 408, "REQUEST_TIMEOUT")
        assert was_closed
    assert lead_total(served) == before


def test_a_body_trickled_after_an_early_answer_does_not_hold_the_connection(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{")  # no key: answered 401 before the body is read
        status, _, _, _ = read_answer(sock, close_wait=0.05)
        assert status == 401
        started = time.monotonic()
        sock.settimeout(0.3)
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"a")
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        assert time.monotonic() - started < 5  # the body timeout is 1 s


def test_a_client_that_leaves_mid_body_has_nothing_stored(served: str) -> None:
    before = lead_total(served)
    with connect(served) as sock:
        body = b'{"name": "Left Early"}'  # valid JSON, but only part of the declared body
        sock.sendall(f"POST /v1/leads HTTP/1.1\r\n{HEAD}Content-Type: application/json\r\n"
                     f"Content-Length: {len(body) + 10}\r\n\r\n".encode() + body)
        time.sleep(0.2)
    time.sleep(0.3)
    assert lead_total(served) == before


def test_a_settings_body_that_never_arrives_gets_408_on_the_control_route_too(served: str) -> None:
    with connect(served) as sock:
        sock.sendall(b"PATCH /__mock/settings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 40\r\n\r\n{")
        envelope(*read_answer(sock)[:3], 408, "REQUEST_TIMEOUT")


def test_idle_connections_past_the_cap_make_room_for_real_requests(served: str) -> None:
    idle = [connect(served) for _ in range(60)]  # the cap is 40
    try:
        time.sleep(0.2)
        for _ in range(5):
            with httpx.Client(timeout=5) as client:
                assert client.get(served + "/v1/leads", headers={"X-API-Key": KEY}).status_code == 200
        assert sum(closed(sock, wait=0.05) for sock in idle) >= 20  # the oldest idle ones went first
    finally:
        for sock in idle:
            sock.close()


def test_keep_alive_still_serves_several_requests_on_one_connection(served: str) -> None:
    with connect(served) as sock:
        for _ in range(3):
            sock.sendall(f"GET /v1/leads?limit=1 HTTP/1.1\r\n{HEAD}\r\n".encode())
            status, _, _, was_closed = read_answer(sock, close_wait=0.1)  # the keep-alive timeout is 1 s
            assert status == 200 and not was_closed


def test_a_client_that_half_closes_after_its_requests_gets_every_answer_then_the_close(served: str) -> None:
    # `printf ... | nc -N` and some proxies shut down their sending side once the request is out
    lead = f"GET /v1/leads/not-a-uuid HTTP/1.1\r\n{HEAD}\r\n"  # an error: answered after an await or two
    listing = f"GET /v1/leads?limit=1 HTTP/1.1\r\n{HEAD}\r\n"
    for requests, statuses in ((lead, [b"400"]), (lead + listing, [b"400", b"200"])):
        with connect(served) as sock:
            sock.sendall(requests.encode())
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(0.9)  # shorter than the keep-alive timeout (1 s): the close must come from the half-close
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert re.findall(rb"HTTP/1.1 (\d{3}) ", received) == statuses, received[:300]


# -- client addresses -----------------------------------------------------------------------------

def keyless_statuses(base: str, count: int) -> list[int]:
    with httpx.Client(timeout=5) as client:
        return [client.get(base + "/v1/leads", headers={"X-Forwarded-For": f"10.1.{n // 250}.{n % 250}"}).status_code
                for n in range(count)]


def test_forged_forwarded_addresses_do_not_escape_the_per_address_limit() -> None:
    with serving(rate_limit=3) as (base, _app):
        assert keyless_statuses(base, 5) == [401, 401, 401, 429, 429]


def test_with_trust_proxy_the_forwarded_address_is_the_client() -> None:
    with serving(rate_limit=3, trust_proxy=True) as (base, _app):
        assert keyless_statuses(base, 5) == [401] * 5


# -- the connection cap ---------------------------------------------------------------------------

@pytest.mark.parametrize(("soft", "cap"), [(256, 192), (100_000, 1024), (50, 8)])
def test_the_default_connection_cap_leaves_room_in_the_descriptor_limit(
        monkeypatch: pytest.MonkeyPatch, soft: int, cap: int) -> None:
    import resource

    from mock_server.serving.protocol import ConnectionLimits
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (soft, soft))
    assert ConnectionLimits().connection_cap() == cap
    assert ConnectionLimits(max_connections=7).connection_cap() == 7


def test_the_server_config_uses_the_guarded_protocol_and_believes_no_forwarded_address_by_default() -> None:
    from dataclasses import replace

    from conftest import TEST_SETTINGS, make_app
    from mock_server.serving.protocol import GuardedHttpProtocol
    from mock_server.serving import server_config
    config = server_config(make_app(), replace(TEST_SETTINGS, keep_alive_timeout=2.5))
    assert issubclass(config.http, GuardedHttpProtocol)  # type: ignore[arg-type]
    assert config.proxy_headers is False and config.timeout_keep_alive == 2.5 and config.ws == "none"
    trusting = server_config(make_app(), replace(TEST_SETTINGS, trust_proxy=True))
    assert trusting.proxy_headers is True and trusting.forwarded_allow_ips == "*"


def test_the_server_calls_connexions_stack_which_the_app_only_forwards_to() -> None:
    """The server skips `AbstractApp.__call__`: a Connexion whose app call does more than forward fails here."""
    import inspect
    import textwrap

    from connexion.apps.abstract import AbstractApp

    from conftest import TEST_SETTINGS, make_app
    from mock_server.serving import server_config
    app = make_app()
    assert server_config(app, TEST_SETTINGS).app is app.middleware
    body = textwrap.dedent(inspect.getsource(AbstractApp.__call__)).splitlines()[1:]
    assert [line.strip() for line in body] == ["return await self.middleware(scope, receive, send)"]
