"""The `/__mock` control routes are for the developer's own tools: no CORS, no cross-origin or rebound requests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import KEY, RACHEL_ID, ApiClient
from mock_server.app import create_app
from mock_server.config import load_settings

EVIL = "http://evil.example"
FRONTEND = "http://localhost:5173"


def mock(*flags: str) -> ApiClient:
    return ApiClient(create_app(load_settings(list(flags), env={})))


def control(api: ApiClient, method: str, path: str, headers: dict[str, str] | None = None,
            **kwargs: Any) -> httpx.Response:
    return api.request(method, "/__mock" + path, key=None, headers=headers or {}, **kwargs)


def refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


def test_control_routes_answer_no_cors_headers_even_to_an_allowed_origin() -> None:
    response = control(mock(), "GET", "/keys", headers={"Origin": "http://localhost"})  # same origin
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origin", [EVIL, FRONTEND, "http://localhost:8081", "null", "https://localhost"])
def test_a_cross_origin_read_of_the_keys_is_refused(origin: str) -> None:
    refused(control(mock(), "GET", "/keys", headers={"Origin": origin}))


def test_a_cross_origin_preflight_for_settings_is_refused() -> None:
    response = control(mock(), "OPTIONS", "/settings", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "content-type"})
    refused(response)


def test_a_cross_origin_form_post_cannot_reset_the_store() -> None:
    api = mock()
    api.delete(f"/v1/leads/{RACHEL_ID}")
    refused(control(api, "POST", "/reset", headers={"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"},
                    content=b"x=1"))
    assert api.get(f"/v1/leads/{RACHEL_ID}").status_code == 404  # not reset


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_browser_request_from_another_site_is_refused_without_an_origin_too(site: str) -> None:
    refused(control(mock(), "GET", "/leads", headers={"Sec-Fetch-Site": site}))


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
                                     {"Sec-Fetch-Site": "none"}, {}])
def test_same_origin_pages_typed_urls_and_tools_reach_the_control_routes(headers: dict[str, str]) -> None:
    assert control(mock(), "GET", "/settings", headers=headers).status_code == 200


def test_a_dns_rebinding_page_is_refused_by_its_host() -> None:
    # The page's own name now points at 127.0.0.1: to the browser it is same-origin
    headers = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    refused(control(mock(), "GET", "/keys", headers=headers))
    refused(control(mock(), "GET", "/keys", headers={"Host": "evil.example:8080"}))


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1", "127.0.0.2:9000", "[::1]:8080", "app.localhost"])
def test_loopback_hosts_reach_the_control_routes(host: str) -> None:
    assert control(mock(), "GET", "/keys", headers={"Host": host}).status_code == 200


def test_with_an_admin_token_any_host_may_reach_them_but_cross_origin_is_still_refused() -> None:
    api = mock("--admin-token", "t0ken")
    token = {"Authorization": "Bearer t0ken"}
    assert control(api, "GET", "/keys", headers={**token, "Host": "mock.internal:8080"}).status_code == 200
    refused(control(api, "GET", "/keys", headers={**token, "Origin": EVIL}))


def test_with_unsafe_open_admin_any_host_may_reach_them() -> None:
    api = mock("--unsafe-open-admin")
    assert control(api, "GET", "/keys", headers={"Host": "192.168.1.20:8080"}).status_code == 200


def test_the_api_keeps_its_cors_for_dev_servers() -> None:
    api = mock()
    preflight = api.request("OPTIONS", "/v1/leads", key=None, headers={
        "Origin": FRONTEND, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] in ("*", FRONTEND)
    response = api.get("/v1/leads", headers={"Origin": FRONTEND, "Host": "evil.example"})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] in ("*", FRONTEND)


def test_keys_are_masked_unless_revealed_and_the_inspection_does_not_echo_the_default_key() -> None:
    api = mock("--api-key", "first-secret-key", "--api-key", "second-secret")
    keys = control(api, "GET", "/keys").json()["data"]
    assert keys == {"keys": ["****-key", "****cret"], "masked": True}
    assert "first-secret-key" not in control(api, "GET", "/leads").text
    assert control(api, "GET", "/keys?reveal=true").json()["data"]["keys"] == ["first-secret-key", "second-secret"]


def test_settings_that_would_break_every_request_are_refused_and_the_api_keeps_answering() -> None:
    api = mock()
    for body in ({"rate_window_seconds": int("9" * 400)}, {"rate_limit": 10**12}):
        response = control(api, "PATCH", "/settings", json=body)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    raw = b'{"rate_window_seconds": 1e400}'
    answer = control(api, "PATCH", "/settings", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert api.get("/v1/leads", key=KEY).status_code == 200
    assert control(api, "GET", "/settings").json()["data"]["rate_window_seconds"] == 60
