"""A social worker's own account (驻站社工, role ``worker``, token claims ``provider_id`` and
``worker_id``): log today's service for oneself at one's station, one's own deliveries, their
correction and voiding. The provider's delivery pages (``console.pages.provider``), with the
workspace read from registry's ``…/workers/{worker_id}/workplace`` — the worker's station on the
day and the contracts covering it — and the worker fixed: the API refuses a worker's delivery that
does not name it (R-AUD-6) and shows it only its own."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from console.pages.provider import (
    ContractQ,
    Desk,
    Workspace,
    choose,
    correction_page,
    deliveries_page,
    delivery_page,
    log_delivery_page,
    today_page,
    voiding_page,
)
from console.paging import At
from console.roles import NavItem, RolePages
from console.web import Ctx, signed_in
from shared.clock import china_today

router = APIRouter(prefix="/worker", tags=["worker"])
Me = Annotated[Ctx, Depends(signed_in("worker"))]

PAGES = RolePages(
    roles=("worker",),
    title="驻站社工",
    router=router,
    nav=[
        NavItem("今日服务登记", "/worker/"),
        NavItem("我的服务记录", "/worker/deliveries"),
    ],
)


class NoWorkerId(Exception):
    """The session's token names no ``worker_id`` (an identity provider that does not send the claim)."""


def _day(value: str | None) -> str | None:
    try:
        return dt.date.fromisoformat(value).isoformat() if value else None
    except ValueError:
        return None  # the API refuses the form's bad date itself; the workspace is today's


# 我的服务记录 offers the contracts she worked under over this many days before today (the API's
# window is 1,096 days: a day less for a clock a day apart), read a page of WORKED_PAGE at a time.
WORKED_DAYS = 1_095
WORKED_PAGE = 100
WORKED_PAGES = 5  # a picker's bound (PICKER_MAX items at most)


async def workplace(ctx: Ctx, contract_id: str | None, day: str | None = None, worked: bool = False) -> Workspace:
    """The worker's station on ``day`` (default today) and the signed contracts covering it; with
    ``worked``, also the contracts she worked under over the last :data:`WORKED_DAYS` days (a contract
    of a station she has left, or one that ended), after today's, so her deliveries under them can be
    listed."""
    if not ctx.session.worker_id:
        raise NoWorkerId()
    path = f"/registry/v1/counties/{ctx.county}/workers/{ctx.session.worker_id}/workplace"
    since = (china_today() - dt.timedelta(days=WORKED_DAYS)).isoformat() if worked else None
    found: dict[str, Any] = await ctx.api.get(path, as_of=_day(day), since=since, limit=WORKED_PAGE if worked else None)
    stations = found["stations"]
    me = {"worker_id": found["worker_id"], "name": found["name"], "station_id": stations[0]["station_id"] if stations else None,
          "left_on": None if found["employed"] else found["as_of"]}
    contracts = list(found["contracts"])
    if worked:
        earlier, pages = list(found["worked_under"]), 1
        while len(earlier) < found["worked_total"] and pages < WORKED_PAGES:
            more = await ctx.api.get(path, as_of=_day(day), since=since, offset=len(earlier), limit=WORKED_PAGE)
            earlier += more["worked_under"]
            pages += 1
        today_ids = {c["contract_id"] for c in contracts}
        contracts += [c for c in earlier if c["contract_id"] not in today_ids]
        known = {s["station_id"] for s in stations}
        stations = stations + [s for s in found["worked_stations"] if s["station_id"] not in known]
    return Workspace(contracts, choose(contracts, contract_id), stations, [me], base="/worker", me=me)


DESK = Desk("/worker", workplace)


@router.get("/")
async def today(ctx: Me, contract: ContractQ = None) -> Response:
    return await today_page(ctx, await workplace(ctx, contract))


@router.post("/")
async def log_delivery(ctx: Me, contract: ContractQ = None) -> Response:
    return await log_delivery_page(ctx, DESK, contract)


@router.get("/deliveries")
async def deliveries(ctx: Me, at: At, contract: ContractQ = None) -> Response:
    return await deliveries_page(ctx, await workplace(ctx, contract, worked=True), at, title="我的服务记录")


@router.get("/deliveries/{delivery_id}")
async def delivery_form(ctx: Me, delivery_id: str) -> Response:
    return await delivery_page(ctx, DESK, delivery_id)


@router.post("/deliveries/{delivery_id}/correction")
async def correct(ctx: Me, delivery_id: str) -> Response:
    return await correction_page(ctx, DESK, delivery_id)


@router.post("/deliveries/{delivery_id}/voiding")
async def void(ctx: Me, delivery_id: str) -> Response:
    return await voiding_page(ctx, DESK, delivery_id)
