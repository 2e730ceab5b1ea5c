"""Answers the HTTP and JSON libraries choke on are divergences of the server, reported with a curl
line under the rule they break, never a crash of the suite or a failure blamed on another rule."""
from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from contract_tests.responses import RULE_ENVELOPE, RULE_TRANSPORT, json_of
from contract_tests.target import serve_in_thread
from tests import preloaded
from tests.reference_server.app import create_app

KEY, KEY_2 = "odd-answers-key-0001", "odd-answers-key-0002"
ONE_LEAD = re.compile(r"^/v1/leads/[^/]+$")
RUN_TIMEOUT = 300
DEEP = b'{"success": true, "data": ' + b"[" * 100_000 + b"]" * 100_000 + b', "timestamp": "2026-12-02T10:00:00.000Z"}'
ODD_ANSWERS = {
    # name: (headers, body, the rule that must fail)
    "corrupt gzip": ([(b"content-encoding", b"gzip")], b"\x1f\x8b\x08\x00 certainly not deflate data", RULE_TRANSPORT),
    "deep nesting": ([], DEEP, RULE_ENVELOPE),
    "NaN literal": ([], b'{"success": true, "data": {"budget": NaN}, "timestamp": "2026-12-02T10:00:00.000Z"}',
                    RULE_ENVELOPE),
    "5000-digit integer": ([], b'{"success": true, "data": {"budget": ' + b"9" * 5000 + b'}}', RULE_ENVELOPE),
}


@contextmanager
def answering_get_lead_with(headers: list[tuple[bytes, bytes]], body: bytes) -> Iterator[str]:
    """The reference server, but `GET /v1/leads/{id}` answers 200 with `body`."""
    inner = create_app([KEY, KEY_2])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and ONE_LEAD.match(scope["path"]):
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    with serve_in_thread(app) as url:
        yield url + "/v1"


def test_strict_json_refuses_what_python_would_accept_or_crash_on() -> None:
    for body in (b"NaN", b'{"a": Infinity}', b"[" * 100_000, b"1" * 5000, b'"\xff"'):
        with pytest.raises(ValueError):
            json_of(body)
    assert json_of(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


@pytest.mark.parametrize("name", list(ODD_ANSWERS))
def test_an_unreadable_answer_fails_its_own_rule_with_a_curl_line(tmp_path: Path, name: str) -> None:
    headers, body, rule = ODD_ANSWERS[name]
    report = tmp_path / "report.json"
    with answering_get_lead_with(headers, body) as base_url:
        env = {key: value for key, value in os.environ.items() if not key.startswith("LEADS_API_")}
        result = subprocess.run(
            preloaded.contract("--base-url", base_url, "--api-key", KEY, "--api-key-2", KEY_2, "--quick",
                               "--workers", "1", "--report-json", str(report), "--", "-k", "not conforms"),
            env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    document = json.loads(report.read_text())
    divergence = next((item for item in document["divergences"] if item["rule"] == rule), None)
    assert divergence is not None, [item["summary"] for item in document["divergences"]]
    assert re.search(r"-X GET http://127\.0\.0\.1:\d+/v1/leads/", divergence["curl"] or ""), divergence
    # No other rule takes the blame for what the library could not read.
    for item in document["divergences"]:
        if item is divergence:
            continue
        assert "recursion" not in item["summary"] and "decompressing" not in item["summary"], item
        assert "4300 digits" not in item["summary"], item

