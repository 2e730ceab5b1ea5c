"""Hostile and broken bodies: each gets its documented 4xx in the error envelope, never a 5xx."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from contract_tests.checks import (
    check_created,
    check_error,
    check_validation_error,
    gone_lead_id,
)
from contract_tests.client import LeadsClient
from contract_tests.findings import answer_text, describe

ONE_MIB = 1024 * 1024
MALFORMED_JSON = [b'{"name": ', b"{name: 'x'}", b'{"name": "x",}', b"NaN", b'{"name": "x"} trailing']
MALFORMED_JSON_IDS = ["cut-off", "js-object", "trailing-comma", "nan", "trailing-text"]
NOT_OBJECTS = [b"[]", b'["name"]', b'"Jordan Lee"', b"42", b"null", b"true"]
# (operationId, method, path template); {id} is a lead this module created.
BODY_OPERATIONS = [
    ("createLead", "POST", "/leads"),
    ("updateLead", "PUT", "/leads/{id}"),
    ("convertLead", "POST", "/leads/{id}/convert"),
]
BODY_IDS = [operation for operation, *_ in BODY_OPERATIONS]
ODD_BODIES: list[Any] = [
    {"name": "x" * 100_000},
    {"name": "Jordan", "budget": 1e308},
    {"name": "Jordan", "budget": 10 ** 40},
    {"name": "Jordan", "email": "a@b", "phone": "\u0000\u202e\ud83d\ude00"},
    {"name": {"first": "Jordan"}},
    {"name": ["Jordan"]},
    {"name": "Jordan", "next_follow_up": "9999-12-31T23:59:59.999+14:00"},
    {"name": "Jordan", "next_follow_up": "0001-01-01T00:00:00.000-14:00"},
    {"name": "Jordan", "lead_type": {"$ne": None}},
    {"__proto__": {"admin": True}, "name": "Jordan"},
    {"name": "Jordan", "notes": "deep", "nested": json.loads("[" * 40 + "]" * 40)},
]


@pytest.fixture(scope="module")
def lead_id(client: LeadsClient) -> str:
    return client.create_lead(name="Contract Test Robustness Lead")["id"]


def path_for(request: pytest.FixtureRequest, template: str) -> str:
    """The path, with {id} a lead of this module: create is checked even where create fails."""
    return template.format(id=request.getfixturevalue("lead_id")) if "{id}" in template else template


def send_raw(
    client: LeadsClient, method: str, path: str, content: bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.request(method, path, content=content, headers=headers)


@pytest.mark.rule("malformed JSON is 400 INVALID_JSON", *BODY_IDS)
@pytest.mark.parametrize("content", MALFORMED_JSON, ids=MALFORMED_JSON_IDS)
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS, ids=BODY_IDS)
def test_malformed_json_is_400_invalid_json(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str, content: bytes
) -> None:
    check_error(operation, send_raw(client, method, path_for(request, path), content), 400, "INVALID_JSON")


@pytest.mark.rule("empty body on create is read as {} (VALIDATION_ERROR naming name)", "createLead")
def test_empty_body_on_create_is_a_validation_error_naming_name(client: LeadsClient) -> None:
    response = send_raw(client, "POST", "/leads", b"")
    check_validation_error("createLead", response, {"name": "body"})


@pytest.mark.rule("empty body on update is read as {} (NO_UPDATES)", "updateLead")
def test_empty_body_on_update_is_no_updates(client: LeadsClient, lead_id: str) -> None:
    check_error("updateLead", send_raw(client, "PUT", f"/leads/{lead_id}", b""), 400, "NO_UPDATES")


@pytest.mark.rule("a lone surrogate in a JSON string is 400 INVALID_JSON", "createLead", "updateLead")
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS[:2], ids=BODY_IDS[:2])
def test_lone_surrogate_is_400_invalid_json(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str
) -> None:
    content = b'{"name": "Jordan \\ud800 Lee", "notes": "lone \\udc00 surrogate"}'
    check_error(operation, send_raw(client, method, path_for(request, path), content), 400, "INVALID_JSON")


@pytest.mark.rule("non-UTF-8 body is 400 INVALID_JSON", *BODY_IDS)
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS, ids=BODY_IDS)
def test_non_utf8_body_is_400_invalid_json(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str
) -> None:
    content = b'{"name": "Jos\xe9 \xff\xfe"}'
    check_error(operation, send_raw(client, method, path_for(request, path), content), 400, "INVALID_JSON")


@pytest.mark.rule("JSON that is not an object is 400 naming body", *BODY_IDS)
@pytest.mark.parametrize("content", NOT_OBJECTS, ids=["empty-array", "array", "string", "number", "null", "true"])
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS, ids=BODY_IDS)
def test_json_that_is_not_an_object_is_400(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str, content: bytes
) -> None:
    response = send_raw(client, method, path_for(request, path), content)
    check_validation_error(operation, response, {"body": "body"})


@pytest.mark.rule("non-JSON content type is 415", *BODY_IDS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
                         ids=["text", "form", "xml", "no-content-type"])
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS, ids=BODY_IDS)
def test_non_json_content_type_is_415(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str,
    content_type: str | None,
) -> None:
    # A well-formed JSON body: only the declared type is wrong.
    content = b'{"name": "Jordan Lee", "status": "lost", "clientType": "buyer"}'
    response = send_raw(client, method, path_for(request, path), content, content_type)
    check_error(operation, response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.rule("JSON content type may carry parameters", "createLead")
def test_json_content_type_with_charset_is_accepted(client: LeadsClient) -> None:
    response = send_raw(client, "POST", "/leads", b'{"name": "Jordan Lee"}', "application/json; charset=utf-8")
    check_created("createLead", response)


@pytest.mark.rule("body over 1 MiB is 413", *BODY_IDS)
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS, ids=BODY_IDS)
def test_body_over_one_mib_is_413(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str
) -> None:
    # Valid JSON of a valid lead, padded with an ignored field: only the size is wrong.
    padding = "x" * (ONE_MIB + 1024)
    content = ('{"name": "Jordan Lee", "status": "lost", "padding": "' + padding + '"}').encode()
    check_error(operation, send_raw(client, method, path_for(request, path), content), 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.rule("body just under 1 MiB is accepted", "createLead")
def test_body_just_under_one_mib_is_accepted(client: LeadsClient) -> None:
    # 1 MiB less 1 KiB of valid JSON: a server whose limit is 1,000,000 bytes refuses it.
    head, tail = b'{"name": "Jordan Lee", "padding": "', b'"}'
    content = head + b"x" * (ONE_MIB - 1024 - len(head) - len(tail)) + tail
    check_created("createLead", send_raw(client, "POST", "/leads", content))


@pytest.mark.rule("order of answers: id, 413, 415, JSON, validation, 404, 409", "createLead", "updateLead")
def test_errors_come_in_the_documented_order(client: LeadsClient, lead_id: str) -> None:
    big = ('{"name": "x", "padding": "' + "x" * (ONE_MIB + 1024) + '"}').encode()
    gone = gone_lead_id(client)
    check_error("createLead", send_raw(client, "POST", "/leads", big, "text/plain"), 413, "PAYLOAD_TOO_LARGE")
    cut_off = b'{"name": '
    check_error("createLead", send_raw(client, "POST", "/leads", cut_off, "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
    check_validation_error("updateLead", send_raw(client, "PUT", "/leads/not-a-uuid", big), {"id": "path"})
    check_validation_error("updateLead", send_raw(client, "PUT", "/leads/not-a-uuid", cut_off), {"id": "path"})
    check_error("updateLead", send_raw(client, "PUT", f"/leads/{gone}", cut_off), 400, "INVALID_JSON")
    stale = b'{"status": "archived", "version": 99}'
    check_validation_error("updateLead", send_raw(client, "PUT", f"/leads/{lead_id}", stale), {"status": "body"})
    conflicting = b'{"status": "lost", "version": 99}'
    check_error("updateLead", send_raw(client, "PUT", f"/leads/{gone}", conflicting), 404, "NOT_FOUND")


@pytest.mark.rule("no 5xx for hostile input", "createLead", "updateLead")
@pytest.mark.parametrize("body", ODD_BODIES, ids=[f"odd-{n}" for n in range(len(ODD_BODIES))])
@pytest.mark.parametrize(("operation", "method", "path"), BODY_OPERATIONS[:2], ids=BODY_IDS[:2])
def test_hostile_body_gets_a_4xx_or_success_never_5xx(
    client: LeadsClient, request: pytest.FixtureRequest, operation: str, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path_for(request, path), json_body=body)
    assert response.status_code < 500, describe(
        operation, "HTTP status", "2xx or 4xx for a hostile body", answer_text(response), response
    )


@pytest.mark.rule("no 5xx for hostile input", "getLead", "listLeads")
@pytest.mark.parametrize("path", [
    "/leads/%00", "/leads/" + "a" * 5000, "/leads?page=" + "9" * 400,
    "/leads?limit=" + "9" * 400, "/leads?status=new&status=lost", "/leads?cursor=" + "A" * 5000,
    "/leads?page=%00", "/leads?limit=%F0%9F%98%80",
], ids=[
    "nul-id", "long-id", "huge-page", "huge-limit", "repeated-filter", "long-cursor", "nul-page",
    "emoji-limit",
])
def test_hostile_path_or_query_gets_a_4xx_or_success_never_5xx(client: LeadsClient, path: str) -> None:
    response = client.request("GET", path)
    assert response.status_code < 500, describe(
        "listLeads" if path.startswith("/leads?") else "getLead", "HTTP status", "2xx or 4xx for a hostile path",
        answer_text(response), response,
    )
