"""The mock's flag and environment values: each parser returns the value or raises
`argparse.ArgumentTypeError` saying what it expects and what it got."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

WINDOW_UNITS = {"second": 1, "minute": 60, "hour": 3600}
MAX_GENERATED_LEADS = 1_000_000
MAX_RATE_LIMIT = 1_000_000_000
MAX_LATENCY_MS = 30_000  # what PATCH /__mock/settings accepts too (faults.MAX_DELAY_MS)
MAX_RATE_WINDOW_SECONDS = 366 * 24 * 3600
MAX_TIMEOUT_SECONDS = 3600


def parse_port(text: str) -> int:
    port = _parse_int(text, "port")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {text!r}")
    return port


def parse_api_key(text: str) -> str:
    if not text.strip() or text != text.strip():
        raise argparse.ArgumentTypeError(f"an API key must be non-empty without surrounding spaces, got {text!r}")
    return text


def parse_existing_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def parse_count(text: str) -> int:
    count = _parse_int(text, "lead count")
    if not 0 <= count <= MAX_GENERATED_LEADS:
        raise argparse.ArgumentTypeError(f"lead count must be 0..{MAX_GENERATED_LEADS}, got {text!r}")
    return count


def parse_seed(text: str) -> int:
    return _parse_int(text, "seed")


def parse_database_url(text: str) -> str:
    url = text.strip()
    if not url.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(f"a database URL is postgresql://[user[:password]@]host[:port]/dbname, "
                                         f"got {text.split('@')[-1]!r}")
    return url


def parse_origin(text: str) -> str:
    origin = text.strip()
    scheme, _, rest = origin.partition("://")
    if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
        raise argparse.ArgumentTypeError(f"an origin is '*' or scheme://host[:port], got {text!r}")
    return origin


def parse_latency(text: str) -> tuple[int, int]:
    low, dash, high = text.strip().partition("-")
    try:
        bounds = (int(low), int(high)) if dash and low.isdigit() and high.isdigit() else None
    except ValueError:
        bounds = None
    if bounds is None or bounds[0] > bounds[1] or bounds[1] > MAX_LATENCY_MS:
        raise argparse.ArgumentTypeError(f"latency is MIN-MAX in milliseconds up to {MAX_LATENCY_MS} (e.g. 50-300), "
                                         f"got {text!r}")
    return bounds


def parse_error_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"error rate must be a number from 0 to 1, got {text!r}")
    return rate


def parse_rate_limit(text: str) -> tuple[int, int]:
    """`N/UNIT` -> (requests, window seconds)."""
    count, slash, unit = text.strip().partition("/")
    window = WINDOW_UNITS.get(unit.strip().lower().removesuffix("s")) if slash else None
    count = count.strip()
    if window is None or not (count.isascii() and count.isdigit()) or not 1 <= _bounded_int(count) <= MAX_RATE_LIMIT:
        raise argparse.ArgumentTypeError(
            f"rate limit is N/UNIT with N from 1 to {MAX_RATE_LIMIT}, UNIT second|minute|hour, got {text!r}")
    return int(count), window


def parse_timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(f"a timeout is a number of seconds above 0, at most {MAX_TIMEOUT_SECONDS}, "
                                         f"got {text!r}")
    return seconds


def parse_connections(text: str) -> int:
    count = _parse_int(text, "connection count")
    if not 1 <= count <= 1_000_000:
        raise argparse.ArgumentTypeError(f"connection count must be 1..1000000, got {text!r}")
    return count


def parse_flag(text: str) -> bool:
    """An environment switch: 1/true/yes/on or 0/false/no/off."""
    value = text.strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise argparse.ArgumentTypeError(f"give 1/true/yes/on or 0/false/no/off, got {text!r}")
    return value in ("1", "true", "yes", "on")


def _bounded_int(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else 10**18  # int() refuses very long digit strings


def _parse_int(text: str, what: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("-").isdigit() or not stripped.isascii() or len(stripped) > 30:
        raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}")
    return int(stripped)
