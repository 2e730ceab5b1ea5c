"""Route facts the spec knows better than the router: allowed methods, no trailing slashes, and a flat route table."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from connexion.middleware.abstract import ROUTING_CONTEXT, RoutedMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.routing import RoutingMiddleware, RoutingOperation
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.convertors import StringConvertor
from starlette.routing import Mount, Route
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


_FlatRoute = tuple[re.Pattern[str], set[str], dict[str, Any] | None, RoutingOperation, ASGIApp]  # full path,
# methods, convertors (None: strings only), the routing operation, and the first step after it


class SpecRouting(RoutingMiddleware):
    """Connexion's routing step, with the spec's routes matched directly once compiled.

    Connexion routes through nested Starlette routers (the API mount, then its routes), and each
    layer rebuilds scopes. A request that fully matches a route (path and method) takes the same
    route here, in Starlette's order, from one flat table; anything else (unknown paths, wrong
    methods, HEAD edge cases) goes through Connexion's router unchanged.

    Past routing, each of Connexion's steps (security, validation, context, the handler call) looks
    up its own object for the request's operation by id, from the context this step added. Those
    look-ups always find the same object for a route: each operation's steps are linked to each
    other here once (see `_past_lookups`), and the request goes through them directly.
    """

    def __init__(self, app: ASGIApp, *, join_steps: Callable[[ASGIApp], ASGIApp] | None = None) -> None:
        super().__init__(app)
        self._mounts: list[tuple[re.Pattern[str], str, list[_FlatRoute]]] = []  # (mount regex, base path, routes)
        self.join_steps = join_steps  # given each route's first step: the same steps, perhaps as one call

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        self._mounts = []
        for mount in self.router.routes:
            if not isinstance(mount, Mount) or mount.app is not getattr(mount, "_base_app", None):
                self._mounts = []  # a shape this table does not model: always use the router
                return
            routes: list[_FlatRoute] = []
            for route in mount.routes:
                if not isinstance(route, Route) or not route.methods or route.app is not route.endpoint \
                        or not isinstance(route.endpoint, RoutingOperation):
                    break  # the table stops where it cannot stand for the router
                suffix = route.path_regex.pattern.removeprefix("^")
                pattern = re.compile("^" + re.escape(mount.path) + suffix)
                if routes and routes[-1][0].pattern == pattern.pattern:
                    pattern = routes[-1][0]  # the same path's other methods: matched once (see `__call__`)
                first_step = _past_lookups(route.endpoint.next_app, mount.path, route.endpoint.operation_id)
                if self.join_steps is not None:
                    first_step = self.join_steps(first_step)
                convertors = route.param_convertors
                if all(isinstance(convertor, StringConvertor) for convertor in convertors.values()):
                    convertors = None  # a string parameter is the matched text as it is
                routes.append((pattern, route.methods, convertors, route.endpoint, first_step))
            self._mounts.append((mount.path_regex, mount.path, routes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            path = scope["path"]
            one_mount = len(self._mounts) == 1  # its routes' patterns hold its path: no need to match it first
            for mount_regex, base_path, routes in self._mounts:
                if one_mount or mount_regex.match(path):
                    tried, match = None, None
                    for pattern, methods, convertors, endpoint, first_step in routes:
                        if pattern is not tried:  # a path's methods follow each other, with one pattern
                            tried, match = pattern, pattern.match(path)
                        if match and scope["method"] in methods:
                            params = match.groupdict()
                            if convertors is not None:
                                params = {key: convertors[key].convert(value) for key, value in params.items()}
                            context = {"api_base_path": base_path, "operation_id": endpoint.operation_id}
                            if "path_params" in scope or "extensions" in scope:
                                routed = dict(scope)  # as Connexion's router: the caller's scope stays as it was
                                routed["path_params"] = {**scope.get("path_params", {}), **params}
                                extensions = routed["extensions"] = dict(scope.get("extensions") or {})
                                extensions[ROUTING_CONTEXT] = {**extensions.get(ROUTING_CONTEXT, {}), **context}
                            else:  # the common scope, straight from the server: the same, made in one go
                                routed = {**scope, "path_params": params, "extensions": {ROUTING_CONTEXT: context}}
                            await first_step(routed, receive, send)
                            return
                    break  # the first matching mount takes the request, as in the router
        await super().__call__(scope, receive, send)


def _past_lookups(app: ASGIApp, base_path: str, operation_id: str | None) -> ASGIApp:
    """What `app` runs for an HTTP request routed to `operation_id` under `base_path`, its look-ups done ahead.

    A routed middleware with one API for `base_path` that has the operation would look it up and
    call it: the operation stands in for it, and the operation's own next step is resolved the same
    way (so the router's path, which reaches these operations too, skips the same look-ups). Lifespan
    steps pass HTTP requests straight on. Anything else is left as it is, its look-up done per request.
    """
    while isinstance(app, LifespanMiddleware):
        app = app.next_app
    if not isinstance(app, RoutedMiddleware) or operation_id is None:
        return app
    apis = app.apis.get(base_path) or []
    if len(apis) != 1 or operation_id not in apis[0].operations:
        return app
    operation = apis[0].operations[operation_id]
    next_app = getattr(operation, "next_app", None)
    if next_app is not None:
        operation.next_app = _past_lookups(next_app, base_path, operation_id)
    return operation


class DocsOutsideLeads(SwaggerUIMiddleware):
    """Connexion's docs step, skipped for the API's own routes (no docs page lives under them)."""

    def __init__(self, app: ASGIApp, *, leads_path: str, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.leads_path = leads_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self.leads_path or path.startswith(self.leads_path + "/")):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
