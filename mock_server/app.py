"""The app factory: the spec routes every operation to `LeadsApi`, through an explicit middleware stack."""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
from collections.abc import AsyncIterator, Callable
from functools import lru_cache, partial
from typing import Any

import connexion
import yaml
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.main import ConnexionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from leads_api_kit import spec_path

from .middleware.access_log import AccessLog
from .controls.admin import AdminMiddleware, admin_routes
from .auth import ApiKeys, KeySecurity
from .middleware.body_deadline import BodyDeadline
from .config import Runtime, Settings
from .controls.control_guard import CONTROL_PREFIX, ControlGuard
from .middleware.cors import Cors
from .dataset import load_dataset
from .middleware.dispatch import DirectApi, joined_steps
from .middleware.error_handling import ErrorHandling, ServerErrors
from .errors import ErrorTranslator
from .controls.faults import API_PATH, FaultMiddleware, ForcedAnswers
from .controls.journal import Journal
from .controls.recording import JournalMiddleware
from .leads import LeadsApi, OperationResolver
from .controls.panel import ControlPanel
from .ratelimit import RateLimiter, RateLimitMiddleware
from .middleware.request_validation import RequestValidationMiddleware
from .middleware.shortcut import Shortcut
from .routes import AllowedMethods, DocsOutsideLeads, NoTrailingSlash, SpecRouting
from .spec_document import SpecDocument
from .store import LeadStore, open_store
from .validation import VALIDATOR_MAP

BASE_PATH = "/v1"
EXPOSED_HEADERS = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "Preference-Applied"]
logger = logging.getLogger("mock_server")


@lru_cache(maxsize=1)
def _parsed_spec() -> dict[str, Any]:
    with spec_path().open(encoding="utf-8") as file:
        return yaml.load(file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_spec() -> dict[str, Any]:
    """A private copy of openapi.yaml (Connexion mutates what it is given)."""
    return copy.deepcopy(_parsed_spec())


class MockApp(connexion.AsyncApp):
    """The Connexion app plus what the mock's other parts need to reach at run time."""

    settings: Settings
    runtime: Runtime
    api_keys: ApiKeys
    store: LeadStore
    rate_limiter: RateLimiter
    journal: Journal
    shutdown_hooks: list[Callable[[], Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._middleware_app.api_cls = DirectApi  # type: ignore[misc] # handlers called without per-request decorating

    @property
    def served(self) -> ConnexionMiddleware:
        """What the server calls: Connexion's middleware stack itself, to which the app's `__call__` only forwards."""
        return self.middleware


def create_app(settings: Settings | None = None) -> MockApp:
    """A new, independent mock: its own store, keys, limits and middleware stack."""
    settings = settings or Settings()
    runtime = Runtime.from_settings(settings)
    api_keys = ApiKeys(settings.api_keys)
    store = open_store(partial(load_dataset, settings), api_keys.user_for(settings.api_keys[0]) or "",
                       state_file=settings.state_file, database_url=settings.database_url)
    limiter = RateLimiter(runtime, shared=store if settings.database_url else None)  # type: ignore[arg-type]
    journal = Journal()
    forced = ForcedAnswers()
    panel = ControlPanel(store, journal, limiter, forced, api_keys)
    spec = load_spec()
    translator = ErrorTranslator(AllowedMethods(spec["paths"], BASE_PATH))
    shutdown_hooks: list[Callable[[], Any]] = []

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        logger.info("leads mock ready: %d API key(s), revision %d", len(api_keys.keys), store.revision)
        # The data set lives as long as the server: keep it out of the full garbage collections, which
        # would otherwise walk all of its records (about 45 ms a pass with 100,000 leads: a p99 stall)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for hook in reversed(shutdown_hooks):
                hook()
            store.close()
            logger.info("leads mock stopped at revision %d", store.revision)

    # Outermost first. Error envelopes come from ErrorHandling, so whatever must also
    # touch error answers (CORS, rate-limit headers, logging) sits outside it.
    middlewares = [
        AccessLog,
        partial(JournalMiddleware, journal=journal),
        partial(ServerErrors, handler=translator.unexpected),
        partial(BodyDeadline, timeout=settings.body_timeout),
        partial(Cors, exempt_prefix=CONTROL_PREFIX, allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                allow_headers=["X-API-Key", "Content-Type", "Authorization", "Prefer"],
                expose_headers=EXPOSED_HEADERS, max_age=600),
        partial(Shortcut, api_path=API_PATH, to=RateLimitMiddleware, past=(ControlGuard, AdminMiddleware)),
        partial(ControlGuard, loopback_hosts_only=not settings.admin_token and not settings.unsafe_open_admin),
        partial(AdminMiddleware, routes=admin_routes(
            store, journal, runtime, settings.admin_token, api_keys=api_keys.keys, on_reset=limiter.reset,
            panel=panel)),
        partial(RateLimitMiddleware, limiter=limiter, api_keys=api_keys),
        partial(FaultMiddleware, runtime=runtime, forced=forced),
        ErrorHandling,
        partial(Shortcut, api_path=API_PATH, to=SpecRouting, past=(NoTrailingSlash, SpecDocument, DocsOutsideLeads)),
        partial(NoTrailingSlash, base_path=BASE_PATH, docs_prefix=f"{BASE_PATH}/ui/"),
        partial(SpecDocument, document=_parsed_spec(), base_path=BASE_PATH),
        partial(DocsOutsideLeads, leads_path=f"{BASE_PATH}/leads"),
        partial(SpecRouting, join_steps=joined_steps),
        KeySecurity,
        RequestValidationMiddleware,
        LifespanMiddleware,  # no ContextMiddleware: handlers get their arguments, not `connexion.request`
    ]
    app = MockApp(
        __name__, lifespan=lifespan, middlewares=middlewares, validate_responses=False,
        validator_map=VALIDATOR_MAP, security_map=api_keys.security_map(),
    )
    app.settings, app.runtime, app.api_keys, app.store = settings, runtime, api_keys, store
    app.rate_limiter, app.shutdown_hooks, app.journal = limiter, shutdown_hooks, journal
    app.add_api(spec, base_path=BASE_PATH, resolver=OperationResolver(LeadsApi(store)))
    app.add_url_rule("/healthz", "healthz", _healthz, methods=["GET"])
    translator.install(app)
    return app


async def _healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})
