"""Instructions the mock executes per get by id: a count that other work on the machine moves far less than time.

Runs `python -m mock_server` (memory store, 100 generated leads) under valgrind's cachegrind (Debian
package `valgrind`) and drives it over HTTP from this process on 127.0.0.1: 200 requests to warm
it up, then N, over a few keep-alive connections. The same is done again with a second N, and the
difference of the two totals over the difference of the N is the count per request: start-up,
warm-up and shut-down cancel out. The count is of the server process in user space (Python,
uvicorn, uvloop, httptools; not the kernel's work for its sockets). It moves by up to about 5 % from
run to run (how many answers share a step of the event loop depends on timing). With several source trees (`--root`, e.g. a `git worktree` of an older commit),
each is measured in turn: compare their counts. Takes about 3 minutes a tree.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
WARM_UP_REQUESTS = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def drive(port: int, path: str, total: int, connections: int) -> None:
    """`total` GETs of `path`, shared over `connections` keep-alive connections, each answer read whole."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\r\n".encode()
    left = total

    async def one() -> None:
        nonlocal left
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left > 0:
            left -= 1
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
            length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
            await reader.readexactly(int(length.group(1)) if length else 0)
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))


def instructions(root: Path, requests: int, connections: int) -> int:
    """Instructions of one server run under cachegrind that answered the warm-up and `requests` get by id."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "valgrind.log"
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={tmp}/out",
                   f"--log-file={log}", sys.executable, "-m", "mock_server", "--port", str(port), "--api-key",
                   API_KEY, "--generate", "100", "--seed", "1", "--rate-limit", "1000000000/minute"]
        server = subprocess.Popen(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            lead_id = first_lead_id(f"http://127.0.0.1:{port}")
            asyncio.run(drive(port, f"/v1/leads/{lead_id}", WARM_UP_REQUESTS, connections))
            asyncio.run(drive(port, f"/v1/leads/{lead_id}", requests, connections))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=300)
        found = re.search(r"I\s+refs:\s+([\d,]+)", log.read_text())
        if not found:
            raise RuntimeError(f"no instruction count in valgrind's log:\n{log.read_text()[-2000:]}")
        return int(found.group(1).replace(",", ""))


def first_lead_id(base: str, timeout: float = 600.0) -> str:
    """The first listed lead's id, once the server (slow to start under valgrind) answers."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{base}/v1/leads?limit=1", headers={"X-API-Key": API_KEY})
    while True:
        try:
            return json.load(urllib.request.urlopen(request, timeout=5))["data"]["leads"][0]["id"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", action="append", type=Path, help="a source tree to measure (default: this one); "
                        "repeat to compare trees")
    parser.add_argument("--requests", type=int, nargs=2, default=(100, 400), metavar=("N1", "N2"))
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is missing: apt-get install valgrind")
    low, high = args.requests
    for root in args.root or [ROOT]:
        fewer, more = (instructions(root.resolve(), count, args.connections) for count in (low, high))
        print(f"{root}: {(more - fewer) / (high - low):,.0f} instructions per get by id")


if __name__ == "__main__":
    main()
