"""`/v1/openapi.json` and `/v1/openapi.yaml`: the spec as written, with this mock's URL first in `servers`.

Connexion serves its resolved copy, every `$ref` inlined: client generators then build a model per
use instead of one per schema. This step answers those two paths before Connexion's docs step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class SpecDocument:
    """Serves `document` (the parsed `openapi.yaml`) as JSON and YAML under `base_path`."""

    def __init__(self, app: ASGIApp, *, document: Mapping[str, Any], base_path: str) -> None:
        self.app = app
        self.base_path = base_path
        self.document = document  # read only
        self.media_types = {f"{base_path}/openapi.json": "application/json", f"{base_path}/openapi.yaml": "text/yaml"}
        self._render = lru_cache(maxsize=32)(self._render_uncached)  # one entry per (Host, format) seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        media_type = self.media_types.get(scope.get("path", "")) if scope["type"] == "http" else None
        if media_type is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        own_url = str(Request(scope).base_url).rstrip("/") + self.base_path
        response = Response(self._render(own_url, media_type), media_type=media_type)
        await response(scope, receive, send)

    def servers_for(self, own_url: str) -> list[dict[str, Any]]:
        """This mock first (as the caller reached it), then the file's servers."""
        written = [server for server in self.document.get("servers", []) if server.get("url") != own_url]
        return [{"url": own_url, "description": "This mock"}, *written]

    def _render_uncached(self, own_url: str, media_type: str) -> bytes:
        document = {**self.document, "servers": self.servers_for(own_url)}
        if media_type == "application/json":
            return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        return yaml.dump(document, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True, width=120).encode("utf-8")
