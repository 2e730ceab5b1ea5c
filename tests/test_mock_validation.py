"""Request validation: every offending field named, real formats, JSON and media-type rules, body size."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from conftest import KEY, RACHEL_ID, ApiClient, assert_error, issues
from mock_server.validation import MAX_BODY_BYTES

JSON = {"Content-Type": "application/json"}


def test_every_offending_body_field_is_reported_with_bare_names(api: ApiClient) -> None:
    body = {"email": "not-an-email", "lead_type": "tenant", "budget": -1, "phone": "9" * 51,
            "next_follow_up": "tomorrow", "interest_level": 3}
    found = issues(api.post("/v1/leads", json=body))
    assert set(found) == {"name", "email", "lead_type", "budget", "phone", "next_follow_up", "interest_level"}
    assert all(location == "body" for location, _ in found.values())
    assert found["name"][1] == "name is required"
    assert found["lead_type"][1] == "'tenant' is not one of ['buyer', 'seller', 'both']"


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 256])
def test_name_must_have_a_non_space_character_and_at_most_255(api: ApiClient, name: str) -> None:
    assert "name" in issues(api.post("/v1/leads", json={"name": name}))


@pytest.mark.parametrize("email", ["plain", "a b@example.com", "a@@example.com", "a@b@example.com", "@example.com",
                                   "rachel@", " rachel@example.com", "rachel@example.com\n"])
def test_malformed_emails_are_rejected(api: ApiClient, email: str) -> None:
    assert "email" in issues(api.post("/v1/leads", json={"name": "R", "email": email}))


@pytest.mark.parametrize("email", ["a@b", "rachel.kim@example.com", "o'neil+leads@sub.example.org", "X@EXAMPLE.COM", "ré@exämple.com"])
def test_local_at_domain_emails_are_accepted(api: ApiClient, email: str) -> None:
    assert api.create(email=email)["email"] == email


@pytest.mark.parametrize("value", ["2026-07-01", "2026-07-01T25:00:00Z", "2026-02-30T10:00:00Z",
                                   "2026-07-01T10:00:00", "2026-07-01T10:00:00+24:00", "yesterday"])
def test_date_times_must_be_rfc3339_with_an_offset(api: ApiClient, value: str) -> None:
    assert "next_follow_up" in issues(api.post("/v1/leads", json={"name": "R", "next_follow_up": value}))


@pytest.mark.parametrize("budget", ["380000", True, [1], {"a": 1}, -0.01])
def test_budget_must_be_a_non_negative_number(api: ApiClient, budget: object) -> None:
    assert "budget" in issues(api.post("/v1/leads", json={"name": "R", "budget": budget}))


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" + b"0" * 400])
def test_numbers_beyond_a_double_are_rejected_not_stored(api: ApiClient, number: bytes) -> None:
    body = b'{"name": "R", "budget": ' + number + b"}"
    assert "budget" in issues(api.post("/v1/leads", content=body, headers=JSON))


@pytest.mark.parametrize("lead_id", ["abc", "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9", "f2b8d4a63c5e4f7a9b1d8e0c6a4f2d9b",
                                     "{f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b}", "g2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"])
def test_malformed_id_is_400_naming_the_path_parameter(api: ApiClient, lead_id: str) -> None:
    assert issues(api.get(f"/v1/leads/{lead_id}"))["id"][0] == "path"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_a_json_body_that_is_not_an_object_is_reported_as_field_body(api: ApiClient, body: bytes) -> None:
    assert issues(api.post("/v1/leads", content=body, headers=JSON))["body"][0] == "body"


@pytest.mark.parametrize("body", [b"{", b'{"name": "x",}', b"{'name': 'x'}", b'{"name": NaN}', b'{"budget": Infinity}',
                                  b"\xff\xfe{}", b'{"name": "caf\xe9"}', b"\xef\xbb\xbf{}", b" "])
def test_malformed_or_non_utf8_json_is_400_invalid_json(api: ApiClient, body: bytes) -> None:
    assert_error(api.post("/v1/leads", content=body, headers=JSON), 400, "INVALID_JSON")


def test_deeply_nested_json_is_a_client_error_not_a_crash(api: ApiClient) -> None:
    body = b'{"name": "x", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert api.post("/v1/leads", content=body, headers=JSON).status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/vnd.api+json",
                                          "text/json", "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_application_json_is_415(api: ApiClient, content_type: str) -> None:
    response = api.post("/v1/leads", content=b'{"name": "x"}', headers={"Content-Type": content_type})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    response = api.put(f"/v1/leads/{RACHEL_ID}", content=b'{"notes": "x"}', headers={"Content-Type": content_type})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_body_without_content_type_is_415(api: ApiClient) -> None:
    assert_error(api.post("/v1/leads", content=b'{"name": "x"}'), 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON",
                                          "application/json;charset=UTF-8"])
def test_application_json_with_parameters_is_json(api: ApiClient, content_type: str) -> None:
    response = api.post("/v1/leads", content=b'{"name": "x"}', headers={"Content-Type": content_type})
    assert response.status_code == 201


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/json"}])
def test_an_empty_convert_body_is_no_body_whatever_its_content_type(api: ApiClient, headers: dict) -> None:
    response = api.post(f"/v1/leads/{RACHEL_ID}/convert", content=b"", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["client"]["client_type"] == "buyer"


def test_a_non_empty_convert_body_must_be_json(api: ApiClient) -> None:
    response = api.post(f"/v1/leads/{RACHEL_ID}/convert", content=b"clientType=seller",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("headers", [JSON, {}, {"Content-Type": "text/plain"}])
def test_an_empty_create_body_is_read_as_an_empty_object_naming_name(api: ApiClient, headers: dict) -> None:
    found = issues(api.post("/v1/leads", content=b"", headers=headers))
    assert found == {"name": ("body", "name is required")}
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 34


@pytest.mark.parametrize("headers", [JSON, {}])
def test_an_empty_update_body_is_read_as_an_empty_object_with_no_updates(api: ApiClient, headers: dict) -> None:
    assert_error(api.put(f"/v1/leads/{RACHEL_ID}", content=b"", headers=headers), 400, "NO_UPDATES")
    assert api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]["version"] == 1


@pytest.mark.parametrize("body", [b'{"name": "Jordan \\ud800"}', b'{"name": "J", "notes": "\\udfff end"}',
                                  b'{"name": "J", "\\ud83d": 1}', b'{"name": "J", "extra": ["\\uDBFF"]}'])
def test_a_lone_surrogate_escape_is_400_invalid_json_and_nothing_is_stored(api: ApiClient, body: bytes) -> None:
    assert_error(api.post("/v1/leads", content=body, headers=JSON), 400, "INVALID_JSON")
    assert_error(api.put(f"/v1/leads/{RACHEL_ID}", content=body, headers=JSON), 400, "INVALID_JSON")
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 34
    assert api.get(f"/v1/leads/{RACHEL_ID}").json()["data"]["version"] == 1


def test_an_integer_past_pythons_digit_limit_is_400_invalid_json_saying_so(api: ApiClient) -> None:
    body = b'{"name": "J", "extra": ' + b"9" * 5000 + b"}"
    error = assert_error(api.post("/v1/leads", content=body, headers=JSON), 400, "INVALID_JSON")
    assert "more than 4300 digits" in error["message"]
    assert api.get("/v1/leads").json()["data"]["meta"]["total"] == 34


def test_a_surrogate_pair_escape_is_text(api: ApiClient) -> None:
    response = api.post("/v1/leads", content=b'{"name": "Jordan \\ud83d\\ude00"}', headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Jordan \U0001f600"


def test_unknown_body_fields_are_ignored_on_convert(api: ApiClient) -> None:
    response = api.post(f"/v1/leads/{RACHEL_ID}/convert", json={"clientType": "seller", "priority": "high"})
    assert response.json()["data"]["client"]["client_type"] == "seller"


def test_client_type_outside_the_enum_is_400(api: ApiClient) -> None:
    response = api.post(f"/v1/leads/{RACHEL_ID}/convert", json={"clientType": "landlord"})
    assert issues(response)["clientType"][0] == "body"


def test_a_body_over_1_mib_by_content_length_is_413(api: ApiClient) -> None:
    body = b'{"name": "x", "notes": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert_error(api.post("/v1/leads", content=body, headers=JSON), 413, "PAYLOAD_TOO_LARGE")


def test_a_body_of_exactly_1_mib_is_accepted(api: ApiClient) -> None:
    prefix, suffix = b'{"name": "x", "notes": "', b'"}'
    body = prefix + b"a" * (MAX_BODY_BYTES - len(prefix) - len(suffix)) + suffix
    assert api.post("/v1/leads", content=body, headers=JSON).status_code == 201


def test_a_streamed_body_over_1_mib_is_413_whatever_its_declared_length(app) -> None:
    async def chunks():
        for _ in range(20):
            yield b"a" * 65536

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            return await client.post("/v1/leads", content=chunks(), headers={**JSON, "X-API-Key": KEY})

    response = asyncio.run(send())
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_repeated_query_parameters_are_rejected(api: ApiClient) -> None:
    assert "status" in issues(api.get("/v1/leads?status=new&status=lost"))


def test_unknown_query_parameters_are_ignored(api: ApiClient) -> None:
    assert api.get("/v1/leads", params={"sort": "name"}).status_code == 200


@pytest.mark.parametrize("name", ["\ufeff", "\u3000\u00a0", "\u2028"])
def test_whitespace_is_javascripts_so_these_names_are_blank(api: ApiClient, name: str) -> None:
    assert "name" in issues(api.post("/v1/leads", json={"name": name}))


def test_characters_javascript_does_not_call_space_make_a_name(api: ApiClient) -> None:
    """The spec's pattern `\\S` is ECMA-262: \\x1d is not whitespace there, though Python's `\\s` says it is."""
    assert api.create(name="\x1d")["name"] == "\x1d"
    assert api.create(name="\u3000Kim\ufeff")["name"] == "Kim"
