"""The wired mock as a frontend developer drives it: controls, faults, admin token, CORS, docs and the docs' curl examples."""

from __future__ import annotations

import asyncio
import json
import shlex
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import KEY, RACHEL_ID, ApiClient, assert_error
from mock_server.app import create_app
from mock_server.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_LEADS = 34
TOKEN = "admin-s3cret"
FRONTEND = "http://localhost:5173"


def mock(*flags: str) -> ApiClient:
    """A client of a mock built exactly as the command line would build it, with no environment."""
    return ApiClient(create_app(load_settings(list(flags), env={})))


def control(api: ApiClient, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return api.request(method, "/__mock" + path, key=None, headers=headers, **kwargs)


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def total(api: ApiClient, key: str = KEY) -> int:
    return int(data(api.get("/v1/leads", key=key))["meta"]["total"])


# -- reset ----------------------------------------------------------------------------------------

def test_reset_brings_back_the_fixtures_after_creates_and_deletes() -> None:
    api = mock()
    created = api.create(name="Temporary Lead")["id"]
    data(api.delete(f"/v1/leads/{RACHEL_ID}"))
    assert total(api) == FIXTURE_LEADS  # one in, one out
    assert api.get(f"/v1/leads/{RACHEL_ID}").status_code == 404

    assert control(api, "POST", "/reset").status_code == 200
    leads = data(api.get("/v1/leads", params={"limit": 100}))["leads"]
    assert len(leads) == FIXTURE_LEADS and leads[0]["id"] == RACHEL_ID
    assert created not in {lead["id"] for lead in leads}
    assert api.get(f"/v1/leads/{created}").status_code == 404


def test_reset_clears_the_rate_limit_windows() -> None:
    api = mock("--rate-limit", "2/minute")
    assert [api.get("/v1/leads").status_code for _ in range(3)] == [200, 200, 429]
    assert control(api, "POST", "/reset").status_code == 200
    response = api.get("/v1/leads")
    assert response.status_code == 200 and response.headers["RateLimit-Remaining"] == "1"


# -- inspection -----------------------------------------------------------------------------------

def test_inspection_shows_a_created_lead_under_its_own_key_only() -> None:
    api = mock("--api-key", KEY, "--api-key", "second-key")
    second = ApiClient(api.app, key="second-key")
    lead = second.create(name="Only For Second")
    assert data(control(api, "GET", "/keys", params={"reveal": "true"})) == {
        "keys": [KEY, "second-key"], "masked": False}
    assert data(control(api, "GET", "/keys")) == {"keys": ["****-key", "****-key"], "masked": True}

    mine = data(control(api, "GET", "/leads", params={"api_key": "second-key", "reveal": "true"}))
    assert (mine["api_key"], mine["total"]) == ("second-key", 1)
    assert mine["leads"][0]["id"] == lead["id"] and mine["leads"][0]["name"] == "Only For Second"

    default = data(control(api, "GET", "/leads"))  # the first key by default
    assert default["api_key"] == "****-key" and default["total"] == FIXTURE_LEADS
    assert lead["id"] not in {record["id"] for record in default["leads"]}


def test_inspection_shows_the_contact_and_client_a_convert_created() -> None:
    # the first key owns the fixtures; the second starts empty, so every record seen is the convert's
    api = ApiClient(create_app(load_settings(["--api-key", KEY, "--api-key", "fresh-key"], env={})), key="fresh-key")
    lead = api.create(name="Casey Buyer", email="casey@example.com", phone="555-0100", budget=200000)
    assert data(control(api, "GET", "/contacts", params={"api_key": "fresh-key"}))["contacts"] == []
    converted = data(api.post(f"/v1/leads/{lead['id']}/convert", json={"clientType": "seller"}))

    contacts = data(control(api, "GET", "/contacts", params={"api_key": "fresh-key"}))
    clients = data(control(api, "GET", "/clients", params={"api_key": "fresh-key"}))
    assert contacts["total"] == 1 and contacts["contacts"][0]["id"] == converted["primaryContactId"]
    assert contacts["contacts"][0]["email"] == "casey@example.com"
    assert clients["total"] == 1
    assert clients["clients"][0].items() >= converted["client"].items()  # the store keeps created_at besides
    assert clients["clients"][0]["client_type"] == "seller"
    assert (clients["clients"][0]["price_range_min"], clients["clients"][0]["price_range_max"]) == (180000, 220000)
    leads = data(control(api, "GET", "/leads", params={"api_key": "fresh-key"}))["leads"]
    assert leads[0]["status"] == "converted" and leads[0]["converted_to_client_id"] == converted["client"]["id"]


def test_inspection_of_an_unknown_key_is_404() -> None:
    assert_error(control(mock(), "GET", "/leads", params={"api_key": "nobody"}), 404, "NOT_FOUND")


# -- journal --------------------------------------------------------------------------------------

def test_journal_records_api_requests_with_status_and_the_schemathesis_test_case_id() -> None:
    api = mock()
    api.get("/v1/leads", params={"status": "new"}, headers={"X-Schemathesis-TestCaseId": "case-42"})
    api.get("/v1/leads/not-a-uuid")
    api.get("/v1/leads", key=None)
    api.get("/healthz", key=None)  # not an API request: not journalled
    control(api, "GET", "/keys")

    entries = data(control(api, "GET", "/journal"))["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/v1/leads", 401), ("GET", "/v1/leads/not-a-uuid", 400), ("GET", "/v1/leads", 200)]
    oldest = entries[-1]
    assert oldest["query"] == "status=new" and oldest["test_case_id"] == "case-42"
    assert oldest["api_key"] == "****-key" and entries[0]["api_key"] is None
    assert entries[1]["test_case_id"] is None

    assert data(control(api, "DELETE", "/journal")) == {"removed": 3}
    assert data(control(api, "GET", "/journal"))["entries"] == []


# -- runtime settings -----------------------------------------------------------------------------

def test_error_rate_of_one_fails_every_api_request_with_server_error_until_set_back_to_zero() -> None:
    api = mock()
    assert data(control(api, "PATCH", "/settings", json={"error_rate": 1.0}))["error_rate"] == 1.0
    answers = [api.get("/v1/leads"), api.post("/v1/leads", json={"name": "Nope"}), api.get(f"/v1/leads/{RACHEL_ID}"),
               api.put(f"/v1/leads/{RACHEL_ID}", json={"notes": "x"}), api.delete(f"/v1/leads/{RACHEL_ID}"),
               api.post(f"/v1/leads/{RACHEL_ID}/convert")]
    for response in answers:
        assert_error(response, 500, "SERVER_ERROR")
    assert api.get("/healthz", key=None).status_code == 200  # only the API is faulted
    assert api.get("/v1/openapi.json", key=None).status_code == 200

    assert data(control(api, "PATCH", "/settings", json={"error_rate": 0}))["error_rate"] == 0
    assert total(api) == FIXTURE_LEADS  # nothing was created or deleted while failing
    assert data(api.get(f"/v1/leads/{RACHEL_ID}"))["version"] == 1


def test_rate_limit_of_two_refuses_the_third_request_with_429_and_retry_after() -> None:
    api = mock()
    settings = data(control(api, "PATCH", "/settings", json={"rate_limit": 2}))
    assert settings["rate_limit"] == 2 and settings["rate_window_seconds"] == 60
    first, second, third = (api.get("/v1/leads") for _ in range(3))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["RateLimit-Limit"] == "2" and second.headers["RateLimit-Remaining"] == "0"
    assert_error(third, 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert api.get("/v1/leads", key="other-tenant-key").status_code == 401  # not the limit: an unknown key


def test_latency_setting_delays_api_answers_by_at_least_its_minimum() -> None:
    api = mock()
    data(control(api, "PATCH", "/settings", json={"latency_ms": [150, 160]}))
    assert api.get("/v1/leads").status_code == 200
    assert data(control(api, "GET", "/journal"))["entries"][0]["duration_ms"] >= 150
    assert data(control(api, "PATCH", "/settings", json={"latency_ms": None}))["latency_ms"] is None


def test_latency_and_error_rate_flags_show_in_the_settings() -> None:
    api = mock("--latency", "50-300", "--error-rate", "0.05", "--rate-limit", "10/second")
    assert data(control(api, "GET", "/settings")) == {
        "latency_ms": [50, 300], "error_rate": 0.05, "rate_limit": 10, "rate_window_seconds": 1}


# -- per-request faults ---------------------------------------------------------------------------

def test_prefer_code_500_fails_only_that_request_and_changes_nothing() -> None:
    api = mock()
    response = api.post("/v1/leads", json={"name": "Never Stored"}, headers={"Prefer": "code=500"})
    assert_error(response, 500, "SERVER_ERROR")
    assert response.headers["Preference-Applied"] == "code=500"
    assert "RateLimit-Limit" in response.headers
    assert total(api) == FIXTURE_LEADS


def test_prefer_delay_holds_the_answer_for_at_least_that_long_and_says_so() -> None:
    api = mock()
    response = api.get(f"/v1/leads/{RACHEL_ID}", headers={"Prefer": "delay=300"})
    assert data(response)["id"] == RACHEL_ID
    assert response.headers["Preference-Applied"] == "delay=300"
    assert data(control(api, "GET", "/journal"))["entries"][0]["duration_ms"] >= 300


def test_prefer_code_and_delay_combine_in_one_request() -> None:
    api = mock()
    response = api.get("/v1/leads", headers={"Prefer": "code=503, delay=100"})
    assert_error(response, 503, "SERVER_ERROR")
    assert response.headers["Preference-Applied"] == "delay=100, code=503"
    assert data(control(api, "GET", "/journal"))["entries"][0]["duration_ms"] >= 100


# -- admin token ----------------------------------------------------------------------------------

def test_admin_token_protects_the_control_routes_but_not_the_api_docs_or_health() -> None:
    api = mock("--admin-token", TOKEN)
    refused = control(api, "GET", "/settings")
    assert_error(refused, 401, "NO_AUTH_TOKEN")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(control(api, "POST", "/reset", token="wrong"), 401, "INVALID_AUTH_TOKEN")
    assert data(control(api, "GET", "/settings", token=TOKEN))["error_rate"] == 0.0
    assert control(api, "POST", "/reset", token=TOKEN).status_code == 200

    assert api.get("/v1/ui/", key=None).status_code == 200
    assert api.get("/v1/openapi.json", key=None).status_code == 200
    assert api.get("/healthz", key=None).status_code == 200
    assert total(api) == FIXTURE_LEADS  # the API wants its key, not the admin token


# -- CORS -----------------------------------------------------------------------------------------

def test_cors_preflight_from_a_dev_server_is_allowed() -> None:
    response = mock().request("OPTIONS", "/v1/leads", key=None, headers={
        "Origin": FRONTEND, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] in ("*", FRONTEND)
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "content-type"} <= allowed


def test_cors_simple_get_is_allowed_and_exposes_the_rate_limit_headers() -> None:
    response = mock().get("/v1/leads", headers={"Origin": FRONTEND})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", FRONTEND)
    exposed = {name.strip().lower() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"} <= exposed


def test_cors_error_answers_carry_the_allow_origin_too() -> None:
    response = mock().get("/v1/leads", key=None, headers={"Origin": FRONTEND})
    assert_error(response, 401, "NO_AUTH_TOKEN")
    assert response.headers["Access-Control-Allow-Origin"] in ("*", FRONTEND)


def test_cors_origin_flag_refuses_other_origins() -> None:
    api = mock("--cors-origin", "http://localhost:3000")
    allowed = api.get("/v1/leads", headers={"Origin": "http://localhost:3000"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    other = api.get("/v1/leads", headers={"Origin": FRONTEND})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
    preflight = api.request("OPTIONS", "/v1/leads", key=None, headers={
        "Origin": FRONTEND, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


# -- health and the spec --------------------------------------------------------------------------

def test_healthz_answers_200_without_a_key() -> None:
    response = mock().get("/healthz", key=None)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_openapi_json_is_served_without_a_key_with_the_content_of_openapi_yaml() -> None:
    response = mock().get("/v1/openapi.json", key=None)
    assert response.status_code == 200
    served = response.json()
    written = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert served.pop("servers")[0]["url"] == "http://localhost/v1"  # the mock as the caller reached it
    written.pop("servers")
    assert served == written


# -- the docs' curl examples ----------------------------------------------------------------------

# Verbatim from the Leads API docs, in their order.
DOCS_CURL_EXAMPLES = {
    "listLeads": '''curl "https://api.actuallycare.com/v1/leads" \\
  -H "X-API-Key: YOUR_API_KEY"''',
    "createLead": '''curl -X POST "https://api.actuallycare.com/v1/leads" \\
  -H "X-API-Key: YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "name": "Jordan Lee"
  }\'''',
    "getLead": '''curl "https://api.actuallycare.com/v1/leads/:id" \\
  -H "X-API-Key: YOUR_API_KEY"''',
    "updateLead": '''curl -X PUT "https://api.actuallycare.com/v1/leads/:id" \\
  -H "X-API-Key: YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "status": "your-status",
    "interest_level": "your-interest-level",
    "version": 3
  }\'''',
    "deleteLead": '''curl -X DELETE "https://api.actuallycare.com/v1/leads/:id" \\
  -H "X-API-Key: YOUR_API_KEY"''',
    "convertLead": '''curl -X POST "https://api.actuallycare.com/v1/leads/:id/convert" \\
  -H "X-API-Key: YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "clientType": "buyer"
  }\'''',
}
DOCS_HOST = "https://api.actuallycare.com"


def curl_request(example: str, base: str, lead_id: str | None = None, body: Any = None) -> httpx.Request:
    """The request a docs curl command sends, aimed at `base` with the default key; `:id` kept unless given."""
    words = shlex.split(example.replace("\\\n", " "))
    assert words[0] == "curl"
    method, url, headers, content = "GET", "", {}, None
    rest = iter(words[1:])
    for word in rest:
        if word == "-X":
            method = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip().replace("YOUR_API_KEY", KEY)
        elif word == "-d":
            content = next(rest)
        else:
            url = word
    url = url.replace(DOCS_HOST, base)
    if lead_id is not None:
        url = url.replace(":id", lead_id)
    if body is not None:
        content = json.dumps(body)
    return httpx.Request(method, url, headers=headers, content=content)


def send_all(base: str, requests: list[httpx.Request]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return [await client.send(request) for request in requests]

    return asyncio.run(run())


def test_docs_curl_examples_with_a_literal_id_are_rejected_as_a_malformed_id(live_server: Any) -> None:
    base, _ = live_server
    with_id = ["getLead", "updateLead", "deleteLead", "convertLead"]
    for name, response in zip(with_id, send_all(base, [curl_request(DOCS_CURL_EXAMPLES[n], base) for n in with_id])):
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert {(d["field"], d["location"]) for d in error["details"]} == {("id", "path")}, name


def test_docs_curl_examples_answer_as_the_docs_describe(live_server: Any) -> None:
    base, _ = live_server
    docs = DOCS_CURL_EXAMPLES
    listed, created, read, placeholder_update, converted = send_all(base, [
        curl_request(docs["listLeads"], base),
        curl_request(docs["createLead"], base),
        curl_request(docs["getLead"], base, RACHEL_ID),
        curl_request(docs["updateLead"], base, RACHEL_ID),
        curl_request(docs["convertLead"], base, RACHEL_ID),
    ])
    page = data(listed)
    assert page["meta"] == {"page": 1, "limit": 25, "total": 34, "totalPages": 2, "hasMore": True}
    assert page["leads"][0]["id"] == RACHEL_ID and page["leads"][0]["name"] == "Rachel Kim"

    lead = data(created, 201)
    assert created.json()["message"] == "Lead created successfully"
    assert (lead["name"], lead["status"], lead["version"]) == ("Jordan Lee", "new", 1)

    assert data(read)["budget"] == 380000 and data(read)["timeline"] == "3-6 months"

    # The docs' placeholders are not enum values: both fields are named, nothing changes.
    error = assert_error(placeholder_update, 400, "VALIDATION_ERROR")
    assert {detail["field"] for detail in error["details"]} == {"status", "interest_level"}

    body = converted.json()
    assert body["message"] == "Lead successfully converted to client"
    assert body["data"]["client"]["client_type"] == "buyer"
    assert (body["data"]["client"]["price_range_min"], body["data"]["client"]["price_range_max"]) == (342000, 418000)
    assert body["data"]["lead"] == {"id": RACHEL_ID, "lead_status": "converted", "client_id": body["data"]["client"]["id"]}
    assert body["data"]["additionalContactsCount"] == 0

    new_id = lead["id"]
    stale, updated, deleted, gone = send_all(base, [
        curl_request(docs["updateLead"], base, new_id, {"status": "contacted", "interest_level": "hot", "version": 3}),
        curl_request(docs["updateLead"], base, new_id, {"status": "contacted", "interest_level": "hot", "version": 1}),
        curl_request(docs["deleteLead"], base, new_id),
        curl_request(docs["getLead"], base, new_id),
    ])
    conflict = assert_error(stale, 409, "VERSION_CONFLICT")
    assert conflict["details"] == {"currentVersion": 1, "attemptedVersion": 3}
    assert (data(updated)["status"], data(updated)["interest_level"], data(updated)["version"]) == ("contacted", "hot", 2)
    assert data(deleted) == {} and deleted.json()["message"] == "Lead deleted successfully"
    assert_error(gone, 404, "NOT_FOUND")


@pytest.mark.parametrize("name", list(DOCS_CURL_EXAMPLES))
def test_every_docs_curl_example_is_refused_without_a_valid_key(live_server: Any, name: str) -> None:
    base, _ = live_server
    request = curl_request(DOCS_CURL_EXAMPLES[name], base, RACHEL_ID)
    request.headers["X-API-Key"] = "YOUR_API_KEY"  # pasted without filling in the key
    assert_error(send_all(base, [request])[0], 401, "INVALID_API_KEY")
