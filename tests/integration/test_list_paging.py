"""Every county list is paged by an opaque cursor over a projection in the service's own store
(issue #16 item 2, shared/infra/paging.py, shared/infra/listing.py): a walk sees every item once
in a stable order while items are added; a bad cursor is a 422 naming `cursor`; the projection
rebuilt from the log equals the live one; a list read as of an instant (R-AUD-3) equals the live
list then; province-wide tokens list across counties. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from registry import lists

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER, setup_county, sign

REG = "/registry/v1/counties"


async def ok(response: Any, status: int = 200) -> Any:
    r = await response
    assert r.status_code == status, r.text
    return r


async def add_station(gateway, headers, name: str) -> str:
    body = {"name": name, "township": "南关街道", "kind": "street_station"}
    return (await ok(gateway.post(f"{REG}/{COUNTY}/stations", json=body, headers=headers), 201)).json()["station_id"]


async def walk(gateway, url: str, headers: dict[str, str], limit: int, between=None, **query: Any) -> tuple[list[dict[str, Any]], int]:
    items, pages, cursor = [], 0, None
    while True:
        params: dict[str, Any] = {"limit": limit, **query}
        if cursor:
            params["cursor"] = cursor
        r = await ok(gateway.get(url, params=params, headers=headers))
        items += r.json()
        pages += 1
        assert len(r.json()) <= limit
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            return items, pages
        assert 'rel="next"' in r.headers["Link"]
        if between is not None:
            await between(pages)


async def test_a_walk_sees_every_item_once_in_a_stable_order_while_items_are_added(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    purchaser = setup["purchaser"]
    first = [setup["station_ids"][0]] + [await add_station(gateway, purchaser, f"站{i}") for i in range(6)]
    added: list[str] = []

    async def add_more(page: int) -> None:
        added.append(await add_station(gateway, purchaser, f"新站{page}"))

    seen, pages = await walk(gateway, f"{REG}/{COUNTY}/stations", purchaser, 3, add_more)
    ids = [s["station_id"] for s in seen]
    assert len(ids) == len(set(ids))  # nothing twice
    assert ids[: len(first)] == first  # every item of the start, once, in establishment order
    assert ids[len(first):] == added[: len(ids) - len(first)]  # those added during the walk come after, in order
    assert pages >= 3
    # The unpaged default (100) returns them all, in the same order.
    everything = (await ok(gateway.get(f"{REG}/{COUNTY}/stations", headers=purchaser))).json()
    assert [s["station_id"] for s in everything] == first + added


async def test_a_bad_cursor_or_limit_is_a_422_naming_the_field(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    purchaser = setup["purchaser"]
    for i in range(3):
        await add_station(gateway, purchaser, f"站{i}")
    r = await ok(gateway.get(f"{REG}/{COUNTY}/stations", params={"limit": 1}, headers=purchaser))
    cursor = r.headers["X-Next-Cursor"]
    tampered = cursor[:-1] + ("0" if cursor[-1] != "0" else "1")
    for bad in (tampered, "not-a-cursor", "x" * 40):
        r = await gateway.get(f"{REG}/{COUNTY}/stations", params={"cursor": bad}, headers=purchaser)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["field"] == "cursor"
    # A cursor of one list is refused by another, and by the same list with other filters.
    r = await gateway.get(f"{REG}/{COUNTY}/providers", params={"cursor": cursor}, headers=purchaser)
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    r = await ok(gateway.get(f"{REG}/{COUNTY}/workers", params={"limit": 1}, headers=purchaser))
    worker_cursor = r.headers["X-Next-Cursor"]
    r = await gateway.get(
        f"{REG}/{COUNTY}/workers", params={"cursor": worker_cursor, "provider_id": setup["provider_id"]}, headers=purchaser
    )
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    for limit in (0, 501):
        r = await gateway.get(f"{REG}/{COUNTY}/stations", params={"limit": limit}, headers=purchaser)
        assert r.status_code == 422, r.text


async def test_contracts_page_for_the_county_and_across_counties_for_province_wide_roles(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    other = await setup_county(gateway, tokens, OTHER)
    ours = [(await ok(sign(gateway, COUNTY, setup, justification=f"第{i}份"), 201)).json()["contract_id"] for i in range(3)]
    theirs = (await ok(sign(gateway, OTHER, other), 201)).json()["contract_id"]
    seen, pages = await walk(gateway, f"{REG}/{COUNTY}/contracts", setup["purchaser"], 1)
    assert [c["contract_id"] for c in seen] == ours and pages == 3
    provider = tokens(Role.PROVIDER, COUNTY, provider_id=setup["provider_id"])
    seen, _ = await walk(gateway, f"{REG}/{COUNTY}/contracts", provider, 2)
    assert [c["contract_id"] for c in seen] == ours
    seen, _ = await walk(gateway, f"{REG}/{COUNTY}/contracts", setup["purchaser"], 2, status="terminated")
    assert seen == []

    for role in (Role.PROVINCE_ADMIN, Role.AUDITOR):
        wide = tokens(role, "*")
        seen, _ = await walk(gateway, "/registry/v1/contracts", wide, 2)
        assert [c["contract_id"] for c in seen] == [*ours, theirs]
        seen, _ = await walk(gateway, "/registry/v1/contracts", wide, 2, county=OTHER)
        assert [c["contract_id"] for c in seen] == [theirs]
        seen, _ = await walk(gateway, "/registry/v1/counties", wide, 1)
        assert [c["county"] for c in seen] == [COUNTY, OTHER]
    # A county's token, even a province admin's for one county, is not province-wide.
    for headers in (tokens(Role.PROVINCE_ADMIN, COUNTY), tokens(Role.PURCHASER, COUNTY), tokens(Role.FINANCE, "*")):
        r = await gateway.get("/registry/v1/contracts", headers=headers)
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6"


async def test_the_projection_rebuilt_from_the_log_equals_the_live_one(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    await setup_county(gateway, tokens, OTHER)
    await ok(sign(gateway, COUNTY, setup), 201)
    for i in range(4):
        await add_station(gateway, setup["purchaser"], f"站{i}")
    store = gateway.app.state.services["registry"].state.store
    index = lists.index(store)
    index.catch_up()
    live = index.rows()
    assert {r[0] for r in live} == {"counties", "providers", "stations", "workers", "contracts"}
    index.rebuild()
    assert index.rows() == live
    # A fresh projection object on the same store reads the same rows (they are in the store).
    fresh = lists.ListIndex(store, lists.SPEC)
    fresh.catch_up()
    assert fresh.rows() == live
    # …and the lists it answers are the live lists.
    listed = (await ok(gateway.get(f"{REG}/{COUNTY}/stations", headers=setup["purchaser"]))).json()
    assert len(listed) == 5


async def test_a_list_read_as_of_an_instant_equals_the_live_list_then(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    purchaser, auditor = setup["purchaser"], tokens(Role.AUDITOR, COUNTY)
    for i in range(3):
        await add_station(gateway, purchaser, f"站{i}")
    await asyncio.sleep(0.01)
    instant = datetime.now(UTC).isoformat()
    then, _ = await walk(gateway, f"{REG}/{COUNTY}/stations", auditor, 2)
    await asyncio.sleep(0.01)
    for i in range(3):
        await add_station(gateway, purchaser, f"后站{i}")
    now, _ = await walk(gateway, f"{REG}/{COUNTY}/stations", auditor, 2)
    assert len(now) == len(then) + 3
    as_of, pages = await walk(gateway, f"{REG}/{COUNTY}/stations", auditor, 2, recorded_as_of=instant)
    assert as_of == then and pages == 2


async def test_the_console_follows_the_cursor(gateway, tokens):
    from console.api import Api

    setup = await setup_county(gateway, tokens)
    first = [setup["station_ids"][0]] + [await add_station(gateway, setup["purchaser"], f"站{i}") for i in range(4)]
    api = Api(gateway, setup["purchaser"]["Authorization"].removeprefix("Bearer "))
    # A plain read is the API's one page: the console never follows every X-Next-Cursor at once.
    one = await api.get(f"{REG}/{COUNTY}/stations", limit=2)
    assert [s["station_id"] for s in one] == first[:2]
    # A walk goes one page at a time, by cursor (here 3 pages of 2).
    page, cursor = await api.get_page(f"{REG}/{COUNTY}/stations", limit=2)
    seen = [s["station_id"] for s in page]
    while cursor:
        page, cursor = await api.get_page(f"{REG}/{COUNTY}/stations", cursor, limit=2)
        seen += [s["station_id"] for s in page]
    assert seen == first


async def test_finance_overdue_pages_by_contract_and_its_projection_rebuilds(gateway, tokens):
    from finance import lists as finance_lists

    from tests.integration.slice import wait_for_tranches

    setup = await setup_county(gateway, tokens)
    ours = [(await ok(sign(gateway, COUNTY, setup, justification=f"第{i}份"), 201)).json()["contract_id"] for i in range(3)]
    reader = tokens(Role.FINANCE, COUNTY)
    for contract_id in ours:
        await wait_for_tranches(gateway, COUNTY, contract_id, reader)
    seen, pages = await walk(gateway, f"/finance/v1/counties/{COUNTY}/tranches/overdue", reader, 1, as_of="2027-06-30")
    assert [(o["contract_id"], o["seq"]) for o in seen] == [(c, 1) for c in ours] and pages == 3
    r = await gateway.get(f"/finance/v1/counties/{COUNTY}/tranches/overdue", params={"as_of": "2027-06-29", "cursor": "x.y"},
                          headers=reader)
    assert r.status_code == 422 and r.json()["field"] == "cursor"
    store = gateway.app.state.services["finance"].state.store
    index = finance_lists.index(store)
    index.catch_up()
    live = index.rows()
    assert [r[3] for r in live if r[0] == "schedules"] == [str(s) for s in map(finance_schedule_id, ours)]
    index.rebuild()
    assert index.rows() == live


def finance_schedule_id(contract_id: str) -> Any:
    from finance.domainmodel import schedule_id

    return schedule_id(contract_id)
