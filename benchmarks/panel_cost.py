"""What the control panel costs the API: get by id with the panel open and following the journal, and without.

Starts one mock (100 generated leads), then alternates wrk runs of get by id without any browser
and with headless Chromium showing /__mock/ and following the live journal, several rounds each,
so that both sides see the same machine; prints each run (also the mock's CPU time per request
and Chromium's CPU use, from /proc), the medians and their ratio. At the end it asks the page
(over the DevTools protocol) how many journal rows it shows, to prove that it followed. 127.0.0.1 only, bounded in time (about 2.5 minutes with the defaults).
Run by hand: `python benchmarks/panel_cost.py [--rounds 8 --seconds 5]`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from websockets.sync.client import connect

from mock_speed import (API_KEY, ROOT, Result, cpu_seconds, first_lead_id, free_port, tree_cpu_seconds,
                        wait_until_up, wrk)

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1400",
)


@contextmanager
def panel_open(chromium: str, url: str) -> Iterator[tuple[str, int]]:
    """Headless Chromium showing `url`; yields the page's DevTools WebSocket URL and Chromium's process id."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (port_file.is_file() and port_file.read_text().strip()):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("Chromium did not start")
                time.sleep(0.05)
            port = port_file.read_text().split()[0]
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
            socket_url = next(target for target in targets if target["type"] == "page")["webSocketDebuggerUrl"]
            wait_for(socket_url, "document.body && document.body.dataset.ready === 'true'")
            yield socket_url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def evaluate(socket_url: str, expression: str) -> object:
    with connect(socket_url, proxy=None, open_timeout=30) as ws:
        ws.send(json.dumps({"id": 1, "method": "Runtime.evaluate",
                            "params": {"expression": expression, "returnByValue": True}}))
        while True:
            message = json.loads(ws.recv(timeout=30))
            if message.get("id") == 1:
                return message["result"]["result"].get("value")


def wait_for(socket_url: str, expression: str) -> None:
    deadline = time.monotonic() + 60
    while not evaluate(socket_url, expression):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the panel never satisfied {expression}")
        time.sleep(0.2)


def journal_overhead_us(requests: int = 20_000) -> tuple[float, float]:
    """In-process: microseconds per get-by-id-shaped request through a trivial app, without and with the journal."""
    import asyncio

    sys.path.insert(0, str(ROOT))
    from mock_server.controls.journal import Journal
    from mock_server.controls.recording import JournalMiddleware

    body = b"x" * 640
    headers = [(b"content-length", b"640"), (b"content-type", b"application/json"), (b"ratelimit-limit", b"2000"),
               (b"ratelimit-remaining", b"1999"), (b"ratelimit-reset", b"60")]

    async def app(scope: dict, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    async def discard(message: dict) -> None:
        return None

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/v1/leads/f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b",
             "query_string": b"", "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"wrk"),
                                              (b"x-api-key", b"bench-key"), (b"accept", b"*/*")]}

    async def loop(target: object) -> float:
        started = time.perf_counter()
        for _ in range(requests):
            await target(scope, receive, discard)  # type: ignore[operator]
        return (time.perf_counter() - started) / requests * 1e6

    journaled = JournalMiddleware(app, Journal())
    bare = min(asyncio.run(loop(app)) for _ in range(3))
    with_journal = min(asyncio.run(loop(journaled)) for _ in range(3))
    return bare, with_journal


def measure(url: str, seconds: int, connections: int) -> Result:
    """wrk, once more if its output could not be read (it happens on a loaded machine)."""
    try:
        return wrk(url, seconds, connections)
    except (AttributeError, RuntimeError):
        return wrk(url, seconds, connections)


@dataclass
class Run:
    result: Result
    server_us_per_request: float  # the mock's CPU time per answered request
    browser_cpu_share: float = 0.0  # Chromium's CPU time over the run's wall time (1.0 = one core)


def run(url: str, server_pid: int, seconds: int, connections: int, browser_pid: int | None = None) -> Run:
    server_before = cpu_seconds(server_pid)
    browser_before = tree_cpu_seconds(browser_pid) if browser_pid else 0.0
    result = measure(url, seconds, connections)
    server_cpu = cpu_seconds(server_pid) - server_before
    browser_cpu = tree_cpu_seconds(browser_pid) - browser_before if browser_pid else 0.0
    requests = result.requests_per_second * seconds
    return Run(result, server_cpu / requests * 1e6, browser_cpu / seconds)


def row(name: str, measured: Run) -> str:
    result = measured.result
    return (f"| {name:<30} | {result.requests_per_second:>7.0f} | {result.p50_ms:>6.2f} | {result.p99_ms:>7.2f} "
            f"| {measured.server_us_per_request:>9.0f} | {measured.browser_cpu_share * 100:>10.0f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if shutil.which("wrk") is None or chromium is None:
        sys.exit("needs wrk and chromium: apt-get install wrk chromium")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mock_server", "--port", str(port), "--api-key", API_KEY,
               "--generate", "100", "--seed", "1", "--rate-limit", "1000000000/minute"]
    print(f"wrk, 1 thread, {args.connections} connections, {args.seconds} s per run, {args.rounds} rounds, "
          "get by id, one mock process, 127.0.0.1\n")
    without: list[Run] = []
    with_panel: list[Run] = []
    shown = newest = 0
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(base + "/healthz")
        url = f"{base}/v1/leads/{first_lead_id(base)}"
        wrk(url, 2, args.connections)  # warm-up
        print(f"| {'run':<30} | {'req/s':>7} | {'p50 ms':>6} | {'p99 ms':>7} | {'mock CPU':>9} | {'Chromium CPU':>12} |")
        print(f"| {'':<30} | {'':>7} | {'':>6} | {'':>7} | {'us/req':>9} | {'(1 core)':>12} |")
        print(f"|{'-' * 32}|{'-' * 9}|{'-' * 8}|{'-' * 9}|{'-' * 11}|{'-' * 14}|")
        for number in range(1, args.rounds + 1):
            # ABBA order, so that a trend in the machine's load weighs on both sides alike
            for panel in ((False, True) if number % 2 else (True, False)):
                if not panel:
                    without.append(run(url, server.pid, args.seconds, args.connections))
                    print(row(f"{number}: no panel", without[-1]), flush=True)
                    continue
                with panel_open(chromium, f"{base}/__mock/") as (page, browser_pid):
                    time.sleep(1)
                    with_panel.append(run(url, server.pid, args.seconds, args.connections, browser_pid))
                    shown = int(evaluate(page, "document.querySelectorAll('#journal tbody tr').length") or 0)
                    newest = int(evaluate(page, "document.querySelector('#journal tbody tr') ? "
                                                "Number(document.querySelector('#journal tbody tr').dataset.seq) : 0")
                                 or 0)
                print(row(f"{number}: panel open, following", with_panel[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=15)

    def median(runs: list[Run], value: Callable[[Run], float]) -> float:
        return statistics.median(value(item) for item in runs)

    rps_without = median(without, lambda item: item.result.requests_per_second)
    rps_with = median(with_panel, lambda item: item.result.requests_per_second)
    cpu_without = median(without, lambda item: item.server_us_per_request)
    cpu_with = median(with_panel, lambda item: item.server_us_per_request)
    print(f"\nmedian req/s: {rps_without:.0f} without the panel, {rps_with:.0f} with it open and following: "
          f"{rps_with / rps_without:.3f}x ({(rps_with / rps_without - 1) * 100:+.1f} %)")
    print(f"median mock CPU per request: {cpu_without:.0f} us without, {cpu_with:.0f} us with: "
          f"{(cpu_with / cpu_without - 1) * 100:+.1f} % (less sensitive to the machine's other load than req/s)")
    print(f"median Chromium CPU while following: "
          f"{median(with_panel, lambda item: item.browser_cpu_share) * 100:.0f} % of one core")
    print(f"the page followed: {shown} journal rows on it at the end, the newest #{newest}")
    bare, journaled = journal_overhead_us()
    print(f"in-process, per request: {bare:.1f} us without the journal, {journaled:.1f} us with it "
          f"(the journal's own cost: {journaled - bare:.1f} us)")


if __name__ == "__main__":
    main()
