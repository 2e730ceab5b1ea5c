"""The server under test: where it is, which keys to use, and the local mock as a fallback."""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REQUEST_TIMEOUT_SECONDS = 30.0  # the default of `--request-timeout`
LOCAL_KEY = "contract-suite-key-1"
LOCAL_KEY_2 = "contract-suite-key-2"


@dataclass(frozen=True)
class Target:
    """A Leads API server: its base URL (ending in `/v1`) and the keys the suite may use."""

    base_url: str
    api_key: str
    api_key_2: str | None
    local_mock: bool = False
    request_timeout: float = REQUEST_TIMEOUT_SECONDS  # seconds a request waits for its whole answer

    def masked(self, key: str | None) -> str:
        if not key:
            return "(none)"
        return "***" + key[-4:] if len(key) > 8 else "***"


def from_options(base_url: str | None, api_key: str | None, api_key_2: str | None) -> Target | None:
    """Options first, then LEADS_API_BASE_URL / LEADS_API_KEY / LEADS_API_KEY_2."""
    base_url = base_url or os.environ.get("LEADS_API_BASE_URL") or None
    api_key = api_key or os.environ.get("LEADS_API_KEY") or None
    api_key_2 = api_key_2 or os.environ.get("LEADS_API_KEY_2") or None
    if base_url is None:
        return None
    if api_key is None:
        raise ValueError("an API key is required with --base-url (--api-key or LEADS_API_KEY)")
    return Target(base_url=base_url.rstrip("/"), api_key=api_key, api_key_2=api_key_2)


@contextmanager
def serve_in_thread(app: Any, *, startup_timeout: float = 20.0) -> Iterator[str]:
    """Runs an ASGI app with uvicorn on 127.0.0.1 and a free port; yields `http://127.0.0.1:PORT`."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def local_mock() -> Iterator[Target]:
    """The project's own mock, started in-process with two keys and no rate limit to speak of."""
    from mock_server.app import create_app
    from mock_server.config import load_settings

    settings = load_settings(
        ["--api-key", LOCAL_KEY, "--api-key", LOCAL_KEY_2, "--rate-limit", "1000000/minute"], env={}
    )
    with serve_in_thread(create_app(settings)) as url:
        yield Target(base_url=url + "/v1", api_key=LOCAL_KEY, api_key_2=LOCAL_KEY_2, local_mock=True)
