"""The kit as a CI job gets it: a built wheel in a fresh virtual environment, run outside any checkout."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"Leads API mock at (http://127\.0\.0\.1:\d+/v1)\n")
NOT_IN_A_BUILD = shutil.ignore_patterns(".git", ".venv", "node_modules", "build", "dist", "reports", "*.egg-info",
                                        "__pycache__", ".hypothesis", "tests", "benchmarks")
INSTALL_SECONDS = 600  # every dependency from pip's cache (or the index on a fresh machine)


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def pinned_wheelhouse(wheel: Path, pip: list[str], env: dict[str, str]) -> Path:
    """A folder of the wheels of the kit's dependencies at the pins, as an offline CI image keeps them.

    Made once per set of pins and requirements (kept beside this venv): resolving against the index
    is most of an install's time, and what is installed, and how, is the same either way.
    """
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        requirements = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
    key = hashlib.sha256("\n".join([(ROOT / "constraints.txt").read_text(encoding="utf-8"), *requirements]).encode())
    wheelhouse = Path(sys.prefix) / "test-wheelhouse" / key.hexdigest()[:16]
    if not wheelhouse.is_dir():
        wheelhouse.parent.mkdir(exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix="building-", dir=wheelhouse.parent))
        _run([*pip, "wheel", "-c", str(ROOT / "constraints.txt"), "-w", str(building), str(wheel)],
             building, env, INSTALL_SECONDS)
        (building / wheel.name).unlink(missing_ok=True)  # the kit is installed from its build, never from here
        try:
            building.rename(wheelhouse)
        except OSError:  # another run made it meanwhile
            shutil.rmtree(building)
    return wheelhouse


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` directory of a fresh venv holding only the wheel and its pinned dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_IN_A_BUILD)  # the build writes build/ and egg-info: not in the checkout
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LEADS_", "PYTHON", "VIRTUAL_ENV"))}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "wheel", "--no-deps", "-w", str(work / "dist"), str(source)], work, env, INSTALL_SECONDS)
    wheel = next((work / "dist").glob("leads_api_kit-*.whl"))
    wheelhouse = pinned_wheelhouse(wheel, pip, env)
    venv.create(work / "venv")  # no pip of its own: pip installs into it from outside (`--python`)
    bin_dir = work / "venv" / "bin"
    # No bytecode compiling: it is most of an install's time, and Python compiles what it imports anyway
    _run([*pip, "--python", str(bin_dir / "python"), "install", "--no-compile", "--no-index", "--find-links",
          str(wheelhouse), "-c", str(ROOT / "constraints.txt"), str(wheel)], work, env, INSTALL_SECONDS)
    shutil.rmtree(source)  # nothing of the checkout is left to lean on
    return bin_dir


def test_the_wheel_holds_the_spec_and_fixtures_from_the_top_level_files(installed: Path) -> None:
    python = installed / "python"
    done = subprocess.run([str(python), "-c", "import leads_api_kit as kit; print(kit.spec_path()); print(kit.fixtures_path())"],
                          cwd=installed, capture_output=True, text=True, timeout=60, check=True)
    spec, fixtures = (Path(line) for line in done.stdout.split())
    assert "site-packages" in spec.parts and "site-packages" in fixtures.parts
    assert spec.read_bytes() == (ROOT / "openapi.yaml").read_bytes()
    assert fixtures.read_bytes() == (ROOT / "fixtures" / "leads.json").read_bytes()


def test_installed_mock_and_contract_suite_run_from_any_directory(installed: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LEADS_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    log = (tmp_path.parent / f"{tmp_path.name}-mock.log").open("w")  # a log line per request: never an unread pipe
    mock = subprocess.Popen([str(installed / "leads-mock"), "--port", "0"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert mock.stdout is not None
        first_line = mock.stdout.readline()
        match = BANNER.match(first_line)
        assert match, f"no banner: {first_line!r}"
        base_url = match.group(1)
        listing = httpx.get(f"{base_url}/leads", headers={"X-API-Key": "leads-mock-key"}, timeout=30)
        assert listing.json()["data"]["meta"]["total"] == 34  # the packaged fixtures, not the built-in fallback
        served = yaml.safe_load(httpx.get(f"{base_url}/openapi.yaml", timeout=30).text)
        assert served["info"] == yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))["info"]
        # Two workers: the parallel run works from the wheel, at half the start-up of the default four.
        checked = subprocess.run([str(installed / "leads-contract"), "--quick", "--workers", "2", "--base-url", base_url,
                                  "--api-key", "leads-mock-key"], cwd=tmp_path,
                                 env=env, capture_output=True, text=True, timeout=600)
        assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
        assert " passed" in checked.stdout
    finally:
        mock.terminate()
        mock.communicate(timeout=30)
        log.close()
    assert not list(tmp_path.iterdir()), "the tools wrote into the directory they were started from"
