"""Curl lines that send a request again exactly: one masking style, no truncation.

A body over `INLINE_LIMIT` bytes, or one a terminal cannot carry (not UTF-8, control
characters), goes to a file in the report folder and the line reads it with `--data-binary @file`.
"""
from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

API_KEY_HEADER = "x-api-key"
INLINE_LIMIT = 1024
SKIPPED_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept"}


@dataclass
class CurlSettings:
    show_key: bool = False
    body_dir: Path | None = None


SETTINGS = CurlSettings()


def configure(*, show_key: bool, body_dir: Path | None) -> None:
    SETTINGS.show_key, SETTINGS.body_dir = show_key, body_dir


def mask_key(key: str | None) -> str:
    """The one way a key is shown: its last four characters (nothing of a short key)."""
    if not key:
        return "(none)"
    return "***" + key[-4:] if len(key) > 8 else "***"


def curl_line(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> str:
    parts = ["curl", "-sS", "-X", method.upper(), url]
    for name, value in headers:
        if name.lower() in SKIPPED_HEADERS:
            continue
        if name.lower() == API_KEY_HEADER and value and not SETTINGS.show_key:
            value = mask_key(value)
        parts += ["-H", f"{name}: {value}"]
    if body:
        parts += ["--data-binary", _body_argument(body)]
    return " ".join(shlex.quote(part) for part in parts)


def _body_argument(body: bytes) -> str:
    if len(body) <= INLINE_LIMIT and _printable(body):
        return body.decode("utf-8")
    digest = hashlib.sha256(body).hexdigest()[:16]
    folder = SETTINGS.body_dir or Path.cwd() / "leads-contract-report"
    path = folder / "bodies" / f"{digest}.bin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return f"@{path.resolve()}"


def _printable(body: bytes) -> bool:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable()  # control characters and the like do not survive a terminal's copy and paste
