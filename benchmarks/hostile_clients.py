"""Replays hostile clients against the mock and prints what each attack got out of it.

Starts `python -m mock_server` on 127.0.0.1 (with at most 256 file descriptors, as a small
container would allow), sends each attack over raw sockets (bounded: a fixed number of requests
and connections, at most a few minutes in all), and prints per attack: requests sent, answers
with a 5xx status, answers that are not the error envelope (JSON `{"success": false, ...}`; on
`/v1` and the control routes, protocol-level refusals included), requests left without any
answer, and the server's resident memory before and after. Goal: 0 5xx, 0 non-envelope answers,
growth under 20 MB for every attack. `--trust-proxy` attacks run on a second mock started so.

Run by hand: `python benchmarks/hostile_clients.py` (`--quick` for a tenth of the requests).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "hostile-bench-key"
FD_LIMIT = 256
LEAD_ID = "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"
BANNER = re.compile(r"Leads API mock at http://127\.0\.0\.1:(\d+)/v1")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Tally:
    sent: int = 0
    server_errors: int = 0
    non_envelope: int = 0
    unanswered: int = 0
    notes: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, answer: Answer | None, *, envelope_expected: bool = True) -> None:
        with self.lock:
            self.sent += 1
            if answer is None:
                self.unanswered += 1
                return
            self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
            if answer.status >= 500:
                self.server_errors += 1
            if envelope_expected and answer.status >= 400 and not is_envelope(answer):
                self.non_envelope += 1


def is_envelope(answer: Answer) -> bool:
    if not answer.headers.get("content-type", "").startswith("application/json"):
        return False
    try:
        payload = json.loads(answer.body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("success") is False and isinstance(payload.get("error"), dict)


# -- a minimal HTTP/1.1 client over raw sockets ---------------------------------------------------

def read_answer(sock: socket.socket) -> Answer | None:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {n.strip().lower(): v.strip() for n, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
        return Answer(status, headers, body[:length])
    except (OSError, ValueError, IndexError):
        return None


class Connection:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def request(self, raw: bytes) -> Answer | None:
        for _attempt in range(2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            try:
                self.sock.sendall(raw)
            except OSError:
                self.close()
                continue
            answer = read_answer(self.sock)
            if answer is None or answer.headers.get("connection", "").lower() == "close":
                self.close()
            if answer is not None:
                return answer
        return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode("latin-1")


def with_body(method: str, path: str, body: bytes, headers: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
            .encode("latin-1") + body)


def run_all(port: int, requests: list[bytes], tally: Tally, threads: int = 8) -> None:
    """Every request once, over `threads` keep-alive connections."""
    position = iter(range(len(requests)))
    lock = threading.Lock()

    def worker() -> None:
        connection = Connection(port)
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            tally.count(connection.request(requests[index]))
        connection.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


# -- the attacks ----------------------------------------------------------------------------------

KEYED = f"X-API-Key: {KEY}\r\n"
JSON_TYPE = "Content-Type: application/json\r\n"


def attack_control_routes_from_a_page(port: int, scale: float) -> Tally:
    tally = Tally()
    readable = 0
    evil = "Origin: http://evil.example\r\n"
    requests = [get("/__mock/keys", evil), get("/__mock/leads", "Sec-Fetch-Site: cross-site\r\n"),
                f"OPTIONS /__mock/settings HTTP/1.1\r\nHost: 127.0.0.1\r\n{evil}Access-Control-Request-Method: "
                "PATCH\r\n\r\n".encode(),
                with_body("POST", "/__mock/reset", b"x=1", evil + "Content-Type: application/x-www-form-urlencoded\r\n"),
                get("/__mock/keys", "Host: evil.example:8080\r\nOrigin: http://evil.example:8080\r\n")
                .replace(b"Host: 127.0.0.1\r\n", b"")]
    connection = Connection(port)
    for _ in range(int(60 * scale) or 1):
        for raw in requests:
            answer = connection.request(raw)
            tally.count(answer)
            if answer is not None and (answer.status < 400 or "access-control-allow-origin" in answer.headers):
                readable += 1
    connection.close()
    tally.notes.append(f"answers a page could read or act on: {readable}")
    return tally


def attack_huge_headers(port: int, scale: float) -> Tally:
    """Keyless requests with an 8 MB header each (the mock answers 431 and closes long before the end)."""
    tally = Tally()
    for _ in range(max(5, int(50 * scale))):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /v1/leads HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Schemathesis-TestCaseId: ")
            try:
                for _chunk in range(128):
                    sock.sendall(b"a" * 65536)
                sock.sendall(b"\r\n\r\n")
            except OSError:
                pass
            tally.count(read_answer(sock))
    return tally


def attack_settings_overflow(port: int, scale: float) -> Tally:
    tally = Tally()
    connection = Connection(port)
    for body in (b'{"rate_window_seconds": ' + b"9" * 400 + b"}", b'{"rate_limit": ' + b"9" * 400 + b"}",
                 b'{"rate_window_seconds": 1e400}', b'{"error_rate": 1e400}', b'{"latency_ms": [0, 1e400]}'):
        tally.count(connection.request(with_body("PATCH", "/__mock/settings", body, JSON_TYPE)))
    connection.close()
    run_all(port, [get("/v1/leads?limit=1", KEYED)] * int(300 * scale + 1), tally)
    return tally


def attack_many_keys(port: int, scale: float) -> Tally:
    tally = Tally()
    run_all(port, [get("/v1/leads", f"X-API-Key: forged-key-{n:05d}\r\nX-Schemathesis-TestCaseId: {n}\r\n")
                   for n in range(int(10_000 * scale))], tally)
    return tally


def attack_forged_addresses(port: int, scale: float) -> Tally:
    """Keyless requests, each from another forged X-Forwarded-For; speed of the first and the last quarter."""
    tally = Tally()
    run_all(port, [get("/v1/leads?page=1", KEYED)] * 500, Tally())  # warm-up, not counted
    requests = [get(f"/v1/leads?page={n % 7 + 1}", f"X-Forwarded-For: 10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}\r\n")
                for n in range(int(40_000 * scale))]
    quarter = len(requests) // 4
    rates = []
    for part in range(4):
        chunk = requests[part * quarter:(part + 1) * quarter] if part < 3 else requests[3 * quarter:]
        started = time.perf_counter()
        run_all(port, chunk, tally)
        rates.append(len(chunk) / (time.perf_counter() - started))
    tally.notes.append(f"429: {tally.statuses.get(429, 0):,}; req/s first quarter {rates[0]:,.0f}, last quarter "
                       f"{rates[-1]:,.0f} ({rates[-1] / rates[0]:.2f}x); {bucket_table_cost()}")
    return tally


def bucket_table_cost() -> str:
    """In-process: microseconds per new-address hit while the rate-limit table fills, and once it is full."""
    sys.path.insert(0, str(ROOT))
    from mock_server.config import Runtime, Settings
    from mock_server.ratelimit import MAX_BUCKETS, RateLimiter

    def per_hit(limiter: RateLimiter, start: int) -> float:
        started = time.perf_counter()
        for number in range(start, start + MAX_BUCKETS):
            limiter.hit(f"address:{number}")
        return (time.perf_counter() - started) / MAX_BUCKETS * 1e6

    filling, full = [], []
    for _run in range(3):  # the best of three: the machine is shared
        limiter = RateLimiter(Runtime.from_settings(Settings()))
        filling.append(per_hit(limiter, 0))
        full.append(per_hit(limiter, MAX_BUCKETS))  # each new bucket evicts the oldest
    return f"table filling {min(filling):.2f} us/hit, full and evicting {min(full):.2f} us/hit"


def attack_malformed(port: int, scale: float) -> Tally:
    tally = Tally()
    shapes = [
        "GET /v1/leads/caf\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET /v1/leads?cursor={'A' * 65536} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"get /v1/leads HTTP/1.1\r\nHost: x\r\n\r\n", b"post /v1/leads HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/leads HTTP/1.1\r\nBad Header: 1\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET /v1/leads HTTP/9.9\r\nHost: x\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /v1/leads HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", b"GET /v1/leads HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    ]
    for _ in range(max(2, int(40 * scale))):
        for raw in shapes:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                try:
                    sock.sendall(raw)
                except OSError:
                    pass
                tally.count(read_answer(sock))
    return tally


def attack_hostile_bodies(port: int, scale: float) -> Tally:
    tally = Tally()
    lead = f"/v1/leads/{LEAD_ID}"
    bodies = [b"[" * 100_000 + b"]" * 100_000, b'{"name": "' + b"x" * (1024 * 1024) + b'"}', b"\xff\xfe\x00{",
              b'{"name": "a", "budget": ' + b"9" * 5000 + b"}", b'{"name": "\\ud800"}', b"", b"null",
              b'{"name": {"$ne": null}}', b'{"version": 1e400, "notes": "x"}', b'{"name": "a", "budget": 1e400}']
    requests = []
    for body in bodies:
        for method, path in (("POST", "/v1/leads"), ("PUT", lead), ("POST", lead + "/convert")):
            requests.append(with_body(method, path, body, KEYED + JSON_TYPE))
    run_all(port, requests * max(1, int(100 * scale)), tally, threads=4)
    return tally


def attack_padded_key(port: int, scale: float) -> Tally:
    tally = Tally()
    connection = Connection(port)
    refused = 0
    for _ in range(int(200 * scale) or 1):
        answer = connection.request(get("/v1/leads?limit=1", f"X-API-Key: {KEY} \r\n"))
        tally.count(answer)
        refused += answer is None or answer.status != 200
    connection.close()
    tally.notes.append(f"padded key refused: {refused}")
    return tally


def attack_slow_clients(port: int, scale: float) -> Tally:
    """300 idle sockets and 50 that promise a body they never send, then real requests among them."""
    tally = Tally()
    idle = []
    for number in range(350):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        if number >= 300:  # lying about the body
            sock.sendall(with_body("POST", "/v1/leads", b"", KEYED + JSON_TYPE).replace(
                b"Content-Length: 0", b"Content-Length: 100000"))
        idle.append(sock)
    failed = 0
    for _ in range(max(20, int(200 * scale))):
        connection = Connection(port)
        try:
            answer = connection.request(get("/v1/leads?limit=1", KEYED))
        except OSError:
            answer = None
        connection.close()
        tally.count(answer)
        failed += answer is None or answer.status != 200
    for sock in idle:
        sock.close()
    tally.notes.append(f"real requests failed among 350 idle/lying sockets: {failed}")
    return tally


ATTACKS: list[tuple[str, Callable[[int, float], Tally], bool]] = [
    ("web page on /__mock", attack_control_routes_from_a_page, False),
    ("8 MB headers", attack_huge_headers, False),
    ("settings overflow", attack_settings_overflow, False),
    ("10,000 keys", attack_many_keys, False),
    ("40,000 forged addresses", attack_forged_addresses, False),
    ("40,000 forged, --trust-proxy", attack_forged_addresses, True),
    ("malformed HTTP", attack_malformed, False),
    ("hostile bodies", attack_hostile_bodies, False),
    ("padded X-API-Key", attack_padded_key, False),
    ("300 idle + 50 lying sockets", attack_slow_clients, False),
]


# -- the server -----------------------------------------------------------------------------------

def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@contextmanager
def mock(*flags: str) -> Iterator[tuple[int, int]]:
    """(port, pid) of a mock started with `flags`, up to its banner."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEADS_MOCK_")}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "mock_server", "--port", "0", "--api-key", KEY, *flags],
                                   cwd=ROOT, env=env, stdout=out, stderr=err, preexec_fn=_limit_descriptors)
        try:
            deadline = time.monotonic() + 60
            while True:
                out.seek(0)
                match = BANNER.search(out.read().decode())
                if match:
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    err.seek(0)
                    raise SystemExit(f"the mock did not start: {err.read().decode()[-2000:]}")
                time.sleep(0.05)
            yield int(match[1]), process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the requests")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    rows = []
    with mock() as (port, pid), mock("--trust-proxy") as (proxied_port, proxied_pid):
        for name, attack, trusted in ATTACKS:
            target, target_pid = (proxied_port, proxied_pid) if trusted else (port, pid)
            Connection(target).request(with_body("POST", "/__mock/reset", b""))  # fresh data and rate windows
            before = resident_mb(target_pid)
            started = time.perf_counter()
            tally = attack(target, scale)
            time.sleep(0.5)
            after = resident_mb(target_pid)
            rows.append((name, tally, before, after, time.perf_counter() - started))
            print(f"  {name}: done in {rows[-1][4]:.1f} s", file=sys.stderr, flush=True)
    print(f"{'attack':32} {'sent':>7} {'5xx':>5} {'non-env':>7} {'no ans':>6} {'RSS before':>10} {'after':>7} "
          f"{'growth':>7}  notes")
    for name, tally, before, after, _seconds in rows:
        print(f"{name:32} {tally.sent:>7,} {tally.server_errors:>5} {tally.non_envelope:>7} {tally.unanswered:>6} "
              f"{before:>8.1f}MB {after:>5.1f}MB {after - before:>+6.1f}MB  {'; '.join(tally.notes)}")
    worst = max(after - before for _name, _tally, before, after, _seconds in rows)
    failures = sum(t.server_errors + t.non_envelope for _n, t, _b, _a, _s in rows)
    print(f"\n5xx + non-envelope answers: {failures}; largest memory growth: {worst:+.1f} MB "
          f"(goal: 0 and under 20 MB); file descriptor limit {FD_LIMIT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
