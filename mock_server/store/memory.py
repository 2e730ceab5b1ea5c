"""In memory: every user's leads, contacts and clients, with ordered indexes so that a page never scans.

No method awaits anything, so on the single asyncio thread every mutation is atomic: concurrent
requests cannot interleave inside an update or a convert. Nothing outlives the process.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..api_errors import AlreadyConverted, DatasetNotFound, LeadNotFound, NoUpdates, VersionConflict
from ..timestamps import format_ms, now_ms
from .base import (DUMP_FORMAT, LeadPage, Position, Record, check_dump, conversion_answer, new_lead, page_offset,
                   price_range, stored_lead, user_id_for)
from .user_data import UserData


class MemoryStore:
    """Every user's data. The initial data set belongs to `owner_id`; other users start empty."""

    def __init__(self, dataset: Mapping[str, Any], owner_id: str, clock: Callable[[], int] = now_ms) -> None:
        self._initial = dataset
        self._owner_id = owner_id
        self._clock = clock
        self._last_ms = 0
        self._users: dict[str, UserData] = {}
        self._datasets: dict[str, dict[str, Any]] = {}
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
        """The whole state as JSON-able data (see `restore`)."""
        users = {
            user_id: {
                "leads": [dict(user.leads[key[1]]) for key in reversed(user.all)],
                "contacts": [dict(contact) for contact in user.contacts.values()],
                "clients": [dict(client) for client in user.clients.values()],
            }
            for user_id, user in self._users.items()
        }  # records are flat, so copying each dict is a deep copy
        return {"format": DUMP_FORMAT, "revision": self.revision, "clock": self._last_ms, "users": users}

    def restore(self, dump: Mapping[str, Any]) -> None:
        """Replace the whole state with a `dump()`; ValueError if it is not one."""
        check_dump(dump)
        try:
            users: dict[str, UserData] = {}
            for user_id, records in dump["users"].items():
                users[user_id] = self._build_user(user_id, records)
            last_ms = int(dump.get("clock", 0))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed state dump: {error!r}") from error
        self._users, self._last_ms = users, max(self._last_ms, last_ms)
        self.revision = max(self.revision, int(dump.get("revision", 0))) + 1

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
            ahead = 0
            if position.key is not None:
                ahead = total - (view.bisect_right if position.before else view.bisect_left)(position.key)
            offset = page_offset(position, total, limit, ahead)
        stop = max(0, total - offset)
        keys = list(view.islice(max(0, stop - limit), stop, reverse=True)) if stop else []
        leads_json = [user.text_of(user.leads[key[1]]) for key in keys]  # no copies: the answer needs only texts
        return LeadPage(offset=offset, total=total, stats=user.stats(), leads_json=leads_json, keys=keys)

    def get(self, user_id: str, lead_id: str) -> Record:
        return dict(self._lead(user_id, lead_id))

    def get_json(self, user_id: str, lead_id: str) -> str:
        """`get` as JSON text, encoded once per version of the lead (from the stored record: no copy to read it)."""
        lead = self._lead(user_id, lead_id)  # not-found included, as in `get`
        return self._users[user_id].text_of(lead)

    def create(self, user_id: str, fields: Mapping[str, Any]) -> Record:
        lead = new_lead(user_id, fields, self._tick())
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
        return conversion_answer(lead["id"], client, contact_id)

    # -- named data sets --------------------------------------------------------------------------

    def save_dataset(self, name: str) -> None:
        self._datasets[name] = self.dump()  # a dump shares no record with the live state

    def load_dataset(self, name: str) -> None:
        snapshot = self._datasets.get(name)
        if snapshot is None:
            raise DatasetNotFound(name)
        self.restore(snapshot)  # restore copies the records, so the snapshot stays as saved

    def dataset_names(self) -> list[str]:
        return sorted(self._datasets)

    def close(self) -> None:
        """Nothing to release."""

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

    def _load_initial(self) -> None:
        self._users = {self._owner_id: self._build_user(self._owner_id, self._initial)}

    @staticmethod
    def _build_user(user_id: str, records: Mapping[str, Any]) -> UserData:
        leads = [stored_lead(raw, user_id) for raw in records["leads"]]
        user = UserData()
        user.load(leads, [dict(c) for c in records.get("contacts", ())], [dict(c) for c in records.get("clients", ())])
        return user
