"""An interrupt stops a check at its next request even where library code swallowed its KeyboardInterrupt
(Python drops an exception raised inside a garbage-collection callback), while cleanup still deletes."""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis

from contract_tests.cleanup import clean_up
from contract_tests.client import INTERRUPTED, LeadsClient
from contract_tests.findings import Blocked
from contract_tests.ledger import CreatedLeads
from contract_tests.safety import Budget, RunGuard
from contract_tests.spec import spec_path
from contract_tests.target import serve_in_thread
from contract_tests.waits import WaitBudget
from tests.reference_server.app import create_app

BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there: a request that went out would fail to connect
KEY = "interrupt-key-0001"


@pytest.fixture
def interrupted() -> Iterator[None]:
    """As after a Ctrl-C whose KeyboardInterrupt was swallowed: the flag is set, nothing was raised."""
    INTERRUPTED.set()
    try:
        yield
    finally:
        INTERRUPTED.clear()


def recording_client(sent: list[str], **options: object) -> LeadsClient:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={"success": True, "data": {}})

    return LeadsClient(BASE_URL, KEY, CreatedLeads(), transport=httpx.MockTransport(answer), **options)  # type: ignore[arg-type]


def test_a_check_request_after_a_swallowed_interrupt_stops_the_check_unsent(interrupted: None) -> None:
    sent: list[str] = []
    client = recording_client(sent)
    with pytest.raises(KeyboardInterrupt):
        client.request("GET", "/leads")
    assert sent == []


def test_a_cleanup_client_still_sends_after_an_interrupt(interrupted: None) -> None:
    sent: list[str] = []
    client = recording_client(sent, stops_on_interrupt=False, block_on_failure=False)
    assert client.request("DELETE", "/leads/8d1c2a50-0000-4000-8000-000000000001").status_code == 200
    assert sent == ["DELETE /v1/leads/8d1c2a50-0000-4000-8000-000000000001"]


def test_the_run_cleanup_still_deletes_what_was_created_after_an_interrupt(interrupted: None) -> None:
    with serve_in_thread(create_app([KEY])) as url:
        base_url = url + "/v1"
        created = httpx.post(f"{base_url}/leads", json={"name": "Interrupted Lead"}, headers={"X-API-Key": KEY})
        lead_id = created.json()["data"]["id"]
        ledger = CreatedLeads()
        ledger.add(KEY, lead_id)
        record = clean_up(base_url, ledger, WaitBudget(0.0))
        assert (record.created, record.deleted, record.left) == (1, 1, [])
        assert httpx.get(f"{base_url}/leads/{lead_id}", headers={"X-API-Key": KEY}).status_code == 404


def test_a_generated_request_after_a_swallowed_interrupt_stops_the_check_unsent(interrupted: None) -> None:
    schema = schemathesis.openapi.from_path(spec_path())
    schema.config.update(base_url=BASE_URL)
    case = schema["/leads"]["GET"].Case()
    guard = RunGuard(BASE_URL, KEY, CreatedLeads(), Budget(max_requests=10, max_seconds=60.0))
    try:
        guard.send(case)
    except KeyboardInterrupt:
        pass
    except Blocked as blocked:  # a skip to pytest: here it means the request went out
        pytest.fail(f"the request was sent: {blocked.reason}")
    else:
        pytest.fail("the request was sent and answered")
    assert guard.requests_sent == 0
