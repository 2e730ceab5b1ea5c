"""The reference server's newer defects, several at once, and the decisions' newest edge rules.

Each predicate in SHOWS says whether its defect's symptom is seen, and is written to hold
whatever other defect is on, so the same predicate proves a defect alone, next to any other
one, and among many at once.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reference_server import DEFECTS, create_app
from tests.reference_server.__main__ import parse_args
from tests.reference_server.defects import HIDES, DefectSwitch
from tests.test_reference_server import KEY_A, KEY_B, PROBE_RATE_LIMITS, PROBES, TIMESTAMP, UNKNOWN_ID, Api

MARKUP = "<b>Tom & \"Jerry\"</b> it's 😀 ünïcode"
PADDED_NAME = " " * 20 + "n" * 255 + " " * 25  # 300 characters, 255 after trimming
JUST_UNDER_MIB = 1_040_000


def lead_path(api: Api, **fields: Any) -> str:
    return f"/v1/leads/{api.create(**fields)['id']}"


def error_code(response: httpx.Response) -> str | None:
    return response.json().get("error", {}).get("code")


def error_fields(response: httpx.Response) -> set[str]:
    return {item["field"] for item in response.json()["error"].get("details", [])}


def body_of_size(api: Api, size: int) -> bytes:
    """A valid create body of exactly `size` bytes (the padding goes into notes)."""
    empty = json.dumps(api.body(name="Big", notes="")).encode()
    return json.dumps(api.body(name="Big", notes="x" * (size - len(empty)))).encode()


def post_bytes(api: Api, content: bytes) -> httpx.Response:
    return api.call("POST", "/v1/leads", content=content, headers={"Content-Type": "application/json"})


def create_needs_other_fields(api: Api) -> bool:
    answer = api.call("POST", "/v1/leads", json={"name": "Jordan Lee"})
    return answer.status_code == 400 and {"firstName", "lastName"} <= error_fields(answer)


def pagination_other_shape(api: Api) -> bool:
    data = api.call("GET", "/v1/leads").json()["data"]
    return "meta" not in data and "pagination" in data


def html_escaped_text(api: Api) -> bool:
    return api.create(notes=MARKUP)["notes"] == html.escape(MARKUP)


def capitalised_enums(api: Api) -> bool:
    return api.create(lead_type="seller")["lead_type"] == "Seller"


def errors_without_timestamp(api: Api) -> bool:
    missing = api.call("GET", f"/v1/leads/{UNKNOWN_ID}").json()
    return "timestamp" not in missing and "timestamp" in api.call("GET", "/v1/leads").json()


def missing_lead_403(api: Api) -> bool:
    answer = api.call("GET", f"/v1/leads/{UNKNOWN_ID}")
    return answer.status_code == 403 and error_code(answer) == "FORBIDDEN"


def delete_refused_until_archived(api: Api) -> bool:
    path = lead_path(api)
    answer = api.call("DELETE", path)
    return answer.status_code == 400 and error_code(answer) == "LEAD_NOT_ARCHIVED"


def convert_without_contact_fields(api: Api) -> bool:
    data = api.convert(api.create()["id"]).json()["data"]
    return "client" in data and not {"primaryContactId", "additionalContactsCount"} & set(data)


def server_error_at_max_length(api: Api) -> bool:
    return api.call("POST", "/v1/leads", json=api.body(name="A", phone="5" * 50)).status_code == 500


def null_version_conflict(api: Api) -> bool:
    answer = api.call("PUT", lead_path(api), json={"status": "lost", "version": None})
    return answer.status_code == 409 and error_code(answer) == "VERSION_CONFLICT"


def name_limit_before_trimming(api: Api) -> bool:
    answer = api.call("POST", "/v1/leads", json=api.body(name=PADDED_NAME))
    return answer.status_code == 400 and "name" in error_fields(answer)


def body_limit_1000000(api: Api) -> bool:
    return post_bytes(api, body_of_size(api, JUST_UNDER_MIB)).status_code == 413


SHOWS: dict[str, Callable[[Api], bool]] = {
    predicate.__name__: predicate
    for predicate in (
        create_needs_other_fields, pagination_other_shape, html_escaped_text, capitalised_enums,
        errors_without_timestamp, missing_lead_403, delete_refused_until_archived,
        convert_without_contact_fields, server_error_at_max_length, null_version_conflict,
        name_limit_before_trimming, body_limit_1000000,
    )
}
# Older defects of the kinds a divergent real server shows, with predicates as robust as the above.
OLDER_SHOWS: dict[str, Callable[[Api], bool]] = {
    "list_leaks_other_tenants": lambda api: (api.create(KEY_B), len(api.listing(key=KEY_A)["leads"]))[1] > 0,
    "get_ignores_owner": lambda api: api.call("GET", f"/v1/leads/{api.create(KEY_B)['id']}").status_code == 200,
    "stale_version_accepted": lambda api: api.call("PUT", lead_path(api), json={"notes": "n", "version": 9}).status_code
    == 200,
    "rate_limit_headers_missing": lambda api: "RateLimit-Limit" not in api.call("GET", "/v1/leads").headers,
}


def shows(defect: str, active: set[str] | frozenset[str]) -> bool:
    server = Api(active)
    try:
        return {**SHOWS, **OLDER_SHOWS}[defect](server)
    finally:
        server.close()


def compatible(first: str, second: str) -> bool:
    return (first, second) not in HIDES and (second, first) not in HIDES


def test_every_defect_has_a_probe_or_a_predicate() -> None:
    assert set(PROBES) | set(SHOWS) == set(DEFECTS)
    assert len(DEFECTS) >= 62


@pytest.mark.parametrize("defect", sorted(SHOWS))
def test_new_defect_shows_alone_and_not_on_the_clean_server(defect: str) -> None:
    assert not shows(defect, frozenset()), f"{defect}: the clean server shows it"
    assert shows(defect, {defect}), f"{defect}: not seen with the defect on"


@pytest.mark.parametrize("defect", sorted(SHOWS))
def test_new_defect_still_shows_next_to_any_other_defect(defect: str) -> None:
    hidden = [other for other in sorted(DEFECTS) if other != defect and compatible(defect, other)
              and not shows(defect, {defect, other})]
    assert hidden == [], f"{defect} is not seen when these are on too"


@pytest.mark.parametrize("defect", sorted(SHOWS))
def test_new_defect_cancels_no_older_defect(defect: str) -> None:
    """Each older defect's probe answers otherwise with it on than with only the new one on."""
    cancelled = []
    for older in sorted(PROBES):
        if not compatible(defect, older):
            continue
        results = []
        for active in ({defect}, {defect, older}):
            server = Api(active, PROBE_RATE_LIMITS.get(older, 10_000))
            try:
                results.append(PROBES[older](server))
            finally:
                server.close()
        if results[0] == results[1]:
            cancelled.append(older)
    assert cancelled == [], f"{defect} hides these"


MANY = sorted(SHOWS) + sorted(OLDER_SHOWS)


def test_sixteen_defects_on_at_once_each_still_show() -> None:
    assert len(MANY) >= 16
    hidden = [defect for defect in MANY if not shows(defect, set(MANY))]
    assert hidden == []


def test_every_defect_at_once_starts_and_never_crashes_on_documented_requests() -> None:
    # All defects but the hidden halves of HIDES, and those whose rule is a 500 on some input.
    active = set(DEFECTS) - {hidden for _, hidden in HIDES} - {"server_error_at_max_length", "malformed_json_500"}
    server = Api(active)
    try:
        statuses = []
        created = server.call("POST", "/v1/leads", json=server.body(name="Ann", email="a@b.c", budget=1000))
        lead_id = created.json()["data"]["id"]
        for method, path, kwargs in [
            ("GET", "/v1/leads?status=new&interest_level=warm&limit=1", {}),
            ("GET", f"/v1/leads/{lead_id}", {}),
            ("PUT", f"/v1/leads/{lead_id}", {"json": {"status": "lost", "version": 1}}),
            ("PUT", f"/v1/leads/{lead_id}", {"json": {"notes": "x", "version": None}}),
            ("POST", f"/v1/leads/{lead_id}/convert", {"json": {"clientType": "both"}}),
            ("DELETE", f"/v1/leads/{lead_id}", {}),
            ("GET", f"/v1/leads/{UNKNOWN_ID}", {}),
            ("POST", "/v1/leads", {"content": b"{bad", "headers": {"Content-Type": "application/json"}}),
        ]:
            statuses.append(server.call(method, path, **kwargs).status_code)
        assert created.status_code in (200, 201) and 500 not in statuses, statuses
    finally:
        server.close()


def test_several_defects_come_from_repeated_and_comma_separated_names() -> None:
    assert DefectSwitch(["capitalised_enums", "missing_lead_403"]).active == {"capitalised_enums", "missing_lead_403"}
    with pytest.raises(ValueError, match="unknown defect"):
        create_app([KEY_A], ["capitalised_enums", "no_such_defect"])
    with pytest.raises(ValueError, match="cannot be on together"):
        create_app([KEY_A], ["payload_size_unchecked", "body_limit_1000000"])


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


# What each new defect does, precisely.

def test_other_fields_defect_stores_the_given_name_or_joins_the_parts() -> None:
    server = Api("create_needs_other_fields")
    try:
        named = server.call("POST", "/v1/leads", json={"name": "Jordan Lee", "firstName": "J", "lastName": "L"})
        joined = server.call("POST", "/v1/leads", json={"firstName": "Ann", "lastName": "Kim"})
        assert named.status_code == 201 and named.json()["data"]["name"] == "Jordan Lee"
        assert joined.status_code == 201 and joined.json()["data"]["name"] == "Ann Kim"
        assert "firstName" not in named.json()["data"]
    finally:
        server.close()


def test_other_pagination_shape_carries_the_same_numbers() -> None:
    server = Api("pagination_other_shape")
    try:
        for _ in range(3):
            server.create()
        data = server.call("GET", "/v1/leads?limit=2").json()["data"]
        assert data["pagination"] == {
            "currentPage": 1, "pageSize": 2, "totalItems": 3, "totalPages": 2, "hasNextPage": True,
        }
        assert len(data["leads"]) == 2 and data["stats"]["total"] == 3 and "cursors" in data
    finally:
        server.close()


def test_capitalised_enums_defect_takes_lowercase_requests_and_capitalises_answers() -> None:
    server = Api("capitalised_enums")
    try:
        lead = server.create(interest_level="cold")
        assert (lead["status"], lead["lead_type"], lead["interest_level"]) == ("New", "Buyer", "Cold")
        listed = server.call("GET", "/v1/leads?interest_level=cold").json()["data"]
        assert [item["id"] for item in listed["leads"]] == [lead["id"]]
        converted = server.convert(lead["id"], clientType="seller").json()["data"]
        assert (converted["client"]["client_type"], converted["lead"]["lead_status"]) == ("Seller", "Converted")
    finally:
        server.close()


def test_errors_without_timestamp_defect_keeps_the_rest_of_the_error_envelope() -> None:
    server = Api("errors_without_timestamp")
    try:
        error = server.call("PUT", lead_path(server), json={"notes": "n", "version": 5}).json()
        assert error == {"success": False, "error": error["error"]} and error["error"]["code"] == "VERSION_CONFLICT"
        assert TIMESTAMP.fullmatch(server.call("GET", "/v1/leads").json()["timestamp"])
    finally:
        server.close()


def test_missing_lead_403_defect_answers_forbidden_on_every_operation_for_missing_and_foreign_leads() -> None:
    server = Api("missing_lead_403")
    try:
        for lead_id in (UNKNOWN_ID, server.create(KEY_B)["id"]):
            for method, suffix, body in [("GET", "", None), ("PUT", "", {"notes": "n"}), ("DELETE", "", None),
                                         ("POST", "/convert", None)]:
                answer = server.call(method, f"/v1/leads/{lead_id}{suffix}", json=body)
                assert (answer.status_code, error_code(answer)) == (403, "FORBIDDEN"), (method, suffix)
        assert server.call("GET", lead_path(server)).status_code == 200
    finally:
        server.close()


def test_delete_refused_defect_deletes_a_lost_lead() -> None:
    server = Api("delete_refused_until_archived")
    try:
        path = lead_path(server)
        assert server.call("DELETE", path).status_code == 400
        assert server.call("GET", path).status_code == 200
        server.call("PUT", path, json={"status": "lost"})
        assert server.call("DELETE", path).status_code == 200
        assert server.call("GET", path).status_code == 404
    finally:
        server.close()


def test_convert_without_contact_fields_defect_still_converts() -> None:
    server = Api("convert_without_contact_fields")
    try:
        lead = server.create(budget=380000)
        data = server.convert(lead["id"]).json()["data"]
        assert set(data) == {"client", "lead"} and data["client"]["price_range_min"] == 342000
        assert server.call("GET", f"/v1/leads/{lead['id']}").json()["data"]["status"] == "converted"
    finally:
        server.close()


@pytest.mark.parametrize("field, maximum", [("phone", 50), ("source", 100), ("timeline", 100), ("name", 255)])
def test_server_error_defect_fails_exactly_at_each_documented_maximum(field: str, maximum: int) -> None:
    server = Api("server_error_at_max_length")
    try:
        statuses = [
            server.call("POST", "/v1/leads", json=server.body(**{"name": "A", field: "a" * length})).status_code
            for length in (maximum - 1, maximum, maximum + 1)
        ]
        assert statuses == [201, 500, 400]
        assert server.call("GET", "/v1/leads").json()["data"]["meta"]["total"] == 1
    finally:
        server.close()


def test_null_version_defect_conflicts_and_changes_nothing() -> None:
    server = Api("null_version_conflict")
    try:
        path = lead_path(server)
        conflict = server.call("PUT", path, json={"status": "lost", "version": None}).json()["error"]
        assert conflict["details"] == {"currentVersion": 1, "attemptedVersion": None}
        assert server.call("GET", path).json()["data"]["status"] == "new"
    finally:
        server.close()


def test_name_limit_defect_still_takes_a_short_padded_name() -> None:
    server = Api("name_limit_before_trimming")
    try:
        assert server.create(name="  Ann  ")["name"] == "Ann"
        assert server.create(name="n" * 255)["name"] == "n" * 255
    finally:
        server.close()


def test_body_limit_defect_draws_the_line_at_a_million_bytes() -> None:
    server = Api("body_limit_1000000")
    try:
        statuses = [post_bytes(server, body_of_size(server, size)).status_code for size in (1_000_000, 1_000_001)]
        assert statuses == [201, 413]
    finally:
        server.close()


# The clean server follows the decisions' newest edge rules.

@pytest.mark.parametrize("content_type", ["application/json", None])
def test_empty_create_body_is_read_as_an_empty_object_naming_name(api: Api, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = api.call("POST", "/v1/leads", content=b"", headers=headers)
    assert (answer.status_code, error_code(answer), error_fields(answer)) == (400, "VALIDATION_ERROR", {"name"})


def test_empty_update_body_is_no_updates_before_the_lead_is_looked_up(api: Api) -> None:
    headers = {"Content-Type": "application/json"}
    for path in (lead_path(api), f"/v1/leads/{UNKNOWN_ID}"):
        answer = api.call("PUT", path, content=b"", headers=headers)
        assert (answer.status_code, error_code(answer)) == (400, "NO_UPDATES")


def test_empty_convert_body_is_no_body_whatever_its_content_type(api: Api) -> None:
    for content_type in ("application/json", "text/plain"):
        answer = api.call("POST", f"/v1/leads/{api.create()['id']}/convert", content=b"",
                          headers={"Content-Type": content_type})
        assert answer.status_code == 200 and answer.json()["data"]["client"]["client_type"] == "buyer"


@pytest.mark.parametrize("document", [
    b'{"name": "\\ud800"}', b'{"name": "A", "notes": "x\\udfffy"}', b'{"name": "A", "\\udc00": 1}',
    b'{"name": "A", "notes": ["\\ud83d"]}',
])
def test_lone_surrogate_is_invalid_json_and_nothing_is_stored(api: Api, document: bytes) -> None:
    answer = post_bytes(api, document)
    assert (answer.status_code, error_code(answer)) == (400, "INVALID_JSON")
    assert api.listing()["meta"]["total"] == 0


def test_paired_surrogate_escape_is_text_and_round_trips(api: Api) -> None:
    answer = post_bytes(api, b'{"name": "Smile \\ud83d\\ude00"}')
    assert answer.status_code == 201 and answer.json()["data"]["name"] == "Smile 😀"


def test_lone_surrogate_in_an_update_is_invalid_json(api: Api) -> None:
    path = lead_path(api)
    answer = api.call("PUT", path, content=b'{"notes": "\\ud800"}', headers={"Content-Type": "application/json"})
    assert (answer.status_code, error_code(answer)) == (400, "INVALID_JSON")
    assert api.call("GET", path).json()["data"]["version"] == 1


def asgi_get(app: Any, key_value: bytes) -> tuple[int, dict[str, Any]]:
    """GET /v1/leads straight through ASGI, with a header value as raw as a server could pass it."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/v1/leads", "raw_path": b"/v1/leads", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-api-key", key_value)],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


def test_spaces_and_tabs_around_the_api_key_are_not_part_of_it() -> None:
    app = create_app([KEY_A, KEY_B])
    assert asgi_get(app, b" \t" + KEY_A.encode() + b" ")[0] == 200
    assert asgi_get(app, b"   ")[1]["error"]["code"] == "NO_AUTH_TOKEN"
    # Only HTTP's whitespace (space, tab) surrounds a field value; other characters are the key's.
    assert asgi_get(app, KEY_A.encode() + b"\xa0")[1]["error"]["code"] == "INVALID_API_KEY"


def test_padded_key_is_the_same_tenant_as_the_bare_one(api: Api) -> None:
    lead_id = api.create()["id"]
    status, body = asgi_get(api.client._transport.app, f"{KEY_A}\t".encode())  # type: ignore[attr-defined]
    assert status == 200 and [lead["id"] for lead in body["data"]["leads"]] == [lead_id]


def test_padded_name_that_trims_to_255_is_accepted_and_stored_trimmed(api: Api) -> None:
    assert api.create(name=PADDED_NAME)["name"] == "n" * 255
    answer = api.call("POST", "/v1/leads", json={"name": " " + "n" * 256 + " "})
    assert error_fields(answer) == {"name"}


def test_name_is_trimmed_of_javascript_whitespace_only(api: Api) -> None:
    assert api.create(name="\u3000\ufeffAnn\u2003\n")["name"] == "Ann"
    assert api.create(name="\x1cAnn")["name"] == "\x1cAnn"  # not whitespace to JavaScript's trim()


def test_values_of_exactly_the_documented_maximum_are_accepted_and_one_more_is_400(api: Api) -> None:
    exact = {"name": "n" * 255, "phone": "5" * 50, "source": "s" * 100, "timeline": "t" * 100}
    lead = api.create(**exact)
    assert {field: lead[field] for field in exact} == exact
    over = api.call("POST", "/v1/leads", json={field: value + "x" for field, value in exact.items()})
    assert error_fields(over) == set(exact)


def test_text_is_stored_and_returned_exactly_as_sent(api: Api) -> None:
    fields = {"name": MARKUP, "phone": "<1> & 2", "source": "A&B", "timeline": "'soon'", "message": MARKUP}
    lead = api.create(**fields, notes="&amp; stays")
    path = f"/v1/leads/{lead['id']}"
    updated = api.call("PUT", path, json={"notes": MARKUP}).json()["data"]
    stored = api.call("GET", path).json()["data"]
    assert {field: stored[field] for field in fields} == fields
    assert lead["notes"] == "&amp; stays" and updated["notes"] == stored["notes"] == MARKUP


def test_enum_values_in_answers_are_the_documented_lowercase_ones(api: Api) -> None:
    lead = api.create(lead_type="both", interest_level="hot")
    converted = api.convert(lead["id"], clientType="seller").json()["data"]
    stored = api.call("GET", f"/v1/leads/{lead['id']}").json()["data"]
    assert (lead["status"], lead["lead_type"], lead["interest_level"]) == ("new", "both", "hot")
    assert (converted["client"]["client_type"], converted["client"]["status"]) == ("seller", "active")
    assert (converted["lead"]["lead_status"], stored["status"]) == ("converted", "converted")


def test_body_just_under_a_mib_is_accepted_and_just_over_is_413(api: Api) -> None:
    assert post_bytes(api, body_of_size(api, JUST_UNDER_MIB)).status_code == 201
    assert post_bytes(api, body_of_size(api, 1024 * 1024)).status_code == 201
    too_big = post_bytes(api, body_of_size(api, 1024 * 1024 + 1))
    assert (too_big.status_code, error_code(too_big)) == (413, "PAYLOAD_TOO_LARGE")


def test_null_version_is_a_validation_error_naming_version(api: Api) -> None:
    answer = api.call("PUT", lead_path(api), json={"status": "lost", "version": None})
    assert (answer.status_code, error_code(answer), error_fields(answer)) == (400, "VALIDATION_ERROR", {"version"})


def test_every_pair_of_new_defects_runs_together() -> None:
    for first, second in itertools.combinations(sorted(SHOWS), 2):
        assert shows(first, {first, second}) and shows(second, {first, second}), (first, second)


# The command line.

def test_command_line_takes_repeated_and_comma_separated_defects() -> None:
    args = parse_args([
        "--api-key", KEY_A, "--defect", "capitalised_enums", "--defects", "missing_lead_403, html_escaped_text",
        "--defect", "create_returns_200",
    ])
    assert args.defects == {"capitalised_enums", "missing_lead_403", "html_escaped_text", "create_returns_200"}
    assert parse_args(["--api-key", KEY_A, "--defect", "oldest_first"]).defects == {"oldest_first"}
    assert parse_args(["--api-key", KEY_A]).defects == frozenset()


@pytest.mark.parametrize("arguments, message", [
    (["--defect", "capitalized_enums"], "unknown defect 'capitalized_enums' (did you mean capitalised_enums?)"),
    (["--defects", "oldest_first,zzz"], "unknown defect 'zzz'; known: allow_header_missing"),
    (["--defects", "payload_size_unchecked,body_limit_1000000"], "cannot be on together"),
])
def test_command_line_refuses_unknown_or_clashing_defects_as_a_usage_error(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--api-key", KEY_A, *arguments])
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_module_entry_point_serves_several_defects_at_once() -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "tests.reference_server", "--api-key", KEY_A,
               "--defect", "errors_without_timestamp", "--defects", "capitalised_enums,pagination_other_shape"]
    process = subprocess.Popen(command, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)", process.stdout.readline().strip())
        assert match
        headers = {"X-API-Key": KEY_A}
        for _ in range(50):  # bounded wait for uvicorn to start serving
            try:
                created = httpx.post(f"{match.group(1)}/v1/leads", json={"name": "A"}, headers=headers, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("server never answered")
        assert created.json()["data"]["status"] == "New"
        assert "pagination" in httpx.get(f"{match.group(1)}/v1/leads", headers=headers).json()["data"]
        assert "timestamp" not in httpx.get(f"{match.group(1)}/v1/leads/{UNKNOWN_ID}", headers=headers).json()
    finally:
        process.terminate()
        process.wait(timeout=10)
