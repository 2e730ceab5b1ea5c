"""The PostgreSQL statements of nearly every request, run through libpq directly (psycopg's `pq`).

A psycopg cursor costs about as much client CPU per statement again as the round trip itself, so
the rate-limit hit and the get by id are prepared statements with text parameters. Several of them
may go in one pipeline: one round trip, which both sides of the connection pay for once.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq

# $1 bucket, $2 window length, $3 limit. A window starts at a bucket's first request; a refused
# request does not count. Seconds left come from the database's clock, the same for every process.
HIT_WINDOW = b"leads_hit_window"
GET_DOC = b"leads_get_doc"
STATEMENTS = {
    HIT_WINDOW: """
INSERT INTO rate_windows AS w (bucket, started, hits, refused)
VALUES ($1, extract(epoch FROM clock_timestamp()), 1, false)
ON CONFLICT (bucket) DO UPDATE SET
    started = CASE WHEN w.started + $2::double precision <= excluded.started THEN excluded.started
                   ELSE w.started END,
    refused = w.started + $2::double precision > excluded.started AND w.hits >= $3::integer,
    hits = CASE WHEN w.started + $2::double precision <= excluded.started THEN 1
                WHEN w.hits >= $3::integer THEN w.hits ELSE w.hits + 1 END
RETURNING hits, refused, started + $2::double precision - extract(epoch FROM clock_timestamp())
""",
    GET_DOC: "SELECT doc FROM leads WHERE user_id = $1 AND id = $2",
}
Statement = tuple[bytes, list[bytes]]  # (name in STATEMENTS, text parameters)
Counted = tuple[int, bool, float]  # requests counted in the window, whether this one was refused, seconds left
_NO_SUCH_STATEMENT = b"26000"  # SQLSTATE invalid_sql_statement_name
_OK = pq.ExecStatus.TUPLES_OK


class QueuedHit:
    """A rate-limit hit waiting for its store's next round trip; `send` sends whatever waits."""

    __slots__ = ("statement", "_count", "_settled", "_send")

    def __init__(self, statement: Statement, send: Callable[[], object]) -> None:
        self.statement = statement
        self._count: Counted | None = None
        self._settled = False
        self._send = send

    def settle(self, count: Counted | None) -> None:
        self._count, self._settled = count, True

    def counted(self) -> Counted | None:
        """The window's count after this hit (sent now if it still waits); None when the database failed."""
        if not self._settled:
            self._send()
        return self._count


def hit_statement(bucket: str, length: int, limit: int) -> Statement:
    return HIT_WINDOW, [bucket.encode(), b"%d" % length, b"%d" % limit]


def counted_of(result: pq.abc.PGresult) -> Counted:
    hits, refused, seconds_left = (result.get_value(0, column) for column in range(3))
    return int(hits or 0), refused == b"t", float(seconds_left or 0)


def run(pgconn: pq.abc.PGconn, statement: Statement) -> pq.abc.PGresult:
    """One statement's result, failed or not (the caller checks)."""
    return _unprepared_retried(pgconn, statement, pgconn.exec_prepared(*statement))


def run_together(pgconn: pq.abc.PGconn, statements: list[Statement]) -> list[pq.abc.PGresult]:
    """The statements in one pipeline, in order: one result each, failed or not (the caller checks).

    A statement after a failed one does not run (the pipeline is aborted): it runs again alone, as
    does one that was not prepared on this connection. Raises OperationalError when the connection
    is lost.
    """
    pgconn.enter_pipeline_mode()
    try:
        for statement in statements:
            pgconn.send_query_prepared(*statement)
        pgconn.pipeline_sync()
        results: list[pq.abc.PGresult] = []
        for _ in range(2 * len(statements) + 1):  # each statement's result and a None after it, then the sync
            result = pgconn.get_result()
            if result is None:
                if pgconn.status == pq.ConnStatus.BAD:
                    raise psycopg.OperationalError(pgconn.error_message.decode(errors="replace"))
            elif result.status == pq.ExecStatus.PIPELINE_SYNC:
                break
            else:
                results.append(result)
        else:
            raise psycopg.OperationalError("the database's answers to a pipeline did not end with its sync")
    finally:
        if pgconn.status != pq.ConnStatus.BAD:
            pgconn.exit_pipeline_mode()
    if len(results) != len(statements):
        raise psycopg.OperationalError(
            f"the database answered {len(results)} of a pipeline's {len(statements)} statements")
    return [_unprepared_retried(pgconn, statement, result if result.status != pq.ExecStatus.PIPELINE_ABORTED
                                else pgconn.exec_prepared(*statement))
            for statement, result in zip(statements, results)]


def checked(pgconn: pq.abc.PGconn, result: pq.abc.PGresult) -> pq.abc.PGresult:
    """`result` when it has rows, else the psycopg error it stands for."""
    if result.status == _OK:
        return result
    message = (result.error_message or pgconn.error_message).decode(errors="replace")
    if pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError(message)
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    error_class: Callable[[str], psycopg.Error] = psycopg.DatabaseError
    if sqlstate:
        try:
            error_class = pg_errors.lookup(sqlstate.decode())
        except KeyError:
            pass
    raise error_class(message)


def _unprepared_retried(pgconn: pq.abc.PGconn, statement: Statement, result: pq.abc.PGresult) -> pq.abc.PGresult:
    """`result`, or the statement's result once prepared when it was not: on a connection's first use, and
    after psycopg deallocated every prepared statement of the connection (it does when a transaction fails)."""
    if result.error_field(pq.DiagnosticField.SQLSTATE) != _NO_SUCH_STATEMENT:
        return result
    for name, text in STATEMENTS.items():
        pgconn.prepare(name, text.encode())
    return pgconn.exec_prepared(*statement)
