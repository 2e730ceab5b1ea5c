"""One user's leads, contacts and clients, with the ordered indexes and counters that keep lists cheap."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sortedcontainers import SortedList

from ..encoding import json_text
from .base import INTEREST_LEVELS, STATUSES, Record, SortKey


class UserData:
    """One user's records and indexes."""

    def __init__(self) -> None:
        self.leads: dict[str, Record] = {}
        self.contacts: dict[str, Record] = {}
        self.clients: dict[str, Record] = {}
        self.contact_by_email: dict[str, str] = {}
        self.texts: dict[str, str] = {}  # lead id -> its JSON text, dropped whenever the lead changes
        self.all: SortedList = SortedList()
        self.by_status: dict[str, SortedList] = {s: SortedList() for s in STATUSES}
        self.by_interest: dict[str, SortedList] = {i: SortedList() for i in INTEREST_LEVELS}
        self.by_pair: dict[tuple[str, str], SortedList] = {
            (s, i): SortedList() for s in STATUSES for i in INTEREST_LEVELS
        }
        self.status_counts: Counter[str] = Counter()
        self.interest_counts: Counter[str] = Counter()

    def load(self, leads: list[Record], contacts: list[Record], clients: list[Record]) -> None:
        """Bulk load: SortedList built from whole lists is much faster than one add per lead."""
        self.leads = {lead["id"]: lead for lead in leads}
        self.contacts = {contact["id"]: contact for contact in contacts}
        self.clients = {client["id"]: client for client in clients}
        for contact in contacts:
            if contact.get("email"):
                self.contact_by_email.setdefault(contact["email"].lower(), contact["id"])
        groups: dict[tuple[str, str], list[SortKey]] = {pair: [] for pair in self.by_pair}
        for lead in leads:
            groups[(lead["status"], lead["interest_level"])].append((lead["created_at"], lead["id"]))
        for (status, interest), keys in groups.items():
            self.by_pair[(status, interest)] = SortedList(keys)
            self.status_counts[status] += len(keys)
            self.interest_counts[interest] += len(keys)
        self.all = SortedList(key for keys in groups.values() for key in keys)
        for status in STATUSES:
            self.by_status[status] = SortedList(k for i in INTEREST_LEVELS for k in groups[(status, i)])
        for interest in INTEREST_LEVELS:
            self.by_interest[interest] = SortedList(k for s in STATUSES for k in groups[(s, interest)])

    def index(self, lead: Record) -> None:
        key, status, interest = (lead["created_at"], lead["id"]), lead["status"], lead["interest_level"]
        for index in (self.all, self.by_status[status], self.by_interest[interest], self.by_pair[(status, interest)]):
            index.add(key)
        self.status_counts[status] += 1
        self.interest_counts[interest] += 1

    def unindex(self, lead: Record) -> None:
        key, status, interest = (lead["created_at"], lead["id"]), lead["status"], lead["interest_level"]
        for index in (self.all, self.by_status[status], self.by_interest[interest], self.by_pair[(status, interest)]):
            index.remove(key)
        self.status_counts[status] -= 1
        self.interest_counts[interest] -= 1

    def text_of(self, lead: Record) -> str:
        """The lead as JSON text, encoded once per version of it (the store drops it on every change)."""
        text = self.texts.get(lead["id"])
        if text is None:
            text = self.texts[lead["id"]] = json_text(lead)
        return text

    def view(self, status: str | None, interest: str | None) -> SortedList:
        if status and interest:
            return self.by_pair[(status, interest)]
        if status:
            return self.by_status[status]
        if interest:
            return self.by_interest[interest]
        return self.all

    def stats(self) -> dict[str, Any]:
        return {
            "total": len(self.leads),
            "byStatus": {s: self.status_counts[s] for s in STATUSES},
            "byInterestLevel": {i: self.interest_counts[i] for i in INTEREST_LEVELS},
        }
