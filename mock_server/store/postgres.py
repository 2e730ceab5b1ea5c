"""The store in PostgreSQL (`--database-url`): one truth for every mock process that uses the database.

Optimistic locking is a conditional UPDATE on `version`; a convert is one transaction holding the
lead's row lock (and a per-user advisory lock, so two converts cannot both create a contact for
one email), and `clients.lead_id` is unique. Rate-limit windows live in the database too, so that
every process counts a key's requests in the same window. The schema is migrated at start, under
an advisory lock, from a version table. A lost connection is replaced on the next call; meanwhile
calls fail with DatabaseUnavailable (500 SERVER_ERROR naming the database).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from ..api_errors import AlreadyConverted, DatabaseUnavailable
from ..timestamps import now_ms
from .base import StoreOpenError
from .sql import Cursor, Loader, SqlStore
from .sql_rows import CREATE_LEAD_INDEXES, DROP_LEAD_INDEXES

logger = logging.getLogger(__name__)
_MIGRATION_LOCK = 7_412_019  # advisory lock key: one process migrates and seeds at a time
_PING_AFTER_IDLE_SECONDS = 1.0  # a connection idle this long is checked before use (the server may have restarted)
_FAILURES = (psycopg.OperationalError, psycopg.InterfaceError)

_SCHEMA_1 = """
CREATE TABLE leads (
    user_id text NOT NULL, id text COLLATE "C" NOT NULL, created_at text COLLATE "C" NOT NULL,
    status text NOT NULL, interest_level text NOT NULL, version integer NOT NULL, doc text NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE TABLE contacts (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id text NOT NULL,
                       id text NOT NULL, email_key text, doc text NOT NULL);
CREATE INDEX contacts_by_user ON contacts (user_id, seq);
CREATE INDEX contacts_by_email ON contacts (user_id, email_key, seq);
CREATE TABLE clients (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id text NOT NULL,
                      id text NOT NULL, lead_id text UNIQUE, doc text NOT NULL);
CREATE INDEX clients_by_user ON clients (user_id, seq);
CREATE TABLE lead_counts (user_id text NOT NULL, status text NOT NULL, interest_level text NOT NULL,
                          n integer NOT NULL, PRIMARY KEY (user_id, status, interest_level));
CREATE TABLE datasets (name text PRIMARY KEY, state text NOT NULL);
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
-- UNLOGGED: a hit commits without waiting for the disk (a crash of the server clears the windows)
CREATE UNLOGGED TABLE rate_windows (bucket text PRIMARY KEY, started double precision NOT NULL,
                                    hits integer NOT NULL, refused boolean NOT NULL);
""" + "".join(f"{statement};\n" for statement in CREATE_LEAD_INDEXES)
MIGRATIONS: list[tuple[int, str]] = [(1, _SCHEMA_1)]  # (version, script): append, never edit a shipped one
SCHEMA_VERSION = MIGRATIONS[-1][0]
# One statement per hit: a window starts at a bucket's first request; a refused request does not count
_HIT_WINDOW = """
INSERT INTO rate_windows AS w (bucket, started, hits, refused)
VALUES (%(bucket)s, extract(epoch FROM clock_timestamp()), 1, false)
ON CONFLICT (bucket) DO UPDATE SET
    started = CASE WHEN w.started + %(length)s <= excluded.started THEN excluded.started ELSE w.started END,
    refused = w.started + %(length)s > excluded.started AND w.hits >= %(limit)s,
    hits = CASE WHEN w.started + %(length)s <= excluded.started THEN 1
                WHEN w.hits >= %(limit)s THEN w.hits ELSE w.hits + 1 END
RETURNING hits, refused, started + %(length)s - extract(epoch FROM clock_timestamp())
"""


def describe(url: str) -> str:
    """The database a URL names, for messages: never its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql (unparsable URL)"
    return f"postgresql://{parts.get('host', 'localhost')}:{parts.get('port', '5432')}/{parts.get('dbname', '')}"


class PostgresStore(SqlStore):
    """The store in the PostgreSQL database at `url`; the schema is created or migrated on opening."""

    _placeholder = "%s"
    _for_update = " FOR UPDATE"

    def __init__(self, url: str, initial: Loader, owner_id: str, clock: Callable[[], int] = now_ms) -> None:
        super().__init__(initial, owner_id, clock)
        self.url = url
        self.database = describe(url)
        self._lock = threading.RLock()
        self._connection: psycopg.Connection | None = None
        self._last_used = 0.0
        self._windows_failing = False
        try:
            connection = self._connect()
            self._prepare(connection)
        except psycopg.Error as error:
            raise StoreOpenError(f"cannot use the database {self.database}: {_first_line(error)}") from error
        except DatabaseUnavailable as error:
            raise StoreOpenError(error.message) from error

    # -- the backend ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self._lock, self._failures_reported():
            connection = self._usable_connection()
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    yield cursor
            except pg_errors.UniqueViolation as error:
                if error.diag.constraint_name == "clients_lead_id_key":
                    raise AlreadyConverted() from error
                raise
            self._last_used = time.monotonic()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self._lock, self._failures_reported():
            connection = self._usable_connection()
            with connection.cursor() as cursor:
                yield cursor
            self._last_used = time.monotonic()

    def _lock_user(self, cursor: Cursor, user_id: str) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [user_id])

    _wipe = ("TRUNCATE clients, contacts, leads, lead_counts",)
    _drop_indexes = DROP_LEAD_INDEXES
    _create_indexes = CREATE_LEAD_INDEXES

    def _insert_many(self, cursor: Cursor, table: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # bulk: far faster than INSERTs
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- rate-limit windows shared by every process -----------------------------------------------

    def hit_window(self, bucket: str, length: int, limit: int) -> tuple[int, bool, float] | None:
        """(requests counted in the window, whether this one was refused, seconds left); None when the
        database cannot be reached (the limiter then counts in this process)."""
        try:
            with self._lock:
                connection = self._usable_connection()
                row = connection.execute(_HIT_WINDOW, {"bucket": bucket, "length": length, "limit": limit}).fetchone()
                self._last_used = time.monotonic()
        except _FAILURES as error:
            self._drop_connection()
            if not self._windows_failing:
                logger.warning("rate-limit windows counted per process: database %s: %s", self.database,
                               _first_line(error))
            self._windows_failing = True
            return None
        self._windows_failing = False
        return int(row[0]), bool(row[1]), float(row[2])

    def exhaust_window(self, bucket: str, length: int, limit: int) -> float | None:
        """Spends the rest of the bucket's window (opening one when none runs); the seconds it has left."""
        counted = self.hit_window(bucket, length, limit)
        if counted is None:
            return None
        with self._lock, self._failures_reported():
            self._usable_connection().execute(
                "UPDATE rate_windows SET hits = GREATEST(hits, %(limit)s) WHERE bucket = %(bucket)s",
                {"bucket": bucket, "limit": limit})
        return counted[2]

    def reset_windows(self) -> None:
        with self._lock, self._failures_reported():
            self._usable_connection().execute("DELETE FROM rate_windows")

    # -- internals --------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        connection = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
        # one statement answers a list (counters and page): keep its parts in order, on one worker
        connection.execute("SET max_parallel_workers_per_gather = 0")
        self._connection = connection
        self._last_used = time.monotonic()
        return connection

    def _usable_connection(self) -> psycopg.Connection:
        connection = self._connection
        if connection is not None and not connection.closed and not connection.broken:
            if time.monotonic() - self._last_used < _PING_AFTER_IDLE_SECONDS:
                return connection
            try:
                connection.execute("SELECT 1")
                return connection
            except _FAILURES:
                self._drop_connection()
        return self._connect()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def _failures_reported(self) -> Iterator[None]:
        try:
            yield
        except _FAILURES as error:
            self._drop_connection()
            raise DatabaseUnavailable(self.database, _first_line(error)) from error

    def _prepare(self, connection: psycopg.Connection) -> None:
        """Create or migrate the schema and put the initial data in a new database: one process at a time."""
        connection.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                               "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            current = connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StoreOpenError(f"the database {self.database} has schema version {current}, newer than this "
                                     f"mock's {SCHEMA_VERSION}; upgrade the mock")
            for version, script in MIGRATIONS:
                if version > current:
                    with connection.transaction():
                        connection.execute(script)
                        connection.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [version])
                    logger.info("database %s: schema migrated to version %d", self.database, version)
            with self._read() as cursor:
                self._last_ms = self._newest_ms(cursor)
                seeded = cursor.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone()
            if seeded is None:
                self.reset()
                with self._write() as cursor:
                    cursor.execute("INSERT INTO meta (key, value) VALUES ('seeded', '1')")
        finally:
            if not connection.closed:
                connection.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
