"""`st run` from a clone, as a tester would type it, passes against the mock: schemathesis.toml says the rest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent
ST = Path(sys.executable).with_name("st")


def test_plain_st_run_from_the_clone_passes_against_the_mock(tmp_path: Path) -> None:
    # A limit no fuzzing run reaches: at the default 2000/minute a second run would meet mostly 429s.
    mock = subprocess.Popen(preloaded.mock("--port", "0", "--rate-limit", "1000000/minute"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert mock.stdout is not None
        match = re.match(r"Leads API mock at (http://127\.0\.0\.1:\d+/v1)\n", mock.stdout.readline())
        assert match, "the mock printed no banner"
        clone = tmp_path / "clone"  # st keeps a cache in the directory it runs from: not in the checkout
        clone.mkdir()
        for name in ("openapi.yaml", "schemathesis.toml"):
            shutil.copy(ROOT / name, clone / name)
        env = {key: value for key, value in os.environ.items() if not key.startswith("SCHEMATHESIS_")}
        done = subprocess.run([str(ST), "run", "openapi.yaml", "--url", match.group(1), "-H", "X-API-Key: leads-mock-key",
                               "--seed", "20260701", "--no-color"],
                              cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    finally:
        mock.terminate()
        mock.wait(timeout=30)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout
    assert "Tested: 6" in done.stdout  # every operation ran


def test_the_config_relaxes_positive_data_acceptance_only_where_the_docs_demand_a_400() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "schemathesis.toml").read_text(encoding="utf-8"))
    assert set(config) == {"operations"}  # nothing global: every other check and setting is Schemathesis's own
    relaxed = {operation["include-name"]: operation["checks"] for operation in config["operations"]}
    assert set(relaxed) == {"GET /leads", "PUT /leads/{id}"}
    for checks in relaxed.values():
        assert set(checks) == {"positive_data_acceptance"}
        statuses = checks["positive_data_acceptance"]["expected-statuses"]
        assert "400" in statuses and not {"422", "415", "413"} & set(statuses)
