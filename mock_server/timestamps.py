"""The API's instants: integer milliseconds since the Unix epoch, shown as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# A few seconds, not one: the store's clock runs ahead of the wall clock under a burst of writes
_SECONDS_KEPT = 64
_second_texts: dict[int, str] = {}
_MILLIS_TEXTS = tuple(f"{ms:03d}Z" for ms in range(1000))  # the end of every instant's text
# RFC 3339 date-time; ASCII digits only (`\d` would take any Unicode digit)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ms(ms: int) -> str:
    second = ms // 1000
    prefix = _second_texts.get(second)
    if prefix is None:  # most calls fall in a second already shown: reuse its text, the costly part
        moment = _EPOCH + timedelta(seconds=second)
        prefix = (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
                  f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.")
        if len(_second_texts) >= _SECONDS_KEPT:
            _second_texts.clear()
        _second_texts[second] = prefix
    return prefix + _MILLIS_TEXTS[ms % 1000]


def utc_timestamp() -> str:
    """Now, in the envelope's format."""
    return format_ms(now_ms())


def parse_datetime(text: str) -> int | None:
    """Milliseconds for an RFC 3339 date-time (offset applied, digits past milliseconds dropped), else None."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_hours, off_minutes = match.groups()
    if not zulu and (int(off_hours) > 23 or int(off_minutes) > 59):
        return None
    offset = timedelta()
    if not zulu:
        offset = (1 if sign == "+" else -1) * timedelta(hours=int(off_hours), minutes=int(off_minutes))
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), millis * 1000,
                         tzinfo=timezone(offset))
        utc = local.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return (utc - _EPOCH) // _MS
