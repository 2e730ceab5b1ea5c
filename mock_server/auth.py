"""API keys: one user per key, checked through Connexion's handling of the spec's `apiKey` scheme."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from connexion.lifecycle import ConnexionRequest
from connexion.security import ApiKeySecurityHandler

from .errors import InvalidApiKey, MissingApiKey
from .store import user_id_for


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
        return self._users.get(key) if key else None

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
            key = request.headers.get(header)
            if not key:  # absent and empty are the same to clients
                raise MissingApiKey()
            user_id = self._keys.user_for(key)
            if user_id is None:
                raise InvalidApiKey()
            return {"sub": user_id, "api_key": key}  # `sub` becomes context["user"]

        return verify
