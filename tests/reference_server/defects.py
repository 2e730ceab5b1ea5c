"""Deliberate single-rule defects the conformance suite must detect.

Each entry names one documented rule the server breaks when started with that defect;
everything else stays correct. The server consults the switch at the single place the
rule is applied.
"""

from __future__ import annotations

DEFECTS: dict[str, str] = {
    # envelope and representation
    "timestamp_without_millis": "The envelope timestamp lacks milliseconds (`2026-07-01T22:52:30Z`).",
    "null_fields_omitted": "Lead representations omit null-valued fields instead of carrying them as null.",
    "unknown_route_plain_text": "Unknown routes answer a plain-text 404 instead of the JSON error envelope.",
    "datetime_offset_dropped": "A client-supplied date-time offset is discarded (local time labelled Z) instead of converted to UTC.",
    # create
    "create_returns_200": "Create answers 200 instead of 201.",
    "default_interest_cold": "A lead created without interest_level gets `cold` instead of `warm`.",
    "name_not_trimmed": "name is stored with its surrounding whitespace instead of trimmed.",
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
    # transport
    "malformed_json_500": "Malformed JSON crashes the handler (500) instead of 400 INVALID_JSON.",
    "content_type_unchecked": "Bodies are parsed as JSON whatever the Content-Type instead of 415.",
    "payload_size_unchecked": "Bodies over 1 MiB are processed instead of answered 413.",
    "allow_header_missing": "405 answers carry no Allow header.",
    "trailing_slash_served": "`/v1/leads/` is served like `/v1/leads` instead of 404.",
    # auth and tenancy
    "any_api_key_accepted": "Unknown API keys are accepted (sharing one tenant) instead of 401 INVALID_API_KEY.",
    "empty_key_invalid": "An empty X-API-Key answers INVALID_API_KEY instead of NO_AUTH_TOKEN.",
    "delete_skips_auth": "DELETE runs without an API key (answering 404) instead of 401.",
    "list_leaks_other_tenants": "The list includes other tenants' leads.",
    "get_ignores_owner": "Get returns another tenant's lead instead of 404.",
    "foreign_lead_403": "Update of another tenant's lead answers 403 (revealing it exists) instead of 404.",
    # update and delete
    "version_not_bumped": "A successful update leaves version unchanged instead of +1.",
    "updated_at_frozen": "A successful update leaves updated_at unchanged.",
    "stale_version_accepted": "An update with a stale version is applied instead of 409 VERSION_CONFLICT.",
    "conflict_still_applies": "An update with a stale version answers 409 but stores the change anyway.",
    "update_not_persisted": "The update answer shows the change but the stored lead stays unchanged.",
    "no_updates_accepted": "A PUT with no updatable field answers 200 and bumps version instead of 400 NO_UPDATES.",
    "soft_delete_visible": "Delete only flags the lead, and get still returns it instead of 404.",
    # list
    "total_pages_off_by_one": "meta.totalPages is floor(total/limit)+1 instead of ceil(total/limit).",
    "has_more_on_last_page": "meta.hasMore is true on the last page.",
    "total_ignores_filters": "meta.total counts all the caller's leads instead of the filtered set.",
    "filters_ored": "status and interest_level filters are OR-ed instead of AND-ed.",
    "oldest_first": "The list is ordered created_at ascending instead of descending.",
    "stats_follow_filters": "data.stats is computed over the filtered set instead of all the caller's leads.",
    "next_cursor_on_last_page": "cursors.next is a cursor even when hasMore is false.",
    # convert
    "convert_keeps_status": "Convert links the client but leaves the lead's status unchanged instead of `converted`.",
    "price_range_bankers_rounding": "The price range rounds half to even on floats (budget 5 gives min 4) instead of half up.",
    "contact_not_reused": "Convert always creates a new contact instead of reusing the caller's contact with that email.",
    "contact_match_case_sensitive": "Contact reuse compares emails case-sensitively.",
    "client_type_ignored": "Convert always creates a `buyer` client, ignoring clientType.",
    "double_convert_allowed": "Converting an already converted lead creates another client instead of 409 ALREADY_CONVERTED.",
    # rate limit
    "rate_limit_headers_missing": "Responses lack the RateLimit-Limit/-Remaining/-Reset headers.",
    "rate_limit_not_enforced": "Requests over the limit are served instead of answered 429.",
}


class DefectSwitch:
    """Answers whether the server runs with a given defect."""

    def __init__(self, active: str | None) -> None:
        if active is not None and active not in DEFECTS:
            raise ValueError(f"unknown defect {active!r}; known: {', '.join(sorted(DEFECTS))}")
        self.active = active

    def __call__(self, name: str) -> bool:
        # Guard against typos at the consulting site: every name checked must exist.
        assert name in DEFECTS, name
        return self.active == name
