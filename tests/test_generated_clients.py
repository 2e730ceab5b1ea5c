"""Clients generated from openapi.yaml by pinned, real generators: typed models, no warnings, working calls."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "generated_clients"
VENV_BIN = Path(sys.executable).parent
NODE_BIN = ROOT / "node_modules" / ".bin"
TSC_FLAGS = ["--strict", "--noEmit", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler"]
BOGUS_LINE = re.compile(r"^// BOGUS [^:]*: ", re.MULTILINE)


def _run(command: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # ruff, run by the generator
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def live_mock() -> Iterator[str]:
    """A mock on a free port, over real HTTP; yields its base URL."""
    process = subprocess.Popen(preloaded.mock("--port", "0"), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        match = re.match(r"Leads API mock at (http://127\.0\.0\.1:\d+/v1)\n", process.stdout.readline())
        assert match, "the mock printed no banner"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def python_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(directory holding the generated `leads_client` package, the generator's output)."""
    work = tmp_path_factory.mktemp("python-client")
    done = _run([str(VENV_BIN / "openapi-python-client"), "generate", "--path", str(ROOT / "openapi.yaml"),
                 "--meta", "none", "--output-path", "leads_client"], work)
    assert done.returncode == 0, done.stdout + done.stderr
    return work, done.stdout + done.stderr


def test_openapi_python_client_generates_without_a_warning(python_client: tuple[Path, str]) -> None:
    _, output = python_client
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output


def test_the_generated_update_body_is_a_typed_model_that_can_send_null(python_client: tuple[Path, str]) -> None:
    work, _ = python_client
    model = (work / "leads_client" / "models" / "lead_update.py").read_text(encoding="utf-8")
    assert "class LeadUpdate:" in model
    assert "status: LeadStatus | Unset = UNSET" in model and "notes: None | str | Unset = UNSET" in model
    endpoint = (work / "leads_client" / "api" / "leads" / "update_lead.py").read_text(encoding="utf-8")
    assert "body: LeadUpdate," in endpoint and "body: Any" not in endpoint
    models = {path.stem for path in (work / "leads_client" / "models").glob("*.py")}
    assert "error_info" in models and len(models) < 60  # one model per named schema, not one per use


def test_a_script_on_the_generated_python_client_runs_the_lead_lifecycle(
        python_client: tuple[Path, str], live_mock: str) -> None:
    work, _ = python_client
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "use_python_client.py"), live_mock, "leads-mock-key"], cwd=work,
        env={**os.environ, "PYTHONPATH": str(work)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


@pytest.fixture(scope="module")
def typescript_types(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the generated `leads-api.ts` and the file that uses it."""
    if not (NODE_BIN / "tsc").exists():
        pytest.fail("node_modules is missing: run `make test` (it runs npm ci)")
    work = tmp_path_factory.mktemp("typescript")
    done = _run([str(NODE_BIN / "openapi-typescript"), str(ROOT / "openapi.yaml"), "-o", str(work / "leads-api.ts")], work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warn" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    shutil.copy(SCRIPTS / "use_types.ts", work / "use_types.ts")
    return work


def test_openapi_typescript_names_every_schema(typescript_types: Path) -> None:
    generated = (typescript_types / "leads-api.ts").read_text(encoding="utf-8")
    for name in ("LeadUpdate", "LeadPage", "ConvertRequest", "ErrorInfo", "ErrorResponse"):
        assert re.search(rf"^        {name}: ", generated, re.MULTILINE), name
    assert "ModelError" not in generated
    assert re.search(r'"application/json": components\["schemas"\]\["LeadUpdate"\];', generated)
    assert 'clientType?: components["schemas"]["ClientType"];' in generated  # optional, the server defaults it


@pytest.fixture(scope="module")
def compiled(typescript_types: Path) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """One `tsc --strict` over the file using the types and over a copy with its bogus bodies uncommented;
    (tsc's result, the lines of those bodies). Each file is a module of its own: neither sees the other."""
    source = (typescript_types / "use_types.ts").read_text(encoding="utf-8")
    bogus_lines = [number for number, line in enumerate(source.splitlines(), 1) if BOGUS_LINE.match(line)]
    (typescript_types / "bogus.ts").write_text(BOGUS_LINE.sub("", source), encoding="utf-8")
    return _run([str(NODE_BIN / "tsc"), *TSC_FLAGS, "use_types.ts", "bogus.ts"], typescript_types), bogus_lines


def diagnostics(output: str) -> list[str]:
    """tsc's error lines (`file(line,col): error ...`, or `error ...` for the run as a whole)."""
    return [line for line in output.splitlines() if re.match(r"^(\S+\(\d+,\d+\): )?error ", line)]


def test_code_using_the_list_update_and_convert_types_compiles_strict(compiled: Any) -> None:
    done, _ = compiled
    assert diagnostics(done.stdout + done.stderr), "tsc reported nothing: the bogus copy was not compiled"
    elsewhere = [line for line in diagnostics(done.stdout + done.stderr) if not line.startswith("bogus.ts(")]
    assert elsewhere == [], done.stdout + done.stderr


def test_bogus_update_and_convert_bodies_do_not_compile(compiled: Any) -> None:
    done, bogus_lines = compiled
    assert len(bogus_lines) == 4
    assert done.returncode != 0
    failing = sorted({int(line) for line in re.findall(r"^bogus\.ts\((\d+),\d+\): error", done.stdout, re.MULTILINE)})
    assert failing == bogus_lines, done.stdout  # each bogus body fails, and nothing else does
