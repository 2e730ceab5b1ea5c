"""The moment nothing else writes: what a list check that failed beside the other checks waits for.

With a second key the checks that compare several reads of a whole list run as that tenant,
beside the other checks, which write as the first. On a server whose list leaks other tenants'
leads those writes would show in the second tenant's list and could fail a check that passes in a
run without workers. Such a check, having failed, is judged again once every other worker has
finished (the controlling process creates the marker file then), as it would be in a serial run.
"""
from __future__ import annotations

import time
from pathlib import Path

MARKER_NAME = "quiet"
MAX_WAIT_SECONDS = 900.0
POLL_SECONDS = 0.05
MARKER: list[Path] = []  # set in the worker running the list checks beside the others


def expect(marker: Path) -> None:
    """This process's list checks run beside others: a failed one waits for `marker`."""
    MARKER[:] = [marker]


def announce(marker: Path) -> None:
    """Every other worker has finished: nothing but the list checks writes any more."""
    marker.touch()


def wait() -> bool:
    """Waits for the marker; False at once where there is nothing to wait for (no parallel writers)."""
    if not MARKER:
        return False
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while not MARKER[0].exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    MARKER.clear()  # quiet for good: later checks need not wait again
    return True
