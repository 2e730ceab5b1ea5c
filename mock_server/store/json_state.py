"""The JSON state files of earlier versions (a `dump()` in one file), read once to be imported."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .base import DUMP_FORMAT, StoreOpenError


class StateFileError(StoreOpenError):
    """The state file exists but cannot be used."""


def check_usable(path: Path) -> None:
    """Raise StateFileError unless a state file can live at `path`: its directory exists and is writable."""
    if path.is_dir():
        raise StateFileError(f"cannot use state file {path}: it is a directory")
    if not path.parent.is_dir():
        raise StateFileError(f"cannot use state file {path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StateFileError(f"cannot use state file {path}: directory {path.parent} is not writable")


def read_json_state(path: Path) -> dict[str, Any]:
    """The dump in an old JSON state file; StateFileError, in one line saying what to do, otherwise."""
    from ..records_check import check_state  # records_check reads the store's enums: imported late

    advice = "delete it (or pass another --state-file) to start from the fixtures"
    try:
        state = check_state(json.loads(path.read_bytes()))  # the one check fixtures pass too
    except OSError as error:
        raise StateFileError(f"cannot read state file {path}: {error.strerror}") from error
    except (ValueError, RecursionError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StateFileError(f"state file {path} is neither a SQLite database nor a JSON state of format "
                             f"{DUMP_FORMAT} ({reason}); {advice}") from error
    return state
