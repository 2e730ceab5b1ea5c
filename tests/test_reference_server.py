"""Sanity tests of the reference Leads API and of its deliberate defects."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reference_server import DEFECTS, create_app

KEY_A = "key-tenant-a"
KEY_B = "key-tenant-b"
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
UNKNOWN_ID = "7e5a3c1b-9d8f-4e2a-b6c4-1f0e8d7a5b3c"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def order_key(lead: dict[str, Any]) -> tuple[str, str]:
    """The documented list order: created_at, then id (both compare as text)."""
    return (lead["created_at"], lead["id"])


class Api:
    """Synchronous in-process client of one fresh reference server."""

    def __init__(self, defects: str | Iterable[str] | None = None, rate_limit: int = 10_000) -> None:
        self.defects = frozenset([defects] if isinstance(defects, str) else defects or ())
        self.runner = asyncio.Runner()
        transport = httpx.ASGITransport(app=create_app([KEY_A, KEY_B], self.defects, rate_limit))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()

    def call(self, method: str, path: str, key: str | None = KEY_A, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["X-API-Key"] = key
        return self.runner.run(self.client.request(method, path, headers=headers, **kwargs))

    def body(self, **fields: Any) -> dict[str, Any]:
        """A create body this server takes: the documented one, plus the names a defect demands."""
        if "create_needs_other_fields" in self.defects:
            return {"firstName": "Lead", "lastName": "Person", **fields}
        return fields

    def create(self, key: str = KEY_A, **fields: Any) -> dict[str, Any]:
        response = self.call("POST", "/v1/leads", key, json=self.body(**{"name": "Lead", **fields}))
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    def convert(self, lead_id: str, **body: Any) -> httpx.Response:
        return self.call("POST", f"/v1/leads/{lead_id}/convert", json=body or None)

    def listing(self, query: str = "", key: str = KEY_A) -> dict[str, Any]:
        response = self.call("GET", f"/v1/leads{query}", key)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if "pagination" in data and "pagination_other_shape" in self.defects:  # read it as the documented meta
            shape = data.pop("pagination")
            data["meta"] = {
                "page": shape["currentPage"], "limit": shape["pageSize"], "total": shape["totalItems"],
                "totalPages": shape["totalPages"], "hasMore": shape["hasNextPage"],
            }
        return data


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    yield server
    server.close()


def test_create_applies_documented_defaults_and_carries_every_field(api: Api) -> None:
    response = api.call("POST", "/v1/leads", json={"name": "  Jordan Lee  ", "extra": 1})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert TIMESTAMP.fullmatch(body["timestamp"]) and body["message"] == "Lead created successfully"
    lead = body["data"]
    assert len(lead) == 19 and lead["email"] is None and lead["converted_to_client_id"] is None
    assert (lead["name"], lead["status"], lead["lead_type"], lead["interest_level"], lead["version"]) == (
        "Jordan Lee", "new", "buyer", "warm", 1,
    )


def test_foreign_lead_is_404_on_every_operation(api: Api) -> None:
    lead_id = api.create(KEY_B)["id"]
    assert api.call("GET", f"/v1/leads/{lead_id}").status_code == 404
    assert api.call("PUT", f"/v1/leads/{lead_id}", json={"status": "lost"}).status_code == 404
    assert api.convert(lead_id).status_code == 404
    assert api.call("DELETE", f"/v1/leads/{lead_id}").json()["error"]["code"] == "NOT_FOUND"
    assert api.listing(key=KEY_A)["meta"]["total"] == 0


def test_stale_version_is_rejected_with_409_and_nothing_changes(api: Api) -> None:
    lead = api.create()
    path = f"/v1/leads/{lead['id']}"
    updated = api.call("PUT", path, json={"status": "contacted", "version": 1}).json()["data"]
    assert updated["version"] == 2 and updated["updated_at"] > lead["updated_at"]
    conflict = api.call("PUT", path, json={"status": "lost", "version": 1})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["details"] == {"currentVersion": 2, "attemptedVersion": 1}
    assert api.call("GET", path).json()["data"]["status"] == "contacted"


def test_convert_rounds_price_range_half_up_and_reuses_contact_by_email(api: Api) -> None:
    first = api.create(email="Ann@Example.com", budget=380000)
    second = api.create(email="ann@example.COM", budget=5)
    one = api.convert(first["id"], clientType="seller").json()["data"]
    two = api.convert(second["id"]).json()["data"]
    assert (one["client"]["price_range_min"], one["client"]["price_range_max"]) == (342000, 418000)
    assert (two["client"]["price_range_min"], two["client"]["price_range_max"]) == (5, 6)
    assert one["client"]["client_type"] == "seller" and two["client"]["client_type"] == "buyer"
    assert one["primaryContactId"] == two["primaryContactId"] == two["client"]["contact_id"]
    lead = api.call("GET", f"/v1/leads/{first['id']}").json()["data"]
    assert (lead["status"], lead["converted_to_client_id"], lead["version"]) == ("converted", one["client"]["id"], 2)
    assert api.convert(first["id"]).json()["error"]["code"] == "ALREADY_CONVERTED"


def test_pagination_meta_and_cursors_walk_every_lead_newest_first(api: Api) -> None:
    created = [api.create(name=f"Lead {n}") for n in range(5)]
    # Leads made within one millisecond tie on created_at and are ordered by id.
    expected = [lead["id"] for lead in sorted(created, key=order_key, reverse=True)]
    first = api.listing("?limit=2")
    assert first["meta"] == {"page": 1, "limit": 2, "total": 5, "totalPages": 3, "hasMore": True}
    assert first["cursors"]["prev"] is None
    seen = [lead["id"] for lead in first["leads"]]
    data = first
    while data["cursors"]["next"] is not None:
        data = api.listing(f"?limit=2&cursor={data['cursors']['next']}")
        seen += [lead["id"] for lead in data["leads"]]
    assert data["meta"]["page"] == 3 and data["meta"]["hasMore"] is False
    assert seen == expected
    assert api.listing("?page=9")["leads"] == []
    assert api.call("GET", "/v1/leads?limit=101").status_code == 400


def test_edge_order_puts_method_before_auth_and_auth_before_id_format(api: Api) -> None:
    assert api.call("PATCH", "/v1/leads/not-a-uuid", key=None).status_code == 405
    assert api.call("GET", "/v1/leads/not-a-uuid", key="wrong").json()["error"]["code"] == "INVALID_API_KEY"
    assert api.call("GET", "/v1/leads/not-a-uuid").json()["error"]["details"][0]["field"] == "id"
    assert api.call("PUT", f"/v1/leads/{UNKNOWN_ID}", json={"version": 1}).json()["error"]["code"] == "NO_UPDATES"


def test_rate_limit_answers_429_with_retry_after_and_does_not_count_it() -> None:
    server = Api(rate_limit=2)
    try:
        statuses = [server.call("GET", "/v1/leads").status_code for _ in range(4)]
        limited = server.call("GET", "/v1/leads")
        assert statuses == [200, 200, 429, 429]
        assert limited.headers["RateLimit-Remaining"] == "0" and int(limited.headers["Retry-After"]) >= 1
        assert server.call("GET", "/v1/leads", key=KEY_B).status_code == 200
    finally:
        server.close()


def test_unknown_defect_name_is_refused() -> None:
    with pytest.raises(ValueError):
        create_app([KEY_A], defects="no_such_defect")


def test_module_entry_point_reports_the_bound_port() -> None:
    command = [sys.executable, "-m", "tests.reference_server", "--port", "0", "--api-key", KEY_A]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        for _ in range(50):  # bounded wait for uvicorn to start serving
            try:
                response = httpx.get(f"{match.group(1)}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("server never answered")
        assert response.json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def status_of(api: Api, method: str, path: str, **kwargs: Any) -> int:
    return api.call(method, path, **kwargs).status_code


def updated_then_read(api: Api, body: dict[str, Any]) -> tuple[int, str]:
    lead_id = api.create()["id"]
    answer = api.call("PUT", f"/v1/leads/{lead_id}", json=body)
    return answer.status_code, api.call("GET", f"/v1/leads/{lead_id}").json()["data"]["status"]


def list_of_hot_and_cold(api: Api, query: str) -> dict[str, Any]:
    api.create(interest_level="hot")
    api.create(interest_level="cold")
    return api.listing(query)


def converted_pair_share_contact(api: Api, first_email: str, second_email: str) -> bool:
    ids = [api.create(email=email)["id"] for email in (first_email, second_email)]
    contacts = [api.convert(lead_id).json()["data"]["client"]["contact_id"] for lead_id in ids]
    return contacts[0] == contacts[1]


def converted(api: Api, budget: int | None = None, **body: Any) -> dict[str, Any]:
    lead_id = api.create(budget=budget)["id"]
    return api.convert(lead_id, **body).json()["data"]


# One probe per defect: its result differs between the clean and the defective server.
PROBES: dict[str, Callable[[Api], Any]] = {
    "timestamp_without_millis": lambda api: bool(TIMESTAMP.fullmatch(api.call("GET", "/v1/leads").json()["timestamp"])),
    "null_fields_omitted": lambda api: sorted(api.create()),
    "unknown_route_plain_text": lambda api: api.call("GET", "/v1/contacts").headers["content-type"],
    "datetime_offset_dropped": lambda api: api.create(next_follow_up="2026-01-01T10:00:00+02:00")["next_follow_up"],
    "create_returns_200": lambda api: status_of(api, "POST", "/v1/leads", json=api.body(name="A")),
    "default_interest_cold": lambda api: api.create()["interest_level"],
    "name_not_trimmed": lambda api: api.create(name="  Ann  ")["name"],
    "blank_name_accepted": lambda api: status_of(api, "POST", "/v1/leads", json=api.body(name="   ")),
    "email_format_unchecked": lambda api: status_of(api, "POST", "/v1/leads", json=api.body(name="A", email="a@b@c")),
    "invalid_enum_accepted": lambda api: status_of(api, "POST", "/v1/leads", json=api.body(name="A", lead_type="renter")),
    "negative_budget_accepted": lambda api: status_of(api, "POST", "/v1/leads", json=api.body(name="A", budget=-1)),
    "null_interest_level_accepted": lambda api: status_of(
        api, "PUT", f"/v1/leads/{api.create()['id']}", json={"interest_level": None}
    ),
    "limit_clamped": lambda api: status_of(api, "GET", "/v1/leads?limit=101"),
    "query_int_lenient": lambda api: status_of(api, "GET", "/v1/leads?page=%2B1"),
    "unknown_field_rejected": lambda api: status_of(api, "POST", "/v1/leads", json=api.body(name="A", colour="red")),
    "malformed_id_404": lambda api: status_of(api, "GET", "/v1/leads/123"),
    "bad_cursor_ignored": lambda api: status_of(api, "GET", "/v1/leads?cursor=bogus"),
    "malformed_json_500": lambda api: status_of(
        api, "POST", "/v1/leads", content=b'{"name": ', headers={"Content-Type": "application/json"}
    ),
    "content_type_unchecked": lambda api: status_of(
        api, "POST", "/v1/leads", content=b'{"name": "A"}', headers={"Content-Type": "text/plain"}
    ),
    "payload_size_unchecked": lambda api: status_of(
        api, "POST", "/v1/leads", json=api.body(name="A", notes="x" * (1024 * 1024 + 1))
    ),
    "allow_header_missing": lambda api: api.call("PATCH", "/v1/leads").headers.get("Allow"),
    "trailing_slash_served": lambda api: status_of(api, "GET", "/v1/leads/"),
    "any_api_key_accepted": lambda api: status_of(api, "GET", "/v1/leads", key="made-up"),
    "empty_key_invalid": lambda api: api.call("GET", "/v1/leads", key="").json()["error"]["code"],
    "delete_skips_auth": lambda api: status_of(api, "DELETE", f"/v1/leads/{UNKNOWN_ID}", key=None),
    "list_leaks_other_tenants": lambda api: (api.create(KEY_B), api.listing()["meta"]["total"])[1],
    "get_ignores_owner": lambda api: status_of(api, "GET", f"/v1/leads/{api.create(KEY_B)['id']}"),
    "foreign_lead_403": lambda api: status_of(api, "PUT", f"/v1/leads/{api.create(KEY_B)['id']}", json={"notes": "n"}),
    "version_not_bumped": lambda api: api.call("PUT", f"/v1/leads/{api.create()['id']}", json={"notes": "n"}).json()[
        "data"
    ]["version"],
    "updated_at_frozen": lambda api: (
        lambda lead: api.call("PUT", f"/v1/leads/{lead['id']}", json={"notes": "n"}).json()["data"]["updated_at"]
        == lead["updated_at"]
    )(api.create()),
    "stale_version_accepted": lambda api: updated_then_read(api, {"status": "lost", "version": 7}),
    "conflict_still_applies": lambda api: updated_then_read(api, {"status": "lost", "version": 7}),
    "update_not_persisted": lambda api: updated_then_read(api, {"status": "lost"}),
    "no_updates_accepted": lambda api: status_of(api, "PUT", f"/v1/leads/{api.create()['id']}", json={"version": 1}),
    "soft_delete_visible": lambda api: (
        lambda path: (
            api.call("PUT", path, json={"status": "lost"}), api.call("DELETE", path), status_of(api, "GET", path)
        )[2]
    )(f"/v1/leads/{api.create()['id']}"),
    "total_pages_off_by_one": lambda api: list_of_hot_and_cold(api, "?limit=2")["meta"]["totalPages"],
    "has_more_on_last_page": lambda api: list_of_hot_and_cold(api, "?limit=1&page=2")["meta"]["hasMore"],
    "total_ignores_filters": lambda api: list_of_hot_and_cold(api, "?interest_level=hot")["meta"]["total"],
    "filters_ored": lambda api: list_of_hot_and_cold(api, "?status=new&interest_level=hot")["meta"]["total"],
    "oldest_first": lambda api: (
        lambda keys: keys == sorted(keys, reverse=True)
    )([order_key(lead) for lead in list_of_hot_and_cold(api, "")["leads"]]),
    "stats_follow_filters": lambda api: list_of_hot_and_cold(api, "?interest_level=hot")["stats"]["total"],
    "next_cursor_on_last_page": lambda api: list_of_hot_and_cold(api, "")["cursors"]["next"] is None,
    "convert_keeps_status": lambda api: converted(api)["lead"]["lead_status"],
    "price_range_bankers_rounding": lambda api: converted(api, budget=5)["client"]["price_range_min"],
    "contact_not_reused": lambda api: converted_pair_share_contact(api, "ann@example.com", "ann@example.com"),
    "contact_match_case_sensitive": lambda api: converted_pair_share_contact(api, "Ann@example.com", "ann@EXAMPLE.com"),
    "client_type_ignored": lambda api: converted(api, clientType="both")["client"]["client_type"],
    "double_convert_allowed": lambda api: (
        lambda lead_id: (api.convert(lead_id), api.convert(lead_id).status_code)[1]
    )(api.create()["id"]),
    "rate_limit_headers_missing": lambda api: "RateLimit-Remaining" in api.call("GET", "/v1/leads").headers,
    "rate_limit_not_enforced": lambda api: [status_of(api, "GET", "/v1/leads") for _ in range(3)],
}
# Probes needing a server with a small limit.
PROBE_RATE_LIMITS = {"rate_limit_not_enforced": 2}


def test_every_probe_names_a_defect() -> None:
    # Defects without a probe here have a predicate in test_reference_defects.py, which checks coverage.
    assert set(PROBES) <= set(DEFECTS)
    assert len(PROBES) >= 24


@pytest.mark.parametrize("defect", sorted(PROBES))
def test_defect_changes_an_observable_response(defect: str) -> None:
    rate_limit = PROBE_RATE_LIMITS.get(defect, 10_000)
    results = []
    for variant in (None, defect):
        server = Api(variant, rate_limit)
        try:
            results.append(PROBES[defect](server))
        finally:
            server.close()
    clean, broken = results
    assert clean != broken, f"{defect}: both servers answered {clean!r}"
