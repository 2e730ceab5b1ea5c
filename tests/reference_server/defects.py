"""Deliberate single-rule defects the conformance suite must detect.

Each entry names one documented rule the server breaks when started with that defect;
everything else stays correct. Any set of defects may be on at once (short of the pairs in
HIDES): each is consulted at the single place its rule is applied, so each still shows.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFECTS: dict[str, str] = {
    # envelope and representation
    "timestamp_without_millis": "The envelope timestamp lacks milliseconds (`2026-07-01T22:52:30Z`).",
    "null_fields_omitted": "Lead representations omit null-valued fields instead of carrying them as null.",
    "unknown_route_plain_text": "Unknown routes answer a plain-text 404 instead of the JSON error envelope.",
    "datetime_offset_dropped": "A client-supplied date-time offset is discarded (local time labelled Z) instead of converted to UTC.",
    "errors_without_timestamp": "Error envelopes lack `timestamp` (success envelopes keep it).",
    "capitalised_enums": "Enum values in responses come back capitalised (`New`, `Cold`, `Buyer`); requests still take lowercase.",
    "html_escaped_text": "Text fields are HTML-escaped on save (`<b>&` is stored as `&lt;b&gt;&amp;`) instead of kept exactly as sent.",
    # create
    "create_returns_200": "Create answers 200 instead of 201.",
    "default_interest_cold": "A lead created without interest_level gets `cold` instead of `warm`.",
    "name_not_trimmed": "name is stored with its surrounding whitespace instead of trimmed.",
    "create_needs_other_fields": "Create requires `firstName` and `lastName` (400 naming them) instead of `name`.",
    # validation
    "blank_name_accepted": "A name made only of spaces is accepted instead of answered 400.",
    "email_format_unchecked": "An email that is not `local@domain` is accepted instead of answered 400.",
    "invalid_enum_accepted": "Any string is accepted as lead_type instead of only buyer/seller/both.",
    "negative_budget_accepted": "A negative budget is accepted instead of answered 400.",
    "null_interest_level_accepted": "null for the non-nullable interest_level is stored (create and update) instead of answered 400.",
    "limit_clamped": "limit above 100 is clamped to 100 instead of answered 400.",
    "query_int_lenient": "page/limit are parsed with int(), so `+2`, ` 2` and `1_0` are accepted instead of 400.",
    "unknown_field_rejected": "Unknown body fields are rejected with 400 instead of ignored.",
    "malformed_id_404": "A malformed {id} answers 404 instead of 400 VALIDATION_ERROR.",
    "bad_cursor_ignored": "An unknown or malformed cursor falls back to the first page instead of 400.",
    "server_error_at_max_length": "A value of exactly the documented maximum length (phone 50, source 100, timeline 100, name 255) answers 500.",
    "name_limit_before_trimming": "name's 255 limit counts the untrimmed value, so a padded name that trims to 255 is answered 400.",
    "null_version_conflict": "`version: null` in an update answers 409 VERSION_CONFLICT instead of 400 VALIDATION_ERROR.",
    # transport
    "malformed_json_500": "Malformed JSON crashes the handler (500) instead of 400 INVALID_JSON.",
    "content_type_unchecked": "Bodies are parsed as JSON whatever the Content-Type instead of 415.",
    "payload_size_unchecked": "Bodies over 1 MiB are processed instead of answered 413.",
    "allow_header_missing": "405 answers carry no Allow header.",
    "trailing_slash_served": "`/v1/leads/` is served like `/v1/leads` instead of 404.",
    "body_limit_1000000": "The body limit is 1,000,000 bytes instead of 1 MiB (1,048,576): a 1,040,000-byte body answers 413.",
    # auth and tenancy
    "any_api_key_accepted": "Unknown API keys are accepted (sharing one tenant) instead of 401 INVALID_API_KEY.",
    "empty_key_invalid": "An empty X-API-Key answers INVALID_API_KEY instead of NO_AUTH_TOKEN.",
    "delete_skips_auth": "DELETE runs without an API key (answering 404) instead of 401.",
    "list_leaks_other_tenants": "The list includes other tenants' leads.",
    "get_ignores_owner": "Get returns another tenant's lead instead of 404.",
    "foreign_lead_403": "Update of another tenant's lead answers 403 (revealing it exists) instead of 404.",
    "missing_lead_403": "Get/update/delete/convert of a missing or another key's lead answers 403 FORBIDDEN instead of 404.",
    # update and delete
    "version_not_bumped": "A successful update leaves version unchanged instead of +1.",
    "updated_at_frozen": "A successful update leaves updated_at unchanged.",
    "stale_version_accepted": "An update with a stale version is applied instead of 409 VERSION_CONFLICT.",
    "conflict_still_applies": "An update with a stale version answers 409 but stores the change anyway.",
    "update_not_persisted": "The update answer shows the change but the stored lead stays unchanged.",
    "no_updates_accepted": "A PUT with no updatable field answers 200 and bumps version instead of 400 NO_UPDATES.",
    "soft_delete_visible": "Delete only flags the lead, and get still returns it instead of 404.",
    "delete_refused_until_archived": "Delete answers 400 LEAD_NOT_ARCHIVED unless the lead's status is `lost`, instead of deleting.",
    # list
    "total_pages_off_by_one": "meta.totalPages is floor(total/limit)+1 instead of ceil(total/limit).",
    "has_more_on_last_page": "meta.hasMore is true on the last page.",
    "total_ignores_filters": "meta.total counts all the caller's leads instead of the filtered set.",
    "filters_ored": "status and interest_level filters are OR-ed instead of AND-ed.",
    "oldest_first": "The list is ordered created_at ascending instead of descending.",
    "stats_follow_filters": "data.stats is computed over the filtered set instead of all the caller's leads.",
    "next_cursor_on_last_page": "cursors.next is a cursor even when hasMore is false.",
    "pagination_other_shape": "The list answers `data.pagination` {currentPage, pageSize, totalItems, totalPages, hasNextPage} instead of `data.meta`.",
    # convert
    "convert_keeps_status": "Convert links the client but leaves the lead's status unchanged instead of `converted`.",
    "price_range_bankers_rounding": "The price range rounds half to even on floats (budget 5 gives min 4) instead of half up.",
    "contact_not_reused": "Convert always creates a new contact instead of reusing the caller's contact with that email.",
    "contact_match_case_sensitive": "Contact reuse compares emails case-sensitively.",
    "client_type_ignored": "Convert always creates a `buyer` client, ignoring clientType.",
    "double_convert_allowed": "Converting an already converted lead creates another client instead of 409 ALREADY_CONVERTED.",
    "convert_without_contact_fields": "The convert answer lacks `primaryContactId` and `additionalContactsCount`.",
    # rate limit
    "rate_limit_headers_missing": "Responses lack the RateLimit-Limit/-Remaining/-Reset headers.",
    "rate_limit_not_enforced": "Requests over the limit are served instead of answered 429.",
}


# Pairs where the first defect hides the second (no request can show both), refused together.
HIDES: dict[tuple[str, str], str] = {
    ("payload_size_unchecked", "body_limit_1000000"): "with no size check there is no limit to be wrong",
    ("stale_version_accepted", "conflict_still_applies"): "a stale version never gets its 409",
    ("missing_lead_403", "foreign_lead_403"): "every foreign or missing lead already answers 403",
}


class DefectCrash(RuntimeError):
    """A 500 that a defect causes on purpose: answered like any crash, but logged without a traceback."""


def parse_defect_names(values: Iterable[str]) -> frozenset[str]:
    """Names from repeated and comma-separated options (`a`, `b,c`); empty items are skipped."""
    return frozenset(name.strip() for value in values for name in value.split(",") if name.strip())


class DefectSwitch:
    """Answers whether the server runs with a given defect; any set of them may be on at once."""

    def __init__(self, active: str | Iterable[str] | None = None) -> None:
        names = frozenset() if active is None else frozenset([active] if isinstance(active, str) else active)
        unknown = sorted(names - DEFECTS.keys())
        if unknown:
            raise ValueError(f"unknown defect(s): {', '.join(unknown)}; known: {', '.join(sorted(DEFECTS))}")
        for (hider, hidden), why in HIDES.items():
            if hider in names and hidden in names:
                raise ValueError(f"defects {hider} and {hidden} cannot be on together: {why}")
        self.active = names

    def __call__(self, name: str) -> bool:
        # Guard against typos at the consulting site: every name checked must exist.
        assert name in DEFECTS, name
        return name in self.active
