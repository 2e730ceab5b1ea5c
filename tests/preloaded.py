"""`leads-contract` and `leads-mock` processes for the tests, forked from a process that has imported them.

A run of the contract suite started afresh spends more than a second of CPU importing pytest,
Schemathesis and Hypothesis before its first request, a mock over half a second importing
Connexion, and the tests start dozens of each (every xdist worker has fork servers of its own). One fork server of each kind per test process
(`contract_tests/forkserver.py`, the one that starts the suite's parallel workers) imports them
once; `contract()` and `mock()` are command lines of a process forked from it: the tool's `main`
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
    """A fork server started at the first command, having imported `modules`; `main` is what a fork runs."""

    def __init__(self, modules: Sequence[str], main: str, fresh: Sequence[str]) -> None:
        self.modules, self.main, self.fresh = tuple(modules), main, tuple(fresh)
        self._lock = threading.Lock()
        self._server: forkserver.ForkServer | None = None
        self._missing = False

    def command(self, *args: str) -> list[str]:
        with self._lock:
            if self._server is None and not self._missing:
                self._server = forkserver.start(self.modules)
                self._missing = self._server is None
            if self._server is None:
                return [sys.executable, *self.fresh, *args]
            python = self._server.python
        return [*shlex.split(python), "-c", self.main, *args]

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None


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


def stop() -> None:
    """Ends the fork servers (at the end of the test session)."""
    CONTRACT.stop()
    MOCK.stop()
