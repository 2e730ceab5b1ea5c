"""Concurrent requests over real HTTP: optimistic locking and convert stay atomic."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from conftest import KEY, RACHEL_ID

HEADERS = {"X-API-Key": KEY}


async def _together(requests):
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=30) as client:
        return await asyncio.gather(*(client.request(method, url, json=body) for method, url, body in requests))


def test_50_concurrent_updates_with_one_version_give_one_200_and_49_409(live_server) -> None:
    base, app = live_server
    version = app.store.get(app.api_keys.user_for(KEY), RACHEL_ID)["version"]
    url = f"{base}/v1/leads/{RACHEL_ID}"
    requests = [("PUT", url, {"notes": f"writer {n}", "version": version}) for n in range(50)]
    responses = asyncio.run(_together(requests))
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 49}
    winner = next(r.json()["data"] for r in responses if r.status_code == 200)
    conflicts = [r.json()["error"] for r in responses if r.status_code == 409]
    assert all(e["details"] == {"currentVersion": version + 1, "attemptedVersion": version} for e in conflicts)
    stored = httpx.get(url, headers=HEADERS).json()["data"]
    assert stored == winner and stored["version"] == version + 1


def test_20_concurrent_converts_create_exactly_one_client_and_one_contact(live_server) -> None:
    base, app = live_server
    before = app.store.inspect(KEY)
    url = f"{base}/v1/leads/{RACHEL_ID}/convert"
    responses = asyncio.run(_together([("POST", url, {"clientType": "buyer"})] * 20))
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}
    after = app.store.inspect(KEY)
    assert len(after["clients"]) == len(before["clients"]) + 1
    assert len(after["contacts"]) == len(before["contacts"]) + 1
    winner = next(r.json()["data"] for r in responses if r.status_code == 200)
    assert winner["client"]["id"] == after["clients"][-1]["id"]
