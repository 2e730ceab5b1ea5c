"""The control panel's routes over HTTP (ASGI): the page, journal detail and long poll, data, faults, data sets."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from conftest import KEY, OTHER_KEY, RACHEL_ID, ApiClient, assert_error, issues, make_app
from mock_server.store import MemoryStore, user_id_for

FIXTURE_LEADS = 34
TOKEN = "panel-token"


def control(api: ApiClient, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return api.request(method, "/__mock" + path, key=None, headers=headers, **kwargs)


def data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def total(api: ApiClient, key: str = KEY) -> int:
    return int(data(api.get("/v1/leads", key=key))["meta"]["total"])


@pytest.fixture
def api() -> ApiClient:
    return ApiClient(make_app())


# -- the page -------------------------------------------------------------------------------------

def test_the_page_is_html_that_only_its_own_origin_may_load_from_or_frame(api: ApiClient) -> None:
    page = control(api, "GET", "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="panel/panel.js"' in page.text and "http" not in page.text.split("<body>")[0]
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"


def test_the_page_assets_are_served_and_nothing_else_is(api: ApiClient) -> None:
    script = control(api, "GET", "/panel/panel.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "/__mock" in script.text
    assert control(api, "GET", "/panel/panel.css").headers["content-type"].startswith("text/css")
    assert_error(control(api, "GET", "/panel/routes.py"), 404, "NOT_FOUND")
    assert_error(control(api, "GET", "/panel/..%2Froutes.py"), 404, "NOT_FOUND")


def test_the_bare_prefix_redirects_to_the_page(api: ApiClient) -> None:
    response = control(api, "GET", "")
    assert response.status_code == 308 and response.headers["location"] == "/__mock/"


def test_with_a_token_the_page_is_public_but_every_panel_route_needs_the_token() -> None:
    api = ApiClient(make_app(admin_token=TOKEN))
    assert control(api, "GET", "/").status_code == 200
    assert control(api, "GET", "/panel/panel.js").status_code == 200
    for method, path in [("GET", "/journal/1"), ("GET", "/data/leads"), ("GET", "/datasets"), ("POST", "/datasets"),
                         ("POST", "/datasets/load"), ("GET", "/forced-codes"), ("PATCH", "/forced-codes"),
                         ("POST", "/rate-limit/exhaust")]:
        assert_error(control(api, method, path), 401, "NO_AUTH_TOKEN")
        assert_error(control(api, method, path, token="wrong"), 401, "INVALID_AUTH_TOKEN")
    assert data(control(api, "GET", "/datasets", token=TOKEN))["saved"] == []


def test_mutating_routes_read_only_json_bodies(api: ApiClient) -> None:
    # a web page can post a form or text/plain anywhere without a preflight; JSON needs one
    for method, path in (("POST", "/datasets"), ("POST", "/datasets/load"), ("POST", "/rate-limit/exhaust"),
                         ("PATCH", "/forced-codes"), ("PATCH", "/settings")):
        for headers in ({"Content-Type": "text/plain"}, {}):
            response = control(api, method, path, content=b'{"error_rate": 0.5}', headers=headers)
            assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert data(control(api, "GET", "/settings"))["error_rate"] == 0
    assert_error(control(api, "POST", "/datasets", content=b"{", headers={"Content-Type": "application/json"}),
                 400, "INVALID_JSON")
    assert issues(control(api, "POST", "/datasets", json=[1]))["body"]
    assert_error(control(api, "POST", "/datasets", json={"name": "x" * 20_000}), 413, "PAYLOAD_TOO_LARGE")


# -- journal: detail and long poll ----------------------------------------------------------------

def test_a_journal_entry_opens_into_request_response_and_a_curl_line(api: ApiClient) -> None:
    created = api.post("/v1/leads", json={"name": "Jordan Lee"}, headers={"Prefer": "delay=1"})
    assert created.status_code == 201
    seq = data(control(api, "GET", "/journal"))["entries"][0]["seq"]
    entry = data(control(api, "GET", f"/journal/{seq}"))
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/v1/leads", 201)
    request_headers = dict(entry["request"]["headers"])
    assert request_headers["x-api-key"] == "****-key" and request_headers["prefer"] == "delay=1"
    assert json.loads(entry["request"]["body"]) == {"name": "Jordan Lee"}
    assert dict(entry["response"]["headers"])["content-type"] == "application/json"
    assert json.loads(entry["response"]["body"])["data"]["id"] == created.json()["data"]["id"]
    assert entry["curl"] == ("curl -i -X POST http://localhost/v1/leads -H 'accept: */*' -H 'prefer: delay=1' "
                             "-H 'x-api-key: leads-mock-key' -H 'content-type: application/json' "
                             "--data-raw '{\"name\":\"Jordan Lee\"}'")
    assert entry["curl_is_exact"] is True


def test_a_get_has_no_body_read_and_an_unknown_entry_is_404(api: ApiClient) -> None:
    api.get(f"/v1/leads/{RACHEL_ID}", params={"x": "it's"})
    entry = data(control(api, "GET", "/journal/1"))
    assert entry["request"]["body"] is None and entry["request"]["body_read"] is False
    assert entry["curl"].startswith("curl -i 'http://localhost/v1/leads/f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b?x=it")
    assert_error(control(api, "GET", "/journal/99"), 404, "NOT_FOUND")
    assert_error(control(api, "GET", "/journal/nope"), 404, "NOT_FOUND")
    assert_error(control(api, "GET", "/journal/" + "9" * 5000), 404, "NOT_FOUND")  # more digits than int() takes


def test_journal_after_lists_only_newer_entries_and_reports_the_last_number(api: ApiClient) -> None:
    for _ in range(3):
        api.get("/v1/leads")
    listing = data(control(api, "GET", "/journal", params={"after": "1"}))
    assert [entry["seq"] for entry in listing["entries"]] == [3, 2]
    assert listing["last_seq"] == 3 and listing["bytes"] > 0 and listing["max_bytes"] >= listing["bytes"]
    assert data(control(api, "GET", "/journal", params={"after": "3", "wait": "0"}))["entries"] == []


@pytest.mark.parametrize(("name", "value"), [("after", "-1"), ("after", "x"), ("wait", "31"), ("wait", "1.5")])
def test_bad_journal_poll_parameters_are_400(api: ApiClient, name: str, value: str) -> None:
    assert name in issues(control(api, "GET", "/journal", params={name: value}))


def test_a_long_poll_answers_as_soon_as_an_api_request_is_journalled() -> None:
    app = make_app()

    async def scenario() -> tuple[float, dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            started = time.monotonic()
            poll = asyncio.create_task(client.get("/__mock/journal", params={"after": "0", "wait": "20"}))
            await asyncio.sleep(0.2)
            assert not poll.done()  # nothing journalled yet: the answer waits
            await client.get("/v1/leads", headers={"X-API-Key": KEY})
            answer = await asyncio.wait_for(poll, 10)
            return time.monotonic() - started, answer.json()["data"]

    elapsed, listing = asyncio.run(scenario())
    assert elapsed < 10
    assert [entry["path"] for entry in listing["entries"]] == ["/v1/leads"]


# -- data of each key -----------------------------------------------------------------------------

def test_a_keys_leads_come_with_the_lists_filters_and_counts(api: ApiClient) -> None:
    page = data(control(api, "GET", "/data/leads", params={"status": "new", "limit": "3"}))
    assert page["api_key"] == "****-key" and page["limit"] == 3
    assert page["total"] == page["stats"]["byStatus"]["new"] and len(page["leads"]) == 3
    assert page["stats"]["total"] == FIXTURE_LEADS
    assert {lead["status"] for lead in page["leads"]} == {"new"}
    both = data(control(api, "GET", "/data/leads", params={"status": "new", "interest_level": "hot", "limit": "100"}))
    assert all(lead["interest_level"] == "hot" for lead in both["leads"]) and both["total"] == len(both["leads"])
    assert data(control(api, "GET", "/data/leads", params={"api_key": OTHER_KEY}))["total"] == 0


@pytest.mark.parametrize(("name", "value"), [("status", "won"), ("interest_level", "lukewarm"), ("page", "0"),
                                             ("limit", "101"), ("limit", "ten")])
def test_bad_data_filters_are_400(api: ApiClient, name: str, value: str) -> None:
    assert name in issues(control(api, "GET", "/data/leads", params={name: value}))


def test_data_of_an_unknown_key_is_404(api: ApiClient) -> None:
    assert_error(control(api, "GET", "/data/leads", params={"api_key": "nobody"}), 404, "NOT_FOUND")


# -- faults and limits ----------------------------------------------------------------------------

def test_a_forced_code_answers_for_its_operation_only_until_cleared(api: ApiClient) -> None:
    view = data(control(api, "PATCH", "/forced-codes", json={"getLead": 503, "convertLead": 409}))
    assert view["forced"] == {"getLead": 503, "convertLead": 409} and "listLeads" in view["operations"]
    assert_error(api.get(f"/v1/leads/{RACHEL_ID}"), 503, "SERVER_ERROR")
    assert_error(api.post(f"/v1/leads/{RACHEL_ID}/convert", json={}), 409, "ALREADY_CONVERTED")
    assert api.get("/v1/leads").status_code == 200
    assert api.put(f"/v1/leads/{RACHEL_ID}", json={"notes": "still works"}).status_code == 200
    assert api.get(f"/v1/leads/{RACHEL_ID}", headers={"Prefer": "code=418"}).status_code == 418  # per request wins
    assert data(control(api, "PATCH", "/forced-codes", json={"getLead": None}))["forced"] == {"convertLead": 409}
    assert api.get(f"/v1/leads/{RACHEL_ID}").status_code == 200
    assert data(control(api, "GET", "/forced-codes"))["forced"] == {"convertLead": 409}


def test_bad_forced_codes_are_400_and_none_is_applied(api: ApiClient) -> None:
    found = issues(control(api, "PATCH", "/forced-codes", json={"getLead": 503, "nope": 500, "listLeads": 200,
                                                               "deleteLead": True}))
    assert set(found) == {"nope", "listLeads", "deleteLead"}
    assert data(control(api, "GET", "/forced-codes"))["forced"] == {}
    assert issues(control(api, "PATCH", "/forced-codes", json={}))["body"]


def test_exhausting_a_keys_window_makes_its_next_request_429_and_leaves_other_keys(api: ApiClient) -> None:
    spent = data(control(api, "POST", "/rate-limit/exhaust", json={"api_key": KEY}))
    assert spent["api_key"] == "****-key" and spent["remaining"] == 0 and spent["reset_seconds"] >= 1
    refused = assert_error(api.get("/v1/leads"), 429, "RATE_LIMIT_EXCEEDED")
    assert refused["message"]
    assert api.get("/v1/leads", key=OTHER_KEY).status_code == 200
    assert control(api, "POST", "/reset").status_code == 200  # reset clears the windows
    assert api.get("/v1/leads").status_code == 200


def test_exhausting_the_window_of_an_unknown_key_is_404(api: ApiClient) -> None:
    assert_error(control(api, "POST", "/rate-limit/exhaust", json={"api_key": "nobody"}), 404, "NOT_FOUND")
    assert "api_key" in issues(control(api, "POST", "/rate-limit/exhaust", json={"api_key": 7}))


# -- data sets ------------------------------------------------------------------------------------

def test_a_saved_data_set_loads_back_for_every_key(api: ApiClient) -> None:
    api.create(name="Kept Lead")
    other_id = ApiClient(api.app, key=OTHER_KEY).create(name="Other Tenant")["id"]
    assert data(control(api, "POST", "/datasets", json={"name": "demo 1"}))["saved"] == ["demo 1"]
    data(control(api, "POST", "/datasets/load", json={"builtin": "empty"}))
    assert total(api) == 0 and total(api, OTHER_KEY) == 0
    data(control(api, "POST", "/datasets/load", json={"name": "demo 1"}))
    assert total(api) == FIXTURE_LEADS + 1
    assert api.get(f"/v1/leads/{other_id}", key=OTHER_KEY).status_code == 200
    # changing the loaded data leaves the saved set as it was
    api.delete(f"/v1/leads/{RACHEL_ID}")
    data(control(api, "POST", "/datasets/load", json={"name": "demo 1"}))
    assert api.get(f"/v1/leads/{RACHEL_ID}").status_code == 200


def test_built_in_data_sets_fixtures_empty_and_generated(api: ApiClient) -> None:
    data(control(api, "POST", "/datasets/load", json={"builtin": "generated", "count": 12, "seed": 4}))
    first = data(api.get("/v1/leads", params={"limit": 100}))["leads"]
    assert len(first) == 12
    data(control(api, "POST", "/datasets/load", json={"builtin": "generated", "count": 12, "seed": 4}))
    assert data(api.get("/v1/leads", params={"limit": 100}))["leads"] == first  # same seed, same leads
    data(control(api, "POST", "/datasets/load", json={"builtin": "fixtures"}))
    assert total(api) == FIXTURE_LEADS


def test_a_data_set_name_with_a_lone_surrogate_is_400_naming_it(api: ApiClient) -> None:
    # JSON may escape a lone surrogate, which no store can write as UTF-8
    for path in ("/datasets", "/datasets/load"):
        response = control(api, "POST", path, content=b'{"name": "x\\udfff"}', headers={"Content-Type": "application/json"})
        assert "name" in issues(response)
    assert data(control(api, "GET", "/datasets"))["saved"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"), ({"name": " padded"}, "name"), ({"name": "a\nb"}, "name"), ({"name": "x" * 65}, "name"),
    ({"name": 5}, "name"), ({"builtin": "huge"}, "builtin"), ({"builtin": "generated", "seed": 1}, "count"),
    ({"builtin": "generated", "count": 100_001, "seed": 1}, "count"), ({"builtin": "generated", "count": 1}, "seed"),
    ({"builtin": "generated", "count": True, "seed": 1}, "count"),
])
def test_bad_data_set_requests_are_400_naming_the_field(api: ApiClient, body: dict[str, Any], field: str) -> None:
    assert field in issues(control(api, "POST", "/datasets/load", json=body))
    assert total(api) == FIXTURE_LEADS


def test_saved_data_sets_are_capped_but_one_can_always_be_replaced(api: ApiClient) -> None:
    for number in range(50):
        data(control(api, "POST", "/datasets", json={"name": f"set {number}"}))
    assert "name" in issues(control(api, "POST", "/datasets", json={"name": "one too many"}))
    assert len(data(control(api, "POST", "/datasets", json={"name": "set 7"}))["saved"]) == 50


def test_loading_an_unknown_data_set_is_404_and_changes_nothing(api: ApiClient) -> None:
    assert_error(control(api, "POST", "/datasets/load", json={"name": "never saved"}), 404, "NOT_FOUND")
    assert total(api) == FIXTURE_LEADS


def test_saved_data_sets_persist_in_the_state_file(tmp_path: Any) -> None:
    state = tmp_path / "state.db"
    first = ApiClient(make_app(state_file=state))
    first.create(name="Persisted")
    data(control(first, "POST", "/datasets", json={"name": "kept"}))
    data(control(first, "POST", "/datasets/load", json={"builtin": "empty"}))
    first.app.store.close()  # every write is already committed; a restart opens the same file

    second = ApiClient(make_app(state_file=state))
    assert total(second) == 0
    assert data(control(second, "GET", "/datasets"))["saved"] == ["kept"]
    data(control(second, "POST", "/datasets/load", json={"name": "kept"}))
    assert total(second) == FIXTURE_LEADS + 1


def test_the_store_saves_loads_and_names_data_sets_and_refuses_unknown_names() -> None:
    owner = user_id_for(KEY)
    store = MemoryStore({"leads": [], "contacts": [], "clients": []}, owner_id=owner)
    store.create(owner, {"name": "First"})
    store.save_dataset("one")
    store.save_dataset("another")
    revision = store.revision
    store.create(owner, {"name": "Second"})
    store.load_dataset("one")
    assert store.revision > revision
    assert [lead["name"] for lead in store.inspect(KEY)["leads"]] == ["First"]
    assert store.dataset_names() == ["another", "one"]
    with pytest.raises(Exception) as raised:
        store.load_dataset("missing")
    assert type(raised.value).__name__ == "DatasetNotFound" and getattr(raised.value, "status", None) == 404
