"""The app as a whole: factory, docs page and spec, health, CORS, lifespan hooks, the docs' examples."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from conftest import KEY, RACHEL_ID, ApiClient, assert_error, issues, make_app
from mock_server.app import load_spec
from mock_server.config import Settings
from mock_server.dataset import DatasetError

ROOT = Path(__file__).resolve().parent.parent


def test_importing_the_package_builds_and_seeds_nothing() -> None:
    code = (
        "import sys, connexion, mock_server.app as app, mock_server.store as store, mock_server.store.sql as sql\n"
        "modules = [m for name, m in sys.modules.items() if name.startswith('mock_server')]\n"
        "kinds = (store.MemoryStore, sql.SqlStore, connexion.AsyncApp)\n"
        "built = [v for m in modules for v in vars(m).values() if isinstance(v, kinds)]\n"
        "print(len(built), app._parsed_spec.cache_info().currsize)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["0", "0"], done.stderr


def test_each_app_has_its_own_state() -> None:
    first, second = ApiClient(make_app()), ApiClient(make_app())
    first.delete(f"/v1/leads/{RACHEL_ID}")
    assert second.get(f"/v1/leads/{RACHEL_ID}").status_code == 200


def test_every_operation_of_the_spec_is_served() -> None:
    spec = load_spec()
    operations = [op for item in spec["paths"].values() for op in item.values() if "operationId" in op]
    operation_ids = {op["operationId"] for op in operations}
    assert operation_ids == {"listLeads", "createLead", "getLead", "updateLead", "deleteLead", "convertLead"}
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete"):
                url = "/v1" + path.replace("{id}", RACHEL_ID)
                api = ApiClient(make_app())
                assert api.request(method.upper(), url, json={"notes": "x"} if method == "put" else None).status_code \
                    not in (404, 405, 500), (method, path)


def test_generated_data_replaces_the_fixtures() -> None:
    api = ApiClient(make_app(generate=250, seed=9))
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 250


def test_a_fixtures_file_is_loaded_for_the_first_key(tmp_path: Path) -> None:
    data = {"leads": [{"id": "11111111-1111-4111-8111-111111111111", "name": "Only One", "status": "new",
                       "interest_level": "hot", "lead_type": "buyer", "version": 1,
                       "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z"}]}
    path = tmp_path / "leads.json"
    path.write_text(json.dumps(data))
    lead = ApiClient(make_app(fixtures=path)).get("/v1/leads").json()["data"]["leads"][0]
    assert lead["name"] == "Only One" and lead["email"] is None and lead["user_id"]


@pytest.mark.parametrize("content", ['{"leads": [{"id": "x", "name": "y"}]}', '{"clients": []}', "[]", "{oops"])
def test_an_unusable_fixtures_file_is_a_clear_dataset_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "leads.json"
    path.write_text(content)
    with pytest.raises(DatasetError, match="fixtures"):
        make_app(fixtures=path)


def test_swagger_ui_and_the_spec_are_served_without_a_key(api: ApiClient) -> None:
    page = api.get("/v1/ui/", key=None)
    assert page.status_code == 200 and "swagger" in page.text.lower()
    spec = api.get("/v1/openapi.json", key=None).json()
    assert spec["info"]["title"] == "Leads API" and spec["servers"][0]["url"] == "http://localhost/v1"
    assert api.get("/v1/ui/swagger-ui.css", key=None).status_code == 200  # local assets, no CDN


def test_health_answers_ok_without_a_key(api: ApiClient) -> None:
    response = api.get("/healthz", key=None)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_cors_preflight_is_answered_for_any_origin_by_default(api: ApiClient) -> None:
    response = api.request("OPTIONS", "/v1/leads", key=None, headers={
        "Origin": "https://crm.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Content-Type"})
    assert response.status_code == 204 and response.content == b"" and "content-type" not in response.headers
    assert response.headers["access-control-allow-origin"] in ("*", "https://crm.example.com")
    assert "x-api-key" in response.headers["access-control-allow-headers"].lower()


def test_cors_answers_expose_the_ratelimit_headers(api: ApiClient) -> None:
    response = api.get("/v1/leads", headers={"Origin": "https://crm.example.com"})
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = response.headers["access-control-expose-headers"].lower()
    assert all(name in exposed for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "retry-after"))


def test_cors_origins_can_be_restricted() -> None:
    api = ApiClient(make_app(cors_origins=("https://crm.example.com",)))
    allowed = api.get("/v1/leads", headers={"Origin": "https://crm.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://crm.example.com"
    refused = api.get("/v1/leads", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in refused.headers
    preflight = api.request("OPTIONS", "/v1/leads", key=None, headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"})
    assert set(issues(preflight)) == {"Origin"}


@pytest.mark.parametrize(("asked", "refused"), [
    ({"Access-Control-Request-Method": "TRACE"}, {"Access-Control-Request-Method"}),
    ({"Access-Control-Request-Method": ""}, {"Access-Control-Request-Method"}),
    ({"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "X-API-Key, X-Evil"},
     {"Access-Control-Request-Headers"}),
])
def test_a_refused_preflight_is_400_in_the_envelope_naming_the_refused_header(
        api: ApiClient, asked: dict[str, str], refused: set[str]) -> None:
    response = api.request("OPTIONS", "/v1/leads", key=None, headers={"Origin": "https://crm.example.com", **asked})
    assert set(issues(response)) == refused


def test_shutdown_hooks_run_when_the_app_stops() -> None:
    app = make_app()
    calls: list[str] = []
    app.shutdown_hooks.append(lambda: calls.append("saved"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert calls == []
    assert calls == ["saved"]


def test_responses_are_not_validated_by_connexion_at_run_time() -> None:
    assert make_app().middleware.options.validate_responses is False


# -- the docs' curl examples, with host, key and :id filled in ------------------------------------

DOC_EXAMPLES = [
    ("GET", "/v1/leads", None, 200),
    ("POST", "/v1/leads", '{\n    "name": "Jordan Lee"\n  }', 201),
    ("GET", "/v1/leads/:id", None, 200),
    ("PUT", "/v1/leads/:id", '{\n    "status": "contacted",\n    "interest_level": "hot",\n    "version": 1\n  }', 200),
    ("POST", "/v1/leads/:id/convert", '{\n    "clientType": "buyer"\n  }', 200),
    ("DELETE", "/v1/leads/:id", None, 200),
]


def test_the_docs_curl_examples_work_in_order(live_server) -> None:
    base, _ = live_server

    async def run() -> None:
        async with httpx.AsyncClient(base_url=base) as client:
            for method, path, body, status in DOC_EXAMPLES:
                headers = {"X-API-Key": KEY}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                response = await client.request(method, path.replace(":id", RACHEL_ID), headers=headers, content=body)
                assert response.status_code == status, (method, path, response.text)

    asyncio.run(run())


@pytest.mark.parametrize("settings", [Settings(), Settings(api_keys=("a", "b"), cors_origins=("http://x.example",))])
def test_create_app_accepts_any_settings(settings: Settings) -> None:
    from mock_server.app import create_app
    app = create_app(settings)
    assert app.settings is settings and app.store.revision == 0
