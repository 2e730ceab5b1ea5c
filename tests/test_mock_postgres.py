"""Several mock processes over one PostgreSQL database (a throwaway cluster): one truth for all of them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from psycopg import pq

from conftest import assert_error
from mock_server.api_errors import LeadNotFound
from mock_server.sample_data import default_dataset
from mock_server.store import user_id_for
from mock_server.store.postgres import PostgresStore
from postgres import Cluster
from tests import preloaded

ROOT = Path(__file__).resolve().parents[1]
KEY, OTHER_KEY = "leads-mock-key", "other-tenant-key"
RACHEL_ID = "f2b8d4a6-3c5e-4f7a-9b1d-8e0c6a4f2d9b"


class Mock:
    def __init__(self, url: str, log: Path, *args: str) -> None:
        # Forked from a process that has imported the mock (tests/preloaded.py); it is stopped with SIGTERM only.
        command = preloaded.mock("--port", "0", "--database-url", url, "--api-key", KEY, "--api-key", OTHER_KEY, *args)
        self.log = log
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("ab"))
        self.base = ""

    def wait_until_up(self) -> Mock:
        line = self.process.stdout.readline().decode()  # the banner's first line names the address
        assert line.startswith("Leads API mock at "), f"{line}\n{self.log.read_text()}"
        self.base = line.split()[-1].removesuffix("/v1")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the mock did not come up"
                time.sleep(0.05)

    def client(self, key: str = KEY) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-Key": key}, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def start_mocks(url: str, tmp_path: Path, count: int, *args: str) -> list[Mock]:
    """`count` processes started at once (they race to migrate the new database: one does it)."""
    mocks = [Mock(url, tmp_path / f"mock-{n}.log", *args) for n in range(count)]
    return [mock.wait_until_up() for mock in mocks]


@pytest.fixture(scope="module")
def shared_mocks(pg_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mock, Mock]]:
    """Two processes over one new database, started once for the tests of this module."""
    url = pg_cluster.create_database(f"two_mocks_{time.monotonic_ns() % 10**9}")
    mocks = start_mocks(url, tmp_path_factory.mktemp("two-mocks"), 2, "--rate-limit", "100000/minute")
    try:
        yield mocks[0], mocks[1]
    finally:
        for mock in mocks:
            mock.stop()


@pytest.fixture
def two_mocks(shared_mocks: tuple[Mock, Mock]) -> tuple[Mock, Mock]:
    """The shared processes, their data reset to the fixtures (and the rate-limit windows cleared) first."""
    assert httpx.post(shared_mocks[0].base + "/__mock/reset", timeout=30).status_code == 200
    return shared_mocks


async def send_all(requests: list[tuple[str, str, str, dict]]) -> list[httpx.Response]:
    """(method, base, path, json) requests sent at once."""
    async with httpx.AsyncClient(headers={"X-API-Key": KEY}, timeout=60,
                                 limits=httpx.Limits(max_connections=100)) as client:
        return await asyncio.gather(*(client.request(method, base + path, json=body)
                                      for method, base, path, body in requests))


def test_a_lead_created_through_one_process_is_read_listed_updated_and_converted_through_the_other(
        two_mocks: tuple[Mock, Mock]) -> None:
    first, second = two_mocks
    with first.client() as one, second.client() as other:
        created = one.post("/v1/leads", json={"name": "Shared Lead", "email": "shared@example.com",
                                              "budget": 380000}).json()["data"]
        assert other.get(f"/v1/leads/{created['id']}").json()["data"] == created
        listed = other.get("/v1/leads", params={"limit": 1}).json()["data"]
        assert listed["leads"][0]["id"] == created["id"] and listed["meta"]["total"] == 35
        assert listed["stats"]["byStatus"]["new"] == one.get("/v1/leads").json()["data"]["stats"]["byStatus"]["new"]
        updated = other.put(f"/v1/leads/{created['id']}", json={"status": "qualified", "version": 1})
        assert updated.status_code == 200 and updated.json()["data"]["version"] == 2
        assert one.get(f"/v1/leads/{created['id']}").json()["data"]["status"] == "qualified"
        assert one.get("/v1/leads", params={"status": "qualified", "limit": 1}).json()["data"]["leads"][0]["id"] \
            == created["id"]
        converted = other.post(f"/v1/leads/{created['id']}/convert", json={"clientType": "buyer"})
        assert converted.status_code == 200, converted.text
        assert_error(one.post(f"/v1/leads/{created['id']}/convert", json={}), 409, "ALREADY_CONVERTED")
        assert one.get(f"/v1/leads/{created['id']}").json()["data"]["converted_to_client_id"] == \
            converted.json()["data"]["client"]["id"]
        # a cursor from one process pages on in the other
        page = one.get("/v1/leads", params={"limit": 5}).json()["data"]
        following = other.get("/v1/leads", params={"limit": 5, "cursor": page["cursors"]["next"]}).json()["data"]
        assert following["meta"]["page"] == 2 and following["leads"][0]["id"] != page["leads"][-1]["id"]
        assert other.delete(f"/v1/leads/{created['id']}").status_code == 200
        assert_error(one.get(f"/v1/leads/{created['id']}"), 404, "NOT_FOUND")


def test_50_concurrent_updates_with_one_version_across_two_processes_give_one_200_and_49_409(
        two_mocks: tuple[Mock, Mock]) -> None:
    first, second = two_mocks
    requests = [("PUT", (first, second)[n % 2].base, f"/v1/leads/{RACHEL_ID}",
                 {"notes": f"writer {n}", "version": 1}) for n in range(50)]
    statuses = sorted(response.status_code for response in asyncio.run(send_all(requests)))
    assert statuses == [200] + [409] * 49
    with second.client() as client:
        lead = client.get(f"/v1/leads/{RACHEL_ID}").json()["data"]
    assert lead["version"] == 2


def test_20_concurrent_converts_across_two_processes_make_one_client_and_one_contact(
        two_mocks: tuple[Mock, Mock]) -> None:
    first, second = two_mocks
    with first.client() as client:
        before = {kind: len(client.get(f"/__mock/{kind}").json()["data"][kind]) for kind in ("clients", "contacts")}
        lead = client.post("/v1/leads", json={"name": "Race", "email": "race-unique@example.com"}).json()["data"]
    requests = [("POST", (first, second)[n % 2].base, f"/v1/leads/{lead['id']}/convert", {}) for n in range(20)]
    statuses = sorted(response.status_code for response in asyncio.run(send_all(requests)))
    assert statuses == [200] + [409] * 19
    with second.client() as client:
        after = {kind: len(client.get(f"/__mock/{kind}").json()["data"][kind]) for kind in ("clients", "contacts")}
    assert after == {"clients": before["clients"] + 1, "contacts": before["contacts"] + 1}


def test_a_keys_rate_limit_window_counts_requests_to_both_processes(postgres_url: str, tmp_path: Path) -> None:
    mocks = start_mocks(postgres_url, tmp_path, 2, "--rate-limit", "10/minute")
    try:
        with mocks[0].client() as one, mocks[1].client() as other:
            # lists, gets by id (whose hit shares the read's round trip) and creates, alternating between processes
            paths = ["/v1/leads?limit=1", f"/v1/leads/{RACHEL_ID}", "/v1/leads"]
            remaining = [int((one, other)[n % 2].request("POST" if n % 3 == 2 else "GET", paths[n % 3],
                                                         json={"name": "Counted"} if n % 3 == 2 else None)
                             .headers["RateLimit-Remaining"]) for n in range(10)]
            assert remaining == list(range(9, -1, -1))
            for client in (one, other):
                for method, path in (("GET", f"/v1/leads/{RACHEL_ID}"), ("GET", "/v1/leads"), ("POST", "/v1/leads")):
                    refused = client.request(method, path, json={"name": "Refused"} if method == "POST" else None)
                    assert_error(refused, 429, "RATE_LIMIT_EXCEEDED")
                    assert int(refused.headers["Retry-After"]) >= 1
            with mocks[0].client(OTHER_KEY) as tenant:  # another key has its own window
                assert tenant.get("/v1/leads").status_code == 200
            assert httpx.post(mocks[1].base + "/__mock/reset", timeout=30).status_code == 200
            assert one.get("/v1/leads").status_code == 200  # the reset cleared the shared window
    finally:
        for mock in mocks:
            mock.stop()


def test_a_reset_through_one_process_resets_the_data_every_process_serves(two_mocks: tuple[Mock, Mock]) -> None:
    first, second = two_mocks
    with first.client() as one, second.client(OTHER_KEY) as other:
        one.delete(f"/v1/leads/{RACHEL_ID}")
        other.post("/v1/leads", json={"name": "Other Tenant"})
        assert httpx.post(second.base + "/__mock/reset", timeout=30).status_code == 200
        assert one.get(f"/v1/leads/{RACHEL_ID}").status_code == 200
        assert other.get("/v1/leads").json()["data"]["meta"]["total"] == 0
        assert one.get("/v1/leads").json()["data"]["meta"]["total"] == 34


def test_the_contract_suite_passes_against_a_postgresql_backed_mock(two_mocks: tuple[Mock, Mock]) -> None:
    first, _ = two_mocks
    done = subprocess.run(preloaded.contract("--base-url", first.base + "/v1", "--api-key", KEY, "--api-key-2",
                                                OTHER_KEY, "--quick", "--workers", "1"),
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_a_database_that_goes_away_gives_500_naming_it_and_the_mock_recovers_when_it_returns(
        tmp_path: Path) -> None:
    cluster = Cluster()
    cluster.start()
    mock = None
    try:
        url = cluster.create_database("outage")
        mock = start_mocks(url, tmp_path, 1)[0]
        with mock.client() as client:
            assert client.get(f"/v1/leads/{RACHEL_ID}").status_code == 200
            cluster.stop("immediate")
            for attempt in (lambda: client.get(f"/v1/leads/{RACHEL_ID}"), lambda: client.get("/v1/leads"),
                            lambda: client.post("/v1/leads", json={"name": "During Outage"})):
                error = assert_error(attempt(), 500, "SERVER_ERROR")
                assert f"postgresql://127.0.0.1:{cluster.port}/outage" in error["message"], error
                assert "unavailable" in error["message"]
            cluster.start()
            deadline = time.monotonic() + 30
            while (answer := client.get(f"/v1/leads/{RACHEL_ID}")).status_code != 200:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.2)
            assert client.post("/v1/leads", json={"name": "After Outage"}).status_code == 201
            assert client.get("/v1/leads").json()["data"]["meta"]["total"] == 35
    finally:
        if mock is not None:
            mock.stop()
        with contextlib.suppress(RuntimeError):  # already down when the test failed during the outage
            cluster.stop("immediate")
        cluster.remove()


def round_trips(store: PostgresStore, action: Callable[[], object]) -> int:
    """How many times `action` waited for the database: the Sync messages libpq sent (its protocol trace)."""
    pgconn = store._connection.pgconn  # type: ignore[union-attr]
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            pgconn.untrace()
        trace.seek(0)
        return sum(line.split(b"\t")[:3] == [b"F", b"4", b"Sync"] for line in trace.read().splitlines())


def test_a_get_by_id_and_its_queued_rate_limit_hit_take_one_round_trip(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, default_dataset, user_id_for(KEY))
    try:
        owner = user_id_for(KEY)
        first = store.queue_hit("user:tripper", 60, 10)
        # the connection's first pipeline fails (nothing prepared yet): each statement is prepared and runs again
        assert json.loads(store.get_json(owner, RACHEL_ID))["id"] == RACHEL_ID
        assert first.counted()[:2] == (1, False)
        for expected_hits in (2, 3):
            hit = store.queue_hit("user:tripper", 60, 10)
            assert round_trips(store, lambda: store.get_json(owner, RACHEL_ID)) == 1
            assert round_trips(store, hit.counted) == 0  # already counted, in the same round trip
            assert hit.counted()[:2] == (expected_hits, False)
        lone = store.queue_hit("user:tripper", 60, 10)
        assert round_trips(store, lone.counted) == 1 and lone.counted()[0] == 4  # a hit alone when asked for
        two = [store.queue_hit("user:tripper", 60, 5) for _ in range(2)]
        assert round_trips(store, lambda: store.list_leads(owner, status=None, interest_level=None, limit=1)) == 2
        assert [queued.counted()[:2] for queued in two] == [(5, False), (5, True)]  # in order; refused not counted
        with pytest.raises(LeadNotFound):
            store.get_json(owner, "00000000-0000-4000-8000-000000000000")
    finally:
        store.close()


def test_an_unreachable_database_at_start_up_is_one_line_naming_it_without_its_password() -> None:
    from postgres import free_port

    port = free_port()
    done = subprocess.run(preloaded.mock("--port", "0", "--database-url", f"postgresql://mock:hunter2@127.0.0.1:{port}/leads"),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"postgresql://127.0.0.1:{port}/leads" in done.stderr and "hunter2" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
