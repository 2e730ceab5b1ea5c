"""How fast the mock answers, next to a plain Starlette app measured in the same run.

Drives each server over HTTP from a second process with wrk (Debian package `wrk`), on
127.0.0.1, bounded in time (about 70 s with the defaults), and prints one table: requests/s,
p50 and p99 per scenario and the ratio to plain Starlette. Plain Starlette runs first and last:
on a shared machine the two differ, and compare ratios, not raw numbers, across runs.
Run by hand: `make bench` or `python benchmarks/mock_speed.py`.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
PLAIN_STARLETTE_APP = '''
import json, sys
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
LEADS = {}
async def get_lead(request):
    lead = LEADS.get(request.path_params["id"])
    if lead is None:
        return Response(b'{"success":false}', status_code=404, media_type="application/json")
    return Response(json.dumps({"success": True, "data": lead}), media_type="application/json")
async def put_lead(request):
    lead = await request.json()
    LEADS[lead["id"]] = lead
    return Response(b"{}", media_type="application/json")
app = Starlette(routes=[Route("/v1/leads/{id}", get_lead, methods=["GET"]), Route("/v1/leads/{id}", put_lead, methods=["PUT"])])
'''
CREATE_SCRIPT = '''
wrk.method = "POST"
wrk.body = '{"name": "Bench Lead", "email": "bench@example.com", "lead_type": "seller", "budget": 500000}'
wrk.headers["Content-Type"] = "application/json"
'''


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any answer means the server is up
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up")


@contextmanager
def running(command: list[str], health_url: str, cwd: Path = ROOT) -> Iterator[None]:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(health_url)
        yield
    finally:
        process.terminate()
        process.wait(timeout=15)


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> Result:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"X-API-Key: {API_KEY}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if script:
            lua.write(script)
            command += ["-s", lua.name]
    output = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = to_ms(re.search(r"50%\s+(\S+)", output).group(1))
    p99 = to_ms(re.search(r"99%\s+(\S+)", output).group(1))
    if re.search(r"Non-2xx or 3xx responses", output):
        raise RuntimeError(f"errors while benchmarking {url}:\n{output}")
    return Result(rps, p50, p99)


def first_lead_id(base: str, query: str = "") -> str:
    request = urllib.request.Request(f"{base}/v1/leads?limit=1{query}", headers={"X-API-Key": API_KEY})
    return json.load(urllib.request.urlopen(request))["data"]["leads"][0]["id"]


def print_row(name: str, result: Result, baseline: Result | None = None) -> None:
    ratio = f"{result.requests_per_second / baseline.requests_per_second:5.2f}x" if baseline else "     -"
    print(f"| {name:<42} | {result.requests_per_second:>8.0f} | {result.p50_ms:>8.2f} | {result.p99_ms:>8.2f} "
          f"| {ratio:>10} |")


def measure_plain(python: str, seconds: int, connections: int) -> Result:
    """Plain Starlette answering a get by id from a dict: the floor of this machine, server and client."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "plain_app.py").write_text(PLAIN_STARLETTE_APP)
        lead = {"id": "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b", "name": "Rachel Kim", "status": "new"}
        base = f"http://127.0.0.1:{port}"
        command = [python, "-m", "uvicorn", "plain_app:app", "--port", str(port), "--no-access-log", "--log-level",
                   "warning"]
        with running(command, base + "/v1/leads/none", cwd=Path(tmp)):
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/v1/leads/{lead['id']}", data=json.dumps(lead).encode(), method="PUT"))
            return wrk(f"{base}/v1/leads/{lead['id']}", seconds, connections)


def measure_prism(prism: str, seconds: int, connections: int) -> Result:
    """Prism answering get by id from the spec's examples: the static mock the mock is compared with."""
    port = free_port()
    command = [prism, "mock", "-h", "127.0.0.1", "-p", str(port), str(ROOT / "openapi.yaml")]
    url = f"http://127.0.0.1:{port}/leads/f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"
    with running(command, url):
        return wrk(url, seconds, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--large", type=int, default=100_000, help="leads in the large data set")
    parser.add_argument("--prism", metavar="PATH", help="also measure Prism's static mock of openapi.yaml on get by id: "
                        "the path of its `prism` command (npm install @stoplight/prism-cli@5.16.0)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    python = sys.executable
    print(f"wrk, 1 thread, {args.connections} connections, {args.seconds} s per scenario, 127.0.0.1, "
          "single server process\n")

    # plain Starlette before and after the mock: how far the two differ shows how noisy the machine was
    plain_before = measure_plain(python, args.seconds, args.connections)
    results: dict[str, Result] = {}
    startups: dict[int, float] = {}
    for size in (100, args.large):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [python, "-m", "mock_server", "--port", str(port), "--api-key", API_KEY,
                   "--generate", str(size), "--seed", "1", "--rate-limit", "1000000000/minute"]
        started = time.monotonic()
        with running(command, base + "/healthz"):
            startups[size] = time.monotonic() - started
            lead_id = first_lead_id(base)
            results[f"get by id ({size} leads)"] = wrk(f"{base}/v1/leads/{lead_id}", args.seconds, args.connections)
            results[f"list, 2 filters ({size} leads)"] = wrk(
                f"{base}/v1/leads?status=contacted&interest_level=hot&limit=25", args.seconds, args.connections)
            results[f"list, page 3 of all ({size} leads)"] = wrk(
                f"{base}/v1/leads?page=3&limit=25", args.seconds, args.connections)
            results[f"create ({size} leads)"] = wrk(f"{base}/v1/leads", args.seconds, args.connections, CREATE_SCRIPT)
    if args.prism:
        results["Prism 5.16 static mock: get by id"] = measure_prism(args.prism, args.seconds, args.connections)
    plain_after = measure_plain(python, args.seconds, args.connections)
    plain = Result(*(statistics.mean(pair) for pair in zip(
        (plain_before.requests_per_second, plain_before.p50_ms, plain_before.p99_ms),
        (plain_after.requests_per_second, plain_after.p50_ms, plain_after.p99_ms))))

    print(f"| {'scenario':<42} | {'req/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | {'vs plain':>10} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 12}|")
    print_row("plain Starlette, get by id (first)", plain_before)
    print_row("plain Starlette, get by id (last)", plain_after)
    for name, result in results.items():
        print_row(name if name.startswith("Prism") else "mock: " + name, result, plain)
    print(f"\nratios are to the mean of the two plain Starlette runs ({plain.requests_per_second:.0f} req/s)")
    for size, seconds in startups.items():
        print(f"mock with {size} leads: up and answering in {seconds:.1f} s")
    for scenario in ("list, 2 filters", "list, page 3 of all"):
        small, large = results[f"{scenario} (100 leads)"], results[f"{scenario} ({args.large} leads)"]
        print(f"{scenario}: {args.large} leads vs 100 leads: "
              f"{large.requests_per_second / small.requests_per_second:.2f}x req/s")


if __name__ == "__main__":
    main()
