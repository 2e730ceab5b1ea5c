"""In-memory leads, contacts and clients, per user, with ordered indexes so that a page never scans.

No method awaits anything, so on the single asyncio thread every mutation is atomic: concurrent
requests cannot interleave inside an update or a convert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from .api_errors import AlreadyConverted, DatasetNotFound, LeadNotFound, NoUpdates, VersionConflict
from .timestamps import format_ms, now_ms
from .user_data import INTEREST_LEVELS, STATUSES, Record, SortKey, UserData  # noqa: F401 - enums re-exported

LEAD_FIELDS = (
    "id", "user_id", "name", "email", "phone", "source", "status", "lead_type", "interest_level", "budget",
    "timeline", "message", "notes", "last_contact_date", "next_follow_up", "converted_to_client_id", "version",
    "created_at", "updated_at",
)
CLIENT_FIELDS = ("id", "contact_id", "client_type", "status", "price_range_min", "price_range_max")
DUMP_FORMAT = 1
_USER_NAMESPACE = uuid.UUID("6f1c1f0e-5b7a-4a43-9d3e-2f8c4b1a7e52")


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


@dataclass(frozen=True)
class Position:
    """A place in a user's ordered leads: just after `key` (next pages) or just before it (previous pages).

    `key` None with `before` means the end of the list.
    """

    key: SortKey | None
    before: bool


@dataclass
class LeadPage:
    leads: list[Record]
    offset: int  # index of the first lead of the page in the filtered, ordered list
    total: int  # leads matching the filters
    stats: dict[str, Any]
    leads_json: list[str]  # the same leads as JSON texts


class LeadStore:
    """Every user's data. The initial data set belongs to `owner_id`; other users start empty."""

    def __init__(self, dataset: Mapping[str, Any], owner_id: str, clock: Callable[[], int] = now_ms) -> None:
        self._initial = dataset
        self._owner_id = owner_id
        self._clock = clock
        self._last_ms = 0
        self._users: dict[str, UserData] = {}
        self._datasets: dict[str, dict[str, Any]] = {}  # name -> users' records, never mutated once saved
        self.revision = 0
        self._load_initial()

    # -- whole-store operations -------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the initial data set."""
        self._load_initial()
        self.revision += 1

    def inspect(self, api_key: str) -> dict[str, list[Record]]:
        """Copies of everything the user behind `api_key` owns: leads newest first."""
        user = self._users.get(user_id_for(api_key))
        if user is None:
            return {"leads": [], "contacts": [], "clients": []}
        return {
            "leads": [dict(user.leads[key[1]]) for key in reversed(user.all)],
            "contacts": [dict(contact) for contact in user.contacts.values()],
            "clients": [dict(client) for client in user.clients.values()],
        }

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON-able data, saved data sets included (see `restore`)."""
        return {"format": DUMP_FORMAT, "revision": self.revision, "clock": self._last_ms,
                "users": self._users_records(), "datasets": dict(self._datasets)}

    def restore(self, dump: Mapping[str, Any]) -> None:
        """Replace the whole state with a `dump()`; ValueError if it is not one.

        A dump without `datasets` leaves the saved data sets as they are.
        """
        if not isinstance(dump, Mapping) or dump.get("format") != DUMP_FORMAT:
            raise ValueError(f"not a state dump of format {DUMP_FORMAT}")
        try:
            users = self._build_users(dump["users"])
            datasets = None
            if "datasets" in dump:
                datasets = {}
                for name, records in dump["datasets"].items():
                    if not isinstance(name, str):
                        raise TypeError(f"data set name {name!r} is not a string")
                    self._build_users(records)  # only to check it
                    datasets[name] = records
            last_ms = int(dump.get("clock", 0))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed state dump: {error!r}") from error
        self._users, self._last_ms = users, max(self._last_ms, last_ms)
        if datasets is not None:
            self._datasets = datasets
        self.revision = max(self.revision, int(dump.get("revision", 0))) + 1

    # -- named data sets --------------------------------------------------------------------------

    def save_dataset(self, name: str) -> None:
        """Keep a copy of every user's data under `name`, replacing a set saved under it before."""
        self._datasets[name] = self._users_records()
        self.revision += 1  # the saved sets are part of the persisted state

    def load_dataset(self, name: str) -> None:
        """Replace every user's data with the set saved under `name`; DatasetNotFound if there is none."""
        records = self._datasets.get(name)
        if records is None:
            raise DatasetNotFound(f"No saved data set named {name!r}")
        self._users = self._build_users(records)
        self.revision += 1

    def dataset_names(self) -> list[str]:
        return sorted(self._datasets)

    # -- leads ------------------------------------------------------------------------------------

    def list_leads(self, user_id: str, *, status: str | None, interest_level: str | None, limit: int,
                   page: int = 1, position: Position | None = None) -> LeadPage:
        """One page, by page number or, when given, by a cursor position. O(log n + limit)."""
        user = self._user(user_id)
        view = user.view(status, interest_level)
        total = len(view)
        if position is None:
            offset = (page - 1) * limit
        else:
            # served newest first: the leads ahead of `key` are those with a greater key (and it, when after it)
            if position.before:
                ahead = total if position.key is None else total - view.bisect_right(position.key)
                # a previous page starts on a page boundary, so meta.page is exact even past the end
                offset = max(0, (ahead - 1) // limit * limit)
            else:
                offset = total - view.bisect_left(position.key)
        stop = max(0, total - offset)
        keys = view.islice(max(0, stop - limit), stop, reverse=True) if stop else ()
        leads = [dict(user.leads[key[1]]) for key in keys]
        leads_json = [user.text_of(lead) for lead in leads]
        return LeadPage(leads=leads, offset=offset, total=total, stats=user.stats(), leads_json=leads_json)

    def get(self, user_id: str, lead_id: str) -> Record:
        return dict(self._lead(user_id, lead_id))

    def get_json(self, user_id: str, lead_id: str) -> str:
        """`get` as JSON text, encoded once per version of the lead."""
        lead = self.get(user_id, lead_id)  # the one way to a lead, not-found included
        return self._users[user_id].text_of(lead)

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Record:
        now = self._tick()
        lead = {name: None for name in LEAD_FIELDS}
        lead.update(lead_type="buyer", interest_level="warm")
        lead.update({name: value for name, value in fields.items() if name in LEAD_FIELDS})
        lead.update(id=str(uuid.uuid4()), user_id=user_id, status="new", converted_to_client_id=None,
                    last_contact_date=None, version=1, created_at=now, updated_at=now)
        user = self._user(user_id)
        user.leads[lead["id"]] = lead
        user.index(lead)
        self.revision += 1
        return dict(lead)

    def update(self, user_id: str, lead_id: str, changes: Mapping[str, Any], version: int | None = None) -> Record:
        """A partial update; `version`, when given, must be the current one."""
        if not changes:
            raise NoUpdates()
        lead = self._lead(user_id, lead_id)
        if version is not None and version != lead["version"]:
            raise VersionConflict(current=lead["version"], attempted=version)
        user = self._users[user_id]
        reindex = lead["status"] != changes.get("status", lead["status"]) or \
            lead["interest_level"] != changes.get("interest_level", lead["interest_level"])
        if reindex:
            user.unindex(lead)
        user.texts.pop(lead["id"], None)
        lead.update(changes)
        lead["version"] += 1
        lead["updated_at"] = self._tick()
        if reindex:
            user.index(lead)
        self.revision += 1
        return dict(lead)

    def delete(self, user_id: str, lead_id: str) -> None:
        lead = self._lead(user_id, lead_id)
        user = self._users[user_id]
        user.unindex(lead)
        user.texts.pop(lead["id"], None)
        del user.leads[lead["id"]]
        self.revision += 1

    def convert(self, user_id: str, lead_id: str, client_type: str = "buyer") -> dict[str, Any]:
        """Reuse or create the contact, create the client, mark the lead converted: all or nothing."""
        lead = self._lead(user_id, lead_id)
        if lead["converted_to_client_id"] is not None or lead["status"] == "converted":
            raise AlreadyConverted()
        # everything that can fail comes first; the mutations after it cannot fail part-way
        low, high = price_range(lead["budget"])
        user = self._users[user_id]
        now = self._tick()
        email = lead["email"]
        contact_id = user.contact_by_email.get(email.lower()) if email else None
        contact = None
        if contact_id is None:
            contact = {"id": str(uuid.uuid4()), "name": lead["name"], "email": email, "phone": lead["phone"],
                       "created_at": now}
            contact_id = contact["id"]
        client = {"id": str(uuid.uuid4()), "contact_id": contact_id, "client_type": client_type, "status": "active",
                  "price_range_min": low, "price_range_max": high, "created_at": now}
        if contact is not None:
            user.contacts[contact_id] = contact
            if email:
                user.contact_by_email[email.lower()] = contact_id
        user.clients[client["id"]] = client
        user.unindex(lead)
        user.texts.pop(lead["id"], None)
        lead.update(status="converted", converted_to_client_id=client["id"], version=lead["version"] + 1,
                    updated_at=now)
        user.index(lead)
        self.revision += 1
        return {
            "client": {name: client[name] for name in CLIENT_FIELDS},
            "lead": {"id": lead["id"], "lead_status": "converted", "client_id": client["id"]},
            "primaryContactId": contact_id,
            "additionalContactsCount": 0,
        }

    # -- internals --------------------------------------------------------------------------------

    def _tick(self) -> str:
        """Now, but always later than the previous mutation: order and `updated_at` always move on."""
        self._last_ms = max(self._clock(), self._last_ms + 1)
        return format_ms(self._last_ms)

    def _user(self, user_id: str) -> UserData:
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = UserData()
        return user

    def _lead(self, user_id: str, lead_id: str) -> Record:
        user = self._users.get(user_id)
        lead = user.leads.get(lead_id.lower()) if user else None
        if lead is None:
            raise LeadNotFound()
        return lead

    def _users_records(self) -> dict[str, Any]:
        # records are flat, so copying each dict is a deep copy
        return {
            user_id: {
                "leads": [dict(user.leads[key[1]]) for key in reversed(user.all)],
                "contacts": [dict(contact) for contact in user.contacts.values()],
                "clients": [dict(client) for client in user.clients.values()],
            }
            for user_id, user in self._users.items()
        }

    def _build_users(self, records: Mapping[str, Any]) -> dict[str, UserData]:
        return {user_id: self._build_user(user_id, user_records) for user_id, user_records in records.items()}

    def _load_initial(self) -> None:
        self._users = {self._owner_id: self._build_user(self._owner_id, self._initial)}

    @staticmethod
    def _build_user(user_id: str, records: Mapping[str, Any]) -> UserData:
        leads = [{**{name: raw.get(name) for name in LEAD_FIELDS}, "user_id": user_id} for raw in records["leads"]]
        user = UserData()
        user.load(leads, [dict(c) for c in records.get("contacts", ())], [dict(c) for c in records.get("clients", ())])
        return user
