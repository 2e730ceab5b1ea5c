"""`leads-contract`: check a Leads API server against `openapi.yaml` and the documented rules.

Runs pytest on this package. Exit status 0 means nothing diverged; any divergence, an unreachable
server or a run that could not start gives a non-zero status and a one-line reason.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from contract_tests.target import from_options

PACKAGE_DIR = Path(__file__).resolve().parent
EXIT_UNREACHABLE = 3
EXIT_USAGE = 4
# Entry-point plugins are not auto-loaded (a user's plugins must not change the run, and pytest
# would rewrite every module of these packages at each start); the ones the suite needs are named.
PLUGINS = ("schemathesis.pytest.plugin", "_hypothesis_pytestplugin")


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
    parser.add_argument("--workers", type=int, default=1,
                        help="parallel pytest-xdist processes sharing the tests (needs pytest-xdist)")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: fewer generated cases")
    parser.add_argument("--junit-xml", metavar="PATH", help="also write a JUnit XML report to PATH")
    parser.add_argument("--show-key", action="store_true", help="print API keys unmasked in curl lines")
    parser.add_argument("pytest_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    if args.max_examples is not None and args.max_examples < 1:
        parser.error("--max-examples must be 1 or more")
    return args


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    """The pytest command line for these options."""
    arguments = [
        str(PACKAGE_DIR), "--rootdir", str(PACKAGE_DIR.parent), "-c", os.devnull,
        "-p", "no:cacheprovider", "--disable-plugin-autoload", "-q", "--tb=short", "-rN",
    ]
    for plugin in PLUGINS:
        arguments += ["-p", plugin]
    for option in ("base_url", "api_key", "api_key_2", "seed", "max_examples"):
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
        arguments += ["-p", "xdist.plugin", "-n", str(args.workers), "--dist", "load"]
    return arguments + list(args.pytest_args)


def preflight(args: argparse.Namespace) -> str | None:
    """Why the run cannot start (one line), or None."""
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
    try:
        httpx.get(target.base_url + "/leads", headers={"X-API-Key": target.api_key}, timeout=10.0)
    except httpx.HTTPError as exc:
        return f"cannot reach {target.base_url}: {type(exc).__name__}: {exc or 'no answer'}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    problem = preflight(args)
    if problem is not None:
        print(f"leads-contract: {problem}", file=sys.stderr)
        return EXIT_UNREACHABLE if problem.startswith("cannot reach") else EXIT_USAGE
    if not (args.base_url or os.environ.get("LEADS_API_BASE_URL")):
        # The mock's web stack warns about its own dependencies when imported: noise to a user here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module("mock_server.app")
    # Hypothesis keeps caches (never an example database here) in ./.hypothesis; not in the user's directory.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "leads-contract-hypothesis"))
    # A CI job cancelled with SIGTERM cleans up like Ctrl-C: the leads the run created are deleted.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started as a background job (SIGINT ignored)
    # Test modules build their Schemathesis tests at import from the run's options: a second run
    # in this process must import them afresh.
    for name in [name for name in sys.modules if name.startswith("contract_tests.test_")]:
        del sys.modules[name]
    return int(pytest.main(pytest_arguments(args)))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
