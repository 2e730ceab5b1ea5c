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
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from ..api_errors import AlreadyConverted, DatabaseUnavailable, LeadNotFound
from ..timestamps import now_ms
from . import hot_statements as hot
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
        self._queued_hits: list[hot.QueuedHit] = []
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
            self._settle_hits()
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
            self._settle_hits()
            connection = self._usable_connection()
            with connection.cursor() as cursor:
                yield cursor
            self._last_used = time.monotonic()

    def get_json(self, user_id: str, lead_id: str) -> str:
        with self._lock, self._failures_reported():
            result = self._settle_hits(then=(hot.GET_DOC, [user_id.encode(), lead_id.lower().encode()]))
        if result is None or result.ntuples == 0:
            raise LeadNotFound()
        return bytes(result.get_value(0, 0) or b"").decode()

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

    def hit_window(self, bucket: str, length: int, limit: int) -> hot.Counted | None:
        """(requests counted in the window, whether this one was refused, seconds left); None when the
        database cannot be reached (the limiter then counts in this process)."""
        return self.queue_hit(bucket, length, limit).counted()

    def queue_hit(self, bucket: str, length: int, limit: int) -> hot.QueuedHit:
        """A hit sent with this store's next statement (one round trip for both), or when its count is asked for."""
        hit = hot.QueuedHit(hot.hit_statement(bucket, length, limit), self._settle_hits)
        with self._lock:
            self._queued_hits.append(hit)
        return hit

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
            self._settle_hits()
            self._usable_connection().execute("DELETE FROM rate_windows")

    # -- internals --------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        connection = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
        # one statement answers a list (counters and page): keep its parts in order, on one worker
        connection.execute("SET max_parallel_workers_per_gather = 0")
        self._connection = connection
        self._last_used = time.monotonic()
        return connection

    def _settle_hits(self, then: hot.Statement | None = None) -> pq.abc.PGresult | None:
        """Sends the queued hits, and `then` after them, in one round trip; the rows of `then`.

        A hit that fails leaves its count to this process; a failure of `then` raises psycopg's error.
        """
        with self._lock:
            if not self._queued_hits and then is None:  # the common case of every read and write
                return None
            hits, self._queued_hits = self._queued_hits, []
            statements = [hit.statement for hit in hits] + ([then] if then is not None else [])
            try:
                pgconn = self._usable_connection().pgconn
                results = (hot.run_together(pgconn, statements) if len(statements) > 1
                           else [hot.run(pgconn, statements[0])])
                self._last_used = time.monotonic()
            except _FAILURES as error:
                self._drop_connection()
                for hit in hits:
                    hit.settle(None)
                if hits:
                    self._report_windows(error)
                if then is None:
                    return None
                raise
            failure: BaseException | None = None
            for hit, result in zip(hits, results):
                try:
                    hit.settle(hot.counted_of(hot.checked(pgconn, result)))
                except psycopg.Error as error:
                    hit.settle(None)
                    failure = error
            if hits:
                self._report_windows(failure)
            return hot.checked(pgconn, results[-1]) if then is not None else None

    def _report_windows(self, failure: BaseException | None) -> None:
        """Logs the windows' move to this process's count when a hit fails, once until one succeeds."""
        if failure is not None and not self._windows_failing:
            logger.warning("rate-limit windows counted per process: database %s: %s", self.database,
                           _first_line(failure))
        self._windows_failing = failure is not None

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
