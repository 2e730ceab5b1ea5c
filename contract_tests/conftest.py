"""Options, the target server and the clients every contract check uses."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from contract_tests import session as contract_session
from contract_tests.client import CreatedLeads, LeadsClient
from contract_tests.report import ContractSummary
from contract_tests.target import Target, from_options, local_mock

TARGET_KEY = pytest.StashKey[Target]()
LEDGER_KEY = pytest.StashKey[CreatedLeads]()
RESOURCES_KEY = pytest.StashKey[ExitStack]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leads-contract", "Leads API conformance")
    group.addoption("--base-url", default=None, help="API base URL ending in /v1 (env LEADS_API_BASE_URL); "
                    "without it the project's mock is started in-process and checked")
    group.addoption("--api-key", default=None, help="API key of the tenant to test with (env LEADS_API_KEY)")
    group.addoption("--api-key-2", default=None, help="a second tenant's key, for isolation checks (env LEADS_API_KEY_2)")
    group.addoption("--seed", type=int, default=20261129, help="seed of generated data: same seed, same requests")
    group.addoption("--max-examples", type=int, default=None, help="generated cases per operation and phase")
    group.addoption("--quick", action="store_true", default=False, help="a fast smoke run: fewer generated cases")
    group.addoption("--show-key", action="store_true", default=False, help="print API keys unmasked in curl lines")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(name, *operations): the documented rule a check enforces")
    resources = ExitStack()
    config.stash[RESOURCES_KEY] = resources
    target = from_options(
        config.getoption("--base-url"), config.getoption("--api-key"), config.getoption("--api-key-2")
    )
    if target is None:
        target = resources.enter_context(local_mock())
    config.stash[TARGET_KEY] = target
    config.stash[LEDGER_KEY] = CreatedLeads()
    contract_session.start(config, target, config.stash[LEDGER_KEY])
    config.pluginmanager.register(ContractSummary(config, target), "leads-contract-summary")
    config.pluginmanager.register(contract_session.WarningsFail(), "leads-contract-warnings-fail")


def pytest_report_header(config: pytest.Config) -> list[str]:
    target = config.stash[TARGET_KEY]
    where = f"{target.base_url} (the project's mock, started in-process)" if target.local_mock else target.base_url
    return [
        f"leads-contract target: {where}",
        f"api keys: {target.masked(target.api_key)}, second tenant: {target.masked(target.api_key_2)}",
        f"seed: {config.getoption('--seed')}{'  (quick run)' if config.getoption('--quick') else ''}",
    ]


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Delete every lead the run created and has not deleted: on success, failure and Ctrl-C."""
    config = session.config
    target, ledger = config.stash[TARGET_KEY], config.stash[LEDGER_KEY]
    contract_session.finish()
    for api_key, lead_ids in ledger.alive().items():
        client = LeadsClient(target.base_url, api_key, ledger, timeout=10.0)
        try:
            for lead_id in sorted(lead_ids):
                try:
                    client.request("DELETE", f"/leads/{lead_id}")
                except AssertionError:
                    pass  # a dead server cannot be cleaned; the failure was already reported
        finally:
            client.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    if RESOURCES_KEY in config.stash:
        config.stash[RESOURCES_KEY].close()


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    return pytestconfig.stash[TARGET_KEY]


@pytest.fixture(scope="session")
def ledger(pytestconfig: pytest.Config) -> CreatedLeads:
    return pytestconfig.stash[LEDGER_KEY]


@pytest.fixture(scope="session")
def client(target: Target, ledger: CreatedLeads) -> Iterator[LeadsClient]:
    """The first tenant."""
    leads_client = LeadsClient(target.base_url, target.api_key, ledger)
    yield leads_client
    leads_client.close()


@pytest.fixture(scope="session")
def client_2(target: Target, ledger: CreatedLeads) -> Iterator[LeadsClient]:
    """The second tenant; isolation checks need one."""
    if not target.api_key_2:
        pytest.skip("no second API key given (--api-key-2 / LEADS_API_KEY_2): tenant isolation not checked")
    leads_client = LeadsClient(target.base_url, target.api_key_2, ledger)
    yield leads_client
    leads_client.close()


@pytest.fixture(scope="session")
def anonymous(target: Target, ledger: CreatedLeads) -> Iterator[LeadsClient]:
    """No API key at all."""
    leads_client = LeadsClient(target.base_url, None, ledger)
    yield leads_client
    leads_client.close()
