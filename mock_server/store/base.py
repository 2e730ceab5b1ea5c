"""What every backend shares: the store protocol, its records, positions and pages, and pure helpers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cached_property
from typing import Any, Protocol

Record = dict[str, Any]
SortKey = tuple[str, str]  # (created_at, id): ascending in indexes, served in reverse (newest first)

STATUSES = ("new", "contacted", "qualified", "unqualified", "converted", "lost")
INTEREST_LEVELS = ("hot", "warm", "cold")
LEAD_FIELDS = (
    "id", "user_id", "name", "email", "phone", "source", "status", "lead_type", "interest_level", "budget",
    "timeline", "message", "notes", "last_contact_date", "next_follow_up", "converted_to_client_id", "version",
    "created_at", "updated_at",
)
CLIENT_FIELDS = ("id", "contact_id", "client_type", "status", "price_range_min", "price_range_max")
DUMP_FORMAT = 1
_USER_NAMESPACE = uuid.UUID("6f1c1f0e-5b7a-4a43-9d3e-2f8c4b1a7e52")


class StoreOpenError(Exception):
    """The configured state file or database cannot be used; the message says why and what to do."""


def user_id_for(api_key: str) -> str:
    """The user behind an API key: stable across restarts, and no key is stored with the data."""
    return str(uuid.uuid5(_USER_NAMESPACE, api_key))


def price_range(budget: float | None) -> tuple[int | None, int | None]:
    """Budget -10% .. +10%, rounded half up to whole dollars (not Python's round-half-even)."""
    if budget is None:
        return None, None
    exact = Decimal(str(budget))
    with localcontext() as context:
        context.prec = max(28, len(str(int(exact))) + 10)  # every whole-dollar digit of a huge budget
        low, high = ((exact * Decimal(f)).quantize(Decimal(1), ROUND_HALF_UP) for f in ("0.9", "1.1"))
    return int(low), int(high)


def new_lead(user_id: str, fields: Mapping[str, Any], now: str) -> Record:
    """A lead as `create` makes it: defaults, then the given fields, then what the server decides."""
    lead: Record = {name: None for name in LEAD_FIELDS}
    lead.update(lead_type="buyer", interest_level="warm")
    lead.update({name: value for name, value in fields.items() if name in LEAD_FIELDS})
    lead.update(id=str(uuid.uuid4()), user_id=user_id, status="new", converted_to_client_id=None,
                last_contact_date=None, version=1, created_at=now, updated_at=now)
    return lead


def stored_lead(raw: Mapping[str, Any], user_id: str) -> Record:
    """A lead of a data set or dump in the stored shape: every field, in order, owned by `user_id`."""
    return {**{name: raw.get(name) for name in LEAD_FIELDS}, "user_id": user_id}


def conversion_answer(lead_id: str, client: Mapping[str, Any], contact_id: str) -> dict[str, Any]:
    return {
        "client": {name: client[name] for name in CLIENT_FIELDS},
        "lead": {"id": lead_id, "lead_status": "converted", "client_id": client["id"]},
        "primaryContactId": contact_id,
        "additionalContactsCount": 0,
    }


def check_dump(dump: Any) -> Mapping[str, Any]:
    """`dump` if it looks like a `dump()`; ValueError otherwise (the records are checked on loading)."""
    if not isinstance(dump, Mapping) or dump.get("format") != DUMP_FORMAT:
        raise ValueError(f"not a state dump of format {DUMP_FORMAT}")
    users = dump.get("users")
    if not isinstance(users, Mapping) or not all(isinstance(r, Mapping) and isinstance(r.get("leads"), list)
                                                 for r in users.values()):
        raise ValueError("malformed state dump: 'users' must map user ids to {leads, contacts, clients}")
    return dump


@dataclass(frozen=True)
class Position:
    """A place in a user's ordered leads: just after `key` (next pages) or just before it (previous pages).

    `key` None with `before` means the end of the list.
    """

    key: SortKey | None
    before: bool


@dataclass
class LeadPage:
    """One page of a list. An answer needs only the leads' texts and the sort keys of its first and last
    lead (its cursors), so `leads`, the records, are parsed from the texts when first asked for."""

    offset: int  # index of the first lead of the page in the filtered, ordered list
    total: int  # leads matching the filters
    stats: dict[str, Any]
    leads_json: list[str]  # the page's leads as JSON texts, in order
    keys: list[SortKey]  # their (created_at, id)

    @cached_property
    def leads(self) -> list[Record]:
        return [json.loads(text) for text in self.leads_json]


def page_offset(position: Position, total: int, limit: int, ahead_of_key: int) -> int:
    """The offset of a cursor's page. `ahead_of_key` counts the leads whose key is greater than the
    position's (newer, served first), and also an equal one when the page comes after it."""
    if position.before:
        ahead = total if position.key is None else ahead_of_key
        return max(0, (ahead - 1) // limit * limit)  # a previous page starts on a page boundary
    return ahead_of_key


class LeadStore(Protocol):
    """Every user's leads, contacts and clients. Each method is one atomic step: it happens whole or
    not at all, and a write is durable (as far as the backend promises) once the method returns.

    Raises the API's domain errors (LeadNotFound, VersionConflict, AlreadyConverted, NoUpdates,
    DatasetNotFound, and ServerError when the backing database fails); never an HTTP type.
    """

    revision: int  # moves on every change made through this object

    def reset(self) -> None:
        """Every user's data back to the initial data set (shared by every process on one database)."""

    def inspect(self, api_key: str) -> dict[str, list[Record]]:
        """Copies of everything the user behind `api_key` owns: leads newest first."""

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON-able data of format DUMP_FORMAT."""

    def restore(self, dump: Mapping[str, Any]) -> None:
        """Replace the whole state with a `dump()`; ValueError if it is not one (nothing changed then)."""

    def list_leads(self, user_id: str, *, status: str | None, interest_level: str | None, limit: int,
                   page: int = 1, position: Position | None = None) -> LeadPage: ...

    def get(self, user_id: str, lead_id: str) -> Record: ...

    def get_json(self, user_id: str, lead_id: str) -> str:
        """`get` as the lead's JSON text."""

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Record: ...

    def update(self, user_id: str, lead_id: str, changes: Mapping[str, Any],
               version: int | None = None) -> Record:
        """A partial update; `version`, when given, must be the current one (else VersionConflict)."""

    def delete(self, user_id: str, lead_id: str) -> None: ...

    def convert(self, user_id: str, lead_id: str, client_type: str = "buyer") -> dict[str, Any]:
        """Reuse or create the contact, create the client, mark the lead converted: all or nothing."""

    def save_dataset(self, name: str) -> None:
        """Keep a snapshot of the current data under `name` (replacing one of that name)."""

    def load_dataset(self, name: str) -> None:
        """Replace the current data with the snapshot `name`; DatasetNotFound when there is none."""

    def dataset_names(self) -> list[str]:
        """Names of the saved snapshots, sorted."""

    def close(self) -> None:
        """Release files and connections; the object is not used afterwards."""
