"""Cursor pagination: opaque position-only cursors, where they land, and when they are null."""

from __future__ import annotations

import base64

import pytest

from conftest import ApiClient, issues
from mock_server.store import cursors
from mock_server.store import Position


def page(api: ApiClient, **params) -> dict:
    response = api.get("/v1/leads", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_following_next_walks_every_lead_once_in_order(api: ApiClient) -> None:
    everything = [lead["id"] for lead in page(api, limit=100)["leads"]]
    seen, data, pages = [], page(api, limit=10), 0
    while True:
        pages += 1
        seen += [lead["id"] for lead in data["leads"]]
        assert data["meta"]["page"] == pages
        if data["cursors"]["next"] is None:
            break
        data = page(api, limit=10, cursor=data["cursors"]["next"])
    assert seen == everything and pages == 4


def test_next_is_null_exactly_when_has_more_is_false(api: ApiClient) -> None:
    for number in range(1, 6):
        data = page(api, limit=10, page=number)
        assert (data["cursors"]["next"] is None) is (not data["meta"]["hasMore"])


def test_prev_is_null_on_the_first_page_only(api: ApiClient) -> None:
    assert page(api, limit=10)["cursors"]["prev"] is None
    for number in (2, 3, 4, 9):
        assert page(api, limit=10, page=number)["cursors"]["prev"] is not None


def test_prev_lands_on_the_previous_page(api: ApiClient) -> None:
    third = page(api, limit=10, page=3)
    back = page(api, limit=10, cursor=third["cursors"]["prev"])
    assert back["meta"]["page"] == 2 and back["leads"] == page(api, limit=10, page=2)["leads"]


def test_prev_from_past_the_end_lands_on_the_last_page(api: ApiClient) -> None:
    beyond = page(api, limit=10, page=9)
    last = page(api, limit=10, cursor=beyond["cursors"]["prev"])
    assert last["meta"]["page"] == 4 and last["leads"] == page(api, limit=10, page=4)["leads"]


def test_a_cursor_replaces_page(api: ApiClient) -> None:
    first = page(api, limit=5)
    assert page(api, limit=5, page=7, cursor=first["cursors"]["next"])["meta"]["page"] == 2


def test_a_cursor_keeps_its_place_when_newer_leads_arrive(api: ApiClient) -> None:
    first = page(api, limit=5)
    expected = page(api, limit=5, page=2)["leads"]
    api.create(name="Newcomer")
    assert page(api, limit=5, cursor=first["cursors"]["next"])["leads"] == expected


def test_a_cursor_carries_only_the_position_so_filters_are_sent_again(api: ApiClient) -> None:
    first = page(api, limit=3, status="new")
    following = page(api, limit=3, status="new", cursor=first["cursors"]["next"])
    assert all(lead["status"] == "new" for lead in following["leads"])
    assert following["meta"]["total"] == first["meta"]["total"]
    decoded = base64.urlsafe_b64decode(first["cursors"]["next"] + "==")
    assert b"status" not in decoded and b"limit" not in decoded


def test_cursors_are_opaque_url_safe_text(api: ApiClient) -> None:
    cursor = page(api, limit=5)["cursors"]["next"]
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("cursor", ["0", "not a cursor!", "e30", base64.urlsafe_b64encode(b'{"d":"n"}').decode(),
                                    base64.urlsafe_b64encode(b'{"d":"x","k":"2026-01-01T00:00:00.000Z"}').decode(),
                                    base64.urlsafe_b64encode(b'{"d":"n","k":"yesterday","i":"x"}').decode(),
                                    base64.urlsafe_b64encode(b"[1, 2]").decode(), "x" * 513])
def test_unknown_or_malformed_cursors_are_400_naming_cursor(api: ApiClient, cursor: str) -> None:
    assert issues(api.get("/v1/leads", params={"cursor": cursor}))["cursor"][0] == "query"


def test_a_cursor_altered_in_ways_the_base64_decoder_would_forgive_is_400(api: ApiClient) -> None:
    issued = page(api, limit=5)["cursors"]["next"]
    spaced = base64.urlsafe_b64encode(base64.urlsafe_b64decode(issued + "==").replace(b",", b", ")).decode()
    for altered in ("!!!!" + issued, ".".join(issued), issued[:4] + "+" + issued[4:], issued + "==", spaced):
        assert issues(api.get("/v1/leads", params={"cursor": altered}))["cursor"][0] == "query", altered
    assert page(api, cursor=issued, limit=5)["meta"]["page"] == 2


def test_positions_round_trip_through_cursors() -> None:
    for position in (Position(("2026-07-01T00:00:00.000Z", "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"), False),
                     Position(("2026-07-01T00:00:00.000Z", "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"), True),
                     Position(None, True)):
        assert cursors.decode(cursors.encode(position)) == position
