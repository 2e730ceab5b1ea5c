"""API keys: one user per key, checked through Connexion's handling of the spec's `apiKey` scheme."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from connexion.lifecycle import ConnexionRequest
from connexion.middleware.security import SecurityAPI, SecurityMiddleware, SecurityOperation
from connexion.operations import AbstractOperation
from connexion.security import ApiKeySecurityHandler
from connexion.spec import Specification
from starlette.types import Receive, Scope, Send

from .errors import InvalidApiKey, MissingApiKey
from .store import user_id_for

FIELD_WHITESPACE = " \t"  # HTTP's optional whitespace around a header field value


class ApiKeys:
    """The accepted keys, in order (the first owns the initial data), each mapped to its user id."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._users = {key: user_id_for(key) for key in keys}
        if not self._users:
            raise ValueError("at least one API key is required")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._users)

    def user_for(self, key: str | None) -> str | None:
        return self._users.get(key.strip(FIELD_WHITESPACE)) if key else None

    def token_info(self, key: str | None) -> dict[str, str]:
        """The caller's token info for a key: MissingApiKey or InvalidApiKey (both 401) unless it is accepted."""
        key = key.strip(FIELD_WHITESPACE) if key else key  # whitespace around a field value is not part of it
        if not key:  # absent and empty are the same to clients
            raise MissingApiKey()
        user_id = self._users.get(key)
        if user_id is None:
            raise InvalidApiKey()
        return {"sub": user_id, "api_key": key}  # `sub` becomes context["user"]

    def security_map(self) -> dict[str, Callable[[], ApiKeySecurityHandler]]:
        """Connexion's `security_map`: its `apiKey` scheme type checked against these keys, no spec extension needed."""
        return {"apiKey": partial(KeyCheck, self)}


class KeyCheck(ApiKeySecurityHandler):
    """Connexion security handler for an `apiKey` scheme in a header.

    Connexion ranks the errors of its checks by `status`; both errors here are 401s in the envelope.
    """

    def __init__(self, keys: ApiKeys) -> None:
        self._keys = keys

    def get_fn(self, security_scheme: dict[str, Any], required_scopes: list[str]) -> Callable[..., dict[str, str]]:
        header = security_scheme["name"]

        def verify(request: ConnexionRequest) -> dict[str, str]:
            return self._keys.token_info(request.headers.get(header))

        return verify


class HeaderKeyOperation(SecurityOperation):
    """Connexion's security step for one operation; a lone header `apiKey` requirement is checked from the raw scope.

    Same outcome as Connexion's path (the 401 errors, `user` and `token_info` in the context)
    without a request object per call. Any other requirement goes through Connexion unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header: bytes | None = None
        self._keys: ApiKeys | None = None
        self._exact_keys: dict[bytes, tuple[str, str | None]] = {}
        if len(self.security) == 1 and len(self.security[0]) == 1:
            (scheme_name,) = self.security[0]
            scheme = self.security_schemes.get(scheme_name, {})
            handler = self.security_handler_factory.security_handlers.get("apiKey")
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header" \
                    and isinstance(handler, partial) and handler.func is KeyCheck:
                self._header = scheme["name"].lower().encode("latin-1")
                self._keys = handler.args[0]
                self._exact_keys = {key.encode("latin-1"): (key, self._keys.user_for(key))
                                    for key in self._keys.keys if key and key == key.strip(FIELD_WHITESPACE)}

    @property
    def checks_raw_key(self) -> bool:
        """Whether this operation's requirement is the lone header key checked by `authorize`."""
        return self._keys is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._keys is None:
            await super().__call__(scope, receive, send)
            return
        self.authorize(scope)
        await self.next_app(scope, receive, send)

    def authorize(self, scope: Scope) -> None:
        """The caller's user and token info into the request's context, or the 401 raised (`checks_raw_key` only)."""
        header = self._header
        raw = None
        for name, value in scope["headers"]:
            if name == header:
                raw = value
                break
        exact = self._exact_keys.get(raw) if raw is not None else None
        if exact is not None:  # an accepted key as clients send it most often: exactly, no whitespace around it
            key, user_id = exact
            token_info = {"sub": user_id, "api_key": key}  # as `token_info` makes it: a new one per request
        else:
            token_info = self._keys.token_info(  # type: ignore[union-attr] # set when `checks_raw_key`
                raw.decode("latin-1") if raw is not None else None)
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        context["user"] = token_info["sub"]
        context["token_info"] = token_info


class HeaderKeyApi(SecurityAPI):
    def make_operation(self, operation: AbstractOperation | Specification) -> SecurityOperation:
        return HeaderKeyOperation.from_operation(
            operation, next_app=self.next_app, security_handler_factory=self.security_handler_factory)


class KeySecurity(SecurityMiddleware):
    """Connexion's SecurityMiddleware, with `HeaderKeyOperation` for each operation."""

    api_cls = HeaderKeyApi
