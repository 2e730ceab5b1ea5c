"""The store in one SQLite file (`--state-file`): every write committed, in WAL mode, before it is answered.

One process owns the file. An old JSON state file at the path is imported once: the JSON is kept
beside it as `<name>.json-imported` and the path becomes the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..timestamps import now_ms
from .json_state import StateFileError, check_usable, read_json_state
from .sql import Cursor, Loader, SqlStore
from .sql_rows import CREATE_LEAD_INDEXES, DROP_LEAD_INDEXES

logger = logging.getLogger(__name__)
SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE leads (
    user_id TEXT NOT NULL, id TEXT NOT NULL, created_at TEXT NOT NULL, status TEXT NOT NULL,
    interest_level TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,
    UNIQUE (user_id, id)
);
CREATE TABLE contacts (seq INTEGER PRIMARY KEY, user_id TEXT NOT NULL, id TEXT NOT NULL, email_key TEXT,
                       doc TEXT NOT NULL);
CREATE INDEX contacts_by_user ON contacts (user_id, seq);
CREATE INDEX contacts_by_email ON contacts (user_id, email_key, seq);
CREATE TABLE clients (seq INTEGER PRIMARY KEY, user_id TEXT NOT NULL, id TEXT NOT NULL, lead_id TEXT UNIQUE,
                      doc TEXT NOT NULL);
CREATE INDEX clients_by_user ON clients (user_id, seq);
CREATE TABLE lead_counts (user_id TEXT NOT NULL, status TEXT NOT NULL, interest_level TEXT NOT NULL,
                          n INTEGER NOT NULL, PRIMARY KEY (user_id, status, interest_level)) WITHOUT ROWID;
CREATE TABLE datasets (name TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqliteStore(SqlStore):
    """The store in the SQLite database at `path`, created (with the initial data) when missing."""

    _drop_indexes = DROP_LEAD_INDEXES
    _create_indexes = CREATE_LEAD_INDEXES

    def __init__(self, path: str | os.PathLike[str], initial: Loader, owner_id: str,
                 clock: Callable[[], int] = now_ms) -> None:
        super().__init__(initial, owner_id, clock)
        self.path = Path(path)
        check_usable(self.path)
        self._lock = threading.RLock()  # the event loop's thread, and tests reaching in from another
        legacy = self._legacy_json_state()
        if legacy is not None:
            final, self.path = self.path, self.path.with_name(self.path.name + ".importing")
            self._remove_database(self.path)
            self._open()
            try:
                self.restore(legacy)  # read_json_state passed it through the records check
            except ValueError as error:
                self.close()
                self._remove_database(self.path)
                raise StateFileError(f"state file {final} is not a saved mock state ({error}); "
                                     "delete it to start from the fixtures") from error
            self._mark_seeded()
            self.close()  # checkpointed and whole before it takes the JSON file's place
            # the JSON is copied aside first: at no moment is neither the JSON nor the database at `final`
            shutil.copy2(final, final.with_name(final.name + ".json-imported"))
            os.replace(self.path, final)
            self.path = final
            logger.info("imported the JSON state file %s into SQLite; the JSON is kept as %s.json-imported",
                        final, final.name)
        self._open()
        with self._read() as cursor:
            self._last_ms = max(self._last_ms, self._newest_ms(cursor))
            seeded = cursor.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone()
        if seeded is None:
            self.reset()
            self._mark_seeded()

    # -- the backend ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")  # synchronous=FULL: on disk once this returns

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self._lock:
            yield self._connection.cursor()

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- internals --------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._connection.execute("PRAGMA busy_timeout = 5000")
            mode = self._connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            # FULL: a commit survives a power cut too, not only a killed process
            self._connection.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StateFileError(f"cannot use state file {self.path} as a SQLite database ({error}); "
                                 "delete it to start from the fixtures") from error
        if mode.lower() != "wal":
            logger.warning("state file %s: WAL mode unavailable, using %s", self.path, mode)

    @staticmethod
    def _remove_database(path: Path) -> None:
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def _legacy_json_state(self) -> dict[str, Any] | None:
        """The dump in a JSON state file at the path, to be imported; None for a database or no file.

        The import is written to a new database beside it that replaces the JSON only once whole,
        so a crash during it leaves the JSON file as it was.
        """
        try:
            with self.path.open("rb") as file:
                head = file.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StateFileError(f"cannot read state file {self.path}: {error.strerror}") from error
        if head == SQLITE_MAGIC or head == b"":
            return None
        return read_json_state(self.path)

    def _migrate(self) -> None:
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateFileError(f"state file {self.path} has schema version {version}, newer than this mock's "
                                 f"{SCHEMA_VERSION}; upgrade the mock or delete the file")
        if version < 1:
            with self._write() as cursor:
                for statement in (*_statements(SCHEMA), *CREATE_LEAD_INDEXES):
                    cursor.execute(statement)
                cursor.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _mark_seeded(self) -> None:
        with self._write() as cursor:
            cursor.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seeded', '1')")


def _statements(script: str) -> list[str]:
    """The statements of a script, keeping each trigger's body (with its own semicolons) whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements
