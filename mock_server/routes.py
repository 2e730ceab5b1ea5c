"""Route facts the spec knows better than the router: which methods a path allows, and no trailing slashes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import RouteNotFound

_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class AllowedMethods:
    """`Allow` values per spec path, for the 405 answer (Starlette names only the methods of one route)."""

    def __init__(self, paths: Mapping[str, Mapping[str, Any]], base_path: str) -> None:
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for template, item in paths.items():
            methods = {method.upper() for method in item if method.upper() in _METHOD_ORDER}
            if "GET" in methods:
                methods.add("HEAD")  # served for every GET route
            pattern = re.escape(base_path + template)
            pattern = re.sub(r"\\\{[^}/]+\\\}", "[^/]+", pattern)
            self._routes.append((re.compile(pattern), ", ".join(m for m in _METHOD_ORDER if m in methods)))

    def __call__(self, path: str) -> str | None:
        return next((allow for pattern, allow in self._routes if pattern.fullmatch(path)), None)


class NoTrailingSlash:
    """Paths Starlette would redirect are unknown routes (404): a trailing slash, or the bare base path.

    Sits before the docs and the router; only the docs page itself (`/v1/ui/`) ends in a slash.
    """

    def __init__(self, app: ASGIApp, *, base_path: str, docs_prefix: str) -> None:
        self.app = app
        self.base_path = base_path
        self.docs_prefix = docs_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            slashed = len(path) > 1 and path.endswith("/") and not path.startswith(self.docs_prefix)
            if slashed or path == self.base_path:
                raise RouteNotFound()
        await self.app(scope, receive, send)
