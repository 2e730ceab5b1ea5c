"""A whole answer within the request timeout, not just each read of it.

The HTTP libraries' timeouts bound each read of the socket: a server that drips its answer a
byte a second never trips them, and one such answer held a run (and a Ctrl-C or SIGTERM, which
waits for the answer in hand) for many minutes. `answer_deadline()` raises `TimeoutError` in the
waiting thread when the whole exchange outlasts its deadline; raised inside a socket read, the
libraries report it as their own read timeout, so it counts as one under the transport rule.
Only the main thread can take a signal: elsewhere (the cleanup's parallel deletes) each read is
still bounded.
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class AnswerTimeout(TimeoutError):
    """The whole answer did not arrive within the deadline."""


@contextmanager
def answer_deadline(seconds: float) -> Iterator[None]:
    """Raises `AnswerTimeout` in this thread once `seconds` have passed inside the block."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise AnswerTimeout(f"the whole answer took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # someone else's alarm (pytest-timeout's, say) goes on as it would have
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001), interval)
