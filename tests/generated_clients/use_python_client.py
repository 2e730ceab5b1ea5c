"""A frontend team's script on the client openapi-python-client generated from openapi.yaml (package `leads_client`).

Usage: python use_python_client.py BASE_URL API_KEY. Prints `ok` after every step held; any
surprise raises. Typed models only: no raw JSON is read here.
"""

from __future__ import annotations

import sys
from uuid import UUID

from leads_client import Client
from leads_client.api.leads import convert_lead, create_lead, delete_lead, get_lead, list_leads, update_lead
from leads_client.models import (
    ClientType, ConvertRequest, ConvertResponse, DeleteResponse, ErrorCode, ErrorResponse, InterestLevel, LeadCreate,
    LeadListResponse, LeadResponse, LeadStatus, LeadUpdate, VersionConflictDetails,
)


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"failed: {what}")


def main(base_url: str, api_key: str) -> None:
    client = Client(base_url=base_url, headers={"X-API-Key": api_key}, raise_on_unexpected_status=True)

    created = create_lead.sync(client=client, body=LeadCreate(name="Generated Client", notes="call after 5pm",
                                                              budget=400000.0))
    expect(isinstance(created, LeadResponse), f"create: {created!r}")
    lead = created.data
    expect(lead.version == 1 and lead.status is LeadStatus.NEW and lead.notes == "call after 5pm", f"created {lead!r}")

    read = get_lead.sync(lead.id, client=client)
    expect(isinstance(read, LeadResponse) and read.data.id == lead.id and read.data.name == "Generated Client", "get")

    updated = update_lead.sync(lead.id, client=client, body=LeadUpdate(
        status=LeadStatus.QUALIFIED, interest_level=InterestLevel.HOT, version=1))
    expect(isinstance(updated, LeadResponse), f"update: {updated!r}")
    expect(updated.data.version == 2 and updated.data.status is LeadStatus.QUALIFIED, f"updated {updated.data!r}")

    stale = update_lead.sync_detailed(lead.id, client=client, body=LeadUpdate(notes="too late", version=1))
    expect(stale.status_code == 409 and isinstance(stale.parsed, ErrorResponse), f"stale: {stale.status_code}")
    error = stale.parsed.error
    expect(error.code is ErrorCode.VERSION_CONFLICT, f"stale code {error.code!r}")
    expect(isinstance(error.details, VersionConflictDetails) and error.details.current_version == 2
           and error.details.attempted_version == 1, f"stale details {error.details!r}")

    cleared = update_lead.sync(lead.id, client=client, body=LeadUpdate(notes=None, version=2))
    expect(isinstance(cleared, LeadResponse) and cleared.data.notes is None and cleared.data.version == 3,
           f"clearing notes with null: {cleared!r}")
    expect(get_lead.sync(lead.id, client=client).data.notes is None, "the cleared field stayed cleared")

    page = list_leads.sync(client=client, status=LeadStatus.QUALIFIED, limit=5)
    expect(isinstance(page, LeadListResponse) and page.data.meta.limit == 5, "list")
    expect(page.data.stats.total >= 1 and isinstance(page.data.cursors.next_, (str, type(None))), "list stats, cursors")

    converted = convert_lead.sync(lead.id, client=client, body=ConvertRequest(client_type=ClientType.SELLER))
    expect(isinstance(converted, ConvertResponse), f"convert: {converted!r}")
    conversion = converted.data
    expect(conversion.lead.id == lead.id and conversion.lead.client_id == conversion.client.id
           and conversion.client.client_type is ClientType.SELLER, f"conversion {conversion!r}")
    expect(conversion.client.price_range_min == 360000 and conversion.client.price_range_max == 440000,
           "price range from the budget")

    deleted = delete_lead.sync(lead.id, client=client)
    expect(isinstance(deleted, DeleteResponse) and deleted.success, f"delete: {deleted!r}")
    gone = get_lead.sync_detailed(lead.id, client=client)
    expect(gone.status_code == 404 and isinstance(gone.parsed, ErrorResponse)
           and gone.parsed.error.code is ErrorCode.NOT_FOUND, f"after delete: {gone.status_code}")
    expect(isinstance(lead.id, UUID), "ids are UUIDs")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
