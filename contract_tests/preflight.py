"""Before any rule: is this the Leads API, do the keys work, are they two tenants?

Each problem stops the run with one line that says what to fix, instead of hundreds of
failed checks that all mean "wrong URL" or "wrong key".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from contract_tests.client import tls_context
from contract_tests.curl import mask_key
from contract_tests.responses import json_of
from contract_tests.target import Target

TIMEOUT_SECONDS = 10.0


@dataclass
class Preflight:
    """What the first answers showed: a stop (verdict and one line) or the observed rate-limit window."""

    stop: str | None = None
    verdict: str = "pass"  # "unreachable" (no API there) or "error" (the keys) when stopped
    rate_limit: dict[str, str] = field(default_factory=dict)


def check(target: Target) -> Preflight:
    if target.api_key_2 is not None and target.api_key_2.strip() == target.api_key.strip():
        return Preflight("--api-key and --api-key-2 are the same key: give a key of another user for the "
                         "isolation checks", "error")
    with httpx.Client(timeout=TIMEOUT_SECONDS, verify=tls_context()) as http:
        try:
            first = http.get(target.base_url + "/leads", params={"limit": 1}, headers={"X-API-Key": target.api_key})
        except httpx.HTTPError as exc:
            return Preflight(f"cannot reach {target.base_url}: {type(exc).__name__}: {exc or 'no answer'}", "unreachable")
        problem = _not_the_api(http, target.base_url, first)
        if problem:
            return Preflight(problem, "unreachable")
        for option, key, response in _key_answers(http, target, first):
            if response.status_code == 401:
                return Preflight(f"the server rejects {option} {mask_key(key)}: GET /leads answers "
                                 f"{response.status_code} {_code(response) or ''}".rstrip(), "error")
    window = {name: first.headers[name] for name in ("RateLimit-Limit", "RateLimit-Reset") if name in first.headers}
    return Preflight(rate_limit=window)


def same_tenant(lead_1: dict[str, Any] | None, lead_2: dict[str, Any] | None) -> str | None:
    """One line when a lead created with each key has the same owner."""
    if not lead_1 or not lead_2:
        return None
    owner_1, owner_2 = lead_1.get("user_id"), lead_2.get("user_id")
    if owner_1 is not None and owner_1 == owner_2:
        return (f"--api-key and --api-key-2 are the same tenant: leads created with each are owned by user_id "
                f"{owner_1}; give a key of another user for the isolation checks")
    return None


def _key_answers(http: httpx.Client, target: Target, first: httpx.Response) -> list[tuple[str, str, httpx.Response]]:
    answers = [("--api-key", target.api_key, first)]
    if target.api_key_2:
        second = http.get(target.base_url + "/leads", params={"limit": 1}, headers={"X-API-Key": target.api_key_2})
        answers.append(("--api-key-2", target.api_key_2, second))
    return answers


def _not_the_api(http: httpx.Client, base_url: str, response: httpx.Response) -> str | None:
    """A 404 or a body that is not JSON at all: nothing the rules could judge. JSON of another shape
    is a divergent server, for the rules to diagnose."""
    if _is_json(response) and response.status_code != 404:
        return None
    what = _describe_answer(response)
    hint = ""
    if not urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        candidate = base_url.rstrip("/") + "/v1"
        try:
            probe = http.get(candidate + "/leads", params={"limit": 1})
        except httpx.HTTPError:
            probe = None
        if probe is not None and _is_envelope(probe) and probe.status_code != 404:
            hint = f"; the API answers at {candidate}: use --base-url {candidate}"
        else:
            hint = "; the base URL should end in /v1"
    return f"no Leads API at {base_url}: GET {base_url}/leads answers {what}{hint}"


def _is_json(response: httpx.Response) -> bool:
    try:
        json_of(response.content)
    except ValueError:
        return False
    return True


def _is_envelope(response: httpx.Response) -> bool:
    try:
        payload = json_of(response.content)
    except ValueError:
        return False
    return isinstance(payload, dict) and "success" in payload


def _describe_answer(response: httpx.Response) -> str:
    media = response.headers.get("content-type", "no Content-Type").split(";")[0]
    code = _code(response)
    if code:
        return f"{response.status_code} {code}"
    kind = "an HTML page" if "html" in media else media
    return f"{response.status_code} with {kind}"


def _code(response: httpx.Response) -> str | None:
    try:
        error = json_of(response.content).get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) and isinstance(error.get("code"), str) else None
