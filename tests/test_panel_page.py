"""The control panel at /__mock/, driven in headless Chromium as a developer would: clicks, not API calls.

Chromium is driven over its DevTools protocol, as in the docs-page test (whose helpers this
reuses); every host but 127.0.0.1 goes to a proxy that refuses it. The API calls the
developer's own app would make are sent with httpx, and their answers checked there.
"""

from __future__ import annotations

import base64
import json
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from conftest import KEY, RACHEL_ID, TEST_SETTINGS
from mock_server.app import create_app
from test_docs_page import DevTools, RefusingProxy, chromium_browser, page_of_its_own

SCREENSHOT = Path("/tmp/leads-mock-panel.png")
FIXTURE_LEADS = 34
TOKEN = "panel-s3cret"


class Panel:
    """The panel open in Chromium, next to the mock serving it."""

    def __init__(self, base: str, devtools: DevTools) -> None:
        self.base, self.devtools = base, devtools

    def js(self, expression: str) -> Any:
        return self.devtools.evaluate(expression)

    def wait_for(self, expression: str) -> None:
        self.devtools.wait_for(expression)

    def click(self, selector: str) -> None:
        assert self.js(f"!!document.querySelector({json.dumps(selector)})"), f"no {selector} on the page"
        self.js(f"document.querySelector({json.dumps(selector)}).click()")

    def fill(self, selector: str, value: Any) -> None:
        self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                f" e.value = {json.dumps(str(value))}; e.dispatchEvent(new Event('change')); }})()")

    def text(self, selector: str) -> str:
        return str(self.js(f"document.querySelector({json.dumps(selector)}).textContent"))

    def click_and_wait_for_message(self, selector: str) -> str:
        """Click a control and return the message the panel shows once the mock answered."""
        self.js("document.querySelector('#message').textContent = ''")
        self.click(selector)
        self.wait_for("document.querySelector('#message').textContent !== ''")
        message = self.text("#message")
        assert "failed" not in message, message
        return message

    def journal_row(self, path_part: str) -> dict[str, str]:
        """The newest journal row whose path contains `path_part`, once the live journal shows it."""
        finder = ("[...document.querySelectorAll('#journal tbody tr')].find(r => "
                  f"r.querySelector('.path').textContent.includes({json.dumps(path_part)}))")
        self.wait_for(f"!!{finder}")
        return dict(self.js(f"(() => {{ const r = {finder}; return {{seq: r.dataset.seq, "
                            "method: r.cells[2].textContent, path: r.cells[3].textContent, "
                            "status: r.cells[4].textContent, ms: r.cells[5].textContent, "
                            "key: r.cells[6].textContent}; })()"))

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request of the developer's own app, with the fixtures' key."""
        headers = {"X-API-Key": KEY, **kwargs.pop("headers", {})}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def requested(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.devtools.events
                if e.get("method") == "Network.requestWillBeSent"]


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread, socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the mock did not start"
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, sock


class Browser:
    """One headless Chromium for the tests of this module, and the proxy refusing every host but 127.0.0.1."""

    def __init__(self, address: str, proxy: str) -> None:
        self.address, self.proxy = address, proxy


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    with RefusingProxy() as proxy, chromium_browser(profile, proxy.url) as address:
        yield Browser(address, proxy.url)


def open_panel(browser: Browser, admin_token: str | None = None) -> Iterator[Panel]:
    """A mock of its own, its panel in a new page of `browser` with nothing of any other page (a fresh profile)."""
    base, server, thread, sock = serve(create_app(replace(TEST_SETTINGS, admin_token=admin_token)))
    try:
        with page_of_its_own(browser.address, f"{base}/__mock/", browser.proxy) as devtools:
            yield Panel(base, devtools)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def panel(browser: Browser) -> Iterator[Panel]:
    opened = open_panel(browser)
    panel = next(opened)
    panel.wait_for("document.body.dataset.ready === 'true'")
    yield panel
    next(opened, None)


def leads_total(panel: Panel, key: str = KEY) -> int:
    response = panel.api("GET", "/v1/leads", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["meta"]["total"])


def test_the_panel_loads_everything_from_the_mock_and_nothing_from_the_internet(panel: Panel) -> None:
    assert panel.text("#leads-total") == str(FIXTURE_LEADS)
    requested = panel.requested()
    outside = [url for url in requested if not url.startswith("data:") and urlsplit(url).hostname != "127.0.0.1"]
    assert outside == []
    paths = {urlsplit(url).path for url in requested}
    assert {"/__mock/", "/__mock/panel/panel.js", "/__mock/panel/panel.css", "/__mock/keys", "/__mock/data/leads",
            "/__mock/journal"} <= paths
    failed = [e["params"] for e in panel.devtools.events if e.get("method") == "Network.loadingFailed"
              and not e["params"].get("canceled")]
    assert failed == []


def test_an_api_call_appears_in_the_journal_live_and_opens_into_request_response_and_curl(panel: Panel) -> None:
    assert panel.api("GET", f"/v1/leads/{RACHEL_ID}").status_code == 200
    row = panel.journal_row(RACHEL_ID)
    assert (row["method"], row["status"], row["key"]) == ("GET", "200", "****-key")
    assert float(row["ms"]) >= 0

    panel.js(f"document.querySelector('#journal tr[data-seq=\"{row['seq']}\"]').click()")
    panel.wait_for("!document.querySelector('#entry').hidden")
    assert "Rachel Kim" in panel.text("#response-body")
    headers = panel.text("#request-headers")
    assert "x-api-key****-key" in headers and KEY not in headers  # masked in the view
    curl = panel.text("#curl")
    repeated = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30)  # the curl line, run
    assert repeated.returncode == 0 and "HTTP/1.1 200" in repeated.stdout and "Rachel Kim" in repeated.stdout


def test_a_latency_change_and_a_forced_code_take_effect_on_the_next_api_answer(panel: Panel) -> None:
    panel.fill("#latency-min", 300)
    panel.fill("#latency-max", 300)
    panel.click_and_wait_for_message("#latency-apply")
    started = time.monotonic()
    assert panel.api("GET", f"/v1/leads/{RACHEL_ID}").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert float(panel.journal_row(RACHEL_ID)["ms"]) >= 300
    panel.click_and_wait_for_message("#latency-off")

    panel.fill("#forced-operation", "getLead")
    panel.fill("#forced-code", 503)
    panel.click_and_wait_for_message("#forced-apply")
    assert "getLead → 503" in panel.text("#forced-list")
    answer = panel.api("GET", f"/v1/leads/{RACHEL_ID}", params={"after": "forced"})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "SERVER_ERROR"
    assert panel.journal_row("after=forced")["status"] == "503"
    assert panel.api("GET", "/v1/leads").status_code == 200  # only that operation
    panel.click_and_wait_for_message("#forced-list button")
    assert panel.api("GET", f"/v1/leads/{RACHEL_ID}").status_code == 200


def test_the_rate_limit_and_exhausting_a_window_take_effect_on_the_next_api_answer(panel: Panel) -> None:
    panel.fill("#exhaust-key", KEY)
    assert "ends in" in panel.click_and_wait_for_message("#exhaust")
    refused = panel.api("GET", "/v1/leads", params={"after": "exhaust"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert panel.journal_row("after=exhaust")["status"] == "429"

    panel.click_and_wait_for_message("#builtin-fixtures")  # loading data keeps the windows
    assert panel.api("GET", "/v1/leads").status_code == 429
    panel.fill("#rate-limit", 5)
    panel.fill("#rate-window", 30)
    panel.click_and_wait_for_message("#rate-apply")
    assert panel.api("GET", "/v1/leads", headers={"X-API-Key": "other-tenant-key"}).headers["RateLimit-Limit"] == "5"


def test_saving_and_loading_data_sets_changes_what_the_list_answers(panel: Panel) -> None:
    created = panel.api("POST", "/v1/leads", json={"name": "Saved Lead"}).json()["data"]["id"]
    panel.fill("#dataset-name", "with saved lead")
    panel.click_and_wait_for_message("#dataset-save")
    panel.wait_for("!!document.querySelector('#saved-list button[data-name=\"with saved lead\"]')")

    panel.click_and_wait_for_message("#builtin-empty")
    assert leads_total(panel) == 0
    panel.wait_for("document.querySelector('#leads-total').textContent === '0'")

    panel.click_and_wait_for_message("#saved-list button[data-name='with saved lead']")
    assert leads_total(panel) == FIXTURE_LEADS + 1
    assert panel.api("GET", f"/v1/leads/{created}").json()["data"]["name"] == "Saved Lead"

    panel.fill("#generate-count", 7)
    panel.fill("#generate-seed", 3)
    panel.click_and_wait_for_message("#builtin-generated")
    assert leads_total(panel) == 7
    panel.wait_for("document.querySelector('#leads-total').textContent === '7'")

    panel.click_and_wait_for_message("#builtin-fixtures")
    assert leads_total(panel) == FIXTURE_LEADS


def test_reset_asks_for_confirmation_then_restores_the_fixtures(panel: Panel) -> None:
    assert panel.api("DELETE", f"/v1/leads/{RACHEL_ID}").status_code == 200
    panel.click("#reset")
    panel.wait_for("document.querySelector('#reset-dialog').open")
    panel.click("#reset-cancel")
    panel.wait_for("!document.querySelector('#reset-dialog').open")
    time.sleep(0.3)
    assert panel.api("GET", f"/v1/leads/{RACHEL_ID}").status_code == 404  # cancelled: nothing happened

    panel.click("#reset")
    panel.wait_for("document.querySelector('#reset-dialog').open")
    panel.click("#reset-confirm")
    panel.wait_for("document.querySelector('#message').textContent.includes('reset')")
    assert panel.api("GET", f"/v1/leads/{RACHEL_ID}").status_code == 200
    assert leads_total(panel) == FIXTURE_LEADS


def test_with_an_admin_token_the_panel_asks_for_it_and_sends_it(browser: Browser) -> None:
    opened = open_panel(browser, admin_token=TOKEN)
    panel = next(opened)
    try:
        panel.wait_for("!document.querySelector('#token-form').hidden")
        assert panel.js("document.body.dataset.ready") is None
        panel.fill("#token", "wrong")
        panel.js("document.querySelector('#token-form').requestSubmit()")
        panel.wait_for("document.querySelector('#token-reason').textContent.includes('not accepted')")
        panel.fill("#token", TOKEN)
        panel.js("document.querySelector('#token-form').requestSubmit()")
        panel.wait_for("document.body.dataset.ready === 'true'")
        assert panel.js("sessionStorage.getItem('leads-mock-admin-token')") == TOKEN
        panel.api("GET", "/v1/leads", params={"with": "token"})
        assert panel.journal_row("with=token")["status"] == "200"
    finally:
        next(opened, None)


def test_the_panel_screenshot_shows_a_full_page(panel: Panel) -> None:
    for path in ("/v1/leads", "/v1/leads?status=new&limit=5", f"/v1/leads/{RACHEL_ID}", "/v1/leads/no-such-lead"):
        panel.api("GET", path)
    panel.api("POST", "/v1/leads", json={"name": "Jordan Lee", "email": "jordan.lee@example.com"})
    httpx.get(panel.base + "/v1/leads", timeout=30)  # no key: 401
    panel.journal_row("/v1/leads")
    panel.wait_for("document.querySelectorAll('#journal tbody tr').length >= 6")
    panel.js("document.querySelector('#journal tbody tr:nth-child(4)').click()")
    panel.wait_for("!document.querySelector('#entry').hidden")
    panel.wait_for("document.querySelector('#leads-total').textContent === '35'")  # refreshed after the create
    shot = panel.devtools.call("Page.captureScreenshot", format="png")
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    image = SCREENSHOT.read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 40_000
