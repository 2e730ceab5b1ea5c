"""The list operation's page: filters, meta, stats and opaque offset cursors."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from .defects import DefectSwitch
from .store import Lead
from .validation import INTEREST_LEVELS, STATUSES, ListQuery, parse_digits

CURSOR_PREFIX = "leads-offset:"
MAX_CURSOR_LENGTH = 512


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{offset}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int | None:
    """The offset a cursor encodes, or None when it is not one this server issued."""
    if len(text) > MAX_CURSOR_LENGTH:
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not raw.startswith(CURSOR_PREFIX):
        return None
    return parse_digits(raw[len(CURSOR_PREFIX):])


def matches(lead: Lead, query: ListQuery, defect: DefectSwitch) -> bool:
    checks: list[bool] = []
    if query.status is not None:
        checks.append(lead.status == query.status)
    if query.interest_level is not None:
        checks.append(lead.interest_level == query.interest_level)
    if not checks:
        return True
    return any(checks) if defect("filters_ored") else all(checks)


def stats_of(leads: list[Lead]) -> dict[str, Any]:
    by_status = {status: 0 for status in STATUSES}
    by_interest = {level: 0 for level in INTEREST_LEVELS}
    for lead in leads:
        # A defective build may hold values outside the enums; count them anyway.
        by_status[lead.status] = by_status.get(lead.status, 0) + 1
        by_interest[str(lead.interest_level)] = by_interest.get(str(lead.interest_level), 0) + 1
    return {"total": len(leads), "byStatus": by_status, "byInterestLevel": by_interest}


def build_page(
    owned: list[Lead], query: ListQuery, cursor_offset: int | None, defect: DefectSwitch
) -> tuple[list[Lead], dict[str, Any]]:
    """Leads of the requested page and the rest of `data` (meta, stats, cursors).

    `owned` is the caller's leads already in list order.
    """
    filtered = [lead for lead in owned if matches(lead, query, defect)]
    limit = query.limit
    total = len(owned) if defect("total_ignores_filters") else len(filtered)
    if defect("total_pages_off_by_one"):
        total_pages = total // limit + 1
    else:
        total_pages = math.ceil(total / limit)
    # A cursor lands on the page containing its offset.
    offset = (cursor_offset // limit) * limit if cursor_offset is not None else (query.page - 1) * limit
    page = offset // limit + 1
    has_more = page <= total_pages if defect("has_more_on_last_page") else page < total_pages
    next_cursor = encode_cursor(offset + limit) if has_more or defect("next_cursor_on_last_page") else None
    prev_cursor = encode_cursor(offset - limit) if page > 1 else None
    stats = stats_of(filtered if defect("stats_follow_filters") else owned)
    if defect("pagination_other_shape"):
        pagination = {
            "pagination": {
                "currentPage": page, "pageSize": limit, "totalItems": total,
                "totalPages": total_pages, "hasNextPage": has_more,
            }
        }
    else:
        pagination = {
            "meta": {"page": page, "limit": limit, "total": total, "totalPages": total_pages, "hasMore": has_more}
        }
    rest = {
        **pagination,
        "stats": stats,
        "cursors": {"next": next_cursor, "prev": prev_cursor},
    }
    return filtered[offset:offset + limit], rest
