"""`leads-contract` runs for the tests, each forked from a process that has loaded the suite already.

A run started afresh spends more than a second of CPU importing pytest, Schemathesis, Hypothesis
and the mock before its first request, and the tests start about thirty. One fork server per
test process (`contract_tests/forkserver.py`, the one that starts the suite's parallel workers)
imports them once; `command()` is a run forked from it: `leads-contract`'s `main` with the run's
arguments, working directory, environment and standard streams, exiting with its status, as
`python -m contract_tests` would. A fork holds only what was imported, no state of an earlier run.
Without a fork server (not Linux) the same command starts the run afresh.

Runs a test signals (Ctrl-C, SIGTERM) start afresh: a signal would reach the fork client, not the run.
"""
from __future__ import annotations

import shlex
import sys
import threading

from contract_tests import forkserver

# What `python -m contract_tests` imports before its first request, the in-process mock's app included.
MODULES = (*forkserver.PRELOAD, "contract_tests.cli", "contract_tests.preflight", "contract_tests.run_state",
           "mock_server.app")
MAIN = "import sys; from contract_tests.cli import main; sys.exit(main())"

_lock = threading.Lock()
_server: list[forkserver.ForkServer] = []


def command(*args: str) -> list[str]:
    """The command line of `leads-contract ARGS`, forked from this process's fork server (started at first use)."""
    with _lock:
        if not _server:
            started = forkserver.start(MODULES)
            if started is None:
                return [sys.executable, "-m", "contract_tests", *args]
            _server.append(started)
        python = _server[0].python
    return [*shlex.split(python), "-c", MAIN, *args]


def stop() -> None:
    """Ends the fork server, if one was started (from the test session's end)."""
    with _lock:
        while _server:
            _server.pop().stop()
