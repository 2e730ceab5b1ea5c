"""The spec the mock serves is the file as written: `$ref`s and components kept, the mock's URL first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ApiClient, make_app

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


def _refs(node: Any) -> int:
    if isinstance(node, dict):
        return int("$ref" in node) + sum(_refs(value) for value in node.values())
    if isinstance(node, list):
        return sum(_refs(item) for item in node)
    return 0


def _served(path: str, host: str = "127.0.0.1:8080") -> tuple[int, str, Any]:
    response = ApiClient(make_app(), key=None).get(path, headers={"Host": host})
    parsed = response.json() if path.endswith(".json") else yaml.safe_load(response.text)
    return response.status_code, response.headers["content-type"], parsed


@pytest.mark.parametrize(("path", "media_type"), [("/v1/openapi.json", "application/json"),
                                                  ("/v1/openapi.yaml", "text/yaml")])
def test_the_served_spec_is_the_file_with_its_refs_and_components(path: str, media_type: str) -> None:
    status, content_type, served = _served(path)
    assert status == 200 and content_type.startswith(media_type)
    assert _refs(served) == _refs(WRITTEN) > 100
    assert served["components"] == WRITTEN["components"]
    assert {key: value for key, value in served.items() if key != "servers"} == \
        {key: value for key, value in WRITTEN.items() if key != "servers"}


def test_the_mock_itself_is_the_first_server_then_the_files_servers() -> None:
    _, _, served = _served("/v1/openapi.json", host="localhost:9123")
    assert served["servers"][0] == {"url": "http://localhost:9123/v1", "description": "This mock"}
    assert served["servers"][1:] == WRITTEN["servers"]


def test_the_mock_is_not_listed_twice_when_reached_at_the_files_own_mock_url() -> None:
    _, _, served = _served("/v1/openapi.yaml", host="127.0.0.1:8080")
    urls = [server["url"] for server in served["servers"]]
    assert urls[0] == "http://127.0.0.1:8080/v1" and urls.count("http://127.0.0.1:8080/v1") == 1
    assert len(urls) == len(WRITTEN["servers"])


def test_the_docs_page_still_loads_the_spec_it_serves() -> None:
    page = ApiClient(make_app(), key=None).get("/v1/ui/")
    assert page.status_code == 200 and "openapi.json" in page.text
