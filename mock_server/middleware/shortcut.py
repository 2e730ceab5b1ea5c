"""A way past the steps of the stack that only ever pass the Leads API's own requests on.

Every step costs each request a call, even one that only looks at the path and passes it on: the
control routes' guard and router, the spec document, the trailing-slash check, the docs page. A
`Shortcut` hands the API's requests straight to the first step inside it of type `to`; anything
else takes the steps in order. It checks when the stack is built that every step it jumps over is
of a type in `past`, which must leave the API's requests alone: a step added in between later
stops the mock from starting rather than being skipped unnoticed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class Shortcut:
    """Requests to `api_path` and below, without a trailing slash, go straight to the first `to` step inside."""

    def __init__(self, app: ASGIApp, *, api_path: str, to: type, past: tuple[type, ...]) -> None:
        self.app = app
        self.api_path = api_path
        self._below = api_path + "/"
        step = app
        while not isinstance(step, to):
            if not isinstance(step, past):
                raise TypeError(f"{type(step).__name__} stands between a shortcut and {to.__name__}, "
                                f"and is not one of the steps it may pass: {', '.join(t.__name__ for t in past)}")
            step = step.app  # type: ignore[attr-defined]
        self.target: ASGIApp = step

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == self.api_path or (path.startswith(self._below) and not path.endswith("/")):
                await self.target(scope, receive, send)
                return
        await self.app(scope, receive, send)
