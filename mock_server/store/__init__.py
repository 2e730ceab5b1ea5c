"""The mock's state: one protocol (`LeadStore`), three backends, and the choice between them.

- `MemoryStore`: in this process only, the fastest; gone when the process ends.
- `SqliteStore` (`--state-file PATH`): one process, every acknowledged write on disk.
- `PostgresStore` (`--database-url`): any number of processes sharing one database.

Nothing here imports a web framework; failures are the API's domain errors (`api_errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .base import (CLIENT_FIELDS, DUMP_FORMAT, INTEREST_LEVELS, LEAD_FIELDS, STATUSES, LeadPage, LeadStore,
                   Position, Record, SortKey, StoreOpenError, price_range, user_id_for)
from .json_state import StateFileError
from .memory import MemoryStore

__all__ = [
    "CLIENT_FIELDS", "DUMP_FORMAT", "INTEREST_LEVELS", "LEAD_FIELDS", "STATUSES", "LeadPage", "LeadStore",
    "MemoryStore", "Position", "Record", "SortKey", "StateFileError", "StoreOpenError", "open_store",
    "price_range", "user_id_for",
]


def open_store(initial: Callable[[], Mapping[str, Any]], owner_id: str, *, state_file: Path | None = None,
               database_url: str | None = None) -> LeadStore:
    """The backend the settings ask for. `initial` gives the initial data set; the SQL backends call it
    only when they need it (a new database, a reset). StoreOpenError when the file or database is unusable."""
    if database_url:
        from .postgres import PostgresStore  # psycopg is loaded only by those who use it

        return PostgresStore(database_url, initial, owner_id)
    if state_file is not None:
        from .sqlite import SqliteStore

        return SqliteStore(state_file, initial, owner_id)
    return MemoryStore(initial(), owner_id)
