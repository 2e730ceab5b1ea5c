"""The Swagger UI page at /v1/ui/, opened in headless Chromium: all six operations render, all from 127.0.0.1.

Chromium is driven over its DevTools protocol, which reports every request the page itself makes
(the browser's own update and sign-in traffic is not the page's and is not counted). All hosts but
127.0.0.1 also go to a proxy that refuses them, so nothing can be fetched from the internet anyway.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from conftest import serving
from mock_server.app import load_spec

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--window-size=1280,1400", "--hide-scrollbars",
)
WAIT_SECONDS = 60
SCREENSHOT = Path("/tmp/leads-mock-docs-page.png")


def chromium() -> str:
    found = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if found is None:
        pytest.fail("Chromium is not installed; run `make test`, which installs it for this test")
    return found


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers 403 to everything (Chromium never proxies loopback)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> RefusingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.requests.append(conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass


class DevTools:
    """One page of a Chromium over the DevTools protocol; events are kept in arrival order."""

    def __init__(self, socket_url: str) -> None:
        self.ws: ClientConnection = connect(socket_url, proxy=None, max_size=64 * 1024 * 1024, open_timeout=WAIT_SECONDS)
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == number:
                assert "error" not in message, (method, message["error"])
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"the page never satisfied: {expression}"
            time.sleep(0.1)

    def close(self) -> None:
        self.ws.close()


class PageParts(HTMLParser):
    """Element ids, `data-path` values and the visible text of a rendered DOM."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.paths: set[str] = set()
        self.chunks: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        if values.get("data-path"):
            self.paths.add(values["data-path"] or "")

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.chunks).split())


class Visit:
    """What one visit of the docs page left: its rendered DOM and the URLs it requested."""

    def __init__(self, url: str, html: str, events: list[dict[str, Any]]) -> None:
        self.url = url
        self.dom = PageParts(html)
        self.requested = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
        self.failed = [e["params"] for e in events if e.get("method") == "Network.loadingFailed"]


@contextmanager
def chromium_browser(profile: Path, proxy: str) -> Iterator[str]:
    """Headless Chromium (a fresh `profile`, every request through `proxy`); yields its DevTools `127.0.0.1:port`."""
    profile.mkdir()
    log = (profile.parent / "chromium.log").open("wb")
    process = subprocess.Popen(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--proxy-server={proxy}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"],
        stdout=log, stderr=log,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + WAIT_SECONDS
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, "Chromium did not open DevTools"
            time.sleep(0.05)
        yield f"127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        log.close()


@contextmanager
def showing(devtools: DevTools, url: str) -> Iterator[DevTools]:
    """`devtools`'s page, its network and page events on, navigated to `url`; closed at the end."""
    try:
        devtools.call("Network.enable")
        devtools.call("Page.enable")
        devtools.call("Page.navigate", url=url)
        yield devtools
    finally:
        devtools.close()


@contextmanager
def chromium_page(url: str, profile: Path, proxy: str) -> Iterator[DevTools]:
    """Headless Chromium (a fresh `profile`, every request through `proxy`) showing `url`, driven over DevTools."""
    with chromium_browser(profile, proxy) as address:
        targets = httpx.get(f"http://{address}/json/list", timeout=10).json()
        page = next(target for target in targets if target["type"] == "page")
        with showing(DevTools(page["webSocketDebuggerUrl"]), url) as devtools:
            yield devtools


@contextmanager
def page_of_its_own(address: str, url: str, proxy: str) -> Iterator[DevTools]:
    """A new page of the Chromium at `address` showing `url`, in a browser context of its own: no cookies,
    storage or cache shared with any other page, as in a fresh profile; every request through `proxy`."""
    browser = DevTools(httpx.get(f"http://{address}/json/version", timeout=10).json()["webSocketDebuggerUrl"])
    try:
        context = browser.call("Target.createBrowserContext", proxyServer=proxy)["browserContextId"]
        try:
            target = browser.call("Target.createTarget", url="about:blank", browserContextId=context)["targetId"]
            with showing(DevTools(f"ws://{address}/devtools/page/{target}"), url) as devtools:
                yield devtools
        finally:
            browser.call("Target.disposeBrowserContext", browserContextId=context)
    finally:
        browser.close()


def open_in_chromium(url: str, profile: Path, proxy: str) -> Visit:
    """Open `url` in headless Chromium, wait until Swagger UI has drawn its operations, screenshot it."""
    with chromium_page(url, profile, proxy) as devtools:
        devtools.wait_for("document.querySelectorAll('.opblock').length >= 6")
        devtools.wait_for("document.readyState === 'complete'")
        shot = devtools.call("Page.captureScreenshot", format="png")
        SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
        html = devtools.evaluate("document.documentElement.outerHTML")
        return Visit(url, html, devtools.events)


@pytest.fixture(scope="module")
def visit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Visit]:
    """One visit of the docs page, read by each test below."""
    with serving() as (base, _), RefusingProxy() as proxy:
        yield open_in_chromium(f"{base}/v1/ui/", tmp_path_factory.mktemp("docs-page") / "profile", proxy.url)


def test_docs_page_renders_all_six_operations(visit: Visit) -> None:
    text = visit.dom.text
    assert "Failed to load API definition" not in text
    operations = [(path, op) for path, item in load_spec()["paths"].items() for op in item.values()
                  if isinstance(op, dict) and "operationId" in op]
    assert len(operations) == 6
    for path, operation in operations:
        assert f"operations-Leads-{operation['operationId']}" in visit.dom.ids, operation["operationId"]
        assert operation["summary"] in text, operation["summary"]
        assert path in visit.dom.paths
    assert "Leads API" in text


def test_docs_page_loads_everything_from_the_mock_and_nothing_from_the_internet(visit: Visit) -> None:
    assert visit.requested, "DevTools reported no request at all"
    outside = [url for url in visit.requested if not url.startswith("data:") and urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    paths = {urlsplit(url).path for url in visit.requested}
    assert {"/v1/ui/", "/v1/ui/swagger-ui-bundle.js", "/v1/ui/swagger-ui.css", "/v1/openapi.json"} <= paths
    assert visit.failed == []


def test_docs_page_screenshot_shows_a_rendered_page(visit: Visit) -> None:
    image = SCREENSHOT.read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(image) > 20_000  # a blank or error page compresses to a few kilobytes
