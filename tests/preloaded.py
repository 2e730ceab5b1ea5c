"""`leads-contract` and `leads-mock` processes for the tests, forked from a process that has imported them.

A run of the contract suite started afresh spends more than a second of CPU importing pytest,
Schemathesis and Hypothesis before its first request, a mock over half a second importing
Connexion, and the tests start dozens of each. One fork server of each kind (`contract_tests/forkserver.py`,
the one that starts the suite's parallel workers), started by the xdist controller for all its
workers (`share`, `use`) or else by the test process, imports them once; `contract()` and `mock()` are command lines of a process forked from it: the tool's `main`
with the given arguments, working directory, environment and standard streams. Its stand-in (the
fork client, the process the test starts) passes the signals it gets on and ends as the tool
ended, with its status or by its signal, as `python -m contract_tests` or `python -m mock_server`
would. A fork holds what was imported, no state of another process. Without a fork server (not
Linux) the same command starts the tool afresh.

Start afresh what a test kills with SIGKILL (that reaches only the stand-in) or starts with other
signal dispositions or a `preexec_fn`.
"""
from __future__ import annotations

import shlex
import sys
import threading
from collections.abc import Sequence

from contract_tests import forkserver


class Preloaded:
    """A fork server having imported `modules`, started at the first command or taken over from the
    process that started it (`use`); `main` is what a fork runs."""

    def __init__(self, modules: Sequence[str], main: str, fresh: Sequence[str]) -> None:
        self.modules, self.main, self.fresh = tuple(modules), main, tuple(fresh)
        self._lock = threading.Lock()
        self._server: forkserver.ForkServer | None = None
        self._python: str | None = None  # the fork client's command line, once there is a server
        self._missing = False

    def start(self) -> str | None:
        """Starts this process's server now; the fork client's command line, or None where there is none."""
        with self._lock:
            self._start()
            return self._python

    def use(self, python: str) -> None:
        """Forks from the server another process started (and stops): the xdist controller's, in a worker."""
        with self._lock:
            self._python = python

    def command(self, *args: str) -> list[str]:
        with self._lock:
            self._start()
            if self._python is None:
                return [sys.executable, *self.fresh, *args]
            return [*shlex.split(self._python), "-c", self.main, *args]

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None
                self._python = None

    def _start(self) -> None:
        if self._python is None and not self._missing:
            self._server = forkserver.start(self.modules)
            self._missing = self._server is None
            self._python = None if self._server is None else self._server.python


# What each imports before its first request (not the mock's app for the one contract run that starts it in-process).
CONTRACT = Preloaded((*forkserver.PRELOAD, "contract_tests.cli", "contract_tests.preflight", "contract_tests.run_state"),
                     "import sys; from contract_tests.cli import main; sys.exit(main())", ("-m", "contract_tests"))
MOCK = Preloaded(("mock_server.cli", "mock_server.app", "mock_server.serving", "mock_server.dataset", "mock_server.store",
                  "mock_server.store.sqlite", "mock_server.store.postgres"),
                 "from mock_server.cli import main; raise SystemExit(main())", ("-m", "mock_server"))


def contract(*args: str) -> list[str]:
    """The command line of `leads-contract ARGS`."""
    return CONTRACT.command(*args)


def mock(*args: str) -> list[str]:
    """The command line of `leads-mock ARGS`."""
    return MOCK.command(*args)


def share() -> dict[str, str | None]:
    """Starts both fork servers in this process (the xdist controller) for its workers to `use`."""
    return {"contract": CONTRACT.start(), "mock": MOCK.start()}


def use(shared: dict[str, str | None]) -> None:
    """Forks from the servers `share` started in another process; without one, a server of this process."""
    for preloaded, python in ((CONTRACT, shared.get("contract")), (MOCK, shared.get("mock"))):
        if python is not None:
            preloaded.use(python)


def stop() -> None:
    """Ends the fork servers this process started (at the end of the test session)."""
    CONTRACT.stop()
    MOCK.stop()
