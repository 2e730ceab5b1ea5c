"""The control panel's routes under `/__mock`: the page itself, and the controls only the panel needed.

The page and its two assets are public (they hold no data); every other route here is guarded by
the admin token like the other control routes. Data sets go through the store's three data-set
methods; the built-in sets through `reset()` (the fixtures) and `restore()` (empty, generated).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...api_errors import ApiError, DatasetNotFound
from ...auth import ApiKeys
from ...envelope import success
from ...errors import ValidationFailed, error_response, issue
from ..faults import OPERATION_IDS, ForcedAnswers
from ..journal import Journal, mask_api_key
from ..json_body import Invalid, json_object
from ...ratelimit import RateLimiter, key_bucket
from ...sample_data import generate_dataset
from ...store import DUMP_FORMAT, INTEREST_LEVELS, STATUSES, LeadPage

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSETS = {"panel.js": "text/javascript; charset=utf-8", "panel.css": "text/css; charset=utf-8"}
# The page may load and contact only its own origin, and no other page may frame it (clickjacking).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MAX_BODY = 16 * 1024
MAX_PAGE_SIZE = 100
MAX_GENERATED = 100_000  # more would hold the event loop for seconds while the indexes are built
MAX_SEED = 2**63
MAX_SAVED_SETS = 50  # each holds a copy of all the data; replacing one by name is always possible
DATASET_NAME = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,64}")  # lone surrogates cannot be stored as UTF-8
BUILTINS = ("fixtures", "empty", "generated")
Endpoint = Callable[[Request], Awaitable[Response]]


class PanelStore(Protocol):
    revision: int

    def reset(self) -> None: ...

    def restore(self, dump: Mapping[str, Any]) -> None: ...

    def list_leads(self, user_id: str, *, status: str | None, interest_level: str | None, limit: int,
                   page: int = 1) -> LeadPage: ...

    def save_dataset(self, name: str) -> None: ...

    def load_dataset(self, name: str) -> None: ...

    def dataset_names(self) -> list[str]: ...


class UnknownApiKey(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "Unknown API key; GET /__mock/keys lists them"


class ControlPanel:
    """The panel's page and routes over one mock's parts."""

    def __init__(self, store: PanelStore, journal: Journal, limiter: RateLimiter, forced: ForcedAnswers,
                 api_keys: ApiKeys) -> None:
        self.store, self.journal, self.limiter, self.forced, self.api_keys = store, journal, limiter, forced, api_keys
        self._loading = asyncio.Lock()  # one generated data set at a time

    def page_routes(self, prefix: str) -> list[BaseRoute]:
        """The page and its assets: public, like any page; the data they show needs the token."""
        return [
            Route(prefix, self._to_page, methods=["GET"]),
            Route(prefix + "/", self.page, methods=["GET"]),
            Route(prefix + "/panel/{name}", self.asset, methods=["GET"]),
        ]

    def endpoints(self) -> list[tuple[str, Endpoint, str]]:
        """(path under the prefix, endpoint, method) of the guarded routes."""
        return [
            ("/journal/{seq}", self.journal_entry, "GET"),
            ("/data/leads", self.leads, "GET"),
            ("/datasets", self.datasets, "GET"),
            ("/datasets", self.save_dataset, "POST"),
            ("/datasets/load", self.load_dataset, "POST"),
            ("/forced-codes", self.forced_codes, "GET"),
            ("/forced-codes", self.change_forced_codes, "PATCH"),
            ("/rate-limit/exhaust", self.exhaust, "POST"),
        ]

    # -- the page ---------------------------------------------------------------------------------

    async def _to_page(self, request: Request) -> Response:
        return RedirectResponse(request.url.path + "/", status_code=308)

    async def page(self, request: Request) -> Response:
        html = (STATIC_DIR / "index.html").read_bytes()
        return Response(html, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        media_type = ASSETS.get(name)
        if media_type is None:
            return error_response(UnknownAsset())
        return Response((STATIC_DIR / name).read_bytes(), media_type=media_type, headers=PAGE_HEADERS)

    # -- journal, data ----------------------------------------------------------------------------

    async def journal_entry(self, request: Request) -> Response:
        raw = request.path_params["seq"]
        # Digits only, and few enough for int() (it refuses over 4,300); a longer number names no entry either.
        entry = self.journal.find(int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
        if entry is None:
            return error_response(EntryGone())
        return success(entry.detail(str(request.base_url)))

    async def leads(self, request: Request) -> Response:
        """A key's leads, one page, with the API list's filters, and the counts by status and interest."""
        params = request.query_params
        try:
            api_key, user_id = self._key(params.get("api_key"))
            status = _choice(params, "status", STATUSES)
            interest = _choice(params, "interest_level", INTEREST_LEVELS)
            page = _bounded_int(params, "page", 1, 1, 10**6)
            limit = _bounded_int(params, "limit", 25, 1, MAX_PAGE_SIZE)
        except Invalid as invalid:
            return invalid.answer
        found = self.store.list_leads(user_id, status=status, interest_level=interest, limit=limit, page=page)
        return success({"api_key": mask_api_key(api_key), "total": found.total, "page": page, "limit": limit,
                        "pages": max(1, -(-found.total // limit)), "stats": found.stats, "leads": found.leads})

    # -- data sets --------------------------------------------------------------------------------

    async def datasets(self, request: Request) -> Response:
        return success(self._datasets_view())

    async def save_dataset(self, request: Request) -> Response:
        try:
            name = _dataset_name(await json_object(request, MAX_BODY))
            names = self.store.dataset_names()
            if name not in names and len(names) >= MAX_SAVED_SETS:
                raise Invalid(ValidationFailed([issue("name", "body", f"at most {MAX_SAVED_SETS} data sets are kept; "
                                                                      "save under an existing name to replace it")]))
        except Invalid as invalid:
            return invalid.answer
        self.store.save_dataset(name)
        return success(self._datasets_view(), message=f"Current data saved as {name!r}")

    async def load_dataset(self, request: Request) -> Response:
        """`{"name": N}` loads a saved set; `{"builtin": "fixtures" | "empty" | "generated", "count", "seed"}`
        a built-in one."""
        try:
            body = await json_object(request, MAX_BODY)
            builtin = body.get("builtin")
            if builtin is None:
                name = _dataset_name(body)
                try:
                    self.store.load_dataset(name)
                except DatasetNotFound as error:
                    return error_response(error)
                return success(self._datasets_view(), message=f"Loaded data set {name!r}")
            if builtin not in BUILTINS:
                raise Invalid(ValidationFailed([issue("builtin", "body", f"must be one of {', '.join(BUILTINS)}")]))
            if builtin == "fixtures":
                self.store.reset()
            elif builtin == "empty":
                self.store.restore({"format": DUMP_FORMAT, "users": {}})
            else:
                count = _body_int(body, "count", 0, MAX_GENERATED)
                seed = _body_int(body, "seed", -MAX_SEED, MAX_SEED)
                async with self._loading:
                    generated = await asyncio.to_thread(generate_dataset, count, seed)
                    owner = self.api_keys.user_for(self.api_keys.keys[0]) or ""
                    self.store.restore({"format": DUMP_FORMAT, "users": {owner: generated}})
        except Invalid as invalid:
            return invalid.answer
        return success(self._datasets_view(), message=f"Loaded the built-in data set {builtin!r}")

    def _datasets_view(self) -> dict[str, Any]:
        return {"saved": self.store.dataset_names(), "builtin": list(BUILTINS), "revision": self.store.revision,
                "max_generated": MAX_GENERATED}

    # -- faults and limits ------------------------------------------------------------------------

    async def forced_codes(self, request: Request) -> Response:
        return success(self._forced_view())

    async def change_forced_codes(self, request: Request) -> Response:
        """`{"getLead": 503, "listLeads": null}`: each operation's forced status, null to stop forcing it."""
        try:
            changes = await json_object(request, MAX_BODY)
        except Invalid as invalid:
            return invalid.answer
        problems = [issue(name, "body", _forced_problem(name, value)) for name, value in changes.items()
                    if _forced_problem(name, value)]
        if not changes:
            problems.append(issue("body", "body", f"give at least one operation: {', '.join(OPERATION_IDS)}"))
        if problems:
            return error_response(ValidationFailed(problems))
        for name, value in changes.items():
            self.forced.set(name, value)
        return success(self._forced_view(), message="Forced answers updated")

    def _forced_view(self) -> dict[str, Any]:
        return {"operations": list(OPERATION_IDS), "forced": dict(self.forced.codes)}

    async def exhaust(self, request: Request) -> Response:
        """Spend the rest of a key's rate-limit window, so its next API request answers 429."""
        try:
            body = await json_object(request, MAX_BODY)
            raw = body.get("api_key")
            if raw is not None and not isinstance(raw, str):
                raise Invalid(ValidationFailed([issue("api_key", "body", "must be a string")]))
            api_key, user_id = self._key(raw)
        except Invalid as invalid:
            return invalid.answer
        decision = self.limiter.exhaust(key_bucket(user_id))
        return success({"api_key": mask_api_key(api_key), "limit": decision.limit, "remaining": 0,
                        "reset_seconds": decision.reset},
                       message=f"Rate-limit window spent; it ends in {decision.reset} s")

    def _key(self, raw: str | None) -> tuple[str, str]:
        api_key = self.api_keys.keys[0] if raw is None else raw
        user_id = self.api_keys.user_for(api_key)
        if user_id is None:
            raise Invalid(UnknownApiKey())
        return api_key, user_id


class UnknownAsset(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "The panel has no such file"


class EntryGone(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "No journal entry of that number (cleared or dropped)"


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in allowed:
        raise Invalid(ValidationFailed([issue(name, "query", f"must be one of {', '.join(allowed)}")]))
    return value


def _bounded_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and low <= int(raw) <= high):
        raise Invalid(ValidationFailed([issue(name, "query", f"must be a whole number from {low} to {high}")]))
    return int(raw)


def _body_int(body: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise Invalid(ValidationFailed([issue(name, "body", f"must be a whole number from {low} to {high}")]))
    return value


def _dataset_name(body: Mapping[str, Any]) -> str:
    name = body.get("name")
    if not (isinstance(name, str) and DATASET_NAME.fullmatch(name) and name == name.strip()):
        raise Invalid(ValidationFailed([issue("name", "body", "must be 1 to 64 characters, no control characters "
                                                              "or lone surrogates, no surrounding spaces")]))
    return name


def _forced_problem(name: str, value: Any) -> str | None:
    if name not in OPERATION_IDS:
        return f"unknown operation; known operations: {', '.join(OPERATION_IDS)}"
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599):
        return None
    return "must be null or a status from 400 to 599"
