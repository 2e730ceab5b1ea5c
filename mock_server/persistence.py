"""The mock's state on disk: atomic JSON snapshots, and a background task that keeps them current."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Encoding competes with requests for the event loop; waiting this many times as long as the last
# encoding took before the next save keeps it under a fifth of the loop's time with huge states.
_ENCODE_BACKOFF = 4
_MAX_BACKOFF_SECONDS = 10.0  # what a kill -9 may lose at most, beyond `interval`
_SLICE_ITEMS = 500  # small records encoded between two yields to the event loop
_SMALL_CONTAINER = 64  # a list or dict at most this long, with no big one inside, is encoded whole


class StateFileError(Exception):
    """The state file exists but cannot be used."""


class SnapshotStore(Protocol):
    """`revision` moves on every change; `dump()` returns data the store never mutates afterwards."""

    revision: int

    def dump(self) -> dict[str, Any]: ...


class StateFile:
    """A JSON object in one file, replaced atomically: readers see the old or the new state, whole."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def check_usable(self) -> None:
        """Raise StateFileError unless the file can be written: its directory exists and is writable."""
        if not self.path.parent.is_dir():
            raise StateFileError(f"cannot use state file {self.path}: directory {self.path.parent} does not exist")
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise StateFileError(f"cannot use state file {self.path}: directory {self.path.parent} is not writable")

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none yet. Raises StateFileError when corrupt."""
        self._remove_stale_temp_files()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateFileError(f"cannot read state file {self.path}: {exc.strerror}") from exc
        try:
            state = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StateFileError(
                f"state file {self.path} is corrupt (not valid JSON: {exc}); delete it to start from the fixtures"
            ) from exc
        if not isinstance(state, dict):
            raise StateFileError(f"state file {self.path} is corrupt (holds {type(state).__name__}, not an object)")
        return state

    @staticmethod
    def encode(state: dict[str, Any]) -> bytes:
        return _dumps(state).encode("ascii")

    def save(self, state: dict[str, Any]) -> None:
        self.write(self.encode(state))

    def write(self, data: bytes) -> None:
        """Replace the file's content with `data` so that a crash at any moment leaves old or new.

        The bytes go to a temporary file in the same directory (os.replace is atomic only within
        one file system), reach the disk (fsync) before the rename, and the directory is synced
        after it so the rename itself survives a power cut.
        """
        descriptor, temp_name = tempfile.mkstemp(dir=self.path.parent, prefix=self._temp_prefix, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        self._sync_directory()

    @property
    def _temp_prefix(self) -> str:
        return f".{self.path.name}."

    def _sync_directory(self) -> None:
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _remove_stale_temp_files(self) -> None:
        """Temporary files a killed process left behind; the state file itself is never among them."""
        if not self.path.parent.is_dir():
            return
        for stale in self.path.parent.glob(f"{self._temp_prefix}*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def _dumps(value: Any) -> str:
    # ASCII output: a lone surrogate (JSON allows "\ud800") would make UTF-8 encoding fail
    return json.dumps(value, separators=(",", ":"))


def _is_big(value: Any) -> bool:
    if isinstance(value, dict):
        return len(value) > _SMALL_CONTAINER or any(_is_big(item) for item in value.values())
    if isinstance(value, list):
        return len(value) > _SMALL_CONTAINER or any(_is_big(item) for item in value)
    return False


async def encode_cooperatively(state: dict[str, Any]) -> bytes:
    """The bytes of StateFile.encode(state), built in slices that let the event loop run between them.

    Encoding 100,000 leads in one call stalls every request for a second or more; here big
    lists and dicts are walked and their small records encoded a few hundred at a time.
    """
    parts: list[str] = []
    if _is_big(state):
        await _encode_big(state, parts)
    else:
        parts.append(_dumps(state))
    return "".join(parts).encode("ascii")


async def _encode_big(container: dict[str, Any] | list[Any], parts: list[str]) -> None:
    is_dict = isinstance(container, dict)
    if is_dict and not all(isinstance(key, str) for key in container):
        parts.append(_dumps(container))  # json's own rules for non-string keys
        return
    entries: list[Any] = list(container.items()) if isinstance(container, dict) else list(container)
    batch: list[Any] = []
    separator = ""

    def flush() -> None:
        nonlocal separator
        if batch:
            parts.append(separator + _dumps(dict(batch) if is_dict else batch)[1:-1])
            separator = ","
            batch.clear()

    parts.append("{" if is_dict else "[")
    for entry in entries:
        item = entry[1] if is_dict else entry
        if _is_big(item):
            flush()
            parts.append(separator + (_dumps(entry[0]) + ":" if is_dict else ""))
            separator = ","
            await _encode_big(item, parts)
        else:
            batch.append(entry)
            if len(batch) >= _SLICE_ITEMS:
                flush()
                await asyncio.sleep(0)
    flush()
    parts.append("}" if is_dict else "]")


class StateSaver:
    """Saves the store to a StateFile whenever its revision has moved, checking every `interval`s.

    `start()` inside a running event loop; `await stop()` on shutdown writes any last change.
    The snapshot is taken and encoded on the event loop (the store is not thread-safe; encoding
    in a thread would hold the GIL anyway), in slices; writing and syncing run in a worker thread.
    A change made while a snapshot is encoded moves the revision past the saved one: saved next tick.
    """

    def __init__(self, state_file: StateFile, store: SnapshotStore, interval: float = 0.5) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.state_file = state_file
        self.store = store
        self.interval = interval
        self.saved_revision = store.revision  # the state at start is the loaded file or the fixtures
        self._last_encode_seconds = 0.0
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the state saver is already running")
        self._task = asyncio.create_task(self._run(), name="state-saver")

    async def stop(self) -> None:
        """Stop the periodic saves and save any change not yet on disk; errors of that save propagate."""
        self._stopping.set()
        if self._task is None:
            await self.save_if_changed()
        else:
            await self._task

    async def save_if_changed(self) -> bool:
        """Save now if the store changed since the last save; True when it wrote."""
        async with self._lock:  # one write at a time, so an older snapshot never lands last
            revision = self.store.revision
            if revision == self.saved_revision:
                return False
            started = time.perf_counter()
            data = await encode_cooperatively(self.store.dump())
            self._last_encode_seconds = time.perf_counter() - started
            await asyncio.to_thread(self.state_file.write, data)
            self.saved_revision = revision
            return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            pause = max(self.interval, min(self._last_encode_seconds * _ENCODE_BACKOFF, _MAX_BACKOFF_SECONDS))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)
            if self._stopping.is_set():
                break
            try:
                await self.save_if_changed()
            except Exception:  # a full disk must not end the saver; the next tick retries
                logger.exception("saving the mock state to %s failed", self.state_file.path)
        await self.save_if_changed()
