"""In-memory leads, contacts and clients.

Every mutation runs without an await inside it, so on the single asyncio thread each
one is atomic; convert in particular creates its contact, client and lead change together.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from .defects import DefectSwitch
from .envelope import format_instant, later_than, utc_now_ms

LEAD_FIELDS = (
    "id", "user_id", "name", "email", "phone", "source", "status", "lead_type",
    "interest_level", "budget", "timeline", "message", "notes", "last_contact_date",
    "next_follow_up", "converted_to_client_id", "version", "created_at", "updated_at",
)
ENUM_FIELDS = ("status", "lead_type", "interest_level")
TEXT_FIELDS = ("name", "phone", "source", "timeline", "message", "notes")
EnumStyle = Callable[[str], str]


def as_documented(value: str) -> str:
    return value


@dataclass
class Lead:
    id: str
    user_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    phone: str | None = None
    source: str | None = None
    status: str = "new"
    lead_type: str = "buyer"
    interest_level: str = "warm"
    budget: int | float | None = None
    timeline: str | None = None
    message: str | None = None
    notes: str | None = None
    last_contact_date: datetime | None = None
    next_follow_up: datetime | None = None
    converted_to_client_id: str | None = None
    version: int = 1
    deleted: bool = False

    def sort_key(self) -> tuple[datetime, str]:
        return (self.created_at, self.id)

    def represent(self, omit_nulls: bool = False, enum_style: EnumStyle = as_documented) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for name in LEAD_FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = format_instant(value)
            elif name in ENUM_FIELDS and value is not None:
                value = enum_style(value)
            if value is None and omit_nulls:
                continue
            shown[name] = value
        return shown


@dataclass
class Contact:
    id: str
    user_id: str
    name: str
    email: str | None
    phone: str | None


@dataclass
class Client:
    id: str
    contact_id: str
    client_type: str
    price_range_min: int | None
    price_range_max: int | None
    status: str = "active"

    def represent(self, enum_style: EnumStyle = as_documented) -> dict[str, Any]:
        return {
            "id": self.id,
            "contact_id": self.contact_id,
            "client_type": enum_style(self.client_type),
            "status": enum_style(self.status),
            "price_range_min": self.price_range_min,
            "price_range_max": self.price_range_max,
        }


def price_bound(budget: int | float, factor: str, defect: DefectSwitch) -> int:
    """round(budget * factor), half up, computed in decimal so 0.9/1.1 stay exact."""
    if defect("price_range_bankers_rounding"):
        return round(float(budget) * float(factor))
    with localcontext() as context:
        context.prec = 10_000  # any JSON number the parser accepts stays exact
        exact = Decimal(repr(budget)) * Decimal(factor)
        return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


@dataclass
class LeadStore:
    defect: DefectSwitch
    leads: dict[str, Lead] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    clients: dict[str, Client] = field(default_factory=dict)

    def saved(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values as the store keeps them: text exactly as sent."""
        if not self.defect("html_escaped_text"):
            return values
        return {
            name: html.escape(value) if name in TEXT_FIELDS and isinstance(value, str) else value
            for name, value in values.items()
        }

    def create(self, user_id: str, values: dict[str, Any]) -> Lead:
        now = utc_now_ms()
        values = self.saved(values)
        lead = Lead(id=str(uuid.uuid4()), user_id=user_id, name=values["name"], created_at=now, updated_at=now)
        if self.defect("default_interest_cold"):
            lead.interest_level = "cold"
        for name, value in values.items():
            setattr(lead, name, value)
        self.leads[lead.id] = lead
        return lead

    def find(self, lead_id: str) -> Lead | None:
        """Any tenant's lead; the caller decides what ownership means."""
        return self.leads.get(lead_id.lower())

    def owned_by(self, user_id: str | None) -> list[Lead]:
        """The user's leads (everyone's for None), newest first, ties by id descending."""
        leads = [
            lead for lead in self.leads.values()
            if not lead.deleted and (user_id is None or lead.user_id == user_id)
        ]
        leads.sort(key=Lead.sort_key, reverse=not self.defect("oldest_first"))
        return leads

    def update(self, lead: Lead, changes: dict[str, Any], persist: bool = True) -> Lead:
        """Apply a partial update; returns the lead as it now reads (a changed copy unless `persist`)."""
        target = lead if persist else Lead(**vars(lead))
        for name, value in self.saved(changes).items():
            setattr(target, name, value)
        if not self.defect("version_not_bumped"):
            target.version += 1
        if not self.defect("updated_at_frozen"):
            target.updated_at = later_than(target.updated_at)
        return target

    def delete(self, lead: Lead) -> None:
        if self.defect("soft_delete_visible"):
            lead.deleted = True
        else:
            del self.leads[lead.id]

    def contact_for(self, lead: Lead) -> Contact:
        if lead.email is not None and not self.defect("contact_not_reused"):
            for contact in self.contacts:
                if contact.user_id != lead.user_id or contact.email is None:
                    continue
                if self.defect("contact_match_case_sensitive"):
                    same = contact.email == lead.email
                else:
                    same = contact.email.casefold() == lead.email.casefold()
                if same:
                    return contact
        contact = Contact(str(uuid.uuid4()), lead.user_id, lead.name, lead.email, lead.phone)
        self.contacts.append(contact)
        return contact

    def convert(self, lead: Lead, client_type: str) -> Client:
        # Everything that can fail runs before the first write, so convert is all or nothing.
        low = high = None
        if lead.budget is not None:
            low, high = price_bound(lead.budget, "0.9", self.defect), price_bound(lead.budget, "1.1", self.defect)
        contact = self.contact_for(lead)
        client = Client(str(uuid.uuid4()), contact.id, client_type, low, high)
        self.clients[client.id] = client
        if not self.defect("convert_keeps_status"):
            lead.status = "converted"
        lead.converted_to_client_id = client.id
        lead.version += 1
        lead.updated_at = later_than(lead.updated_at)
        return client
