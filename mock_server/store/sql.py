"""What the SQLite and PostgreSQL stores share: the tables, the queries and the rules, in one place.

A lead is a row of the columns that lists order and filter by, plus `doc`, its JSON text, which a
get returns as it is. Counters per (user, status, interest level), moved in the same transaction
as the change, give totals and stats without counting rows. Subclasses say how to
open a transaction and a cursor; SQL is written with `?` placeholders.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..api_errors import AlreadyConverted, DatasetNotFound, LeadNotFound, NoUpdates, VersionConflict
from ..encoding import json_text
from ..timestamps import format_ms, now_ms, parse_datetime
from .base import (DUMP_FORMAT, LeadPage, Position, Record, check_dump, conversion_answer, new_lead, page_offset,
                   price_range, user_id_for)
from .sql_rows import (CLIENT_COLUMNS, CONTACT_COLUMNS, INSERT_CLIENT,
                       INSERT_CONTACT, INSERT_LEAD, LEAD_COLUMNS, UserRows, client_row, contact_row, counted_stats,
                       lead_row, user_rows)

Cursor = Any  # a DB-API cursor: sqlite3.Cursor or psycopg.Cursor
Loader = Callable[[], Mapping[str, Any]]
_ORDER = "ORDER BY created_at DESC, id DESC"
_FAR_PAST_THE_END = 2**62  # an OFFSET beyond any table, within SQL's 64-bit integers (pages may be huge)
_NO_TEXT, _NO_COUNT = "CAST(NULL AS TEXT)", "CAST(NULL AS INTEGER)"  # typed, for PostgreSQL's UNION
_WIPE = ("DELETE FROM clients", "DELETE FROM contacts", "DELETE FROM leads", "DELETE FROM lead_counts")


class SqlStore:
    """The store over a SQL database. `initial` is called, at most once, when the data set is needed."""

    def __init__(self, initial: Loader, owner_id: str, clock: Callable[[], int] = now_ms) -> None:
        self._initial_loader = initial
        self._initial: Mapping[str, Any] | None = None
        self._owner_id = owner_id
        self._clock = clock
        self._last_ms = 0
        self.revision = 0

    # -- what a backend provides ----------------------------------------------------------------

    def _write(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor in a transaction that commits (durably) on leaving, or rolls back on an error."""
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for reading; each statement sees one consistent state."""
        raise NotImplementedError

    def _lock_user(self, cursor: Cursor, user_id: str) -> None:
        """Serialise converts of one user across connections (SQLite's one writer already does)."""

    def close(self) -> None:
        raise NotImplementedError

    # -- whole-store operations -------------------------------------------------------------------

    def initial_dataset(self) -> Mapping[str, Any]:
        if self._initial is None:
            self._initial = self._initial_loader()
        return self._initial

    def reset(self) -> None:
        rows = user_rows(self._owner_id, self.initial_dataset())
        with self._write() as cursor:
            self._replace_all(cursor, [rows])
        self.revision += 1

    def inspect(self, api_key: str) -> dict[str, list[Record]]:
        with self._read() as cursor:
            return self._records_of(cursor, user_id_for(api_key))

    def dump(self) -> dict[str, Any]:
        with self._read() as cursor:
            return self._dump(cursor)

    def restore(self, dump: Mapping[str, Any]) -> None:
        check_dump(dump)
        try:
            users = [user_rows(user_id, records) for user_id, records in dump["users"].items()]
            last_ms = int(dump.get("clock", 0))
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f"malformed state dump: {error!r}") from error
        with self._write() as cursor:
            self._replace_all(cursor, users)
        self._last_ms = max(self._last_ms, last_ms)
        self.revision = max(self.revision, int(dump.get("revision", 0))) + 1

    # -- leads ------------------------------------------------------------------------------------

    def list_leads(self, user_id: str, *, status: str | None, interest_level: str | None, limit: int,
                   page: int = 1, position: Position | None = None) -> LeadPage:
        where, params = "user_id = ?", [user_id]
        if status:
            where, params = where + " AND status = ?", [*params, status]
        if interest_level:
            where, params = where + " AND interest_level = ?", [*params, interest_level]
        counts_sql = f"SELECT 0, status, interest_level, n, {_NO_TEXT} FROM lead_counts WHERE user_id = ?"
        with self._read() as cursor:
            if position is not None and position.key is not None and not position.before:
                # next page: the leads older than the key, and how many are ahead of it (itself included)
                rows = cursor.execute(self._sql(
                    f"{counts_sql} UNION ALL SELECT 1, {_NO_TEXT}, {_NO_TEXT}, count(*), {_NO_TEXT} "
                    f"FROM leads WHERE {where} AND (created_at, id) >= (?, ?) UNION ALL "
                    f"SELECT * FROM (SELECT 2, created_at, id, {_NO_COUNT}, doc FROM leads WHERE {where} "
                    f"AND (created_at, id) < (?, ?) {_ORDER} LIMIT ?) AS page"),
                    [user_id, *params, *position.key, *params, *position.key, limit]).fetchall()
                total, stats = counted_stats(rows, status, interest_level)
                offset = next(row[3] for row in rows if row[0] == 1)
            else:
                offset = (page - 1) * limit
                if position is not None:  # a previous page: it ends just before the key
                    total, _ = counted_stats(cursor.execute(self._sql(counts_sql), [user_id]).fetchall(),
                                      status, interest_level)
                    ahead = 0
                    if position.key is not None:
                        ahead = cursor.execute(self._sql(f"SELECT count(*) FROM leads WHERE {where} "
                                                         "AND (created_at, id) > (?, ?)"),
                                               [*params, *position.key]).fetchone()[0]
                    offset = page_offset(position, total, limit, ahead)
                rows = cursor.execute(self._sql(
                    f"{counts_sql} UNION ALL SELECT * FROM (SELECT 2, created_at, id, {_NO_COUNT}, doc "
                    f"FROM leads WHERE {where} {_ORDER} LIMIT ? OFFSET ?) AS page"),
                    [user_id, *params, limit, min(offset, _FAR_PAST_THE_END)]).fetchall()
                total, stats = counted_stats(rows, status, interest_level)
        page_rows = [row for row in rows if row[0] == 2]  # (2, created_at, id, -, doc)
        return LeadPage(offset=offset, total=total, stats=stats, leads_json=[row[4] for row in page_rows],
                        keys=[(row[1], row[2]) for row in page_rows])

    def get(self, user_id: str, lead_id: str) -> Record:
        result: Record = json.loads(self.get_json(user_id, lead_id))
        return result

    def get_json(self, user_id: str, lead_id: str) -> str:
        with self._read() as cursor:
            row = cursor.execute(self._sql("SELECT doc FROM leads WHERE user_id = ? AND id = ?"),
                                 [user_id, lead_id.lower()]).fetchone()
        if row is None:
            raise LeadNotFound()
        text: str = row[0]
        return text

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Record:
        lead = new_lead(user_id, fields, self._tick())
        with self._write() as cursor:
            cursor.execute(self._sql(INSERT_LEAD), lead_row(lead))
            self._recount(cursor, user_id, {(lead["status"], lead["interest_level"]): 1})
        self.revision += 1
        return lead

    def update(self, user_id: str, lead_id: str, changes: Mapping[str, Any], version: int | None = None) -> Record:
        if not changes:
            raise NoUpdates()
        while True:
            lead = self.get(user_id, lead_id)
            if version is not None and version != lead["version"]:
                raise VersionConflict(current=lead["version"], attempted=version)
            seen, was = lead["version"], (lead["status"], lead["interest_level"])
            lead.update(changes)
            lead["version"] = seen + 1
            lead["updated_at"] = self._tick()
            with self._write() as cursor:
                # optimistic: applied only if no one else changed the lead since it was read
                changed = cursor.execute(self._sql(
                    "UPDATE leads SET status = ?, interest_level = ?, version = ?, doc = ? "
                    "WHERE user_id = ? AND id = ? AND version = ?"),
                    [lead["status"], lead["interest_level"], lead["version"], json_text(lead), user_id,
                     lead["id"], seen]).rowcount
                if changed:
                    self._recount(cursor, user_id, _moved(was, (lead["status"], lead["interest_level"])))
            if changed:
                self.revision += 1
                return lead
            # someone else's write came first: with a lock that is a conflict; without one, apply on top

    def delete(self, user_id: str, lead_id: str) -> None:
        with self._write() as cursor:
            deleted = cursor.execute(
                self._sql("DELETE FROM leads WHERE user_id = ? AND id = ? RETURNING status, interest_level"),
                [user_id, lead_id.lower()]).fetchone()
            if deleted is None:
                raise LeadNotFound()
            self._recount(cursor, user_id, {(deleted[0], deleted[1]): -1})
        self.revision += 1

    def convert(self, user_id: str, lead_id: str, client_type: str = "buyer") -> dict[str, Any]:
        with self._write() as cursor:
            self._lock_user(cursor, user_id)
            row = cursor.execute(self._sql("SELECT doc FROM leads WHERE user_id = ? AND id = ?" + self._for_update),
                                 [user_id, lead_id.lower()]).fetchone()
            if row is None:
                raise LeadNotFound()
            lead = json.loads(row[0])
            if lead["converted_to_client_id"] is not None or lead["status"] == "converted":
                raise AlreadyConverted()
            low, high = price_range(lead["budget"])
            now = self._tick()
            email = lead["email"]
            contact_id = None
            if email:
                found = cursor.execute(self._sql("SELECT id FROM contacts WHERE user_id = ? AND email_key = ? "
                                                 "ORDER BY seq LIMIT 1"), [user_id, email.lower()]).fetchone()
                contact_id = found[0] if found else None
            if contact_id is None:
                contact = {"id": str(uuid.uuid4()), "name": lead["name"], "email": email, "phone": lead["phone"],
                           "created_at": now}
                contact_id = contact["id"]
                cursor.execute(self._sql(INSERT_CONTACT), contact_row(user_id, contact))
            client = {"id": str(uuid.uuid4()), "contact_id": contact_id, "client_type": client_type,
                      "status": "active", "price_range_min": low, "price_range_max": high, "created_at": now}
            # clients.lead_id is unique: a second client for one lead cannot be committed by anyone
            cursor.execute(self._sql(INSERT_CLIENT), client_row(user_id, client, lead["id"]))
            was = (lead["status"], lead["interest_level"])
            lead.update(status="converted", converted_to_client_id=client["id"], version=lead["version"] + 1,
                        updated_at=now)
            cursor.execute(self._sql("UPDATE leads SET status = ?, version = ?, doc = ? WHERE user_id = ? AND id = ?"),
                           ["converted", lead["version"], json_text(lead), user_id, lead["id"]])
            self._recount(cursor, user_id, _moved(was, ("converted", lead["interest_level"])))
        self.revision += 1
        return conversion_answer(lead["id"], client, contact_id)

    # -- named data sets --------------------------------------------------------------------------

    def save_dataset(self, name: str) -> None:
        with self._write() as cursor:
            snapshot = json_text(self._dump(cursor))
            cursor.execute(self._sql(self._upsert_dataset), [name, snapshot])

    def load_dataset(self, name: str) -> None:
        with self._read() as cursor:
            row = cursor.execute(self._sql("SELECT state FROM datasets WHERE name = ?"), [name]).fetchone()
        if row is None:
            raise DatasetNotFound(name)
        self.restore(json.loads(row[0]))

    def dataset_names(self) -> list[str]:
        with self._read() as cursor:
            rows = cursor.execute(self._sql("SELECT name FROM datasets")).fetchall()
        return sorted(row[0] for row in rows)

    # -- internals --------------------------------------------------------------------------------

    _placeholder = "?"
    _for_update = ""
    _wipe: tuple[str, ...] = _WIPE
    _drop_indexes: tuple[str, ...] = ()
    _create_indexes: tuple[str, ...] = ()
    _upsert_dataset = ("INSERT INTO datasets (name, state) VALUES (?, ?) "
                       "ON CONFLICT (name) DO UPDATE SET state = excluded.state")

    def _sql(self, text: str) -> str:
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    def _tick(self) -> str:
        """Now, but always later than the previous mutation here: order and `updated_at` always move on."""
        self._last_ms = max(self._clock(), self._last_ms + 1)
        return format_ms(self._last_ms)

    def _recount(self, cursor: Cursor, user_id: str, deltas: Mapping[tuple[str, str], int]) -> None:
        """Move the counters in the same transaction as the change; in one order, so that two
        transactions never wait for each other's counter rows (a deadlock)."""
        for (status, interest), delta in sorted(deltas.items()):
            if delta:
                cursor.execute(self._sql(
                    "INSERT INTO lead_counts (user_id, status, interest_level, n) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (user_id, status, interest_level) DO UPDATE SET n = lead_counts.n + excluded.n"),
                    [user_id, status, interest, delta])

    def _replace_all(self, cursor: Cursor, users: list[UserRows]) -> None:
        """Everything replaced in the caller's transaction; indexes are built after the rows (much faster)."""
        for statement in self._wipe:
            cursor.execute(statement)
        for statement in self._drop_indexes:
            cursor.execute(statement)
        counts: dict[tuple[str, str, str], int] = {}
        for leads, contacts, clients in users:
            for row in leads:
                counts[(row[0], row[3], row[4])] = counts.get((row[0], row[3], row[4]), 0) + 1
            self._insert_many(cursor, "leads", LEAD_COLUMNS, sorted(leads, key=lambda row: (row[0], row[1])))
            self._insert_many(cursor, "contacts", CONTACT_COLUMNS, contacts)
            self._insert_many(cursor, "clients", CLIENT_COLUMNS, clients)
        self._insert_many(cursor, "lead_counts", ("user_id", "status", "interest_level", "n"),
                          [[*key, n] for key, n in counts.items()])
        for statement in self._create_indexes:
            cursor.execute(statement)

    def _insert_many(self, cursor: Cursor, table: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
        if rows:
            cursor.executemany(self._sql(f"INSERT INTO {table} ({', '.join(columns)}) "
                                         f"VALUES ({', '.join('?' * len(columns))})"), rows)

    def _records_of(self, cursor: Cursor, user_id: str) -> dict[str, list[Record]]:
        def docs(statement: str) -> list[Record]:
            return [json.loads(row[0]) for row in cursor.execute(self._sql(statement), [user_id]).fetchall()]

        return {
            "leads": docs(f"SELECT doc FROM leads WHERE user_id = ? {_ORDER}"),
            "contacts": docs("SELECT doc FROM contacts WHERE user_id = ? ORDER BY seq"),
            "clients": docs("SELECT doc FROM clients WHERE user_id = ? ORDER BY seq"),
        }

    def _dump(self, cursor: Cursor) -> dict[str, Any]:
        user_ids = [row[0] for row in cursor.execute(
            "SELECT user_id FROM leads UNION SELECT user_id FROM contacts UNION SELECT user_id FROM clients"
        ).fetchall()]
        users = {user_id: self._records_of(cursor, user_id) for user_id in sorted(user_ids)}
        return {"format": DUMP_FORMAT, "revision": self.revision, "clock": self._last_ms, "users": users}

    def _newest_ms(self, cursor: Cursor) -> int:
        """The latest instant stored, so that a restarted store keeps moving forward."""
        newest = cursor.execute("SELECT max(created_at) FROM leads").fetchone()[0]
        return parse_datetime(newest) or 0 if newest else 0


def _moved(was: tuple[str, str], now: tuple[str, str]) -> dict[tuple[str, str], int]:
    return {} if was == now else {was: -1, now: 1}
