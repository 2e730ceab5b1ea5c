"""Waiting out 429s, visibly and within a total budget (`--max-wait`)."""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

MAX_SINGLE_WAIT_SECONDS = 65.0
RULE_WAIT_BUDGET = "the run's wait budget for 429 answers (--max-wait)"


@dataclass
class WaitBudget:
    """Seconds the run may still spend waiting for a rate-limit window; each wait is printed as it starts."""

    max_seconds: float
    spent: float = 0.0
    waits: int = 0
    exhausted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, seconds: float, why: str) -> bool:
        """Sleeps `seconds` (capped) and returns True, or returns False at once when the budget is spent."""
        seconds = min(max(seconds, 0.0), MAX_SINGLE_WAIT_SECONDS)
        with self._lock:
            left = self.max_seconds - self.spent
            if seconds > left:
                if not self.exhausted:
                    _say(f"leads-contract: {why}: not waiting {seconds:.0f} s: the --max-wait budget of "
                         f"{self.max_seconds:.0f} s is spent; the checks that need it end BLOCKED")
                self.exhausted = True
                return False
            self.spent += seconds
            self.waits += 1
        _say(f"leads-contract: {why}: waiting {seconds:.0f} s for the rate-limit window "
             f"({left - seconds:.0f} s of --max-wait left)")
        time.sleep(seconds)
        return True


def retry_after_seconds(headers: dict[str, str] | object) -> float:
    """Retry-After, else RateLimit-Reset, else one second."""
    for name in ("retry-after", "ratelimit-reset"):
        value = headers.get(name)  # type: ignore[attr-defined]
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value.strip().isdigit():
            return float(value)
    return 1.0


CONSOLE: list[str] = []  # the controlling process's stderr, for parallel workers (whose own is not shown)


def _say(line: str) -> None:
    if CONSOLE:
        try:
            with open(CONSOLE[0], "a", encoding="utf-8") as console:
                console.write(line + "\n")
            return
        except OSError:
            pass
    stream = sys.__stderr__ or sys.stderr
    stream.write(line + "\n")
    stream.flush()
