"""Fixed-window rate limiting per API key (per client address without a valid key)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class FixedWindowLimiter:
    """A window opens at a key's first request; answers over the limit are not counted."""

    def __init__(self, limit: int, window_seconds: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self.windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, enforce: bool = True) -> Verdict:
        now = self.clock()
        started, used = self.windows.get(key, (now, 0))
        if now >= started + self.window_seconds:
            started, used = now, 0
        reset = max(1, math.ceil(started + self.window_seconds - now))
        if used >= self.limit and enforce:
            self.windows[key] = (started, used)
            return Verdict(False, self.limit, 0, reset)
        used += 1
        self.windows[key] = (started, used)
        return Verdict(True, self.limit, max(0, self.limit - used), reset)
