"""Options, the target server, the run's state and the clients every contract check uses.

The controlling process checks the target (preflight), probes the prerequisites and, at the end,
reports; with `--workers`, tests run in worker processes that receive the target and the
prerequisites from it and send back what they saw and what they could not clean up. Only the
processes that collect the tests load Schemathesis (a second of start-up on a busy machine).
"""
from __future__ import annotations

import gc
import json
import logging
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from contract_tests.client import INTERRUPTED, LeadsClient
from contract_tests.findings import BLOCKED_PREFIX, BLOCKED_SEPARATOR, key_digest
from contract_tests.responses import RULE_TRANSPORT
from contract_tests.run_state import RunState, prepare
from contract_tests.target import REQUEST_TIMEOUT_SECONDS, Target
from contract_tests.unanswered import UNANSWERED, record_timeout

STATE_KEY = pytest.StashKey[RunState]()
RESOURCES_KEY = pytest.StashKey[ExitStack]()
WORKER_INPUT = "leads_contract"
SCHEMATHESIS_PLUGIN = "schemathesis.pytest.plugin"


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
    group.addoption("--max-wait", type=float, default=180.0, help="seconds the run may wait for 429s in all")
    group.addoption("--request-timeout", type=float, default=REQUEST_TIMEOUT_SECONDS,
                    help="seconds a request may wait for its answer")
    group.addoption("--report-json", default=None, help="write the machine-readable report here "
                    "(default: next to --junitxml)")
    group.addoption("--report-dir", default=None, help="folder for request bodies and left-over ids "
                    "(default: beside the reports, else ./leads-contract-report)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rule(name, *operations): the documented rule a check enforces")
    # Connection trouble is reported as the transport rule; the HTTP libraries' own logging is noise here.
    for name in ("urllib3", "requests", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    resources = ExitStack()
    config.stash[RESOURCES_KEY] = resources
    UNANSWERED.clear()  # a session run in a process that ran another (tests do) learns the server afresh
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None:
        state = RunState.from_worker_input(config, json.loads(worker_input[WORKER_INPUT]))
        config.pluginmanager.register(BriefInterrupt(), "leads-contract-brief-interrupt")
    else:
        state = prepare(config, resources)
    config.stash[STATE_KEY] = state
    if worker_input is None:
        from contract_tests.report import ContractReport

        config.pluginmanager.register(ContractReport(config, state), "leads-contract-report")
        config.pluginmanager.register(ControllerBridge(state), "leads-contract-bridge")
    if collects_tests(config):
        from contract_tests import session as contract_session

        # Loading Schemathesis and building the tests allocate hundreds of thousands of objects that live
        # as long as the process: the cyclic collector would scan them over and over (a fifth of the start-up
        # time, in every worker). It pauses until collection ends, and then leaves them out (`gc.freeze`).
        gc.disable()
        load_schemathesis_plugin(config)
        contract_session.start(config, state.target, state.ledger, observer=state.observer, waits=state.waits,
                               prerequisites=state.prerequisites)
        config.pluginmanager.register(contract_session.WarningsFail(), "leads-contract-warnings-fail")


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()
    gc.enable()


def collects_tests(config: pytest.Config) -> bool:
    """False in the controlling process of parallel workers: it hands the tests out and reports."""
    if hasattr(config, "workerinput") or config.getoption("collectonly"):
        return True
    return config.getoption("dist", "no") == "no" or not config.getoption("tx", None)


def load_schemathesis_plugin(config: pytest.Config) -> None:
    """Schemathesis's pytest plugin, unless pytest loaded it already (from its entry point)."""
    import importlib

    plugin = importlib.import_module(SCHEMATHESIS_PLUGIN)
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, SCHEMATHESIS_PLUGIN)


class ControllerBridge:
    """Hands the workers the target and the prerequisites; takes back their tallies and cleanup."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_INPUT] = json.dumps(self.state.worker_input())

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}).get(WORKER_INPUT)
        if output:
            self.state.absorb(json.loads(output))


class BriefInterrupt:
    """A worker's Ctrl-C: pytest renders the source of every frame the interrupt crossed (most of a second
    of CPU over Hypothesis's deep stacks) for a traceback nobody sees; the frame it landed in will do."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        excinfo.traceback = excinfo.traceback[-1:]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from contract_tests.scheduling import ListChecksScheduling

    return ListChecksScheduling(config, log, quiet_marker=config.stash[STATE_KEY].quiet_marker)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's rule and operations, as user properties (JUnit, and the reports of parallel workers)."""
    from _pytest.nodes import coerce_node_id

    from contract_tests.report import rule_and_operations

    for item in items:
        rule, operations = rule_and_operations(item)
        if getattr(item, "operation_label", None) and not item.nodeid.endswith("]"):
            # Schemathesis gives every operation's test the same node id; JUnit and pytest-xdist need them apart.
            item._id = coerce_node_id(f"{item.nodeid}[{operations[0]}]")
        item.user_properties.append(("rule", rule))
        item.user_properties.append(("operations", ",".join(operations)))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return config.stash[STATE_KEY].header_lines()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Findings travel with the report; a failure that repeats a failed prerequisite's answer is BLOCKED."""
    report = yield
    if call.excinfo is None or report.skipped or not report.failed:
        return report
    operations = dict(item.user_properties).get("operations", "")
    operation = str(operations).split(",")[0] or None
    state = item.config.stash[STATE_KEY]
    cut = transport_error_in(call.excinfo.value)
    if cut is not None:  # a connection lost where a library read the answer: the transport rule's, not this rule's
        record_timeout(cut, state.target.base_url, state.target.request_timeout)
        state.observer.transport_fault(operation or item.name, "", f"{type(cut).__name__}: {cut}"[:200])
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, f"Skipped: {BLOCKED_PREFIX}{RULE_TRANSPORT}{BLOCKED_SEPARATOR}"
                           f"{operation or item.name} got no whole HTTP answer ({type(cut).__name__})")
        return report
    from contract_tests.extraction import findings_of

    second_tenant = key_digest(state.target.api_key_2) if state.target.api_key_2 else None
    findings = findings_of(call.excinfo.value, operation, second_tenant)
    blocker = state.blocker_of(findings)
    if blocker is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), 0, f"Skipped: {BLOCKED_PREFIX}{blocker.rule}{BLOCKED_SEPARATOR}{blocker.reason}")
        return report
    report.user_properties.append(("findings", json.dumps(findings)))
    return report


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    """A Ctrl-C that library code swallowed (e.g. inside a garbage-collection callback) still stops the run."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


def transport_error_in(error: BaseException | None, depth: int = 0) -> BaseException | None:
    """A lost or cut connection anywhere in a failure (its group members, its causes)."""
    import http.client

    import httpx
    import requests
    import urllib3

    if error is None or depth > 6:
        return None
    kinds = (requests.RequestException, urllib3.exceptions.HTTPError, httpx.TransportError, http.client.HTTPException,
             ConnectionError, TimeoutError)
    if isinstance(error, kinds):
        return error
    members = error.exceptions if isinstance(error, BaseExceptionGroup) else ()
    for candidate in (*members, error.__cause__, error.__context__):
        found = transport_error_in(candidate, depth + 1)
        if found is not None:
            return found
    return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Delete every lead the run created and has not deleted: on success, failure and Ctrl-C."""
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    if collects_tests(config):
        from contract_tests import session as contract_session

        contract_session.finish()
    state.clean_up()
    worker_output = getattr(config, "workeroutput", None)
    if worker_output is not None:
        worker_output[WORKER_INPUT] = json.dumps(state.worker_output())


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None and state.pid_file is not None:
        from contract_tests import interrupts

        interrupts.forget_worker(state.pid_file)
    if RESOURCES_KEY in config.stash:
        config.stash[RESOURCES_KEY].close()


@pytest.fixture(scope="session")
def state(pytestconfig: pytest.Config) -> RunState:
    return pytestconfig.stash[STATE_KEY]


@pytest.fixture(scope="session")
def target(state: RunState) -> Target:
    return state.target


@pytest.fixture(scope="session")
def ledger(state: RunState) -> Any:
    return state.ledger


@pytest.fixture(scope="session")
def client(state: RunState) -> Iterator[LeadsClient]:
    """The first tenant."""
    leads_client = state.client(state.target.api_key)
    yield leads_client
    leads_client.close()


@pytest.fixture(scope="session")
def client_2(state: RunState) -> Iterator[LeadsClient]:
    """The second tenant; isolation checks need one."""
    if not state.target.api_key_2:
        pytest.skip("no second API key given (--api-key-2 / LEADS_API_KEY_2): tenant isolation not checked")
    leads_client = state.client(state.target.api_key_2)
    yield leads_client
    leads_client.close()


@pytest.fixture(scope="session")
def anonymous(state: RunState) -> Iterator[LeadsClient]:
    """No API key at all."""
    leads_client = state.client(None)
    yield leads_client
    leads_client.close()

