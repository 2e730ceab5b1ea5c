"""`python -m mock_server` as a developer runs it: real processes on 127.0.0.1, bounded waits.

Mocks are forked from a process that has imported the mock (tests/preloaded.py), whose stand-in passes
signals on; one that is killed with SIGKILL starts afresh (SIGKILL would reach only the stand-in).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent
KEY = "leads-mock-key"
RACHEL_ID = "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"
BANNER = re.compile(
    r"Leads API mock at (?P<base>http://127\.0\.0\.1:(?P<port>\d+))/v1\n"
    r"  docs: +(?P<docs>\S+)\n"
    r"  API keys: (?P<keys>.+) \(header X-API-Key\)\n"
)
START_SECONDS = 90  # generating 100,000 leads takes a few seconds on a busy machine
STOP_SECONDS = 30


@dataclass
class Mock:
    process: subprocess.Popen[bytes]
    base: str
    port: int
    banner: str
    stderr_path: Path

    def get(self, path: str, key: str | None = KEY, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers={"X-API-Key": key} if key else {}, timeout=30, **kwargs)

    def post(self, path: str, key: str = KEY, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.base + path, headers={"X-API-Key": key}, timeout=30, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Send `sig` and wait for the exit; (exit status, stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)
                pytest.fail(f"the mock did not stop within {STOP_SECONDS}s of signal {sig}")
        return self.process.returncode, self.stderr_path.read_text(encoding="utf-8", errors="replace")


def run_mock(tmp_path: Path, *args: str, env: dict[str, str] | None = None, port: str | None = "0",
             fresh: bool = False) -> Mock:
    """Start the mock (on a free port unless `port` is None; `fresh`: not forked, for a SIGKILL) and return
    once /healthz answers."""
    number = len(list(tmp_path.glob("stdout-*")))
    stdout_path, stderr_path = tmp_path / f"stdout-{number}", tmp_path / f"stderr-{number}"
    arguments = [*(["--port", port] if port is not None else []), *args]
    command = [sys.executable, "-m", "mock_server", *arguments] if fresh else preloaded.mock(*arguments)
    # Files, not pipes: a full stderr pipe would block the server's request logging.
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=clean_env(env), stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + START_SECONDS
    try:
        while not (match := BANNER.match(stdout_path.read_text(encoding="utf-8"))):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no banner (exit {process.poll()}):\n{stdout_path.read_text()}\n{stderr_path.read_text()}")
            time.sleep(0.05)
        mock = Mock(process, match["base"], int(match["port"]), match.group(0), stderr_path)
        while True:
            try:
                if httpx.get(mock.base + "/healthz", timeout=2).status_code == 200:
                    return mock
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the mock never answered /healthz:\n{stderr_path.read_text()}")
            time.sleep(0.05)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_SECONDS)
        raise


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Mock]]:
    """Mocks a test started; any still running at the end are stopped (SIGTERM reaches a forked one too)."""
    mocks: list[Mock] = []
    yield mocks
    for mock in mocks:
        if mock.process.poll() is None:
            mock.process.terminate()
            try:
                mock.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                mock.process.kill()
                mock.process.wait(timeout=STOP_SECONDS)


def launch(started: list[Mock], tmp_path: Path, *args: str, **kwargs: Any) -> Mock:
    mock = run_mock(tmp_path, *args, **kwargs)
    started.append(mock)
    return mock


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any LEADS_MOCK_* setting, plus `extra`."""
    return {**{name: value for name, value in os.environ.items() if not name.startswith("LEADS_MOCK_")},
            **(extra or {})}


def run_to_exit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(preloaded.mock(*args), cwd=ROOT, env=clean_env(env),
                          capture_output=True, text=True, timeout=60)


def exit_before_serving(tmp_path: Path, *args: str) -> tuple[int, str]:
    """(exit status, stderr) of a start that must fail; fails the test if the mock serves instead."""
    out, err = tmp_path / "refused.out", tmp_path / "refused.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(preloaded.mock(*args), cwd=ROOT, env=clean_env(),
                                   stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + START_SECONDS
    while process.poll() is None:
        if BANNER.match(out.read_text(encoding="utf-8")) or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=STOP_SECONDS)
            pytest.fail(f"the mock started instead of refusing {args}:\n{err.read_text()}")
        time.sleep(0.05)
    return process.returncode, err.read_text(encoding="utf-8", errors="replace")


def meta(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()["data"]["meta"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- start-up -------------------------------------------------------------------------------------

def test_port_zero_prints_the_url_docs_page_and_key_and_serves_the_34_fixture_leads(
        tmp_path: Path, started: list[Mock]) -> None:
    mock = launch(started, tmp_path)
    assert mock.port > 0
    assert f"docs:     {mock.base}/v1/ui/" in mock.banner
    assert "API keys: leads-mock-key (header X-API-Key)" in mock.banner
    response = mock.get("/v1/leads")
    assert meta(response)["total"] == 34
    first = response.json()["data"]["leads"][0]
    assert (first["id"], first["name"]) == (RACHEL_ID, "Rachel Kim")
    assert mock.get("/v1/ui/", key=None).status_code == 200


def test_generate_100000_serves_that_many_leads_and_the_same_seed_gives_the_same_first_lead(
        tmp_path: Path, started: list[Mock]) -> None:
    first_ids = []
    for _ in range(2):
        mock = launch(started, tmp_path, "--generate", "100000", "--seed", "7")
        response = mock.get("/v1/leads", params={"limit": 1})
        assert meta(response)["total"] == 100_000 and meta(response)["totalPages"] == 100_000
        first_ids.append(response.json()["data"]["leads"][0]["id"])
        code, err = mock.stop()
        assert "Traceback" not in err
    assert first_ids[0] == first_ids[1]


# -- the state file -------------------------------------------------------------------------------

def test_state_file_keeps_a_created_lead_across_a_sigterm_restart(tmp_path: Path, started: list[Mock]) -> None:
    state = tmp_path / "state.json"
    mock = launch(started, tmp_path, "--state-file", str(state))
    created = mock.post("/v1/leads", json={"name": "Survives Restart"})
    assert created.status_code == 201
    lead_id = created.json()["data"]["id"]
    code, err = mock.stop(signal.SIGTERM)
    assert code == -signal.SIGTERM and "Traceback" not in err, err

    again = launch(started, tmp_path, "--state-file", str(state))
    response = again.get(f"/v1/leads/{lead_id}")
    assert response.status_code == 200 and response.json()["data"]["name"] == "Survives Restart"
    assert meta(again.get("/v1/leads"))["total"] == 35


def test_a_lead_answered_201_survives_a_kill_9_right_after_the_answer(tmp_path: Path, started: list[Mock]) -> None:
    state = tmp_path / "state.db"
    mock = launch(started, tmp_path, "--state-file", str(state), fresh=True)
    lead_id = mock.post("/v1/leads", json={"name": "Saved"}).json()["data"]["id"]
    mock.process.send_signal(signal.SIGKILL)
    mock.process.wait(timeout=STOP_SECONDS)

    again = launch(started, tmp_path, "--state-file", str(state))
    assert meta(again.get("/v1/leads"))["total"] == 35
    assert again.get(f"/v1/leads/{lead_id}").json()["data"]["name"] == "Saved"
    code, err = again.stop()
    assert "Traceback" not in err


@pytest.mark.parametrize("content", [b"{oops", b"[1, 2]", b'{"format": 999}', b'{"format": 1, "users": 5}',
                                     b"SQLite format 3\x00" + b"\xff" * 200])
def test_a_corrupt_state_file_is_a_clear_error_naming_the_file_without_a_traceback(
        tmp_path: Path, content: bytes) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    code, err = exit_before_serving(tmp_path, "--port", "0", "--state-file", str(state))
    assert code != 0 and "Traceback" not in err, err
    assert str(state) in err and "error" in err.lower()
    assert state.read_bytes() == content  # left for the developer to look at


@pytest.mark.parametrize(("content", "named"), [
    (b'{"format": 1, "revision": 1, "clock": 1e400, "users": {}}', "clock"),
    (b'{"format": 1, "revision": 1e400, "clock": 0, "users": {}}', "revision"),
    (b'{"format": 1, "revision": 1, "clock": 100000000000000000, "users": {}}', "clock"),
    (b'{"format": 1, "revision": 1, "clock": 0, "users": {"u": {"leads": [{"id": "0b6f1c7e-2a4d-4e8f-9c1b-'
     b'3d5e7f9a1b2c", "name": "A", "status": "new", "interest_level": "warm", "updated_at": '
     b'"2026-06-01T10:00:00.000Z"}]}}}', "users.u.leads[0].created_at"),
])
def test_a_hand_made_state_file_with_a_bad_value_is_a_one_line_error_naming_it(
        tmp_path: Path, content: bytes, named: str) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(content)
    code, err = exit_before_serving(tmp_path, "--port", "0", "--state-file", str(state))
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("leads-mock: error: ") and f"{named}: " in lines[0], err


def test_a_non_loopback_host_without_an_admin_token_is_refused_before_listening(tmp_path: Path) -> None:
    code, err = exit_before_serving(tmp_path, "--port", "0", "--host", "0.0.0.0")
    assert code == 2 and "Traceback" not in err, err
    assert "--host 0.0.0.0 is reachable from other machines" in err
    assert "--admin-token" in err and "--unsafe-open-admin" in err


@pytest.mark.parametrize("where", ["missing-directory/state.json", "a-directory"])
def test_a_state_file_path_that_cannot_be_used_is_refused_at_start_up_naming_it(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-directory").mkdir()
    state = tmp_path / where
    code, err = exit_before_serving(tmp_path, "--port", "0", "--state-file", str(state))
    assert code != 0 and "Traceback" not in err, err
    assert str(state) in err


# -- bad flags ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "named"), [
    (["--port", "abc"], "--port"),
    (["--error-rate", "2"], "--error-rate"),
    (["--latency", "5-1"], "--latency"),
    (["--rate-limit", "x/minute"], "--rate-limit"),
])
def test_a_bad_flag_exits_2_with_a_message_naming_it(args: list[str], named: str) -> None:
    done = run_to_exit(*args)
    assert done.returncode == 2
    assert f"leads-mock: error: argument {named}:" in done.stderr and args[1] in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_bad_environment_value_exits_2_naming_the_variable() -> None:
    done = run_to_exit(env={"LEADS_MOCK_ERROR_RATE": "lots"})
    assert done.returncode == 2 and "LEADS_MOCK_ERROR_RATE" in done.stderr and "Traceback" not in done.stderr


# -- shutdown -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)])
def test_sigint_and_sigterm_shut_the_mock_down_cleanly(
        tmp_path: Path, started: list[Mock], sig: int, status: int) -> None:
    mock = launch(started, tmp_path, "--state-file", str(tmp_path / "state.json"))
    assert mock.post("/v1/leads", json={"name": "Before Shutdown"}).status_code == 201
    code, err = mock.stop(sig)
    assert code == status
    assert "Traceback" not in err and "leads mock stopped" in err, err
    with sqlite3.connect(tmp_path / "state.json") as database:  # the last change is in the database
        assert database.execute("SELECT count(*) FROM leads WHERE doc LIKE '%Before Shutdown%'").fetchone() == (1,)


# -- environment ----------------------------------------------------------------------------------

def test_environment_gives_the_port_and_the_api_keys(tmp_path: Path, started: list[Mock]) -> None:
    port = free_port()
    mock = launch(started, tmp_path, port=None, env={"LEADS_MOCK_PORT": str(port),
                                                     "LEADS_MOCK_API_KEYS": "env-one, env-two"})
    assert mock.port == port and "API keys: env-one, env-two" in mock.banner
    assert meta(mock.get("/v1/leads", key="env-one"))["total"] == 34
    assert meta(mock.get("/v1/leads", key="env-two"))["total"] == 0
    assert mock.get("/v1/leads", key=KEY).status_code == 401


def test_flags_beat_the_environment(tmp_path: Path, started: list[Mock]) -> None:
    with socket.socket() as busy:  # the environment's port is taken: only the flag's port 0 can work
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {"LEADS_MOCK_PORT": str(busy.getsockname()[1]), "LEADS_MOCK_API_KEYS": "env-key"}
        mock = launch(started, tmp_path, "--api-key", "flag-key", env=env)
        assert mock.port != busy.getsockname()[1]
    assert meta(mock.get("/v1/leads", key="flag-key"))["total"] == 34
    assert mock.get("/v1/leads", key="env-key").status_code == 401


def test_a_flag_overrides_even_an_unusable_environment_value(tmp_path: Path, started: list[Mock]) -> None:
    # A stale LEADS_MOCK_PORT in the shell must not stop a start that names its port.
    mock = launch(started, tmp_path, "--error-rate", "0", env={"LEADS_MOCK_PORT": "abc", "LEADS_MOCK_ERROR_RATE": "2"})
    assert mock.port > 0
    assert mock.get("/v1/leads").status_code == 200


# -- tenants --------------------------------------------------------------------------------------

def test_with_two_keys_each_sees_only_its_own_leads_and_the_second_starts_empty(
        tmp_path: Path, started: list[Mock]) -> None:
    mock = launch(started, tmp_path, "--api-key", "alice-key", "--api-key", "bob-key")
    assert meta(mock.get("/v1/leads", key="alice-key"))["total"] == 34
    assert meta(mock.get("/v1/leads", key="bob-key"))["total"] == 0

    bobs = mock.post("/v1/leads", key="bob-key", json={"name": "Bob's Lead"}).json()["data"]["id"]
    assert meta(mock.get("/v1/leads", key="bob-key"))["total"] == 1
    assert meta(mock.get("/v1/leads", key="alice-key"))["total"] == 34
    assert mock.get(f"/v1/leads/{bobs}", key="alice-key").status_code == 404
    assert mock.get(f"/v1/leads/{RACHEL_ID}", key="bob-key").status_code == 404
