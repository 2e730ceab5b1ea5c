"""An operation's steps joined into one call (`JoinedSteps`) answer exactly as the steps one after the other."""

from __future__ import annotations

from typing import Any

from conftest import KEY, RACHEL_ID, ApiClient, make_app

from mock_server.middleware.dispatch import JoinedSteps
from mock_server.routes import SpecRouting

MISSING_ID = "00000000-0000-4000-8000-000000000000"
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/leads?limit=2&status=new", {}),
    ("GET", "/v1/leads?limit=abc", {}),
    ("GET", "/v1/leads?limit=1&limit=2", {}),
    ("GET", f"/v1/leads/{RACHEL_ID}", {}),
    ("GET", f"/v1/leads/{MISSING_ID}", {}),
    ("GET", "/v1/leads/not-a-uuid", {}),
    ("GET", f"/v1/leads/{RACHEL_ID}", {"key": None}),
    ("GET", f"/v1/leads/{RACHEL_ID}", {"key": "wrong"}),
    ("POST", "/v1/leads", {"json": {"name": ""}}),
    ("POST", "/v1/leads", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/v1/leads", {"content": b"name=x", "headers": {"Content-Type": "text/plain"}}),
    ("PUT", f"/v1/leads/{RACHEL_ID}", {"json": {"version": 999, "name": "Rachel"}}),
    ("PUT", f"/v1/leads/{RACHEL_ID}", {"json": {"budget": "lots"}}),
    ("DELETE", f"/v1/leads/{MISSING_ID}", {}),
    ("POST", f"/v1/leads/{RACHEL_ID}/convert", {"json": {"clientType": "alien"}}),
    ("PUT", f"/v1/leads/{RACHEL_ID}", {"json": {"version": 1, "notes": "called back"}}),
    ("GET", f"/v1/leads/{RACHEL_ID}", {}),
    ("DELETE", f"/v1/leads/{RACHEL_ID}", {}),
    ("GET", f"/v1/leads/{RACHEL_ID}", {}),
]


def spec_routing(app: Any) -> SpecRouting:
    ApiClient(app).get("/healthz")  # builds Connexion's stack
    step = app.middleware.app
    while not isinstance(step, SpecRouting):
        step = getattr(step, "target", None) or step.app
    return step


def unjoined(app: Any) -> Any:
    """`app` with each route's steps taken one after the other again."""
    for _regex, _base, routes in spec_routing(app)._mounts:
        routes[:] = [(*route[:4], route[4].security if isinstance(route[4], JoinedSteps) else route[4])
                     for route in routes]
    return app


def answer(app: Any, method: str, path: str, options: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    options = dict(options)
    client = ApiClient(app, key=options.pop("key", KEY))
    response = client.request(method, path, **options)
    body = response.json()
    body.pop("timestamp", None)
    if isinstance(body.get("data"), dict):
        body["data"].pop("updated_at", None)
    headers = {name: value for name, value in response.headers.items() if not name.startswith("ratelimit-reset")}
    return response.status_code, headers, body


def test_every_operation_is_joined() -> None:
    routes = [route for _regex, _base, routes in spec_routing(make_app())._mounts for route in routes]
    assert len(routes) == 6 and all(isinstance(route[4], JoinedSteps) for route in routes)


def test_joined_steps_answer_as_the_steps_one_after_the_other() -> None:
    joined, separate = make_app(), unjoined(make_app())
    for method, path, options in REQUESTS:
        assert answer(joined, method, path, options) == answer(separate, method, path, options), (method, path)


def test_the_requests_cover_answers_and_errors_of_every_kind() -> None:
    app = unjoined(make_app())
    assert not any(isinstance(route[4], JoinedSteps) for _r, _b, routes in spec_routing(app)._mounts for route in routes)
    statuses = [answer(app, method, path, options)[0] for method, path, options in REQUESTS]
    assert {200, 400, 401, 404, 409, 415} <= set(statuses), statuses
