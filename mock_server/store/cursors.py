"""Opaque list cursors (base64url JSON of a position only) and the page metadata built around them."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from ..api_errors import InvalidCursor
from ..encoding import json_text
from .base import LeadPage, Position

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def encode(position: Position) -> str:
    payload: dict[str, Any] = {"d": "p" if position.before else "n"}
    if position.key is not None:
        payload["k"], payload["i"] = position.key
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str) -> Position:
    """The position in a cursor this API issued; InvalidCursor (400, field `cursor`) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidCursor() from None
    if not isinstance(payload, dict) or payload.get("d") not in ("n", "p") or set(payload) - {"d", "k", "i"}:
        raise InvalidCursor()
    before = payload["d"] == "p"
    if "k" not in payload and "i" not in payload and before:
        position = Position(key=None, before=True)
    else:
        created_at, lead_id = payload.get("k"), payload.get("i")
        if not (isinstance(created_at, str) and _TIMESTAMP.fullmatch(created_at)
                and isinstance(lead_id, str) and _UUID.fullmatch(lead_id)):
            raise InvalidCursor()
        position = Position(key=(created_at, lead_id), before=before)
    # The decoder skips characters outside the alphabet and takes padding, other spacing or key orders:
    # only the text this API issues for the position is that cursor.
    if encode(position) != cursor:
        raise InvalidCursor()
    return position


def page_json(page: LeadPage, limit: int) -> str:
    """`data` of a list answer as JSON text: the leads spliced in from their texts (encoding dominates a
    page), then `meta` (the page the offset falls in), `stats` and `cursors`."""
    number = page.offset // limit + 1
    total_pages = math.ceil(page.total / limit)
    has_more = number < total_pages
    next_cursor = prev_cursor = None
    if has_more:  # then the page has leads: its offset is short of the last page
        next_cursor = encode(Position(key=page.keys[-1], before=False))
    if number > 1:
        first = page.keys[0] if page.keys else None  # past the end: step back from the end
        prev_cursor = encode(Position(key=first, before=True))
    rest = {
        "meta": {"page": number, "limit": limit, "total": page.total, "totalPages": total_pages, "hasMore": has_more},
        "stats": page.stats,
        "cursors": {"next": next_cursor, "prev": prev_cursor},
    }
    return '{"leads":[' + ",".join(page.leads_json) + "]," + json_text(rest)[1:]
