"""A worker's own delivery list (``services_log.worker_lists``): a worker's token reads a contract's
deliveries from its own projection keyed by (contract, worker), so a worker who did a few of a big
contract's deliveries gets them in one page with no next link; a correction moving a delivery from
one worker to another moves it between their lists; a voided one shows as in the contract's list;
a store recorded before the projection (no tables yet) gets it from its log. SQLite and PostgreSQL,
on real NATS (the gateway tests)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta

from openpyxl import Workbook
from services_log.reads import ContractDeliveries, ServicesLogReads
from services_log.worker_lists import FINGERPRINT, WorkerDeliveries, catch_up_worker_lists, worker_deliveries

from shared.infra.auth import Role
from shared.infra.queries import Viewer
from tests.integration.services_log_store import store_env  # noqa: F401 (fixture env)
from tests.integration.test_services_log_old_ledger import CONTRACT, COUNTY, svc  # noqa: F401 (fixture svc)
from tests.integration.test_services_log_support import LOG, check, open_county

BIG = 1_200


def sheet(rows: list[list[str]]) -> bytes:
    book = Workbook()
    book.active.append(
        ["服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长", "服务人次", "协议编号", "站点编号"]
    )
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def walk(gateway, path: str, headers: dict[str, str], limit: int) -> tuple[list[dict], int]:
    """Every item of a list by its cursor, and the number of pages read."""
    items, pages, params = [], 0, {"limit": limit}
    while True:
        r = await gateway.get(path, params=params, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        pages += 1
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in r.headers
            return items, pages
        params = {"limit": limit, "cursor": cursor}


async def test_a_sparse_worker_reads_its_few_deliveries_of_a_big_contract_in_one_page(gateway, tokens):
    place = await open_county(gateway, tokens)
    county, provider = place.county, place.headers["provider"]
    li, wang, zhang = place.workers["李娜"], place.workers["王静"], place.workers["张伟"]
    token = {w: tokens(Role.WORKER, county, provider_id=place.provider_id, worker_id=w) for w in (li, wang, zhang)}
    # 1,200 deliveries: 李娜 named on three of them (one with 王静), spread through the contract's list.
    first, rows, hers = date(2026, 9, 21), [], {500, 640, 1190}
    for i in range(BIG):
        workers = f"{li},{wang}" if i == 640 else (li if i in hers else wang)
        day = (first + timedelta(days=i // 20)).isoformat()
        rows.append([workers, "帮扶救助", "社会救助", day, "0.5", str(i % 20 + 1), place.contract_id, place.station])
    report = await check(
        gateway.post(f"{LOG}/{county}/deliveries/import", files={"file": ("big.xlsx", sheet(rows))}, headers=provider),
        200,
    )
    assert report["recorded"] == BIG, report["errors"][:3]
    listing = f"{LOG}/{county}/contracts/{place.contract_id}/deliveries"
    everything, _ = await walk(gateway, listing, provider, 500)
    assert len(everything) == BIG
    expected = [d["delivery_id"] for i, d in enumerate(everything) if i in hers]

    r = await gateway.get(listing, params={"limit": 20}, headers=token[li])
    page = r.json()
    assert r.status_code == 200 and "X-Next-Cursor" not in r.headers and "Link" not in r.headers, r.headers
    assert [d["delivery_id"] for d in page["items"]] == expected
    assert (page["total"], page["offset"]) == (BIG, 0)  # the contract's, as before
    assert page["items"] == [d for i, d in enumerate(everything) if i in hers]  # the same fields, the same values
    # By pages of one: three pages, in the contract's order; from an offset: those at or after it.
    assert [d["delivery_id"] for d in (await walk(gateway, listing, token[li], 1))[0]] == expected
    assert (await walk(gateway, listing, token[li], 1))[1] == 3
    r = await gateway.get(listing, params={"offset": 600, "limit": 20}, headers=token[li])
    assert [d["delivery_id"] for d in r.json()["items"]] == expected[1:] and "X-Next-Cursor" not in r.headers
    # 王静's list: 1,198 of them, walked by pages of 500 in the contract's order.
    theirs, pages = await walk(gateway, listing, token[wang], 500)
    got, want = (
        [d["delivery_id"] for d in theirs],
        [d["delivery_id"] for i, d in enumerate(everything) if i not in (500, 1190)],
    )
    assert got == want
    assert pages == 3
    # 张伟 did none: an empty page, no next link.
    r = await gateway.get(listing, headers=token[zhang])
    assert r.json()["items"] == [] and "X-Next-Cursor" not in r.headers

    # A correction moving 李娜's first delivery to 张伟 moves it between their lists.
    moved = expected[0]
    await asyncio.sleep(0.01)
    before_move = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    await check(
        gateway.post(
            f"{LOG}/{county}/deliveries/{moved}/corrections",
            json={"reason": "社工录错", "worker_ids": [zhang]},
            headers=provider,
        ),
        200,
    )
    assert [d["delivery_id"] for d in (await walk(gateway, listing, token[li], 20))[0]] == expected[1:]
    shown = (await walk(gateway, listing, token[zhang], 20))[0]
    assert [d["delivery_id"] for d in shown] == [moved] and shown[0]["status"] == "corrected"
    # As of an instant before the correction (R-AUD-3), the lists are as they were then.
    then = {"limit": 20, "recorded_as_of": before_move}
    r = await gateway.get(listing, params=then, headers=token[li])
    assert [d["delivery_id"] for d in r.json()["items"]] == expected and "X-Next-Cursor" not in r.headers, r.text
    assert r.json()["items"][0]["worker_ids"] == [li] and r.json()["items"][0]["status"] == "recorded"
    assert (await gateway.get(listing, params=then, headers=token[zhang])).json()["items"] == []
    # A voided delivery stays listed, marked, as in the contract's list.
    await check(
        gateway.post(f"{LOG}/{county}/deliveries/{expected[2]}/voiding", json={"reason": "重复"}, headers=provider), 200
    )
    mine = (await walk(gateway, listing, token[li], 20))[0]
    contract_view = (await check(gateway.get(listing, params={"offset": 1190, "limit": 1}, headers=provider), 200))[
        "items"
    ][0]
    assert mine[-1] == contract_view and contract_view["status"] == "voided"

    # The projection rebuilt from the log reads the same lists.
    store = gateway.app.state.services["services-log"].state.service.store
    projection = worker_deliveries(store)
    before = {w: projection.page(place.contract_id, w, 0, 2_000) for w in (li, wang, zhang)}
    projection.rebuild()
    assert {w: projection.page(place.contract_id, w, 0, 2_000) for w in (li, wang, zhang)} == before


def own(reads: ServicesLogReads, worker_id: str, limit: int) -> tuple[list[str], int]:
    viewer = Viewer(role=Role.WORKER, provider_id="p-1", worker_id=worker_id)
    ids, offset, pages = [], 0, 0
    while True:
        page = reads.deliveries(
            ContractDeliveries(county=COUNTY, contract_id=CONTRACT, offset=offset, limit=limit), viewer
        )
        ids += [d["delivery_id"] for d in page.items]
        pages += 1
        if page.following >= page.total:
            return ids, pages
        offset = page.following


def test_a_store_recorded_before_the_projection_gets_it_from_its_log(svc):  # noqa: F811 (the fixture)
    """The old-ledger store (124 deliveries, a log opened before the index pages) has no projection
    tables: the first worker read makes them and fills them from the log."""
    assert "_swp_worker_deliveries" not in svc.store.__dict__
    # The service's sweep (at start) fills it from the log before any read.
    catch_up_worker_lists(svc)
    assert svc.store.__dict__["_swp_worker_deliveries"]._backend.tracked() == (
        svc.store.recorder.max_notification_id(),
        FINGERPRINT,
    )
    reads = ServicesLogReads(svc.lookups, svc.queries)
    total, everything = svc.queries.deliveries_of(COUNTY, CONTRACT, 0, 500)
    assert total == len(everything) > 100
    workers = sorted({w for d in everything for w in d.facts.worker_ids})
    assert len(workers) == 3
    for worker_id in workers:
        expected = [str(d.id) for d in everything if worker_id in d.facts.worker_ids]
        assert 0 < len(expected) < total
        ids, pages = own(reads, worker_id, 7)
        assert ids == expected and pages == -(-len(expected) // 7)
    # A fresh projection object on the same store reads the same rows (they are in the store).
    fresh = WorkerDeliveries(svc.store)
    assert [i for _, i in fresh.page(CONTRACT, workers[0], 0, 500)] == own(reads, workers[0], 500)[0]
