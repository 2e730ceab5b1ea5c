"""The `/__mock` control routes, served by AdminMiddleware in front of a small Starlette app."""

from __future__ import annotations

import asyncio
import copy
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_server.controls.admin import AdminMiddleware, admin_routes
from mock_server.controls.journal import Journal
from mock_server.controls.recording import JournalMiddleware

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
TOKEN = "s3cret-admin"
JSON = {"Content-Type": "application/json"}
FIXTURES: dict[str, dict[str, list[dict[str, Any]]]] = {
    "key-a": {"leads": [{"id": "a1", "name": "Rachel Kim"}], "contacts": [{"id": "c1"}], "clients": []},
    "key-b": {
        "leads": [{"id": "b1", "name": "Jordan Lee"}, {"id": "b2", "name": "Sam Ortiz"}],
        "contacts": [],
        "clients": [{"id": "k1"}],
    },
}
ROUTES = [
    ("POST", "/__mock/reset"), ("GET", "/__mock/keys"), ("GET", "/__mock/leads"), ("GET", "/__mock/contacts"),
    ("GET", "/__mock/clients"), ("GET", "/__mock/journal"), ("DELETE", "/__mock/journal"),
    ("GET", "/__mock/settings"), ("PATCH", "/__mock/settings"),
]


class FakeStore:
    """Like the real store: inspecting a key nobody used shows nothing rather than failing."""

    def __init__(self) -> None:
        self.data = copy.deepcopy(FIXTURES)
        self.revision = 0

    def reset(self) -> None:
        self.data = copy.deepcopy(FIXTURES)
        self.revision += 1

    def inspect(self, api_key: str) -> dict[str, list[dict[str, Any]]]:
        return self.data.get(api_key, {"leads": [], "contacts": [], "clients": []})


@dataclass
class Runtime:
    latency_ms: tuple[int, int] | None = None
    error_rate: float = 0.0
    rate_limit: int = 500
    rate_window_seconds: int = 60


class Harness:
    def __init__(self, token: str | None = None, api_keys: list[str] | None = None) -> None:
        self.store, self.journal, self.runtime = FakeStore(), Journal(), Runtime()

        async def api(request: Request) -> Response:
            return JSONResponse({"success": True, "data": {"leads": []}, "timestamp": "2026-07-01T22:52:30.664Z"})

        inner = Starlette(routes=[Route("/v1/leads", api), Route("/health", api)])
        keys = list(FIXTURES) if api_keys is None else api_keys
        routes = admin_routes(self.store, self.journal, self.runtime, token, api_keys=keys)
        self.app = JournalMiddleware(AdminMiddleware(inner, routes), self.journal)

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(send())


@pytest.fixture
def mock() -> Harness:
    return Harness()


def data_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is True
    assert TIMESTAMP.fullmatch(body["timestamp"])
    return body["data"]


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert TIMESTAMP.fullmatch(body["timestamp"])
    error: dict[str, Any] = body["error"]
    return error


def fields_of(error: dict[str, Any]) -> set[str]:
    return {detail["field"] for detail in error["details"]}


def test_reset_puts_the_store_back_to_its_fixtures(mock: Harness) -> None:
    mock.store.data["key-a"]["leads"].clear()
    assert data_of(mock.call("POST", "/__mock/reset")) == {}
    assert mock.store.data == FIXTURES
    assert mock.store.revision == 1


def test_keys_are_listed_masked_unless_revealed(mock: Harness) -> None:
    assert data_of(mock.call("GET", "/__mock/keys")) == {"keys": ["****ey-a", "****ey-b"], "masked": True}
    assert data_of(mock.call("GET", "/__mock/keys?reveal=false"))["keys"] == ["****ey-a", "****ey-b"]


@pytest.mark.parametrize("reveal", ["true", "1", "TRUE"])
def test_reveal_lists_every_api_key_in_full(mock: Harness, reveal: str) -> None:
    assert data_of(mock.call("GET", f"/__mock/keys?reveal={reveal}")) == {"keys": ["key-a", "key-b"], "masked": False}


@pytest.mark.parametrize("reveal", ["yes please", "2", ""])
def test_a_reveal_that_is_not_true_or_false_is_400(mock: Harness, reveal: str) -> None:
    for path in ("/__mock/keys", "/__mock/leads"):
        error = error_of(mock.call("GET", path, params={"reveal": reveal}), 400, "VALIDATION_ERROR")
        assert fields_of(error) == {"reveal"}


@pytest.mark.parametrize("kind", ["leads", "contacts", "clients"])
def test_inspection_defaults_to_the_first_api_key(mock: Harness, kind: str) -> None:
    data = data_of(mock.call("GET", f"/__mock/{kind}"))
    assert data == {"api_key": "****ey-a", "total": len(FIXTURES["key-a"][kind]), kind: FIXTURES["key-a"][kind]}
    assert data_of(mock.call("GET", f"/__mock/{kind}?reveal=true"))["api_key"] == "key-a"


@pytest.mark.parametrize("kind", ["leads", "contacts", "clients"])
def test_inspection_shows_the_records_of_the_requested_key(mock: Harness, kind: str) -> None:
    data = data_of(mock.call("GET", f"/__mock/{kind}", params={"api_key": "key-b"}))
    assert data[kind] == FIXTURES["key-b"][kind]
    assert data["api_key"] == "****ey-b"


@pytest.mark.parametrize("key", ["nope", ""])
def test_inspection_of_an_unknown_key_is_404(mock: Harness, key: str) -> None:
    error_of(mock.call("GET", "/__mock/leads", params={"api_key": key}), 404, "NOT_FOUND")


def test_inspection_without_any_configured_key_is_404() -> None:
    error_of(Harness(api_keys=[]).call("GET", "/__mock/leads"), 404, "NOT_FOUND")


def test_keys_come_from_the_store_when_not_given() -> None:
    store = FakeStore()
    store.api_keys = ["key-b"]  # type: ignore[attr-defined]
    mock = Harness()
    mock.app = JournalMiddleware(AdminMiddleware(mock.app, admin_routes(store, Journal(), Runtime(), None)), Journal())
    assert data_of(mock.call("GET", "/__mock/keys?reveal=true"))["keys"] == ["key-b"]
    assert data_of(mock.call("GET", "/__mock/leads"))["leads"] == FIXTURES["key-b"]["leads"]


def test_journal_lists_api_requests_newest_first_and_skips_control_routes(mock: Harness) -> None:
    mock.call("GET", "/v1/leads?page=1", headers={"X-API-Key": "key-a-1234"})
    mock.call("GET", "/v1/leads?page=2")
    mock.call("GET", "/health")
    data = data_of(mock.call("GET", "/__mock/journal"))
    assert [entry["query"] for entry in data["entries"]] == ["page=2", "page=1"]
    assert data["entries"][1]["api_key"] == "****1234"
    assert (data["total"], data["capacity"]) == (2, 500)


def test_journal_limit_caps_the_number_of_entries(mock: Harness) -> None:
    for page in range(1, 5):
        mock.call("GET", f"/v1/leads?page={page}")
    entries = data_of(mock.call("GET", "/__mock/journal", params={"limit": "2"}))["entries"]
    assert [entry["query"] for entry in entries] == ["page=4", "page=3"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "", "1.5", "²"])
def test_journal_limit_that_is_not_a_positive_integer_is_400(mock: Harness, limit: str) -> None:
    error = error_of(mock.call("GET", "/__mock/journal", params={"limit": limit}), 400, "VALIDATION_ERROR")
    assert error["details"][0]["field"] == "limit"
    assert error["details"][0]["location"] == "query"


def test_deleting_the_journal_empties_it(mock: Harness) -> None:
    mock.call("GET", "/v1/leads")
    assert data_of(mock.call("DELETE", "/__mock/journal")) == {"removed": 1}
    assert data_of(mock.call("GET", "/__mock/journal"))["entries"] == []


def test_settings_show_the_runtime_values(mock: Harness) -> None:
    mock.runtime.latency_ms = (5, 10)
    assert data_of(mock.call("GET", "/__mock/settings")) == {
        "latency_ms": [5, 10], "error_rate": 0.0, "rate_limit": 500, "rate_window_seconds": 60,
    }


def test_patching_settings_changes_the_runtime(mock: Harness) -> None:
    body = {"latency_ms": [100, 300], "error_rate": 0.25, "rate_limit": 5, "rate_window_seconds": 10}
    assert data_of(mock.call("PATCH", "/__mock/settings", json=body)) == body
    assert mock.runtime == Runtime(latency_ms=(100, 300), error_rate=0.25, rate_limit=5, rate_window_seconds=10)


def test_patching_only_some_settings_leaves_the_others(mock: Harness) -> None:
    mock.runtime.latency_ms = (1, 2)
    data_of(mock.call("PATCH", "/__mock/settings", json={"error_rate": 1}))
    assert mock.runtime == Runtime(latency_ms=(1, 2), error_rate=1, rate_limit=500, rate_window_seconds=60)


def test_null_latency_turns_latency_off(mock: Harness) -> None:
    mock.runtime.latency_ms = (1, 2)
    assert data_of(mock.call("PATCH", "/__mock/settings", json={"latency_ms": None}))["latency_ms"] is None
    assert mock.runtime.latency_ms is None


def test_every_bad_setting_is_reported_and_none_is_applied(mock: Harness) -> None:
    body = {"latency_ms": [300, 100], "error_rate": 1.5, "rate_limit": 0, "rate_window_seconds": "60", "colour": "red"}
    error = error_of(mock.call("PATCH", "/__mock/settings", json=body), 400, "VALIDATION_ERROR")
    assert fields_of(error) == set(body)
    assert all(detail["location"] == "body" for detail in error["details"])
    assert mock.runtime == Runtime()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("latency_ms", [1]), ("latency_ms", [1, 2, 3]), ("latency_ms", [-1, 5]), ("latency_ms", [0, 30001]),
        ("latency_ms", [1.5, 2]), ("latency_ms", [True, 2]), ("latency_ms", 100), ("latency_ms", "1-2"),
        ("error_rate", -0.1), ("error_rate", True), ("error_rate", None), ("error_rate", "0.5"),
        ("rate_limit", 1.0), ("rate_limit", True), ("rate_limit", None), ("rate_window_seconds", 0),
        ("rate_window_seconds", -5), ("rate_window_seconds", int("9" * 400)), ("rate_window_seconds", 10**9),
        ("rate_limit", 10**10), ("rate_limit", int("9" * 400)),
    ],
)
def test_an_invalid_setting_value_is_400_naming_the_field(mock: Harness, field: str, value: Any) -> None:
    error = error_of(mock.call("PATCH", "/__mock/settings", json={field: value}), 400, "VALIDATION_ERROR")
    assert fields_of(error) == {field}
    assert mock.runtime == Runtime()


@pytest.mark.parametrize(
    "body", [b"{", b"", b'{"error_rate": NaN}', b'{"error_rate": Infinity}', b"\xff\xfe{", b"[" * 50_000]
)
def test_settings_body_that_is_not_json_is_400_invalid_json(mock: Harness, body: bytes) -> None:
    error_of(mock.call("PATCH", "/__mock/settings", content=body, headers=JSON), 400, "INVALID_JSON")


def test_huge_number_in_settings_is_rejected_cleanly(mock: Harness) -> None:
    body = b'{"error_rate": 1e999, "rate_limit": ' + b"9" * 5000 + b"}"
    response = mock.call("PATCH", "/__mock/settings", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json()["success"] is False


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"5", b"null"])
def test_settings_body_that_is_not_an_object_is_400_on_field_body(mock: Harness, body: bytes) -> None:
    error = error_of(mock.call("PATCH", "/__mock/settings", content=body, headers=JSON), 400, "VALIDATION_ERROR")
    assert fields_of(error) == {"body"}


def test_empty_settings_object_is_400_no_updates(mock: Harness) -> None:
    error_of(mock.call("PATCH", "/__mock/settings", json={}), 400, "NO_UPDATES")


def test_oversized_settings_body_is_413(mock: Harness) -> None:
    body = b'{"error_rate": 0.5, "pad": "' + b"x" * 70_000 + b'"}'
    error_of(mock.call("PATCH", "/__mock/settings", content=body, headers=JSON), 413, "PAYLOAD_TOO_LARGE")


def test_unknown_control_route_is_404_in_the_envelope(mock: Harness) -> None:
    error_of(mock.call("GET", "/__mock/nothing-here"), 404, "NOT_FOUND")
    error_of(mock.call("GET", "/__mock"), 404, "NOT_FOUND")
    error_of(mock.call("GET", "/__mock/keys/"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/__mock/reset", "POST"),
        ("POST", "/__mock/journal", "DELETE, GET, HEAD"),
        ("PUT", "/__mock/settings", "GET, HEAD, PATCH"),
    ],
)
def test_wrong_method_on_a_control_route_is_405_with_allow(mock: Harness, method: str, path: str, allow: str) -> None:
    response = mock.call(method, path)
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow


def test_other_paths_pass_through_to_the_wrapped_app(mock: Harness) -> None:
    assert data_of(mock.call("GET", "/v1/leads")) == {"leads": []}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_with_a_token_every_control_route_needs_it(method: str, path: str) -> None:
    mock = Harness(token=TOKEN)
    error_of(mock.call(method, path), 401, "NO_AUTH_TOKEN")
    response = mock.call(method, path, token="wrong")
    error_of(response, 401, "INVALID_AUTH_TOKEN")
    assert response.headers["www-authenticate"].startswith("Bearer")
    error_of(mock.call(method, path, headers={"Authorization": f"Basic {TOKEN}"}), 401, "INVALID_AUTH_TOKEN")
    assert mock.runtime == Runtime()
    assert mock.store.revision == 0


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_with_the_right_token_every_control_route_answers(method: str, path: str) -> None:
    mock = Harness(token=TOKEN)
    body = {"json": {"error_rate": 0.1}} if method == "PATCH" else {}
    data_of(mock.call(method, path, token=TOKEN, **body))


def test_the_token_is_not_required_outside_the_control_routes() -> None:
    assert data_of(Harness(token=TOKEN).call("GET", "/v1/leads")) == {"leads": []}


def test_non_ascii_authorization_is_refused_cleanly() -> None:
    mock = Harness(token=TOKEN)
    response = mock.call("GET", "/__mock/keys", headers={"Authorization": "Bearer caf\xe9".encode("latin-1")})
    error_of(response, 401, "INVALID_AUTH_TOKEN")


def test_an_empty_admin_token_is_refused() -> None:
    with pytest.raises(ValueError):
        admin_routes(FakeStore(), Journal(), Runtime(), "")
