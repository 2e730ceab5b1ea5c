"""`python -m mock_server`: start-up banner, serving, one log line per request, clean shutdown, bad flags.

Each mock is forked from a process that has imported it (tests/preloaded.py): its stand-in passes signals on.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, str]:
    """(process, base URL, banner) of a mock started on a free port, once it answers."""
    process = subprocess.Popen(
        preloaded.mock("--port", "0", *args), cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    banner = "".join(process.stdout.readline() for _ in range(4))
    match = re.match(r"Leads API mock at (http://127\.0\.0\.1:\d+)/v1\n", banner)
    assert match, banner + process.stderr.read()
    base = match.group(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return process, base, banner
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "the mock did not come up"
            time.sleep(0.05)


def stop(process: subprocess.Popen, sig: int) -> tuple[int, str, str]:
    process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)])
def test_the_mock_serves_logs_each_request_and_stops_cleanly_on_signals(sig: int, status: int) -> None:
    process, base, _ = start()
    try:
        response = httpx.get(f"{base}/v1/leads", headers={"X-API-Key": "leads-mock-key"})
        assert response.status_code == 200 and response.json()["data"]["meta"]["total"] == 34
    finally:
        code, out, err = stop(process, sig)
    assert code == status, err
    assert re.search(r"GET /v1/leads 200 \d+\.\dms", err)
    assert "leads mock stopped" in err  # the app's shutdown hooks ran
    assert "Traceback" not in err


def test_the_banner_names_the_base_url_docs_keys_and_panel() -> None:
    process, base, banner = start("--api-key", "first", "--api-key", "second")
    stop(process, signal.SIGTERM)
    assert f"{base}/v1/ui/" in banner and "first, second (header X-API-Key)" in banner
    assert f"  panel:    {base}/__mock/ " in banner


def test_generate_and_environment_settings_take_effect() -> None:
    process, base, _ = start("--generate", "120", "--seed", "5", env={"LEADS_MOCK_API_KEYS": "env-key"})
    try:
        response = httpx.get(f"{base}/v1/leads", headers={"X-API-Key": "env-key"})
        assert response.json()["data"]["meta"]["total"] == 120
    finally:
        stop(process, signal.SIGTERM)


@pytest.mark.parametrize("args", [["--port", "nope"], ["--rate-limit", "5"], ["--latency", "9-1"]])
def test_bad_flags_exit_2_with_a_message_and_no_traceback(args: list[str]) -> None:
    done = subprocess.run(preloaded.mock(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr


def test_unreadable_fixtures_exit_2_with_a_message(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = subprocess.run(preloaded.mock("--port", "0", "--fixtures", str(broken)), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot read fixtures" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_a_clear_error() -> None:
    process, base, _ = start()
    try:
        port = base.rsplit(":", 1)[1]
        done = subprocess.run(preloaded.mock("--port", port), cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1 and "cannot listen" in done.stderr and "Traceback" not in done.stderr
    finally:
        stop(process, signal.SIGTERM)


def test_an_open_journal_long_poll_does_not_hold_up_stopping() -> None:
    process, base, _ = start()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        poll = pool.submit(httpx.get, f"{base}/__mock/journal", params={"after": "0", "wait": "30"}, timeout=60)
        time.sleep(0.5)
        assert not poll.done()  # the panel's long poll is waiting
        started = time.monotonic()
        code, _, err = stop(process, signal.SIGINT)
        assert time.monotonic() - started < 10  # not the poll's 30 s
        assert code == 130, err
        assert poll.result().json()["data"]["entries"] == []  # answered, not cut off
