"""Parallel workers forked from one process that has already loaded the suite's libraries.

A worker started afresh imports pytest, Schemathesis and Hypothesis before it can collect: about a
second of CPU each, four times over, on the machine's few cores. The fork server imports them once,
while the run checks the target, and forks each worker from there. pytest-xdist starts workers as
usual, with `contract_tests/forkclient.py` as their Python: it hands this server its streams,
directory, environment and arguments, the forked worker runs the same bootstrap a fresh one would, and the
client stands in for it: signals sent to the client reach the worker, and the client ends as the worker did.
Linux only; where the server is missing or fails, workers start afresh (`forkclient` falls back).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from .forkclient import FORKED, read_exactly  # the client's side of the same exchange
CLIENT = Path(__file__).with_name("forkclient.py")
# What a worker imports before its first test (the suite's modules that have no run state at import).
PRELOAD = (
    "execnet", "pytest", "xdist.plugin", "_hypothesis_pytestplugin", "schemathesis.pytest.plugin",
    "schemathesis.pytest.xdist", "contract_tests.conftest", "contract_tests.session", "contract_tests.checks",
    "contract_tests.extraction", "contract_tests.report",
)
REAP_SECONDS = 0.05
STOP_SECONDS = 2.0


def start(modules: Sequence[str] = PRELOAD) -> ForkServer | None:
    """The run's fork server, having imported `modules`; None where there is none (then workers start afresh)."""
    if not (sys.platform.startswith("linux") and hasattr(socket, "send_fds") and hasattr(os, "fork")):
        return None
    try:
        return ForkServer(modules)
    except OSError:
        return None


class ForkServer:
    """The server process of one run; `python` is the worker Python to give pytest-xdist."""

    def __init__(self, modules: Sequence[str] = PRELOAD) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="leads-contract-fork-"))
        self.socket_path = self._folder / "server.sock"
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Bound before the server starts: a worker asking early waits for it instead of missing it.
        listening.bind(str(self.socket_path))
        listening.listen(16)
        try:
            self._process: subprocess.Popen[bytes] = subprocess.Popen(
                # The run's own import path, set before anything but `sys` is imported.
                [sys.executable, "-c", "import sys; sys.path[:] = sys.argv[1].split('\\n'); "
                 "from contract_tests import forkserver; forkserver.main()", "\n".join(sys.path),
                 str(listening.fileno()), ",".join(modules)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(listening.fileno(),),
            )
        finally:
            listening.close()
        self._used = False

    @property
    def python(self) -> str:
        """The `python=` of a pytest-xdist `popen` worker spec."""
        self._used = True
        return shlex.join([sys.executable, "-I", "-S", str(CLIENT), str(self.socket_path), sys.executable])

    def stop(self) -> None:
        """Ends the server, and any worker of it still running (as pytest-xdist kills one that outstays
        the end of the run). A server no worker asked for is killed at once: it may still be loading."""
        if self._process.stdin is not None:
            self._process.stdin.close()  # the server's lifeline
        try:
            self._process.wait(timeout=STOP_SECONDS if self._used else 0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._folder, ignore_errors=True)


def main() -> None:
    """The server process: `python -c ... PATH FD MODULES`, FD its listening socket, MODULES what it imports
    (comma-separated), stdin its lifeline."""
    serve(socket.socket(fileno=int(sys.argv[2])), sys.stdin.buffer, sys.argv[3].split(","))
    os._exit(0)  # nothing to flush or finalize: the run waits for this exit


def serve(listening: socket.socket, lifeline: IO[bytes], modules: Sequence[str] = PRELOAD) -> None:
    """Forks a worker for each client that connects, until the lifeline (stdin) closes."""
    import gc
    import selectors

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the run and its workers
    preload(modules)
    gc.freeze()  # what was loaded stays shared with the workers, and out of their collections
    waiting: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listening, selectors.EVENT_READ)
    selector.register(lifeline, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select(timeout=REAP_SECONDS):
            if key.fileobj is lifeline:
                for pid in waiting:
                    os.kill(pid, signal.SIGKILL)
                return
            connection, _ = listening.accept()
            pid = start_worker(connection, listening, lifeline)
            if pid is not None:
                waiting[pid] = connection
        report_ended(waiting)


def preload(modules: Sequence[str]) -> None:
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that fails here fails in the worker too, with its own error
            continue
    client = sys.modules.get("contract_tests.client")
    if client is not None:
        client.tls_context()  # the CA certificates, loaded once for every worker


def start_worker(connection: socket.socket, listening: socket.socket, lifeline: IO[bytes]) -> int | None:
    """Forks the worker a client asked for; None when it could not (the client then starts it afresh)."""
    fds: list[int] = []
    try:
        connection.setblocking(True)
        header, fds, _, _ = socket.recv_fds(connection, 4, 3)
        header += read_exactly(connection, 4 - len(header), "client")
        request = json.loads(read_exactly(connection, struct.unpack("!I", header)[0], "client"))
        if len(fds) != 3:
            raise OSError("the client sent no standard streams")
        pid = os.fork()
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        connection.close()
        return None
    if pid == 0:
        connection.close()
        listening.close()
        lifeline.close()
        run_worker(fds, request)
    for fd in fds:
        os.close(fd)
    try:
        connection.sendall(FORKED + struct.pack("!i", pid))  # the client passes signals on to the pid
    except OSError:
        pass  # the client is gone; the worker ends when the run closes its pipes
    return pid


def run_worker(fds: list[int], request: dict[str, Any]) -> None:
    """In the forked child: become the process `python ARGS` would have started, run it, exit."""
    import atexit
    import io
    import random
    import traceback
    import types

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, 1 << 16)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.SIG_IGN if request["sigint_ignored"] else signal.default_int_handler)
    random.seed()  # a fresh process draws its own seed
    args: list[str] = request["args"]
    sys.dont_write_bytecode = sys.dont_write_bytecode or "-B" in args
    # As `python -u` has them: unbuffered.
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, errors="backslashreplace")
    code = args[args.index("-c") + 1]
    sys.argv = ["-c", *args[args.index("-c") + 2:]]
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    status = 0
    try:
        exec(compile(code, "<string>", "exec"), main.__dict__)  # noqa: S102 - the bootstrap `python -c` would run
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - as the interpreter reports an uncaught exception
        traceback.print_exc()
        status = 1
    getattr(atexit, "_run_exitfuncs", lambda: None)()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def report_ended(waiting: dict[int, socket.socket]) -> None:
    """Tells each client whose worker ended its exit status (negative: the signal that ended it)."""
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        connection = waiting.pop(pid, None)
        if connection is not None:
            try:
                connection.sendall(struct.pack("!i", code))
            except OSError:
                pass
            connection.close()

