"""How long `leads-contract` takes against the local mock, where the time goes, and how many requests it sends.

    python benchmarks/contract_speed.py [--skip-default] [--skip-quick] [--distance-ms 20] [--only-distance]
                                        [--workers 1,4] [--repeat N]

For the default run and `--quick`:
1. `leads-contract` as users start it (the mock in the suite's own process): wall time only.
2. The same run against the mock served from this process behind a timing wrapper: wall time
   per test module (from the JUnit file), requests the server answered, requests per second,
   and the share of the wall time the server spent answering (the rest is the suite: data
   generation, checks, pytest, HTTP client).
3. At a distance: the mock with `--latency MS-MS` (every answer MS later, as from a server that
   far away), the default run and `--quick`, on one worker and on the default four (`--workers`),
   each `--repeat` times, the runs of one kind back to back with the others interleaved.
Every run is bounded by a timeout; prints only.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract_tests.target import LOCAL_KEY, LOCAL_KEY_2, serve_in_thread  # noqa: E402
from mock_server.app import create_app  # noqa: E402
from mock_server.config import load_settings  # noqa: E402

RUN_TIMEOUT_SECONDS = 600


@dataclass
class ServerClock:
    """Requests answered and seconds spent answering them, summed over all requests."""

    requests: int = 0
    busy_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: Any) -> Any:
        async def timed(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            try:
                await app(scope, receive, send)
            finally:
                with self.lock:
                    self.requests += 1
                    self.busy_seconds += time.perf_counter() - started

        return timed


def run_cli(*args: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "contract_tests", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=RUN_TIMEOUT_SECONDS, env={k: v for k, v in os.environ.items() if not k.startswith("LEADS_API_")},
    )
    return time.perf_counter() - started, result.returncode


def module_times(junit: Path) -> dict[str, float]:
    times: dict[str, float] = defaultdict(float)
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "?").split(".")
        name = next((part for part in module if part.startswith("test_")), module[-1])
        times[name] += float(case.get("time", 0))
    return dict(times)


def measure(label: str, extra: list[str]) -> None:
    in_process_wall, in_process_status = run_cli(*extra)
    print(f"\n== {label} ==")
    print(f"leads-contract {' '.join(extra)} (mock in-process): {in_process_wall:.1f} s wall, exit {in_process_status}")
    clock = ServerClock()
    settings = load_settings(["--api-key", LOCAL_KEY, "--api-key", LOCAL_KEY_2, "--rate-limit", "1000000/minute"], env={})
    with serve_in_thread(clock.wrap(create_app(settings))) as url, tempfile.TemporaryDirectory() as scratch:
        junit = Path(scratch) / "contract.xml"
        wall, status = run_cli(
            "--base-url", url + "/v1", "--api-key", LOCAL_KEY, "--api-key-2", LOCAL_KEY_2,
            "--junit-xml", str(junit), *extra,
        )
        times = module_times(junit) if junit.exists() else {}
    print(f"against the mock in this process: {wall:.1f} s wall, exit {status}")
    for module, seconds in sorted(times.items(), key=lambda item: -item[1]):
        print(f"  {module:<28} {seconds:6.1f} s")
    tested = sum(times.values())
    print(f"  {'(start-up, collection, clean-up)':<28} {max(wall - tested, 0.0):6.1f} s")
    rate = clock.requests / wall if wall else 0.0
    share = clock.busy_seconds / wall if wall else 0.0
    print(f"requests answered: {clock.requests} ({rate:.0f}/s over the wall time)")
    print(f"server busy: {clock.busy_seconds:.1f} s = {share:.0%} of the wall time; the suite: {1 - share:.0%}")


def measure_at_a_distance(latency_ms: int, runs: list[tuple[str, list[str]]], workers: list[str],
                          repeat: int) -> None:
    print(f"\n== at a distance: every answer {latency_ms} ms late ==")
    settings = load_settings(["--api-key", LOCAL_KEY, "--api-key", LOCAL_KEY_2, "--rate-limit", "1000000/minute",
                              "--latency", f"{latency_ms}-{latency_ms}"], env={})
    walls: dict[tuple[str, str], list[float]] = defaultdict(list)
    with serve_in_thread(create_app(settings)) as url:
        for round_number in range(1, repeat + 1):
            for label, extra in runs:
                for count in workers:
                    wall, status = run_cli("--base-url", url + "/v1", "--api-key", LOCAL_KEY,
                                           "--api-key-2", LOCAL_KEY_2, "--workers", count, *extra)
                    walls[(label, count)].append(wall)
                    print(f"  {label:<12} --workers {count}: {wall:6.1f} s wall, exit {status}"
                          + (f"  (round {round_number})" if repeat > 1 else ""), flush=True)
    if repeat > 1:
        for (label, count), seconds in walls.items():
            ordered = sorted(seconds)
            print(f"  {label:<12} --workers {count}: min {ordered[0]:.1f} s, median {ordered[len(ordered) // 2]:.1f} s, "
                  f"max {ordered[-1]:.1f} s over {len(ordered)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-quick", action="store_true")
    parser.add_argument("--distance-ms", type=int, default=20, help="latency of the far-away mock (0: skip)")
    parser.add_argument("--only-distance", action="store_true", help="only the runs at a distance")
    parser.add_argument("--workers", default="1,4", help="worker counts of the runs at a distance (default 1,4)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the runs at a distance (default 1)")
    args = parser.parse_args()
    runs = [(label, extra) for label, extra, skip in (("quick run", ["--quick"], args.skip_quick),
                                                      ("default run", [], args.skip_default)) if not skip]
    if not args.only_distance:
        for label, extra in runs:
            measure(label, extra)
    if args.distance_ms > 0:
        measure_at_a_distance(args.distance_ms, runs, [count.strip() for count in args.workers.split(",")],
                              max(1, args.repeat))


if __name__ == "__main__":
    main()
