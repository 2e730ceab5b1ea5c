"""Keeps web pages away from the `/__mock` control routes.

The control routes answer no CORS (see `Cors`), and this refuses, with 403 in the envelope,
what a browser sends on a page's behalf that CORS alone would not stop: a cross-origin request
(by `Origin` or `Sec-Fetch-Site`; a form POST to `/__mock/reset` needs no preflight), and,
while the routes are open on loopback, a `Host` that is not a loopback name (a DNS-rebinding
page calls itself same-origin, but its `Host` is its own name).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from ..api_errors import ApiError
from ..config import is_loopback
from ..errors import error_response

CONTROL_PREFIX = "/__mock"
_SAME_SITE_FETCHES = (b"same-origin", b"none")  # `none`: typed in the address bar, a bookmark


class ControlForbidden(ApiError):
    status, code = 403, "FORBIDDEN"


def is_control_path(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


class ControlGuard:
    """`loopback_hosts_only`: refuse a `Host` that is not a loopback name (the routes are open, on loopback)."""

    def __init__(self, app: ASGIApp, *, loopback_hosts_only: bool) -> None:
        self.app = app
        self.loopback_hosts_only = loopback_hosts_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_control_path(scope["path"]):
            problem = self.problem(scope)
            if problem:
                await error_response(ControlForbidden(problem))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope) -> str | None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        host = headers.get(b"host", b"").decode("latin-1").strip()
        if self.loopback_hosts_only and not is_loopback(_hostname(host)):
            return (f"The mock's control routes answer only to a loopback Host (localhost, 127.0.0.1, [::1]), "
                    f"not {host!r}; start the mock with --admin-token to reach them under another name")
        origin = headers.get(b"origin")
        if origin is not None and not _same_origin(origin.decode("latin-1"), scope.get("scheme", "http"), host):
            return "Cross-origin requests to the mock's control routes are refused (they are not for web pages)"
        fetch_site = headers.get(b"sec-fetch-site")
        if fetch_site is not None and fetch_site.strip().lower() not in _SAME_SITE_FETCHES:
            return "Requests a web page makes to another site cannot reach the mock's control routes"
        return None


def _hostname(host: str) -> str:
    """`host` without its port: `127.0.0.1:8080` -> `127.0.0.1`, `[::1]:8080` -> `::1`."""
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""


def _same_origin(origin: str, scheme: str, host: str) -> bool:
    """True when `origin` names the very scheme, host and port the request was sent to."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != scheme or not parts.netloc:
        return False
    default = 443 if scheme == "https" else 80
    try:
        target = urlsplit(f"//{host}")
        target_port = target.port
    except ValueError:
        return False
    return (parts.hostname or "") == (target.hostname or "") and (port or default) == (target_port or default)
