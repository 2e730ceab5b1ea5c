"""Start-up settings (flags over `LEADS_MOCK_*` environment over defaults) and run-time knobs."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leads_api_kit import fixtures_path

from .option_values import (
    parse_api_key,
    parse_connections,
    parse_count,
    parse_database_url,
    parse_error_rate,
    parse_existing_file,
    parse_flag,
    parse_latency,
    parse_origin,
    parse_port,
    parse_rate_limit,
    parse_seed,
    parse_timeout,
)

DEFAULT_FIXTURES = fixtures_path()
DEFAULT_API_KEY = "leads-mock-key"
DEFAULT_SEED = 20260701
ENV_PREFIX = "LEADS_MOCK_"
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class Settings:
    """Everything the mock is started with; read once, never changed."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: tuple[str, ...] = (DEFAULT_API_KEY,)
    fixtures: Path | None = DEFAULT_FIXTURES
    generate: int | None = None
    seed: int = DEFAULT_SEED
    state_file: Path | None = None
    database_url: str | None = None
    cors_origins: tuple[str, ...] = ("*",)
    admin_token: str | None = None
    latency_ms: tuple[int, int] | None = None
    error_rate: float = 0.0
    rate_limit: int = 2000
    rate_window_seconds: int = 60
    unsafe_open_admin: bool = False
    trust_proxy: bool = False
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int | None = None  # None: from the process's file descriptor limit


@dataclass
class Runtime:
    """Knobs that the admin API may change while the mock runs; read on every request."""

    latency_ms: tuple[int, int] | None
    error_rate: float
    rate_limit: int
    rate_window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(settings.latency_ms, settings.error_rate, settings.rate_limit, settings.rate_window_seconds)


def is_loopback(host: str) -> bool:
    """True when `host` (a name or an address, IPv6 with or without brackets) reaches only this machine."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leads-mock",
        description="A stateful mock of the Leads API. Every flag falls back to LEADS_MOCK_<NAME> in the environment.",
    )
    add = parser.add_argument
    add("--host", help="interface to listen on (default 127.0.0.1; env LEADS_MOCK_HOST)")
    add("--port", type=parse_port, help="port, 0 picks a free one (default 8080; env LEADS_MOCK_PORT)")
    add("--api-key", dest="api_keys", action="append", type=parse_api_key, metavar="KEY",
        help=f"accepted API key, repeatable; the first owns the initial data (default {DEFAULT_API_KEY}; "
             "env LEADS_MOCK_API_KEYS, comma-separated)")
    add("--fixtures", type=parse_existing_file, metavar="PATH",
        help="JSON data set {leads, contacts, clients} (default fixtures/leads.json; env LEADS_MOCK_FIXTURES)")
    add("--generate", type=parse_count, metavar="N", help="generate N leads instead of loading fixtures "
        "(env LEADS_MOCK_GENERATE)")
    add("--seed", type=parse_seed, metavar="S",
        help=f"seed for --generate (default {DEFAULT_SEED}; env LEADS_MOCK_SEED)")
    add("--state-file", metavar="PATH", help="persist the state to this file (env LEADS_MOCK_STATE_FILE)")
    add("--database-url", type=parse_database_url, metavar="URL",
        help="keep the state in PostgreSQL, shared by every mock using it: postgresql://user:pass@host:port/db "
             "(env LEADS_MOCK_DATABASE_URL)")
    add("--cors-origin", dest="cors_origins", action="append", type=parse_origin, metavar="ORIGIN",
        help="allowed CORS origin, repeatable (default any; env LEADS_MOCK_CORS_ORIGINS, comma-separated)")
    add("--admin-token", metavar="TOKEN", help="token for the /__mock/ control routes (env LEADS_MOCK_ADMIN_TOKEN)")
    add("--latency", type=parse_latency, metavar="MIN-MAX", help="added latency in ms, e.g. 50-300 "
        "(env LEADS_MOCK_LATENCY)")
    add("--error-rate", type=parse_error_rate, metavar="FLOAT", help="share of requests answered 500, 0..1 "
        "(env LEADS_MOCK_ERROR_RATE)")
    add("--rate-limit", type=parse_rate_limit, metavar="N/UNIT", help="requests per key and window "
        "(default 2000/minute; env LEADS_MOCK_RATE_LIMIT)")
    add("--unsafe-open-admin", action="store_true", default=None,
        help="serve /__mock/ without a token on a non-loopback --host (env LEADS_MOCK_UNSAFE_OPEN_ADMIN=1)")
    add("--trust-proxy", action="store_true", default=None, help="take the client address from X-Forwarded-For "
        "(only behind your own proxy; env LEADS_MOCK_TRUST_PROXY=1)")
    add("--header-timeout", type=parse_timeout, metavar="SECONDS", help="time a client has to send a request's "
        "headers (default 10; env LEADS_MOCK_HEADER_TIMEOUT)")
    add("--body-timeout", type=parse_timeout, metavar="SECONDS", help="time a client has to send a request's "
        "body (default 30; env LEADS_MOCK_BODY_TIMEOUT)")
    add("--keep-alive-timeout", type=parse_timeout, metavar="SECONDS", help="idle time before a kept-alive "
        "connection is closed (default 5; env LEADS_MOCK_KEEP_ALIVE_TIMEOUT)")
    add("--max-connections", type=parse_connections, metavar="N", help="open connections at most; past it the "
        "longest idle one is closed (default: from the file descriptor limit, at most 1024; "
        "env LEADS_MOCK_MAX_CONNECTIONS)")
    return parser


def _from_env(parser: argparse.ArgumentParser, env: Mapping[str, str], name: str, parse: Callable[[str], Any]) -> Any:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except argparse.ArgumentTypeError as error:
        parser.error(f"{ENV_PREFIX}{name}: {error}")  # exits 2, like a bad flag


def _list_from_env(parser: argparse.ArgumentParser, env: Mapping[str, str], name: str,
                   parse: Callable[[str], str]) -> tuple[str, ...] | None:
    items = _from_env(parser, env, name, lambda raw: tuple(parse(p.strip()) for p in raw.split(",") if p.strip()))
    if items == ():
        parser.error(f"{ENV_PREFIX}{name}: give at least one value, comma-separated")
    return items


def _first(*values: Any) -> Any:
    """The first value that is not None; callables are called only when reached (so a flag
    given on the command line keeps an unusable environment value from being read)."""
    for value in values:
        value = value() if callable(value) else value
        if value is not None:
            return value
    return None


def load_settings(argv: Sequence[str] | None, env: Mapping[str, str]) -> Settings:
    """Flags over environment over defaults. Bad values print a message and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults = Settings()
    rate = _first(args.rate_limit, lambda: _from_env(parser, env, "RATE_LIMIT", parse_rate_limit))
    fixtures = _first(args.fixtures, lambda: _from_env(parser, env, "FIXTURES", parse_existing_file),
                      defaults.fixtures)
    state_file = _first(args.state_file, env.get(ENV_PREFIX + "STATE_FILE") or None)
    database_url = _first(args.database_url, lambda: _from_env(parser, env, "DATABASE_URL", parse_database_url))
    if database_url and state_file:
        parser.error("give --state-file (SQLite, one process) or --database-url (PostgreSQL), not both")
    keys = _first(args.api_keys, lambda: _list_from_env(parser, env, "API_KEYS", parse_api_key), defaults.api_keys)
    origins = _first(args.cors_origins, lambda: _list_from_env(parser, env, "CORS_ORIGINS", parse_origin),
                     defaults.cors_origins)
    settings = Settings(
        host=_first(args.host, env.get(ENV_PREFIX + "HOST") or None, defaults.host),
        port=_first(args.port, lambda: _from_env(parser, env, "PORT", parse_port), defaults.port),
        api_keys=tuple(dict.fromkeys(keys)),  # repeated keys collapse, order kept
        fixtures=fixtures,
        generate=_first(args.generate, lambda: _from_env(parser, env, "GENERATE", parse_count)),
        seed=_first(args.seed, lambda: _from_env(parser, env, "SEED", parse_seed), defaults.seed),
        state_file=Path(state_file).expanduser() if state_file else None,
        database_url=database_url,
        cors_origins=tuple(dict.fromkeys(origins)),
        admin_token=_first(args.admin_token, env.get(ENV_PREFIX + "ADMIN_TOKEN") or None),
        latency_ms=_first(args.latency, lambda: _from_env(parser, env, "LATENCY", parse_latency)),
        error_rate=_first(args.error_rate, lambda: _from_env(parser, env, "ERROR_RATE", parse_error_rate), 0.0),
        rate_limit=rate[0] if rate else defaults.rate_limit,
        rate_window_seconds=rate[1] if rate else defaults.rate_window_seconds,
        unsafe_open_admin=_first(args.unsafe_open_admin,
                                 lambda: _from_env(parser, env, "UNSAFE_OPEN_ADMIN", parse_flag), False),
        trust_proxy=_first(args.trust_proxy, lambda: _from_env(parser, env, "TRUST_PROXY", parse_flag), False),
        header_timeout=_first(args.header_timeout, lambda: _from_env(parser, env, "HEADER_TIMEOUT", parse_timeout),
                              defaults.header_timeout),
        body_timeout=_first(args.body_timeout, lambda: _from_env(parser, env, "BODY_TIMEOUT", parse_timeout),
                            defaults.body_timeout),
        keep_alive_timeout=_first(args.keep_alive_timeout,
                                  lambda: _from_env(parser, env, "KEEP_ALIVE_TIMEOUT", parse_timeout),
                                  defaults.keep_alive_timeout),
        max_connections=_first(args.max_connections,
                               lambda: _from_env(parser, env, "MAX_CONNECTIONS", parse_connections)),
    )
    problem = exposure_problem(settings)
    if problem:
        parser.error(problem)
    return settings


def exposure_problem(settings: Settings) -> str | None:
    """Why the settings must not be served as they are: open control routes reachable from other machines."""
    if settings.admin_token or settings.unsafe_open_admin or is_loopback(settings.host):
        return None
    return (f"--host {settings.host} is reachable from other machines, and /__mock/ (reset, the API keys, every "
            "tenant's records) would be open to all of them; pass --admin-token TOKEN to protect it, or "
            "--unsafe-open-admin to serve it open anyway")
