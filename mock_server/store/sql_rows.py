"""How records become the rows of the SQL stores' tables, and counter rows become a list's stats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..encoding import json_text
from .base import INTEREST_LEVELS, STATUSES, Record, stored_lead

UserRows = tuple[list[list[Any]], list[list[Any]], list[list[Any]]]  # one user's lead, contact and client rows
LEAD_COLUMNS = ("user_id", "id", "created_at", "status", "interest_level", "version", "doc")
CONTACT_COLUMNS = ("user_id", "id", "email_key", "doc")
CLIENT_COLUMNS = ("user_id", "id", "lead_id", "doc")
INSERT_LEAD = f"INSERT INTO leads ({', '.join(LEAD_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_CONTACT = f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) VALUES (?, ?, ?, ?)"
INSERT_CLIENT = f"INSERT INTO clients ({', '.join(CLIENT_COLUMNS)}) VALUES (?, ?, ?, ?)"
# The indexes on leads (both backends): the list's order, under each combination of its filters
LEAD_INDEXES = {
    "leads_by_created": "(user_id, created_at, id)",
    "leads_by_status": "(user_id, status, created_at, id)",
    "leads_by_interest": "(user_id, interest_level, created_at, id)",
    "leads_by_status_interest": "(user_id, status, interest_level, created_at, id)",
}
CREATE_LEAD_INDEXES = tuple(f"CREATE INDEX {name} ON leads {columns}" for name, columns in LEAD_INDEXES.items())
DROP_LEAD_INDEXES = tuple(f"DROP INDEX IF EXISTS {name}" for name in LEAD_INDEXES)


def lead_row(lead: Record) -> list[Any]:
    if not (isinstance(lead["id"], str) and isinstance(lead["created_at"], str)
            and lead["status"] in STATUSES and lead["interest_level"] in INTEREST_LEVELS):
        raise ValueError(f"lead {lead.get('id')!r} needs an id, a created_at, a status and an interest_level")
    return [lead["user_id"], lead["id"], lead["created_at"], lead["status"], lead["interest_level"],
            lead["version"], json_text(lead)]


def contact_row(user_id: str, contact: Mapping[str, Any]) -> list[Any]:
    email = contact.get("email")
    return [user_id, contact["id"], email.lower() if isinstance(email, str) and email else None, json_text(contact)]


def client_row(user_id: str, client: Mapping[str, Any], lead_id: str | None) -> list[Any]:
    return [user_id, client["id"], lead_id, json_text(client)]


def user_rows(user_id: str, records: Mapping[str, Any]) -> UserRows:
    """Rows for one user's records of a data set or dump; ValueError/KeyError/TypeError when malformed."""
    leads = [stored_lead(raw, user_id) for raw in records["leads"]]
    client_leads = {lead["converted_to_client_id"]: lead["id"] for lead in leads if lead["converted_to_client_id"]}
    return ([lead_row(lead) for lead in leads],
            [contact_row(user_id, dict(contact)) for contact in records.get("contacts", ())],
            [client_row(user_id, dict(client), client_leads.get(client["id"]))
             for client in records.get("clients", ())])


def counted_stats(rows: list[tuple[Any, ...]], status: str | None, interest: str | None) -> tuple[int, dict[str, Any]]:
    """(leads matching the filters, the user's stats) from the counter rows (kind 0) of a query."""
    by_status = dict.fromkeys(STATUSES, 0)
    by_interest = dict.fromkeys(INTEREST_LEVELS, 0)
    matching = 0
    for kind, row_status, row_interest, count, _ in rows:
        if kind != 0 or not count:
            continue
        by_status[row_status] += count
        by_interest[row_interest] += count
        if (status is None or row_status == status) and (interest is None or row_interest == interest):
            matching += count
    total = sum(by_status.values())
    return matching, {"total": total, "byStatus": by_status, "byInterestLevel": by_interest}

