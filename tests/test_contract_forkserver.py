"""Parallel contract workers start forked from the run's fork server, or afresh when there is none."""
from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contract_tests import forkserver

# A forked worker has the server's libraries loaded already; one started afresh has not.
PROGRAM = ("import os, sys; print('worker', sys.argv[1:], os.getcwd(), 'pytest' in sys.modules); sys.exit(3)")


def run_as_worker(python: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*shlex.split(python), "-u", "-c", PROGRAM, *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")
def test_a_worker_forked_by_the_server_runs_its_program_with_its_arguments_directory_and_exit_status(tmp_path: Path) -> None:
    server = forkserver.start()
    assert server is not None
    try:
        result = run_as_worker(server.python, tmp_path, "a", "b")
    finally:
        server.stop()
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == f"worker ['a', 'b'] {tmp_path} True"


def test_without_a_fork_server_the_worker_starts_afresh(tmp_path: Path) -> None:
    python = shlex.join([sys.executable, "-I", "-S", str(forkserver.CLIENT), str(tmp_path / "no-server.sock"),
                         sys.executable])
    result = run_as_worker(python, tmp_path, "c")
    assert result.returncode == 3, result.stderr
    assert result.stdout.strip() == f"worker ['c'] {tmp_path} False"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")
def test_a_signal_to_the_stand_in_reaches_the_forked_worker_and_the_stand_in_ends_by_it(tmp_path: Path) -> None:
    # The worker says it is ready, then waits; a SIGINT it turns into exit status 7, a SIGTERM ends it. It waits
    # in short sleeps: Python runs a handler only between bytecodes, so a SIGINT landing after `print` returns
    # and before one long sleep starts would wait for that sleep to end.
    program = ("import signal, sys, time; signal.signal(signal.SIGINT, lambda *_: sys.exit(7)); "
               "print('ready', flush=True)\nfor _ in range(600): time.sleep(0.1)")
    server = forkserver.start()
    assert server is not None
    try:
        endings = []
        for sent in (signal.SIGINT, signal.SIGTERM):
            client = subprocess.Popen([*shlex.split(server.python), "-u", "-c", program], cwd=tmp_path,
                                      stdout=subprocess.PIPE, text=True)
            assert client.stdout is not None and client.stdout.readline() == "ready\n"
            client.send_signal(sent)
            endings.append(client.wait(timeout=30))
    finally:
        server.stop()
    assert endings == [7, -signal.SIGTERM]


# The stand-in's wait for the worker's status, with its wakeup socket, where a signal cannot interrupt the
# wait: the signal is blocked in the waiting thread and taken by another, as when it lands just before the
# wait blocks. Its handler (here: sending what the wait reads) must run at once, not when the wait ends.
WAIT_WOKEN_BY_A_SIGNAL = """
import os, signal, socket, sys, threading, time
sys.path.insert(0, sys.argv[1])
from forkclient import read_exactly
connection, peer = socket.socketpair()
woken, wakeup = socket.socketpair()
wakeup.setblocking(False)
signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)
signal.signal(signal.SIGUSR1, lambda *_: peer.sendall(b"done"))
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
def deliver():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGUSR1)
threading.Thread(target=deliver, daemon=True).start()
print(read_exactly(connection, 4, woken=woken).decode())
"""


def test_a_signal_that_does_not_interrupt_the_stand_ins_wait_still_has_its_handler_run_at_once() -> None:
    result = subprocess.run([sys.executable, "-I", "-S", "-c", WAIT_WOKEN_BY_A_SIGNAL, str(forkserver.CLIENT.parent)],
                            capture_output=True, text=True, timeout=20)
    assert (result.returncode, result.stdout.strip()) == (0, "done"), result.stderr
