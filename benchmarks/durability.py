"""Acknowledged writes lost when a mock with `--state-file` (SQLite) is killed with kill -9 mid-burst.

Four writers create and update leads over HTTP while the mock is killed at a random moment, 20
times in a row on the same state file, with the fixtures and with 50,000 leads. Every write answered
2xx is then looked up in the file. Run by hand: `python benchmarks/durability.py [--kills 20]`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from durability import kill_during_bursts  # noqa: E402 - the tests' helper, found through the path above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--large", type=int, default=50_000, help="leads in the large data set")
    args = parser.parse_args()
    print(f"| {'data set':<22} | {'kills':>5} | {'acknowledged writes':>19} | {'lost':>5} | {'seconds':>7} |")
    print(f"|{'-' * 24}|{'-' * 7}|{'-' * 21}|{'-' * 7}|{'-' * 9}|")
    for name, extra in (("fixtures (34 leads)", ()), (f"{args.large} leads", ("--generate", str(args.large)))):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            writes, lost = kill_during_bursts(Path(tmp) / "state.db", args.kills, *extra)
            print(f"| {name:<22} | {args.kills:>5} | {writes:>19} | {lost:>5} | {time.monotonic() - started:>7.1f} |")


if __name__ == "__main__":
    main()
