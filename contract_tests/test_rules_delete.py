"""deleteLead: a hard delete answered 200 with empty data, after which the lead is gone everywhere."""
from __future__ import annotations

import pytest

from contract_tests.checks import check_error, check_stats_consistent, check_success, gone_lead_id, rereads
from contract_tests.client import LeadsClient, describe

DELETED_MESSAGE = "Lead deleted successfully"


@pytest.mark.rule("delete answers 200 with empty data", "deleteLead")
def test_delete_answers_200_with_empty_data_and_message(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Delete Lead")
    response = client.request("DELETE", f"/leads/{lead['id']}")
    data = check_success("deleteLead", response, 200, DELETED_MESSAGE)
    assert data == {}, describe("deleteLead", "data", {}, data, response)


@pytest.mark.rule("delete removes only the lead named", "deleteLead", "getLead")
def test_delete_leaves_the_other_leads_in_place(client: LeadsClient) -> None:
    older = client.create_lead(name="Contract Test Delete Neighbour")
    doomed = client.create_lead(name="Contract Test Delete Lead")
    newer = client.create_lead(name="Contract Test Delete Neighbour")
    check_success("deleteLead", client.request("DELETE", f"/leads/{doomed['id']}"))
    for neighbour in (older, newer):
        response = client.request("GET", f"/leads/{neighbour['id']}")
        stored = check_success("getLead", response)
        assert isinstance(stored, dict) and stored.get("version") == 1, describe(
            "getLead", f"neighbour {neighbour['id']} of a deleted lead", "still there, unchanged", stored, response
        )


@pytest.mark.rule("deleted lead is 404 everywhere", "deleteLead", "getLead", "updateLead", "convertLead")
@pytest.mark.parametrize(("method", "suffix", "body", "operation"), [
    ("GET", "", None, "getLead"),
    ("PUT", "", {"status": "lost"}, "updateLead"),
    ("DELETE", "", None, "deleteLead"),
    ("POST", "/convert", {"clientType": "buyer"}, "convertLead"),
])
def test_deleted_lead_is_404_for_every_operation(
    client: LeadsClient, method: str, suffix: str, body: dict[str, str] | None, operation: str
) -> None:
    lead_id = gone_lead_id(client)
    response = client.request(method, f"/leads/{lead_id}{suffix}", json_body=body)
    check_error(operation, response, 404, "NOT_FOUND")


@pytest.mark.rule("deleted lead leaves the list and the stats", "deleteLead", "listLeads")
@rereads
def test_deleted_lead_leaves_the_list_and_the_stats(client: LeadsClient) -> None:
    lead = client.create_lead(name="Contract Test Delete Lead", interest_level="hot")
    before = client.request("GET", "/leads", params={"limit": 100})
    stats_before = check_stats_consistent("listLeads", check_success("listLeads", before).get("stats"), before)
    check_success("deleteLead", client.request("DELETE", f"/leads/{lead['id']}"))
    after = client.request("GET", "/leads", params={"limit": 100})
    data = check_success("listLeads", after)
    listed = [item.get("id") for item in data.get("leads", [])]
    assert lead["id"] not in listed, describe(
        "listLeads", "data.leads after delete", f"without {lead['id']}", listed, after
    )
    stats_after = check_stats_consistent("listLeads", data.get("stats"), after)
    for what, old, new in (
        ("stats.total", stats_before["total"], stats_after["total"]),
        ("stats.byStatus.new", stats_before["byStatus"]["new"], stats_after["byStatus"]["new"]),
        ("stats.byInterestLevel.hot", stats_before["byInterestLevel"]["hot"], stats_after["byInterestLevel"]["hot"]),
    ):
        assert new == old - 1, describe("listLeads", f"{what} after delete", old - 1, new, after)
