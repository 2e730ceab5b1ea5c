"""deleteLead: a hard delete answered 200 with empty data, after which the lead is gone everywhere."""
from __future__ import annotations

import pytest

from contract_tests.checks import check_error, check_success, gone_lead_id
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
