"""The shortcut past the steps that never act on the Leads API's requests: what it skips, and what it refuses to."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import KEY, make_app
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_server.controls.admin import AdminMiddleware
from mock_server.controls.control_guard import ControlGuard
from mock_server.middleware.shortcut import Shortcut
from mock_server.routes import DocsOutsideLeads, NoTrailingSlash
from mock_server.spec_document import SpecDocument

API_REQUESTS = ["/v1/leads", "/v1/leads/f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b", "/v1/leads/abc/convert",
                "/v1/leads/stats"]


class Target:
    """The step the shortcut leads to: notes the scopes it was given."""

    def __init__(self) -> None:
        self.seen: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope)


# The steps the mock's shortcuts jump over, each built as the app builds it around a given app
SKIPPED_STEPS: dict[str, Callable[[ASGIApp], ASGIApp]] = {
    "ControlGuard": lambda app: ControlGuard(app, loopback_hosts_only=True),
    "AdminMiddleware": lambda app: AdminMiddleware(app, routes=[]),
    "NoTrailingSlash": lambda app: NoTrailingSlash(app, base_path="/v1", docs_prefix="/v1/ui/"),
    "SpecDocument": lambda app: SpecDocument(app, document={"openapi": "3.0.3", "paths": {}}, base_path="/v1"),
    "DocsOutsideLeads": lambda app: DocsOutsideLeads(app, leads_path="/v1/leads"),
}


def request(path: str, host: bytes = b"evil.example") -> Scope:
    # a Host and an Origin the control guard would refuse on its own routes
    return {"type": "http", "method": "GET", "path": path, "query_string": b"", "root_path": "",
            "headers": [(b"host", host), (b"origin", b"https://evil.example")], "scheme": "http"}


async def nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def ignore(message: Any) -> None:
    pass


@pytest.mark.parametrize("step", SKIPPED_STEPS)
@pytest.mark.parametrize("path", API_REQUESTS)
def test_each_step_the_shortcut_skips_passes_api_requests_on_untouched(step: str, path: str) -> None:
    target = Target()
    scope = request(path)
    asyncio.run(SKIPPED_STEPS[step](target)(scope, nothing, ignore))
    assert target.seen == [scope]
    assert target.seen[0] is scope


@pytest.mark.parametrize("path", API_REQUESTS)
def test_api_requests_go_straight_to_the_target(path: str) -> None:
    target = Target()
    passed_by = Target()
    shortcut = Shortcut(ControlGuard(AdminMiddleware(target, routes=[]), loopback_hosts_only=True),
                        api_path="/v1/leads", to=Target, past=(ControlGuard, AdminMiddleware))
    shortcut.app = passed_by  # the way round, to see which way a request takes
    asyncio.run(shortcut(request(path), nothing, ignore))
    assert (len(target.seen), len(passed_by.seen)) == (1, 0)


@pytest.mark.parametrize("path", ["/v1/leads/", "/v1/leads/abc/", "/v1", "/v1/openapi.json", "/__mock/settings",
                                  "/v1/leadsx", "/healthz"])
def test_other_requests_take_every_step(path: str) -> None:
    target = Target()
    shortcut = Shortcut(target, api_path="/v1/leads", to=Target, past=())
    passed_by = Target()
    shortcut.app = passed_by
    asyncio.run(shortcut(request(path), nothing, ignore))
    assert (len(target.seen), len(passed_by.seen)) == (0, 1)


def test_a_step_it_may_not_pass_stops_the_stack_from_being_built() -> None:
    class Unknown:
        def __init__(self, app: Any) -> None:
            self.app = app

    with pytest.raises(TypeError, match="Unknown stands between a shortcut and Target"):
        Shortcut(ControlGuard(Unknown(Target()), loopback_hosts_only=True), api_path="/v1/leads", to=Target,
                 past=(ControlGuard, AdminMiddleware))


def test_the_mock_still_answers_its_control_routes_docs_and_trailing_slashes() -> None:
    async def calls() -> list[int]:
        transport = httpx.ASGITransport(app=make_app(), client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return [(await client.get(path, headers={"X-API-Key": KEY})).status_code
                    for path in ("/v1/leads", "/v1/leads/", "/v1/openapi.json", "/__mock/settings", "/v1")]

    assert asyncio.run(calls()) == [200, 404, 200, 200, 404]
