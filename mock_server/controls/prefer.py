"""The `Prefer` header as the fault step reads it: `code` and `delay`, in Prism's syntax."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_DELAY_MS = 30_000


@dataclass(frozen=True)
class Preferences:
    """The preferences of a request the fault step acts on; None where absent or unusable."""

    code: int | None = None
    delay_ms: int | None = None


NO_PREFERENCES = Preferences()


def parse_prefer(values: list[str]) -> Preferences:
    """Read `code` and `delay` from the `Prefer` header values, Prism's syntax (`code=503, delay=100`).

    RFC 7240 says a server ignores preferences it does not understand, and only the first
    occurrence of a preference counts. A malformed `code` (not a 4xx/5xx status) or `delay` (not
    a whole number of milliseconds) is treated the same way: ignored, the request is served as
    if it were absent. A delay above MAX_DELAY_MS is clamped, not ignored: the caller asked to wait.
    """
    seen: dict[str, str] = {}
    for value in values:
        for preference in value.split(","):
            name, _, raw = preference.split(";", 1)[0].partition("=")
            name, raw = name.strip().lower(), raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            seen.setdefault(name, raw)
    code = _whole_number(seen.get("code", ""))
    delay = _whole_number(seen.get("delay", ""))
    return Preferences(
        code=code if code is not None and 400 <= code <= 599 else None,
        delay_ms=min(delay, MAX_DELAY_MS) if delay is not None else None,
    )


def _whole_number(raw: str) -> int | None:
    if not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw) if len(raw) <= 9 else 10**9  # int() refuses very long digit strings


def prefer_values(headers: Any) -> list[str]:
    """The request's `Prefer` values, in order; a plain loop (only names of its length are lowered)."""
    values = []
    for name, value in headers:
        if len(name) == 6 and name.lower() == b"prefer":
            values.append(value.decode("latin-1"))
    return values
