"""API keys: missing, empty and unknown keys, one user per key, and what needs no key."""

from __future__ import annotations

import uuid

import pytest

from conftest import KEY, OTHER_KEY, RACHEL_ID, ApiClient, assert_error
from mock_server.auth import ApiKeys
from mock_server.errors import InvalidApiKey, MissingApiKey
from mock_server.store import user_id_for

OPERATIONS = [("GET", "/v1/leads"), ("POST", "/v1/leads"), ("GET", f"/v1/leads/{RACHEL_ID}"),
              ("PUT", f"/v1/leads/{RACHEL_ID}"), ("DELETE", f"/v1/leads/{RACHEL_ID}"),
              ("POST", f"/v1/leads/{RACHEL_ID}/convert")]


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_a_missing_key_is_401_no_auth_token_on_every_operation(api: ApiClient, method: str, path: str) -> None:
    assert_error(api.request(method, path, key=None), 401, "NO_AUTH_TOKEN")


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_an_empty_key_counts_as_missing(api: ApiClient, method: str, path: str) -> None:
    assert_error(api.request(method, path, key=""), 401, "NO_AUTH_TOKEN")


@pytest.mark.parametrize("key", ["wrong", "LEADS-MOCK-KEY", "leads-mock-key2", "leads mock key"])
def test_an_unknown_key_is_401_invalid_api_key(api: ApiClient, key: str) -> None:
    assert_error(api.get("/v1/leads", key=key), 401, "INVALID_API_KEY")


@pytest.mark.parametrize("key", [" leads-mock-key", "leads-mock-key ", "\tleads-mock-key \t"])
def test_whitespace_around_the_key_is_not_part_of_it(api: ApiClient, key: str) -> None:
    response = api.get("/v1/leads", key=key)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["meta"]["total"] == 34  # the first key's own leads


def test_a_key_of_only_whitespace_counts_as_missing(api: ApiClient) -> None:
    assert_error(api.get("/v1/leads", key="  \t "), 401, "NO_AUTH_TOKEN")


def test_a_padded_key_counts_against_its_own_rate_limit_window() -> None:
    from conftest import make_app
    padded = ApiClient(make_app(rate_limit=2), key=KEY + " ")
    plain = ApiClient(padded.app, key=KEY, address="10.0.0.9")
    assert [padded.get("/v1/leads").status_code, plain.get("/v1/leads").status_code] == [200, 200]
    assert_error(padded.get("/v1/leads"), 429, "RATE_LIMIT_EXCEEDED")


def test_a_rejected_request_changes_nothing(api: ApiClient) -> None:
    api.delete(f"/v1/leads/{RACHEL_ID}", key="wrong")
    assert api.get(f"/v1/leads/{RACHEL_ID}").status_code == 200


@pytest.mark.parametrize("path", ["/v1/openapi.json", "/v1/ui/", "/healthz"])
def test_docs_spec_and_health_need_no_key(api: ApiClient, path: str) -> None:
    assert api.get(path, key=None).status_code == 200


def test_each_key_is_one_stable_user(api: ApiClient, other: ApiClient) -> None:
    assert api.create()["user_id"] == user_id_for(KEY)
    assert other.create()["user_id"] == user_id_for(OTHER_KEY)
    assert user_id_for(KEY) == str(uuid.uuid5(uuid.UUID("6f1c1f0e-5b7a-4a43-9d3e-2f8c4b1a7e52"), KEY))
    assert user_id_for(KEY) != user_id_for(OTHER_KEY)


def test_the_first_key_owns_the_initial_data_and_others_start_empty(api: ApiClient, other: ApiClient) -> None:
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 34
    assert other.get("/v1/leads").json()["data"]["stats"]["total"] == 0


def test_api_keys_keep_their_order_and_require_one() -> None:
    keys = ApiKeys(["b", "a"])
    assert keys.keys == ("b", "a") and keys.user_for("a") == user_id_for("a")
    assert keys.user_for("c") is None and keys.user_for("") is None and keys.user_for(None) is None
    with pytest.raises(ValueError):
        ApiKeys([])


@pytest.mark.parametrize("sent", [KEY, f" {KEY}", f"{KEY}\t", OTHER_KEY, "wrong", "", " ", None])
def test_the_key_check_answers_as_the_keys_token_info_does(app: object, sent: str | None) -> None:
    """Keys sent exactly take a shortcut past `ApiKeys.token_info`: the same users, the same 401s."""
    keys = ApiKeys([KEY, OTHER_KEY])
    response = ApiClient(app, key=sent).get("/v1/leads?limit=100")
    try:
        user = keys.token_info(sent)["sub"]
    except (MissingApiKey, InvalidApiKey) as error:
        assert_error(response, 401, error.code)
        return
    assert response.status_code == 200, response.text
    assert {lead["user_id"] for lead in response.json()["data"]["leads"]} <= {user}
    assert response.json()["data"]["meta"]["total"] == (34 if user == user_id_for(KEY) else 0)
