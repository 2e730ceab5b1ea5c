"""Run the reference Leads API: `python -m tests.reference_server --port 0 --api-key K`.

Defects are switched on with `--defect NAME` (repeatable) and/or `--defects A,B,C`.
The first stdout line is `listening on http://HOST:PORT`, so callers may bind port 0.
"""

from __future__ import annotations

import argparse
import difflib
import socket
import sys

import uvicorn

from .app import create_app
from .defects import DEFECTS, DefectSwitch, parse_defect_names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.reference_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", action="append", required=True, dest="api_keys", help="repeat for more tenants")
    parser.add_argument("--defect", action="append", default=[], metavar="NAME", help="a name from DEFECTS; repeatable")
    parser.add_argument("--defects", action="append", default=[], metavar="A,B,C", help="comma-separated names")
    parser.add_argument("--rate-limit", type=int, default=10_000, help="requests per key per window")
    parser.add_argument("--window-seconds", type=int, default=60)
    args = parser.parse_args(argv)
    args.defects = parse_defect_names([*args.defect, *args.defects])
    for name in sorted(args.defects - DEFECTS.keys()):
        close = difflib.get_close_matches(name, DEFECTS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else f"; known: {', '.join(sorted(DEFECTS))}"
        parser.error(f"unknown defect {name!r}{hint}")
    try:
        DefectSwitch(args.defects)
    except ValueError as error:  # a pair where one defect hides the other
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    app = create_app(args.api_keys, args.defects, args.rate_limit, args.window_seconds)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Binding here (not in uvicorn) is what lets us report the port chosen for port 0.
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    print(f"listening on http://{args.host}:{port}", flush=True)
    if args.defects:
        print(f"defects on: {', '.join(sorted(args.defects))}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
