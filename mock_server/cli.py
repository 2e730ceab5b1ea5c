"""`leads-mock` / `python -m mock_server`: serve the mock with uvicorn in one process."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import warnings
from collections.abc import Callable, Sequence

import uvicorn

from .config import is_loopback, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C stops the mock even when it was started as a background job (`cmd &` in a script
    # starts it with SIGINT ignored, and uvicorn would restore and re-raise that ignored signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    settings = load_settings(argv, os.environ)
    # Connexion imports Starlette's test client, which warns about httpx on every start
    warnings.filterwarnings("ignore", message=".*starlette.testclient", category=Warning)
    from .app import create_app
    from .dataset import DatasetError
    from .serving import server_config
    from .store import StoreOpenError

    handler = logging.StreamHandler()
    handler.setFormatter(LogFormat("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False  # the format shows none of them
    try:
        app = create_app(settings)
    except (DatasetError, StoreOpenError) as error:
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
    print(f"  panel:    {base}/__mock/ (the mock's controls, in the browser)", flush=True)
    # uvicorn stops cleanly on SIGINT/SIGTERM, running the app's shutdown hooks, then re-raises the
    # signal so that the exit status tells how the mock ended: 130 after Ctrl-C, killed by SIGTERM
    if not is_loopback(settings.host) and not settings.admin_token:
        print("  warning:  /__mock/ is open to every machine that reaches this host (--unsafe-open-admin)",
              flush=True)
    config = server_config(app, settings, lifespan="on", access_log=False, log_level="info", log_config=None)
    try:
        _Server(config, on_shutdown=app.journal.release_waiters).run(sockets=[sock])
    except KeyboardInterrupt:
        return 130
    return 0


_LINE_MARK = "\x00line\x00"  # where a line goes in a formatted record


class LogFormat(logging.Formatter):
    """logging's Formatter, with the default `asctime` text of each second made once, not once a line.

    A record of several access lines (`access_lines`, see `AccessLog`) is written as one line each,
    each with the record's time, level and name, as if each were a record of its own.
    """

    _second: int | None = None
    _second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        lines = getattr(record, "access_lines", None)
        if lines is None or len(lines) < 2 or record.exc_info or record.stack_info:
            return super().format(record)
        record.message = _LINE_MARK
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        before, mark, after = self.formatMessage(record).partition(_LINE_MARK)
        if not mark:  # a format without the message
            return super().format(record)
        return "\n".join([before + line + after for line in lines])

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # local time changes zone only on a whole second
            self._second_text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return self.default_msec_format % (self._second_text, record.msecs)


class _Server(uvicorn.Server):
    """uvicorn's server, which first ends the journal's long polls (the panel's): it waits for open requests."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.on_shutdown()
        await super().shutdown(sockets)


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
