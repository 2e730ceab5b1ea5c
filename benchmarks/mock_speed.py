"""How fast the mock answers on each backend, next to a plain Starlette app measured in the same run.

Drives each server over HTTP from other processes with wrk (Debian package `wrk`), on 127.0.0.1,
bounded in time (about 6 minutes with the defaults): get by id, two list pages and a create, at
100 and 100,000 leads, for the memory store, SQLite (`--state-file`), PostgreSQL with one mock
process and with two (`--database-url`; a throwaway cluster of Debian's PostgreSQL, fsync on).
With two processes one wrk drives each, at once, and their requests/s add up. With `--prism`, Prism's
static mock of the same spec answers get by id just before the first backend, then back to back with
memory's get by id at 100 leads, a few times (the ratio of each pair sees one moment of the machine's
load). Each server gets a second of get by id before it is measured, Prism 12 s (it compiles its
JavaScript as it runs, and its first seconds are several times slower). Prints one table
(requests/s, p50, p99, the server's CPU time per request, the ratio to plain Starlette) and the
issue's goals as ratios measured in this run. Plain Starlette runs first and last: on a shared
machine the two differ; compare ratios, not raw numbers, across runs (CPU time per request moves
far less with the machine's load than requests/s do). Run by hand: `make bench` or
`python benchmarks/mock_speed.py`.
"""
from __future__ import annotations

import argparse
import contextlib
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
from threading import Thread

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
WARM_UP_SECONDS = 1
# Prism compiles its JavaScript as it runs: here its CPU time per request fell from about 3.5 ms in its
# first 3 s under load to about 1.1-1.3 ms after 15 s; measured warm, as a developer's session meets it
PRISM_WARM_UP_SECONDS = 12
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
    requests: int = 0
    cpu_us_per_request: float | None = None  # the server's CPU time (user + system) per answered request


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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time of `root` and every live process below it (a server's workers, a browser's renderers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    total = 0.0
    for pid in parents:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += cpu_seconds(pid)
    return total


@contextmanager
def running(command: list[str], health_url: str, cwd: Path = ROOT) -> Iterator[int]:
    """The server of `command`, up (its `health_url` answers) until the block ends; yields its process id."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(health_url)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, seconds: int, connections: int, script: str | None = None, server_pid: int | None = None) -> Result:
    """One wrk run; with `server_pid`, also the CPU time that server (and its children) spent per request."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"X-API-Key: {API_KEY}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if script:
            lua.write(script)
            command += ["-s", lua.name]
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 30)
    cpu = tree_cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    output = done.stdout
    os.unlink(lua.name)
    try:
        requests = int(re.search(r"(\d+) requests in", output).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
        p50 = to_ms(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1))
        p99 = to_ms(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1))
    except (AttributeError, ValueError) as error:
        raise RuntimeError(f"unreadable wrk output for {url}:\n{output}\n{done.stderr}") from error
    if re.search(r"Non-2xx or 3xx responses", output):
        raise RuntimeError(f"errors while benchmarking {url}:\n{output}")
    return Result(rps, p50, p99, requests, cpu / requests * 1e6 if server_pid and requests else None)


def warm_up(urls: list[str], connections: int, seconds: int = WARM_UP_SECONDS) -> None:
    """Load before a server is measured, its answers not counted (the mock builds a few things lazily)."""
    for url in urls:
        with contextlib.suppress(RuntimeError):
            wrk(url, seconds, connections)


def first_lead_id(base: str, query: str = "") -> str:
    request = urllib.request.Request(f"{base}/v1/leads?limit=1{query}", headers={"X-API-Key": API_KEY})
    return json.load(urllib.request.urlopen(request))["data"]["leads"][0]["id"]


def print_row(name: str, result: Result, baseline: Result | None = None) -> None:
    ratio = f"{result.requests_per_second / baseline.requests_per_second:5.2f}x" if baseline else "     -"
    cpu = f"{result.cpu_us_per_request:.0f}" if result.cpu_us_per_request is not None else "-"
    print(f"| {name:<42} | {result.requests_per_second:>8.0f} | {result.p50_ms:>8.2f} | {result.p99_ms:>8.2f} "
          f"| {cpu:>10} | {ratio:>10} |")


def measure_plain(python: str, seconds: int, connections: int) -> Result:
    """Plain Starlette answering a get by id from a dict: the floor of this machine, server and client."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "plain_app.py").write_text(PLAIN_STARLETTE_APP)
        lead = {"id": "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b", "name": "Rachel Kim", "status": "new"}
        base = f"http://127.0.0.1:{port}"
        command = [python, "-m", "uvicorn", "plain_app:app", "--port", str(port), "--no-access-log", "--log-level",
                   "warning"]
        with running(command, base + "/v1/leads/none", cwd=Path(tmp)) as pid:
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/v1/leads/{lead['id']}", data=json.dumps(lead).encode(), method="PUT"))
            warm_up([f"{base}/v1/leads/{lead['id']}"], connections)
            return wrk(f"{base}/v1/leads/{lead['id']}", seconds, connections, server_pid=pid)


@contextmanager
def prism_server(prism: str, connections: int) -> Iterator[tuple[str, int]]:
    """Prism's static mock of openapi.yaml, warmed up: the get-by-id URL it answers from the spec's
    examples, and its process id. The static mock the mock is compared with."""
    port = free_port()
    command = [prism, "mock", "-h", "127.0.0.1", "-p", str(port), str(ROOT / "openapi.yaml")]
    url = f"http://127.0.0.1:{port}/leads/f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"
    with running(command, url) as pid:
        warm_up([url], connections, PRISM_WARM_UP_SECONDS)
        yield url, pid


def alternate_with_prism(mock: tuple[str, int], prism: tuple[str, int], seconds: int, connections: int,
                         pairs: int) -> list[tuple[Result, Result]]:
    """(mock, Prism) get-by-id runs back to back, `pairs` times, the order swapped each time: each pair's
    ratio sees one moment of the machine's load."""
    measured = []
    for number in range(pairs):
        order = (mock, prism) if number % 2 == 0 else (prism, mock)
        first, second = (wrk(url, seconds, connections, server_pid=pid) for url, pid in order)
        measured.append((first, second) if number % 2 == 0 else (second, first))
    return measured


def wrk_all(servers: list[tuple[str, int]], seconds: int, connections: int, script: str | None = None) -> Result:
    """One wrk per (URL, process id) of a server process, all at the same time, the connections shared out:
    requests/s summed, the slowest p50 and p99, the processes' CPU time over all their requests."""
    results: list[Result] = []
    failures: list[Exception] = []

    def run(url: str, pid: int) -> None:
        try:
            results.append(wrk(url, seconds, max(1, connections // len(servers)), script, server_pid=pid))
        except Exception as error:  # reported below, from the main thread
            failures.append(error)

    threads = [Thread(target=run, args=server) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    requests = sum(r.requests for r in results)
    cpu_us = sum((r.cpu_us_per_request or 0.0) * r.requests for r in results)
    return Result(sum(r.requests_per_second for r in results), max(r.p50_ms for r in results),
                  max(r.p99_ms for r in results), requests, cpu_us / requests if requests else None)


BACKENDS = ("memory", "sqlite", "postgres", "postgres x2")


@contextmanager
def backend_servers(backend: str, size: int, python: str, tmp: Path,
                    cluster: object | None) -> Iterator[list[tuple[str, int]]]:
    """Base URLs and process ids of the mock process(es) of `backend` with `size` generated leads."""
    args = ["--api-key", API_KEY, "--generate", str(size), "--seed", "1", "--rate-limit", "1000000000/minute"]
    if backend == "sqlite":
        args += ["--state-file", str(tmp / f"state-{size}.db")]
    elif backend.startswith("postgres"):
        args += ["--database-url", cluster.create_database(f"bench_{backend.replace(' ', '_')}_{size}")]  # type: ignore[attr-defined]
    with contextlib.ExitStack() as stack:
        bases = []
        for _ in range(2 if backend.endswith("x2") else 1):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            pid = stack.enter_context(running([python, "-m", "mock_server", "--port", str(port), *args],
                                              base + "/healthz"))
            bases.append((base, pid))
        yield bases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--large", type=int, default=100_000, help="leads in the large data set")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, of {', '.join(BACKENDS)}")
    parser.add_argument("--prism", metavar="PATH", help="also measure Prism's static mock of openapi.yaml on get by id: "
                        "the path of its `prism` command (npm install @stoplight/prism-cli@5.16.0)")
    parser.add_argument("--prism-pairs", type=int, default=4, metavar="N",
                        help="with --prism: memory's and Prism's get by id run back to back N times (default 4)")
    args = parser.parse_args()
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if unknown := set(backends) - set(BACKENDS):
        sys.exit(f"unknown backends: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk (`make bench` does it)")
    python = sys.executable
    print(f"wrk, 1 thread, {args.connections} connections in all, {args.seconds} s per scenario, 127.0.0.1\n")

    cluster = None
    if any(name.startswith("postgres") for name in backends):
        sys.path.insert(0, str(ROOT / "tests"))
        from postgres import Cluster  # the tests' throwaway cluster

        cluster = Cluster()
        cluster.start(fsync=True)
    # plain Starlette before and after the mock: how far the two differ shows how noisy the machine was
    plain_before = measure_plain(python, args.seconds, args.connections)
    results: dict[tuple[str, str, int], Result] = {}
    startups: dict[tuple[str, int], float] = {}
    pairs: list[tuple[Result, Result]] = []  # (memory, Prism) get by id at 100 leads, back to back
    prism: Result | None = None
    try:
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            # Prism up through the run: measured just before the first backend, then beside memory's get by id
            prism_at = stack.enter_context(prism_server(args.prism, args.connections)) if args.prism else None
            if prism_at:
                prism = wrk(prism_at[0], args.seconds, args.connections, server_pid=prism_at[1])
            for backend in backends:
                for size in (100, args.large):
                    started = time.monotonic()
                    with backend_servers(backend, size, python, Path(tmp), cluster) as servers:
                        startups[(backend, size)] = time.monotonic() - started
                        lead_id = first_lead_id(servers[0][0])

                        def measure(scenario: str, path: str, script: str | None = None) -> None:
                            results[(scenario, backend, size)] = wrk_all(
                                [(base + path, pid) for base, pid in servers], args.seconds, args.connections, script)

                        warm_up([f"{base}/v1/leads/{lead_id}" for base, _ in servers], args.connections)
                        measure("get by id", f"/v1/leads/{lead_id}")
                        if prism_at and backend == "memory" and size == 100:
                            pairs = alternate_with_prism((f"{servers[0][0]}/v1/leads/{lead_id}", servers[0][1]),
                                                         prism_at, args.seconds, args.connections, args.prism_pairs)
                        measure("list, 2 filters", "/v1/leads?status=contacted&interest_level=hot&limit=25")
                        measure("list, page 3 of all", "/v1/leads?page=3&limit=25")
                        measure("create", "/v1/leads", CREATE_SCRIPT)
        plain_after = measure_plain(python, args.seconds, args.connections)
    finally:
        if cluster is not None:
            cluster.stop()
            cluster.remove()
    plain = Result(*(statistics.mean(pair) for pair in zip(
        (plain_before.requests_per_second, plain_before.p50_ms, plain_before.p99_ms),
        (plain_after.requests_per_second, plain_after.p50_ms, plain_after.p99_ms))))

    print(f"| {'scenario':<42} | {'req/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | {'CPU us/req':>10} "
          f"| {'vs plain':>10} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 12}|{'-' * 12}|")
    print_row("plain Starlette, get by id (first)", plain_before)
    print_row("plain Starlette, get by id (last)", plain_after)
    for (scenario, backend, size), result in results.items():
        print_row(f"{backend}: {scenario} ({size} leads)", result, plain)
    if prism:
        print_row("Prism 5.16 static mock: get by id", prism, plain)
    print(f"\nratios are to the mean of the two plain Starlette runs ({plain.requests_per_second:.0f} req/s); "
          "CPU us/req: the server's user + system CPU time per answered request, from /proc "
          "(far less sensitive than req/s to other work on the machine)")
    for (backend, size), seconds in startups.items():
        print(f"{backend} with {size} leads: up and answering in {seconds:.1f} s")

    print("\ngoals (ratios of req/s measured in this run):")
    for backend in backends:
        for size in (100, args.large):
            if backend != "memory" and "memory" in backends:
                share = (results[("get by id", backend, size)].requests_per_second
                         / results[("get by id", "memory", size)].requests_per_second)
                print(f"  {backend}: get by id at {size} leads = {share:.0%} of memory (goal >= 50%)")
        for scenario in ("list, 2 filters", "list, page 3 of all"):
            small, large = results[(scenario, backend, 100)], results[(scenario, backend, args.large)]
            slower = small.requests_per_second / large.requests_per_second
            print(f"  {backend}: {scenario}, time at {args.large} leads = {slower:.2f}x the time at 100 (goal <= 2x)")
    if prism and "memory" in backends:
        memory = results[("get by id", "memory", 100)]
        print(f"  memory get by id = {memory.requests_per_second / prism.requests_per_second:.1f}x "
              "Prism's static mock in req/s (goal >= 6x)")
        if memory.cpu_us_per_request and prism.cpu_us_per_request:
            print(f"  memory get by id = {prism.cpu_us_per_request / memory.cpu_us_per_request:.1f}x "
                  "Prism's static mock in CPU time per request (the same goal, less noisy)")
    if pairs:
        speed = [ours.requests_per_second / theirs.requests_per_second for ours, theirs in pairs]
        cpu = [theirs.cpu_us_per_request / ours.cpu_us_per_request for ours, theirs in pairs
               if ours.cpu_us_per_request and theirs.cpu_us_per_request]
        print(f"  memory get by id, {len(pairs)} runs back to back with Prism's: "
              f"{', '.join(f'{ratio:.1f}x' for ratio in speed)} its req/s (median {statistics.median(speed):.1f}x), "
              f"{', '.join(f'{ratio:.1f}x' for ratio in cpu)} in CPU time (median {statistics.median(cpu):.1f}x)")


if __name__ == "__main__":
    main()
