"""Ctrl-C works on the mock and the contract suite even when they start with SIGINT ignored.

A non-interactive shell starts `cmd &` with SIGINT ignored, and so do some CI runners; the
tools install their own handling instead of inheriting that.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_mock(log: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=log.open("w"), text=True, preexec_fn=_ignoring_sigint)
    assert process.stdout is not None
    match = re.match(r"Leads API mock at (http://127\.0\.0\.1:\d+/v1)\n", process.stdout.readline())
    assert match, "the mock printed no banner"
    deadline = time.monotonic() + 30
    while True:  # serving: its signal handling is in place
        try:
            httpx.get(match.group(1).removesuffix("/v1") + "/healthz", timeout=1)
            return process, match.group(1)
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "the mock did not come up"
            time.sleep(0.05)


def test_sigint_stops_a_mock_started_with_sigint_ignored(tmp_path: Path) -> None:
    log = tmp_path / "mock.log"
    mock, _ = _start_mock(log)
    mock.send_signal(signal.SIGINT)
    assert mock.wait(timeout=30) == 130
    assert "leads mock stopped" in log.read_text()


def test_sigint_stops_a_contract_run_started_with_sigint_ignored(tmp_path: Path) -> None:
    log = tmp_path / "mock.log"
    mock, base_url = _start_mock(log)
    try:
        output = (tmp_path / "run.log").open("w")
        run = subprocess.Popen([sys.executable, "-m", "contract_tests", "--base-url", base_url, "--api-key",
                                "leads-mock-key"], cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
                               preexec_fn=_ignoring_sigint)
        try:
            deadline = time.monotonic() + 120
            while " /v1/leads" not in log.read_text() and run.poll() is None:  # its reachability check
                assert time.monotonic() < deadline, "the contract run sent no request"
                time.sleep(0.02)
            time.sleep(0.5)  # past its start-up, into pytest's collection: no request is under way
            assert run.poll() is None, "the run ended before it could be interrupted"
            run.send_signal(signal.SIGINT)
            code = run.wait(timeout=60)
            assert code != 0, (tmp_path / "run.log").read_text()[-3000:]
        finally:
            if run.poll() is None:
                run.kill()
    finally:
        mock.terminate()
        mock.wait(timeout=30)
