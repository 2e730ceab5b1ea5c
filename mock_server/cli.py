"""`leads-mock` / `python -m mock_server`: serve the mock with uvicorn in one process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import warnings
from collections.abc import Sequence

import uvicorn

from .config import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C stops the mock even when it was started as a background job (`cmd &` in a script
    # starts it with SIGINT ignored, and uvicorn would restore and re-raise that ignored signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    settings = load_settings(argv, os.environ)
    # Connexion imports Starlette's test client, which warns about httpx on every start
    warnings.filterwarnings("ignore", message=".*starlette.testclient", category=Warning)
    from .app import create_app
    from .dataset import DatasetError
    from .persistence import StateFileError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False  # the format shows none of them
    try:
        app = create_app(settings)
    except (DatasetError, StateFileError) as error:
        print(f"leads-mock: error: {error}", file=sys.stderr)
        return 2
    try:
        sock = _listen(settings.host, settings.port)
    except OSError as error:
        print(f"leads-mock: error: cannot listen on {settings.host}:{settings.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{port}"
    print(f"Leads API mock at {base}/v1", flush=True)
    print(f"  docs:     {base}/v1/ui/", flush=True)
    print(f"  API keys: {', '.join(settings.api_keys)} (header X-API-Key)", flush=True)
    # uvicorn stops cleanly on SIGINT/SIGTERM, running the app's shutdown hooks, then re-raises the
    # signal so that the exit status tells how the mock ended: 130 after Ctrl-C, killed by SIGTERM
    config = uvicorn.Config(app, lifespan="on", access_log=False, log_level="info", log_config=None)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen before serving, so that port 0 can be announced as the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)  # clients that read the banner may connect at once: they wait in the backlog
    sock.set_inheritable(True)
    return sock
