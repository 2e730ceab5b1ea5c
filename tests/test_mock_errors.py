"""Errors: always the JSON envelope, unknown routes, wrong methods, crashes, and which error wins."""

from __future__ import annotations

import json
import logging

import pytest
from connexion.exceptions import BadRequestProblem, OAuthProblem, ProblemException, UnsupportedMediaTypeProblem
from connexion.lifecycle import ConnexionRequest

from conftest import RACHEL_ID, ApiClient, assert_error, issues, make_app
from mock_server.errors import ErrorTranslator
from mock_server.validation import MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}
MISSING_ID = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("path", ["/v1/leads/", f"/v1/leads/{RACHEL_ID}/", f"/v1/leads/{RACHEL_ID}/convert/",
                                  "/v1/lead", "/v1/leads/x/y/z", "/v1", "/v2/leads", "/nowhere"])
def test_unknown_routes_including_trailing_slashes_are_404_not_found(api: ApiClient, path: str) -> None:
    assert_error(api.get(path), 404, "NOT_FOUND")


def test_a_trailing_slash_is_never_redirected(api: ApiClient) -> None:
    assert_error(api.post("/v1/leads/", json={"name": "x"}), 404, "NOT_FOUND")


@pytest.mark.parametrize("method, path, allow", [
    ("PATCH", "/v1/leads", "GET, HEAD, POST"),
    ("DELETE", "/v1/leads", "GET, HEAD, POST"),
    ("PATCH", f"/v1/leads/{RACHEL_ID}", "GET, HEAD, PUT, DELETE"),
    ("POST", f"/v1/leads/{RACHEL_ID}", "GET, HEAD, PUT, DELETE"),
    ("GET", f"/v1/leads/{RACHEL_ID}/convert", "POST"),
    ("OPTIONS", f"/v1/leads/{RACHEL_ID}/convert", "POST"),
])
def test_wrong_method_is_405_with_every_allowed_method(api: ApiClient, method: str, path: str, allow: str) -> None:
    response = api.request(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == allow


def test_head_is_served_where_get_is(api: ApiClient) -> None:
    response = api.request("HEAD", "/v1/leads")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"


def test_an_unexpected_exception_is_a_500_server_error_envelope_and_logged(app, api: ApiClient, monkeypatch,
                                                                          caplog) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.store, "get_json", explode)  # what a get by id reads
    with caplog.at_level(logging.ERROR):
        response = api.get(f"/v1/leads/{RACHEL_ID}")
    error = assert_error(response, 500, "SERVER_ERROR")
    assert "disk on fire" not in error["message"]  # internals stay in the log
    assert "disk on fire" in caplog.text
    assert response.headers["ratelimit-limit"]


def test_no_error_is_ever_problem_json(api: ApiClient) -> None:
    responses = [
        api.get("/v1/leads", key=None), api.get("/v1/leads", key="nope"), api.get("/v1/leads/bad"),
        api.get("/v1/nope"), api.request("PATCH", "/v1/leads"), api.post("/v1/leads", content=b"{", headers=JSON),
        api.post("/v1/leads", content=b"x", headers={"Content-Type": "text/plain"}),
        api.put(f"/v1/leads/{RACHEL_ID}", json={}), api.get(f"/v1/leads/{MISSING_ID}"),
    ]
    for response in responses:
        assert response.headers["content-type"] == "application/json", response.text
        assert response.json()["success"] is False


# -- which answer wins when several apply (decisions, "Edge rules") -------------------------------

def test_rate_limit_comes_before_unknown_route() -> None:
    api = ApiClient(make_app(rate_limit=1))
    api.get("/v1/leads")
    assert_error(api.get("/v1/nowhere"), 429, "RATE_LIMIT_EXCEEDED")


def test_unknown_route_comes_before_wrong_method_and_auth(api: ApiClient) -> None:
    assert_error(api.request("PATCH", "/v1/leads/", key=None), 404, "NOT_FOUND")


def test_wrong_method_comes_before_auth(api: ApiClient) -> None:
    assert_error(api.request("PATCH", "/v1/leads", key=None), 405, "METHOD_NOT_ALLOWED")


def test_auth_comes_before_a_malformed_id(api: ApiClient) -> None:
    assert_error(api.get("/v1/leads/not-a-uuid", key=None), 401, "NO_AUTH_TOKEN")


def test_malformed_id_comes_before_payload_too_large(api: ApiClient) -> None:
    body = b'{"notes": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert "id" in issues(api.put("/v1/leads/not-a-uuid", content=body, headers=JSON))


def test_payload_too_large_comes_before_unsupported_media_type(api: ApiClient) -> None:
    body = b"a" * (MAX_BODY_BYTES + 1)
    assert_error(api.post("/v1/leads", content=body, headers={"Content-Type": "text/plain"}), 413, "PAYLOAD_TOO_LARGE")


def test_unsupported_media_type_comes_before_malformed_json(api: ApiClient) -> None:
    assert_error(api.post("/v1/leads", content=b"{", headers={"Content-Type": "text/plain"}), 415,
                 "UNSUPPORTED_MEDIA_TYPE")


def test_malformed_json_comes_before_validation(api: ApiClient) -> None:
    assert_error(api.post("/v1/leads", content=b'{"lead_type": "tenant",', headers=JSON), 400, "INVALID_JSON")


def test_validation_comes_before_no_updates(api: ApiClient) -> None:
    assert "version" in issues(api.put(f"/v1/leads/{RACHEL_ID}", json={"version": 0}))


def test_no_updates_comes_before_the_leads_404(api: ApiClient) -> None:
    assert_error(api.put(f"/v1/leads/{MISSING_ID}", json={"version": 1}), 400, "NO_UPDATES")


def test_the_leads_404_comes_before_a_version_conflict(api: ApiClient) -> None:
    assert_error(api.put(f"/v1/leads/{MISSING_ID}", json={"notes": "x", "version": 99}), 404, "NOT_FOUND")


@pytest.mark.parametrize("problem, status, code", [
    (BadRequestProblem(detail="bad"), 400, "VALIDATION_ERROR"), (OAuthProblem(detail="no"), 401, "NO_AUTH_TOKEN"),
    (UnsupportedMediaTypeProblem(detail="xml"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (ProblemException(status=418, detail="teapot"), 500, "SERVER_ERROR"),
])
def test_connexion_problems_become_envelopes(problem, status: int, code: str) -> None:
    translator = ErrorTranslator(lambda path: None)
    response = translator.problem(ConnexionRequest({"type": "http", "path": "/v1/leads", "headers": []}), problem)
    body = json.loads(response.body)
    assert response.status_code == status and response.mimetype == "application/json"
    assert body["success"] is False and body["error"]["code"] == code
