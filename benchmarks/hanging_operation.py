"""Times `leads-contract --quick` against a server that never answers one operation.

Serves the project's reference server (tests/reference_server) on 127.0.0.1 with
`GET /v1/leads/{id}` hanging, runs `leads-contract --quick` at it with the default request
timeout (30 s) and four workers, and prints the run's wall time, its exit status, how many reads
of a lead reached the server and the report's verdict counts. An operation that timed out is not
sent again by the same process, so the run should cost about one timeout per worker.

Run by hand: `python benchmarks/hanging_operation.py` (`--request-timeout S`, `--workers N`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract_tests.target import serve_in_thread  # noqa: E402
from tests.reference_server.app import create_app  # noqa: E402

KEY, KEY_2 = "hanging-bench-key-0001", "hanging-bench-key-0002"
ONE_LEAD = re.compile(r"^/v1/leads/[^/]+$")
RUN_LIMIT_SECONDS = 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    inner = create_app([KEY, KEY_2])
    release = threading.Event()
    reads: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and ONE_LEAD.match(scope["path"]):
            reads.append(scope["path"])
            while not release.is_set():  # bounded: released when the run ends
                await asyncio.sleep(0.05)
            return
        await inner(scope, receive, send)

    with tempfile.TemporaryDirectory() as folder, serve_in_thread(app) as url:
        report = Path(folder) / "report.json"
        started = time.monotonic()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "contract_tests", "--base-url", url + "/v1", "--api-key", KEY, "--api-key-2",
                 KEY_2, "--quick", "--workers", str(args.workers), "--request-timeout", str(args.request_timeout),
                 "--report-json", str(report)],
                cwd=ROOT, capture_output=True, text=True, timeout=RUN_LIMIT_SECONDS)
        finally:
            release.set()
        seconds = time.monotonic() - started
        verdicts = Counter(rule["verdict"] for rule in json.loads(report.read_text())["rules"]) if report.exists() else {}
    print(f"leads-contract --quick, {args.workers} workers, GET /leads/{{id}} hanging, "
          f"--request-timeout {args.request_timeout:g} s")
    print(f"  wall time: {seconds:.1f} s, exit status {result.returncode}")
    print(f"  reads of a lead that reached the server: {len(reads)}")
    print("  verdicts: " + ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items())))


if __name__ == "__main__":
    main()
