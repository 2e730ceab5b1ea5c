"""listLeads: pagination math, bounds, filters, order, stats and cursors.

The server may hold any number of other leads of the same key, so every check is either a
consistency rule of the answer itself or about the leads this module created (which, being
the newest, head the unfiltered list).

Several checks compare more than one read of the caller's whole list, so nothing else may write
with the caller's key meanwhile. With a second key they read and write as that tenant, which no
other check writes with, and run beside the other checks (on one worker, one after another);
with one key they run after every other check (`contract_tests.scheduling`).
"""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from contract_tests.checks import (
    INTEREST_LEVELS,
    STATUSES,
    check_lead,
    check_meta_math,
    check_newest_first,
    check_stats_consistent,
    check_success,
    check_validation_error,
    listed_leads,
    meta_total,
    rereads,
    same_enum,
)
from contract_tests.client import LeadsClient, describe

FILTER_VALUES = [("status", value) for value in STATUSES] + [("interest_level", value) for value in INTEREST_LEVELS]


def listing(lister: LeadsClient, **params: Any) -> tuple[dict[str, Any], httpx.Response]:
    response = lister.request("GET", "/leads", params=params or None)
    data = check_success("listLeads", response)
    assert isinstance(data, dict), describe("listLeads", "data", "an object", data, response)
    return data, response


def ids_of(data: dict[str, Any], response: httpx.Response) -> list[str]:
    return [lead.get("id") for lead in listed_leads("listLeads", data, response)]


def check_landed_on(data: dict[str, Any], page: int, response: httpx.Response) -> None:
    """`meta.page` is the page a cursor lands on; an answer without `meta` is pagination's divergence."""
    meta = data.get("meta")
    if isinstance(meta, dict):
        assert meta.get("page") == page, describe("listLeads", "data.meta.page at the cursor", page, meta.get("page"), response)


def count_of(stats: Any, key: str, name: str) -> int | None:
    counts = stats.get(key) if isinstance(stats, dict) else None
    value = counts.get(name) if isinstance(counts, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def next_cursor(data: dict[str, Any], response: httpx.Response) -> str:
    """cursors.next of a page that has more after it."""
    cursors = data.get("cursors")
    cursor = cursors.get("next") if isinstance(cursors, dict) else None
    assert isinstance(cursor, str) and cursor, describe(
        "listLeads", "data.cursors.next while hasMore", "an opaque string", cursors, response
    )
    return cursor


@pytest.fixture(scope="module")
def lister(state: RunState, request: pytest.FixtureRequest) -> LeadsClient:
    """The tenant whose list these checks read and write: the second key, when the run has one."""
    return request.getfixturevalue("client_2" if state.target.api_key_2 else "client")


@pytest.fixture(scope="module")
def other_tenant(state: RunState, request: pytest.FixtureRequest) -> LeadsClient:
    """Another tenant than the lister's (skipped without a second key)."""
    return request.getfixturevalue("client" if state.target.api_key_2 else "client_2")


@pytest.fixture(scope="module")
def marked(lister: LeadsClient) -> dict[str, str]:
    """Three leads, created in this order: new+hot, contacted+hot, contacted+cold."""
    new_hot = lister.create_lead(name="Contract Test List A", interest_level="hot")["id"]
    contacted_hot = lister.create_lead(name="Contract Test List B", interest_level="hot")["id"]
    contacted_cold = lister.create_lead(name="Contract Test List C", interest_level="cold")["id"]
    for lead_id in (contacted_hot, contacted_cold):
        response = lister.request("PUT", f"/leads/{lead_id}", json_body={"status": "contacted"})
        check_success("updateLead", response)
    return {"new_hot": new_hot, "contacted_hot": contacted_hot, "contacted_cold": contacted_cold}


@pytest.mark.rule("pagination math", "listLeads")
@rereads
def test_meta_math_holds_on_first_middle_and_last_page(lister: LeadsClient, marked: dict[str, str]) -> None:
    data, response = listing(lister, limit=2)
    meta = check_meta_math("listLeads", data, 1, 2, response)
    for page in sorted({2, meta["totalPages"]}):
        data, response = listing(lister, limit=2, page=page)
        check_meta_math("listLeads", data, page, 2, response)
    # Limits that divide the total exactly, and one that does not: ceil() differs from floor() + 1 only there.
    total = meta["total"]
    for limit in sorted({1, min(total, 100), 3}):
        data, response = listing(lister, limit=limit)
        check_meta_math("listLeads", data, 1, limit, response)
    if total > 1:
        data, response = listing(lister, limit=1, page=total)
        check_meta_math("listLeads", data, total, 1, response)


@pytest.mark.rule("pages follow each other without gap or overlap", "listLeads")
@rereads
def test_consecutive_pages_join_into_the_larger_page(lister: LeadsClient, marked: dict[str, str]) -> None:
    pages = [ids_of(*listing(lister, limit=2, page=page)) for page in (1, 2)]
    joined, response = listing(lister, limit=4)
    assert pages[0] + pages[1] == ids_of(joined, response), describe(
        "listLeads", "pages 1 and 2 of limit 2, joined", f"page 1 of limit 4: {ids_of(joined, response)}", pages,
        response,
    )


@pytest.mark.rule("page past the end is an empty 200", "listLeads")
@rereads
def test_page_past_the_end_is_200_with_no_leads(lister: LeadsClient, marked: dict[str, str]) -> None:
    first, response = listing(lister, limit=2)
    beyond = check_meta_math("listLeads", first, 1, 2, response)["totalPages"] + 1
    data, response = listing(lister, limit=2, page=beyond)
    check_meta_math("listLeads", data, beyond, 2, response)


@pytest.mark.rule("default page size is 25", "listLeads")
def test_default_page_is_1_and_default_limit_is_25(lister: LeadsClient, marked: dict[str, str]) -> None:
    data, response = listing(lister)
    check_meta_math("listLeads", data, 1, 25, response)


@pytest.mark.rule("limit 100 is accepted", "listLeads")
def test_limit_100_is_accepted(lister: LeadsClient, marked: dict[str, str]) -> None:
    data, response = listing(lister, limit=100)
    listed, total = len(listed_leads("listLeads", data, response)), meta_total(data)
    expected = f"min(100, meta.total {total})" if total is not None else "at most 100"
    assert listed <= 100 and (total is None or listed == min(100, total)), describe(
        "listLeads", "number of listed leads at limit=100", expected, listed, response
    )


@pytest.mark.rule("out-of-range paging is 400, not clamped", "listLeads")
@pytest.mark.parametrize(("name", "value"), [("limit", "0"), ("limit", "101"), ("limit", "1000"), ("page", "0")])
def test_out_of_range_paging_is_rejected_not_clamped(lister: LeadsClient, name: str, value: str) -> None:
    check_validation_error("listLeads", lister.request("GET", "/leads", params={name: value}), {name: "query"})


@pytest.mark.rule("query integers are plain decimal digits", "listLeads")
@pytest.mark.parametrize(("name", "value"), [
    ("page", "abc"), ("page", "-1"), ("page", "+2"), ("page", " 2"), ("page", "1.5"), ("page", "1_0"),
    ("limit", "ten"), ("limit", "2e1"), ("limit", "0x10"), ("limit", ""),
])
def test_non_digit_paging_is_rejected(lister: LeadsClient, name: str, value: str) -> None:
    check_validation_error("listLeads", lister.request("GET", "/leads", params={name: value}), {name: "query"})


@pytest.mark.rule("validation names every offending field", "listLeads")
def test_list_reports_every_offending_parameter_at_once(lister: LeadsClient) -> None:
    params = {"page": "0", "limit": "101", "status": "archived", "interest_level": "x"}
    response = lister.request("GET", "/leads", params=params)
    check_validation_error("listLeads", response, {name: "query" for name in params})


@pytest.mark.rule("status filter returns only matching leads", "listLeads")
@pytest.mark.parametrize(("name", "value"), FILTER_VALUES)
def test_every_documented_filter_value_is_accepted(lister: LeadsClient, name: str, value: str) -> None:
    data, response = listing(lister, limit=100, **{name: value})
    leads = listed_leads("listLeads", data, response)
    wrong = [lead.get("id") for lead in leads if not same_enum(lead.get(name), value)]
    assert not wrong, describe(
        "listLeads", f"leads under filter {name}={value}", f"only {name} {value}", f"others: {wrong}", response
    )
    total = meta_total(data)
    assert total is None or len(leads) == min(total, 100), describe(
        "listLeads", f"meta.total under filter {name}={value} (the filtered set)",
        f"the {len(leads)} listed leads (at most 100 a page)", total, response,
    )


@pytest.mark.rule("unknown filter value is 400", "listLeads")
@pytest.mark.parametrize(("name", "value"), [("status", "archived"), ("interest_level", "lukewarm")])
def test_unknown_filter_value_is_rejected(lister: LeadsClient, name: str, value: str) -> None:
    check_validation_error("listLeads", lister.request("GET", "/leads", params={name: value}), {name: "query"})


@pytest.mark.rule("list carries full leads", "listLeads")
def test_listed_leads_carry_every_field(lister: LeadsClient, marked: dict[str, str]) -> None:
    data, response = listing(lister, limit=5)
    for lead in listed_leads("listLeads", data, response):
        check_lead("listLeads", lead, response)


@pytest.mark.rule("order is newest first", "listLeads")
@rereads
def test_list_is_newest_first_with_newest_leads_on_top(lister: LeadsClient) -> None:
    newest = {lister.create_lead(name=f"Contract Test Order {n}")["id"] for n in range(2)}
    data, response = listing(lister, limit=2)
    listed = ids_of(data, response)
    assert set(listed) == newest, describe(
        "listLeads", "the 2 newest leads (the ones just created)", sorted(newest), listed, response
    )
    check_newest_first("listLeads", listed_leads("listLeads", data, response), response)
    data, response = listing(lister, limit=100)
    check_newest_first("listLeads", listed_leads("listLeads", data, response), response)


@pytest.mark.rule("status filter returns only matching leads", "listLeads")
def test_status_filter_returns_only_matching_leads(lister: LeadsClient, marked: dict[str, str]) -> None:
    check_filter(lister, {"status": "contacted"}, {"contacted_hot", "contacted_cold"}, marked)


@pytest.mark.rule("interest_level filter returns only matching leads", "listLeads")
def test_interest_level_filter_returns_only_matching_leads(lister: LeadsClient, marked: dict[str, str]) -> None:
    check_filter(lister, {"interest_level": "hot"}, {"new_hot", "contacted_hot"}, marked)


@pytest.mark.rule("filters are AND-ed", "listLeads")
def test_status_and_interest_level_filters_combine_with_and(lister: LeadsClient, marked: dict[str, str]) -> None:
    check_filter(lister, {"status": "contacted", "interest_level": "hot"}, {"contacted_hot"}, marked)


def check_filter(lister: LeadsClient, filters: dict[str, str], included: set[str], marked: dict[str, str]) -> None:
    """Every listed lead matches every filter; of ours, exactly `included` show; total counts the filtered set.

    Judged on the listed leads wherever the answer holds them; `meta.total` is compared with the
    stats' counts where the answer has both (their shapes are the pagination and stats rules' to judge).
    """
    data, response = listing(lister, limit=100, **filters)
    leads = listed_leads("listLeads", data, response)
    for lead in leads:
        for name, value in filters.items():
            assert same_enum(lead.get(name), value), describe(
                "listLeads", f"lead.{name} of {lead.get('id')} under filter {filters}", value, lead.get(name), response
            )
    listed = {lead.get("id") for lead in leads}
    for label, lead_id in marked.items():
        assert (lead_id in listed) == (label in included), describe(
            "listLeads", f"lead {label} ({lead_id}) under filter {filters}",
            "listed" if label in included else "not listed", "listed" if lead_id in listed else "not listed", response,
        )
    total, stats = meta_total(data), data.get("stats")
    counted = [count_of(stats, key, filters[name])
               for name, key in (("status", "byStatus"), ("interest_level", "byInterestLevel")) if name in filters]
    bounds = [count for count in counted if count is not None]
    if total is None or len(bounds) != len(counted):
        return
    if len(bounds) == 1:
        assert total == bounds[0], describe(
            "listLeads", f"meta.total under filter {filters} (the filtered set, as counted in stats)", bounds[0],
            total, response,
        )
    assert total <= min(bounds), describe(
        "listLeads", f"meta.total under filter {filters}", f"<= {min(bounds)}", total, response
    )


@pytest.mark.rule("stats count all leads whatever the filters", "listLeads")
@rereads
def test_stats_ignore_filters(lister: LeadsClient, marked: dict[str, str]) -> None:
    unfiltered, response = listing(lister, limit=1)
    stats = check_stats_consistent("listLeads", unfiltered.get("stats"), response)
    total = meta_total(unfiltered)  # without meta, pagination's divergence: the stats are judged all the same
    assert total is None or total == stats["total"], describe(
        "listLeads", "meta.total without filters", f"stats.total = {stats['total']}", total, response
    )
    for filters in ({"status": "contacted"}, {"interest_level": "cold"}, {"status": "lost", "interest_level": "warm"}):
        filtered, response = listing(lister, limit=1, **filters)
        assert filtered.get("stats") == stats, describe(
            "listLeads", f"data.stats under filter {filters}", stats, filtered.get("stats"), response
        )


@pytest.mark.rule("stats count every lead by status and interest", "listLeads", "createLead")
@rereads
def test_creating_a_lead_moves_exactly_its_stats_counters(lister: LeadsClient) -> None:
    before, response = listing(lister, limit=1)
    old = check_stats_consistent("listLeads", before.get("stats"), response)
    lead = lister.create_lead(name="Contract Test Stats Lead", interest_level="cold")
    after, response = listing(lister, limit=1)
    new = check_stats_consistent("listLeads", after.get("stats"), response)
    expected = {
        "total": old["total"] + 1,
        "byStatus": {**old["byStatus"], "new": old["byStatus"]["new"] + 1},
        "byInterestLevel": {**old["byInterestLevel"], "cold": old["byInterestLevel"]["cold"] + 1},
    }
    actual = {key: new[key] for key in expected}
    assert actual == expected, describe(
        "listLeads", "data.stats after creating a new, cold lead", expected, actual, response
    )
    moving = {"status": "lost", "interest_level": "hot"}
    check_success("updateLead", lister.request("PUT", f"/leads/{lead['id']}", json_body=moving))
    moved, response = listing(lister, limit=1)
    expected = {
        "total": new["total"],
        "byStatus": {**new["byStatus"], "new": new["byStatus"]["new"] - 1, "lost": new["byStatus"]["lost"] + 1},
        "byInterestLevel": {**new["byInterestLevel"], "cold": new["byInterestLevel"]["cold"] - 1,
                            "hot": new["byInterestLevel"]["hot"] + 1},
    }
    actual = {key: moved.get("stats", {}).get(key) for key in expected}
    assert actual == expected, describe(
        "listLeads", "data.stats after moving the lead to lost, hot", expected, actual, response
    )


@pytest.mark.rule("cursors: prev null on page 1, next null iff no more", "listLeads")
def test_first_page_cursors(lister: LeadsClient, marked: dict[str, str]) -> None:
    data, response = listing(lister, limit=1)
    cursors = data.get("cursors")
    assert isinstance(cursors, dict), describe("listLeads", "data.cursors", "an object {next, prev}", cursors, response)
    assert cursors.get("prev", "missing") is None, describe(
        "listLeads", "cursors.prev on page 1", None, cursors.get("prev", "missing"), response
    )
    assert isinstance(cursors.get("next"), str) and cursors["next"], describe(
        "listLeads", "cursors.next while hasMore", "an opaque string", cursors.get("next"), response
    )


@pytest.mark.rule("cursors: next null on the last page", "listLeads")
@rereads
def test_last_page_has_no_next_cursor(lister: LeadsClient, marked: dict[str, str]) -> None:
    first, response = listing(lister, limit=100)
    last = max(1, check_meta_math("listLeads", first, 1, 100, response)["totalPages"])
    data, response = listing(lister, limit=100, page=last)
    meta = check_meta_math("listLeads", data, last, 100, response)
    cursors = data.get("cursors") or {}
    assert meta["hasMore"] is False and cursors.get("next", "missing") is None, describe(
        "listLeads", f"cursors.next on the last page ({last})", None, cursors.get("next", "missing"), response
    )


@pytest.mark.rule("cursors walk the pages without overlap", "listLeads")
@rereads
def test_following_cursors_walks_the_pages(lister: LeadsClient, marked: dict[str, str]) -> None:
    first, response = listing(lister, limit=2)
    second_by_page, _ = listing(lister, limit=2, page=2)
    # A cursor replaces page: the page sent with it is ignored.
    second, response = listing(lister, limit=2, page=5, cursor=next_cursor(first, response))
    check_landed_on(second, 2, response)
    expected, landed = ids_of(second_by_page, response), ids_of(second, response)
    assert landed == expected, describe("listLeads", "leads at cursors.next of page 1", expected, landed, response)
    overlap = set(ids_of(first, response)) & set(landed)
    assert not overlap, describe(
        "listLeads", "leads shared by page 1 and the next page", "none", sorted(overlap), response
    )
    prev = (second.get("cursors") or {}).get("prev")
    assert isinstance(prev, str) and prev, describe(
        "listLeads", "cursors.prev on page 2", "an opaque string", prev, response
    )
    back, response = listing(lister, limit=2, cursor=prev)
    check_landed_on(back, 1, response)
    assert ids_of(back, response) == ids_of(first, response), describe(
        "listLeads", "leads at cursors.prev of page 2", ids_of(first, response), ids_of(back, response), response
    )


@pytest.mark.rule("cursors walk the pages without overlap", "listLeads")
@rereads
def test_cursor_with_filters_sent_again_walks_the_filtered_list(lister: LeadsClient, marked: dict[str, str]) -> None:
    # A cursor encodes the position only: the filters and limit travel with it again.
    first, response = listing(lister, limit=1, status="contacted")
    second_by_page, _ = listing(lister, limit=1, status="contacted", page=2)
    second, response = listing(lister, limit=1, status="contacted", cursor=next_cursor(first, response))
    check_landed_on(second, 2, response)
    expected, landed = ids_of(second_by_page, response), ids_of(second, response)
    assert landed == expected, describe(
        "listLeads", "leads at cursors.next of filtered page 1", expected, landed, response
    )
    statuses = [lead.get("status") for lead in listed_leads("listLeads", second, response)]
    assert len(statuses) == 1 and same_enum(statuses[0], "contacted"), describe(
        "listLeads", "status of leads under filter status=contacted", ["contacted"], statuses, response
    )


@pytest.mark.rule("bad cursor is 400 naming cursor", "listLeads")
@pytest.mark.parametrize("cursor", ["definitely-not-a-cursor!", "%%%"])
def test_bad_cursor_is_rejected(lister: LeadsClient, cursor: str) -> None:
    check_validation_error("listLeads", lister.request("GET", "/leads", params={"cursor": cursor}), {"cursor": "query"})


@pytest.mark.rule("list is 200 with the envelope", "listLeads")
def test_list_answers_the_documented_data_keys(lister: LeadsClient, marked: dict[str, str]) -> None:
    data, response = listing(lister, limit=1)
    for key, kind in (("leads", "a list"), ("meta", "an object"), ("stats", "an object"), ("cursors", "an object")):
        value = data.get(key)
        assert isinstance(value, list if key == "leads" else dict), describe(
            "listLeads", f"data.{key}", kind, value, response
        )


@pytest.mark.rule("tenant isolation: the list shows only the caller's leads", "listLeads")
@rereads
def test_other_tenants_lead_is_not_listed_or_counted(lister: LeadsClient, other_tenant: LeadsClient) -> None:
    before = lister.request("GET", "/leads", params={"limit": 100})
    stats_before = check_success("listLeads", before).get("stats")
    foreign = other_tenant.create_lead(name="Contract Test Other Tenant Lead", interest_level="cold")
    after = lister.request("GET", "/leads", params={"limit": 100})
    data = check_success("listLeads", after)
    leads = listed_leads("listLeads", data, after) if isinstance(data, dict) else []
    listed = [lead.get("id") for lead in leads if isinstance(lead, dict)]
    assert foreign["id"] not in listed, describe(
        "listLeads", "data.leads", f"without the other tenant's {foreign['id']}", listed, after
    )
    users = {lead.get("user_id") for lead in leads if isinstance(lead, dict)}
    assert foreign["user_id"] not in users, describe(
        "listLeads", "user_id of listed leads", f"never {foreign['user_id']}", sorted(map(str, users)), after
    )
    if isinstance(stats_before, dict):  # a missing stats object is the stats rules' divergence
        assert data.get("stats") == stats_before, describe(
            "listLeads", "data.stats after another tenant created a lead", stats_before, data.get("stats"), after
        )


@pytest.mark.rule("tenant isolation: no lead is listed for both keys (existing data)", "listLeads")
@rereads
def test_no_existing_lead_is_listed_for_both_keys(client: LeadsClient, client_2: LeadsClient) -> None:
    """Read-only: judged on whatever the server holds, so it runs even where the run cannot create."""
    first, second = (caller.request("GET", "/leads", params={"limit": 100}) for caller in (client, client_2))
    owners: list[set[str]] = []
    ids: list[set[str]] = []
    for response in (first, second):
        data = check_success("listLeads", response)
        leads = [lead for lead in listed_leads("listLeads", data, response) if isinstance(lead, dict)] \
            if isinstance(data, dict) else []
        ids.append({str(lead.get("id")) for lead in leads})
        owners.append({str(lead.get("user_id")) for lead in leads})
        assert len(owners[-1]) <= 1, describe(
            "listLeads", "user_id of one key's listed leads", "one owner, the caller", sorted(owners[-1]), response
        )
    shared = sorted(ids[0] & ids[1])
    assert not shared, describe("listLeads", "leads listed for both keys", "none", shared[:5], second)
    assert not owners[0] & owners[1], describe(
        "listLeads", "owners listed for both keys", "different users", sorted(owners[0] & owners[1]), second
    )


@pytest.mark.rule("deleted lead leaves the list and the stats", "deleteLead", "listLeads")
@rereads
def test_deleted_lead_leaves_the_list_and_the_stats(lister: LeadsClient) -> None:
    lead = lister.create_lead(name="Contract Test Delete Lead", interest_level="hot")
    before = lister.request("GET", "/leads", params={"limit": 100})
    stats_before = check_stats_consistent("listLeads", check_success("listLeads", before).get("stats"), before)
    check_success("deleteLead", lister.request("DELETE", f"/leads/{lead['id']}"))
    after = lister.request("GET", "/leads", params={"limit": 100})
    data = check_success("listLeads", after)
    listed = [item.get("id") for item in listed_leads("listLeads", data, after)]
    assert lead["id"] not in listed, describe(
        "listLeads", "data.leads after delete", f"without {lead['id']}", listed, after
    )
    stats_after = check_stats_consistent("listLeads", data.get("stats"), after)
    for what, old, new in (
        ("stats.total", stats_before["total"], stats_after["total"]),
        ("stats.byStatus.new", stats_before["byStatus"]["new"], stats_after["byStatus"]["new"]),
        ("stats.byInterestLevel.hot", stats_before["byInterestLevel"]["hot"], stats_after["byInterestLevel"]["hot"]),
    ):
        assert new == old - 1, describe("listLeads", f"{what} after delete", old - 1, new, after)
