"""`leads-contract`: check a Leads API server against `openapi.yaml` and the documented rules.

Runs pytest on this package. Exit status: 0 nothing diverged, 1 the server diverges, 2 interrupted,
3 the target is unusable (unreachable, no Leads API at that URL, a key refused, both keys one
tenant), 4 a usage error, 5 an internal error of the suite.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

# Only what the options need, before the fork server starts: pytest, httpx and the suite load after it.
from contract_tests import forkserver
from contract_tests.target import REQUEST_TIMEOUT_SECONDS, from_options

PACKAGE_DIR = Path(__file__).resolve().parent
EXIT_PASSED, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE, EXIT_INTERNAL = range(6)
DEFAULT_WORKERS = 4
# Entry-point plugins are not auto-loaded (a user's plugins must not change the run, and pytest
# would rewrite every module of these packages at each start); the ones the suite needs are named.
# Schemathesis's is loaded by the suite's conftest, in the processes that collect the tests only.
PLUGINS = ("_hypothesis_pytestplugin",)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="leads-contract",
        description="Check a Leads API server against openapi.yaml and the documented rules. "
        "Without --base-url the project's mock is started in-process and checked.",
        epilog="Arguments after `--` go to pytest unchanged, e.g. `leads-contract -- -k listLeads`.",
    )
    parser.add_argument("--base-url", help="API base URL ending in /v1 (env LEADS_API_BASE_URL)")
    parser.add_argument("--api-key", help="API key of the tenant to test with (env LEADS_API_KEY)")
    parser.add_argument("--api-key-2", help="a second tenant's key, for isolation checks (env LEADS_API_KEY_2)")
    parser.add_argument("--seed", type=int, help="seed of the generated data: same seed, same requests")
    parser.add_argument("--max-examples", type=int, help="generated cases per operation and mode")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"parallel processes sharing the checks (default {DEFAULT_WORKERS}; 1 runs them in this "
                        "process); the results do not depend on it")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: fewer generated cases")
    parser.add_argument("--junit-xml", metavar="PATH", help="also write a JUnit XML report to PATH")
    parser.add_argument("--report-json", metavar="PATH",
                        help="write the machine-readable report to PATH (default: next to --junit-xml)")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="folder for request bodies and the ids left on the server (default: beside the "
                        "reports, else ./leads-contract-report)")
    parser.add_argument("--max-wait", type=float, default=180.0, metavar="SECONDS",
                        help="the most the run waits for 429s in all (default 180)")
    parser.add_argument("--request-timeout", type=float, default=REQUEST_TIMEOUT_SECONDS, metavar="SECONDS",
                        help=f"the most a request waits for its answer (default {REQUEST_TIMEOUT_SECONDS:g}); an "
                        "operation that timed out is not sent again, and the checks that needed it are BLOCKED")
    parser.add_argument("--show-key", action="store_true", help="print API keys unmasked in curl lines")
    parser.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_wait < 0:
        parser.error("--max-wait must be 0 or more")
    if not 0 < args.request_timeout <= 3600:
        parser.error("--request-timeout must be more than 0 and at most 3600 seconds")
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    if args.max_examples is not None and args.max_examples < 1:
        parser.error("--max-examples must be 1 or more")
    return args


def pytest_arguments(args: argparse.Namespace, worker_python: str | None = None) -> list[str]:
    """The pytest command line for these options; `worker_python`, the Python that starts each worker."""
    arguments = [
        str(PACKAGE_DIR), "--rootdir", str(PACKAGE_DIR.parent), "-c", os.devnull,
        "-p", "no:cacheprovider", "--disable-plugin-autoload", "-q", "-rN",
        # The diagnosis below is the report: no per-test tracebacks flooding it.
        "--tb=no",
        # Plain asserts keep each failure's `Finding` (its parts group failures by cause).
        "--assert=plain",
    ]
    for plugin in PLUGINS:
        arguments += ["-p", plugin]
    for option in ("base_url", "api_key", "api_key_2", "seed", "max_examples", "report_json", "report_dir", "max_wait",
                   "request_timeout"):
        value = getattr(args, option)
        if value is not None:
            arguments += ["--" + option.replace("_", "-"), str(value)]
    if args.quick:
        arguments.append("--quick")
    if args.show_key:
        arguments.append("--show-key")
    if args.junit_xml:
        arguments += [f"--junitxml={args.junit_xml}", "-o", "junit_suite_name=leads-contract"]
    if args.workers > 1:
        arguments += ["-p", "xdist.plugin", "--dist", "load"]
        if worker_python:
            arguments += ["--tx", f"{args.workers}*popen//python={worker_python}"]
        else:
            arguments += ["-n", str(args.workers)]
    return arguments + list(args.pytest_args)


def usage_problem(args: argparse.Namespace) -> str | None:
    """Why the options cannot make a run (one line), or None."""
    if args.workers > 1 and importlib.util.find_spec("xdist") is None:
        return "--workers needs pytest-xdist: pip install pytest-xdist"
    try:
        target = from_options(args.base_url, args.api_key, args.api_key_2)
    except ValueError as exc:
        return str(exc)
    if target is None:
        if importlib.util.find_spec("mock_server") is None:
            return "no --base-url given and the project's mock (mock_server) is not installed"
        return None
    if not target.base_url.startswith(("http://", "https://")):
        return f"--base-url must be an http(s) URL ending in /v1, got {target.base_url!r}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error is ours to number
        return EXIT_PASSED if exc.code in (0, None) else EXIT_USAGE
    problem = usage_problem(args)
    if problem is not None:
        print(f"leads-contract: {problem}", file=sys.stderr)
        return EXIT_USAGE
    # Hypothesis keeps caches (never an example database here) in ./.hypothesis; not in the user's directory.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "leads-contract-hypothesis"))
    # The workers' libraries load while this process loads its own and checks the target.
    forks = forkserver.start() if args.workers > 1 else None
    try:
        from contract_tests.interrupts import interrupt

        # Ctrl-C must reach the run even when it was started with SIGINT ignored (a background job).
        signal.signal(signal.SIGINT, interrupt)
        return run(args, forks)
    finally:
        if forks is not None:
            forks.stop()


def run(args: argparse.Namespace, forks: forkserver.ForkServer | None) -> int:
    import pytest

    from contract_tests import preflight as target_check
    from contract_tests.interrupts import interrupt
    from contract_tests.run_state import CONSOLE_ENV, PREFLIGHT_ENV, write_stop_report

    target = from_options(args.base_url, args.api_key, args.api_key_2)
    if target is not None:
        checked = target_check.check(target)
        if checked.stop:
            print(f"leads-contract: {checked.stop}", file=sys.stderr)
            report = args.report_json or (str(Path(args.junit_xml).with_suffix(".json")) if args.junit_xml else None)
            write_stop_report(Path(report) if report else None, checked.verdict,
                              {"base_url": target.base_url}, checked.stop)
            return EXIT_UNREACHABLE
        os.environ[PREFLIGHT_ENV] = json.dumps(checked.rate_limit)
    else:
        os.environ.pop(PREFLIGHT_ENV, None)
        # The mock's web stack warns about its own dependencies when imported: noise to a user here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module("mock_server.app")
    # Waits for 429s are printed as they start, past pytest's capture and from parallel workers.
    if sys.platform.startswith("linux"):
        os.environ[CONSOLE_ENV] = f"/proc/{os.getpid()}/fd/{os.dup(sys.stderr.fileno())}"
    # A CI job cancelled with SIGTERM cleans up like Ctrl-C: the leads the run created are deleted.
    signal.signal(signal.SIGTERM, interrupt)
    # Test modules build their Schemathesis tests at import from the run's options: a second run
    # in this process must import them afresh.
    for name in [name for name in sys.modules if name.startswith("contract_tests.test_")]:
        del sys.modules[name]
    try:
        status = int(pytest.main(pytest_arguments(args, forks.python if forks else None)))
    except Exception:  # noqa: BLE001 - the suite's own failure: never reported as the server's
        traceback.print_exc()
        print("leads-contract: internal error of the suite (above): the server was not judged", file=sys.stderr)
        return EXIT_INTERNAL
    return exit_status(status)


def exit_status(pytest_status: int) -> int:
    """pytest's status in the documented numbering (pytest's own 3 is an internal error, 5 no tests)."""
    from contract_tests import run_state

    if run_state.STOPPED:
        return EXIT_UNREACHABLE
    return {0: EXIT_PASSED, 1: EXIT_DIVERGED, 2: EXIT_INTERRUPTED, 3: EXIT_INTERNAL, 4: EXIT_USAGE,
            5: EXIT_USAGE}.get(pytest_status, EXIT_INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
