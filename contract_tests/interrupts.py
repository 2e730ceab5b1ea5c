"""Ctrl-C and SIGTERM reach every process of a run with parallel workers, at once.

A terminal's Ctrl-C goes to the whole foreground process group, but `kill -INT`, a CI runner
cancelling a job or a supervisor's SIGTERM reach the controlling process only, and pytest-xdist
would let the workers run checks for five seconds and more before it interrupts them. So each
worker records its pid in the run's shared folder, and the controlling process passes an
interrupt on to every recorded worker; a worker that starts after it stops as it starts.

A worker stops at the first interrupt and ignores the copies that follow (a Ctrl-C in a terminal
arrives twice: from the terminal and passed on), so that they cannot cut its cleanup short.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

from contract_tests.client import INTERRUPTED

PID_SUFFIX = ".pid"
INTERRUPTED_MARKER = "interrupted"
_FOLDER: list[Path] = []  # in the controlling process: where its workers record their pids


def watch(folder: Path) -> None:
    """In the controlling process: its workers record their pids in `folder`."""
    _FOLDER[:] = [folder]


def interrupt(signum: int, frame: object) -> None:
    """The controlling process's handler of SIGINT and SIGTERM: passed on to the workers, remembered, then
    raised (the run stops and cleans up)."""
    interrupt_workers()
    INTERRUPTED.set()
    raise KeyboardInterrupt


def interrupt_workers() -> None:
    """In the controlling process: sends SIGINT to every worker of the run (they stop and clean up)."""
    if not _FOLDER:
        return
    folder = _FOLDER[0]
    try:
        (folder / INTERRUPTED_MARKER).touch()  # before the pids are read: a worker recording its pid later sees it
        recorded = list(folder.glob("*" + PID_SUFFIX))
    except OSError:
        return
    for path in recorded:
        try:
            os.kill(int(path.read_text(encoding="ascii")), signal.SIGINT)
        except (OSError, ValueError):
            continue  # that worker has ended (and removed its file) meanwhile


def record_worker(folder: Path, worker: str) -> Path:
    """In a worker: takes its interrupts from here on, and tells the controlling process its pid."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Installed even where SIGINT came ignored (a background job): the interrupt is then the run's, passed on.
        signal.signal(signum, stop_once)
    path = folder / f"{worker}{PID_SUFFIX}"
    path.write_text(str(os.getpid()), encoding="ascii")
    if (folder / INTERRUPTED_MARKER).exists():
        os.kill(os.getpid(), signal.SIGINT)  # interrupted while it started: as if it had been passed on
    return path


def forget_worker(path: Path) -> None:
    path.unlink(missing_ok=True)


def stop_once(signum: int, frame: object) -> None:
    """A worker's handler of SIGINT and SIGTERM: the first one stops the run, later ones are ignored."""
    if INTERRUPTED.is_set():
        return
    INTERRUPTED.set()
    raise KeyboardInterrupt
