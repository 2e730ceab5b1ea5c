"""Shared helpers for the mock's tests: apps over ASGI, a live server over real HTTP, spec checks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
import uvicorn
from connexion.spec import Specification
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from mock_server.app import create_app, load_spec
from mock_server.config import Settings
from mock_server.serving import server_config
from postgres import Cluster
from tests import preloaded

KEY = "leads-mock-key"
OTHER_KEY = "other-tenant-key"
RACHEL_ID = "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"  # the newest fixture lead: new, warm, budget 380000
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
TEST_SETTINGS = Settings(api_keys=(KEY, OTHER_KEY), rate_limit=100_000)
_NO_KEY = object()
# The files that take longest (runs of the contract suite, pip, the mock with 100,000 leads, Chromium), longest
# first: `make test` hands whole files to its workers in this order, one each and then a next one to a worker
# with at most two tests left, so none of these starts last. The two single long runs lead: each brings the
# next file along at once, and behind each other they would be the run's longest chain.
LONGEST_FIRST = (
    "test_plain_schemathesis.py", "test_installed_wheel.py", "test_contract_safety.py", "test_contract_diagnosis.py",
    "test_contract_kill_rate.py", "test_contract_cli.py", "test_mock_cli_e2e.py", "test_mock_postgres.py",
    "test_mock_state_file.py", "test_generated_clients.py", "test_panel_page.py", "test_mock_cli.py",
)


def _validate_each_spec_once() -> None:
    """Connexion checks the spec against the OpenAPI schema in every app it builds, most of building one;
    the tests build hundreds of apps from one openapi.yaml, so a document is checked once a process
    (one that fails the check is checked, and fails, every time)."""
    validate = Specification._validate_spec.__func__  # type: ignore[attr-defined]
    valid: set[str] = set()

    def once(cls: type[Specification], spec: dict[str, Any]) -> None:
        key = cls.__name__ + hashlib.sha256(json.dumps(spec, sort_keys=True, default=repr).encode()).hexdigest()
        if key not in valid:
            validate(cls, spec)
            valid.add(key)

    Specification._validate_spec = classmethod(once)  # type: ignore[method-assign, assignment]


_validate_each_spec_once()


FORK_SERVERS = "leads_fork_servers"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: every worker forks its tools from the same two servers."""
    node.workerinput[FORK_SERVERS] = json.dumps(preloaded.share())


def pytest_configure(config: pytest.Config) -> None:
    shared = getattr(config, "workerinput", {}).get(FORK_SERVERS)
    if shared is not None:
        preloaded.use(json.loads(shared))


def pytest_sessionfinish(session: pytest.Session) -> None:
    preloaded.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


class ApiClient:
    """Synchronous requests to an app over ASGI; the API key is sent unless `key=None`."""

    def __init__(self, app: Any, key: str | None = KEY, address: str = "127.0.0.1") -> None:
        self.app, self.key, self.address = app, key, address

    def request(self, method: str, path: str, *, key: Any = _NO_KEY, headers: dict[str, str] | None = None,
                **kwargs: Any) -> httpx.Response:
        sent = dict(headers or {})
        key = self.key if key is _NO_KEY else key
        if key is not None:
            sent.setdefault("X-API-Key", key)

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(self.address, 50000))
            # a loopback Host, as a local client sends: the control routes answer no other while open
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                return await client.request(method, path, headers=sent, **kwargs)

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/v1/leads", json={"name": "Jordan Lee", **fields})
        assert response.status_code == 201, response.text
        return response.json()["data"]


def make_app(**changes: Any) -> Any:
    return create_app(replace(TEST_SETTINGS, **changes))


@pytest.fixture
def app() -> Any:
    return make_app()


@pytest.fixture
def api(app: Any) -> ApiClient:
    return ApiClient(app)


@pytest.fixture
def other(app: Any) -> ApiClient:
    """The same app, as another API key's user."""
    return ApiClient(app, key=OTHER_KEY)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error envelope, as JSON, with the expected status and code; returns `error`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"success", "error", "timestamp"}
    assert body["success"] is False and TIMESTAMP.fullmatch(body["timestamp"])
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def issues(response: httpx.Response) -> dict[str, tuple[str, str]]:
    """VALIDATION_ERROR details as {field: (location, message)}."""
    error = assert_error(response, 400, "VALIDATION_ERROR")
    return {item["field"]: (item["location"], item["message"]) for item in error["details"]}


class SpecChecker:
    """Validates answers against the response schemas of openapi.yaml (nullable and formats included)."""

    def __init__(self) -> None:
        self.spec = load_spec()
        self.registry = Registry().with_resource("urn:spec", Resource(self.spec, specification=DRAFT4))

    def check(self, response: httpx.Response, path: str, method: str) -> None:
        assert response.headers["content-type"] == "application/json"
        declared = self.spec["paths"][path][method.lower()]["responses"][str(response.status_code)]
        if "$ref" in declared:
            declared = self.spec["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
        schema = {"$ref": "urn:spec" + declared["content"]["application/json"]["schema"]["$ref"]}
        validator = OAS30Validator(schema, registry=self.registry, format_checker=OAS30Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(response.json()), key=str)
        assert not errors, f"{method} {path} {response.status_code}: {errors[0].message}"
        for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            assert response.headers[header].isdigit()


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    return SpecChecker()


@contextlib.contextmanager
def serving(**changes: Any) -> Iterator[tuple[str, Any]]:
    """(base URL, app) of a mock served as `leads-mock` serves it (guarded protocol, timeouts), by uvicorn on
    127.0.0.1 and a free port, in a thread; `changes` go to the settings."""
    settings = replace(TEST_SETTINGS, **changes)
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings, lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the live server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture
def live_server() -> Iterator[tuple[str, Any]]:
    """(base URL, app) of the mock served over real HTTP on 127.0.0.1."""
    with serving() as served:
        yield served


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL server for this test session, in a temporary directory, stopped and removed at the end."""
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
        cluster.stop()
    finally:
        cluster.remove()


@pytest.fixture
def postgres_url(pg_cluster: Cluster, request: pytest.FixtureRequest) -> str:
    """A new, empty database of the session's cluster for one test."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + f"_{time.monotonic_ns() % 10**9}"
    return pg_cluster.create_database(name)
