"""How uvicorn serves the mock: the guarded HTTP protocol, the timeouts, and whom to believe about addresses."""

from __future__ import annotations

from typing import Any

import uvicorn

from ..config import Settings
from .protocol import ConnectionLimits, guarded_protocol


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                            max_connections=settings.max_connections)


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """A uvicorn config for `app` as `settings` say; `options` pass on to uvicorn (logging, lifespan).

    `X-Forwarded-For` moves the client address (and so the per-address rate limit) only with
    `trust_proxy`; uvicorn would otherwise believe it from 127.0.0.1, that is from any local
    client. The body timeout lives in the app (`BodyDeadline`), where it can answer in the envelope.
    """
    return uvicorn.Config(
        getattr(app, "served", app),  # the mock's Connexion stack, without the app's forwarding call
        http=guarded_protocol(connection_limits(settings)),
        ws="none",  # the API has no WebSockets; uvicorn's would refuse an upgrade with a bare text/plain 403
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type] # call_later takes a float
        proxy_headers=settings.trust_proxy,
        forwarded_allow_ips="*" if settings.trust_proxy else None,
        **options,
    )
