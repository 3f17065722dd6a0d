"""NGO / social worker (承接主体, role ``provider``) pages: log today's service, the Excel route,
corrections and voiding, indicator progress as a chart, monthly briefs. The delivery pages are a
``Desk`` (URL prefix + how the workspace is found) that ``console.pages.worker`` reuses for a
social worker's own account."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from console import labels, sheets
from console.api import ApiProblem, Refusal
from console.formats import cn_date, wan
from console.paging import CursorPage, Position, api_page, page_number, read_bounded
from console.roles import NavItem, RolePages
from console.web import Ctx, read_form, signed_in, today_iso

router = APIRouter(prefix="/provider", tags=["provider"])
Ngo = Annotated[Ctx, Depends(signed_in("provider"))]
ContractQ = Annotated[str | None, Query(alias="contract", max_length=64)]
PageNo = Annotated[int, Query(ge=1, le=10**6)]

PAGES = RolePages(
    roles=("provider",),
    title="社工机构",
    router=router,
    nav=[
        NavItem("今日服务登记", "/provider/"),
        NavItem("服务记录", "/provider/deliveries"),
        NavItem("Excel 批量导入", "/provider/import"),
        NavItem("指标进度", "/provider/progress"),
        NavItem("月度简报", "/provider/briefs"),
    ],
)
DELIVERY_FIELDS = {"contract_id", "station_id", "worker_ids", "kind", "area", "date", "hours_direct", "hours_other",
                   "person_times", "indicator_code", "content", "reason"}


class Workspace:
    """The contracts the user may log against, the chosen one, and the names of its stations and
    workers. ``base``: the URL prefix of the pages (``/provider`` or ``/worker``); ``me``: for a
    worker's own account, the worker itself — the only one its deliveries are logged for."""

    def __init__(self, contracts: list[dict[str, Any]], contract: dict[str, Any] | None, stations: list[dict[str, Any]],
                 workers: list[dict[str, Any]], base: str = "/provider", me: dict[str, Any] | None = None) -> None:
        self.contracts = contracts
        self.contract = contract
        self.base = base
        self.me = me
        self.station_names = {s["station_id"]: s["name"] for s in stations}
        self.stations = [s for s in stations if contract and s["station_id"] in contract["station_ids"]]
        self.worker_names = {w["worker_id"]: w["name"] for w in workers}
        self.workers = [w for w in workers if w["left_on"] is None and any(s["station_id"] == w["station_id"] for s in self.stations)]

    def contract_label(self, c: dict[str, Any]) -> str:
        amount = f" · {wan(c['amount_fen'])}" if "amount_fen" in c else ""
        # a worker's contracts (those she worked under too) told apart by her stations they cover
        where = f" · {'、'.join(self.station_names.get(s, s) for s in c['station_ids'])}" if self.me and c.get("station_ids") else ""
        return f"{cn_date(c['period_start'])}至{cn_date(c['period_end'])}{amount}{where} · {labels.label(labels.CONTRACT_STATUS, c['status'])}"

    @property
    def contract_options(self) -> list[tuple[str, str]]:
        return [(c["contract_id"], self.contract_label(c)) for c in self.contracts]

    @property
    def indicators(self) -> list[dict[str, Any]]:
        return (self.contract or {}).get("indicators") or []

    @property
    def indicator_names(self) -> dict[str, str]:
        return {i["code"]: i["name"] for i in self.indicators}

    @property
    def areas(self) -> list[str]:
        return (self.contract or {}).get("service_areas") or []

    @property
    def months(self) -> list[str]:
        if not self.contract:
            return []
        start = dt.date.fromisoformat(self.contract["period_start"])
        end = dt.date.fromisoformat(self.contract["period_end"])
        out, y, m = [], start.year, start.month
        while (y, m) <= (end.year, end.month) and len(out) < 24:
            out.append(f"{y}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out


# How a page finds its workspace: the contract asked for (None: the first signed one) and, for a
# worker, the day it is about (its station and contracts that day; None: today).
Loader = Callable[[Ctx, str | None, str | None], Awaitable[Workspace]]


@dataclass(frozen=True)
class Desk:
    """Whose delivery pages: their URL prefix and how they find their workspace."""

    base: str
    load: Loader


def choose(contracts: list[dict[str, Any]], contract_id: str | None) -> dict[str, Any] | None:
    contract = None
    if contract_id:
        contract = next((c for c in contracts if c["contract_id"] == contract_id), None)
    if contract is None and not contract_id:
        contract = next((c for c in contracts if c["status"] == "signed"), contracts[0] if contracts else None)
    return contract


async def workspace(ctx: Ctx, contract_id: str | None, _day: str | None = None) -> Workspace:
    reg = f"/registry/v1/counties/{ctx.county}"
    # pickers, bounded (PICKER_MAX, one API page each); a provider's token sees its own contracts only
    contracts = list(reversed(await read_bounded(ctx.api, f"{reg}/contracts")))
    stations = await read_bounded(ctx.api, f"{reg}/stations")
    workers = await read_bounded(ctx.api, f"{reg}/workers")
    return Workspace(contracts, choose(contracts, contract_id), stations, workers)


def render(ctx: Ctx, template: str, ws: Workspace, status_code: int = 200, **values: Any) -> Response:
    if ws.contract is None:
        return ctx.render("provider/no_contract.html", status_code=404 if ws.contracts else 200, title="没有服务协议", ws=ws)
    return ctx.render(template, status_code=status_code, ws=ws, contract=ws.contract, **values)


# ---------------------------------------------------------------- the delivery desk (provider and worker pages)


async def today_page(ctx: Ctx, ws: Workspace) -> Response:
    form = {"date": today_iso(), "hours_other": "0"}
    if len(ws.stations) == 1:
        form["station_id"] = ws.stations[0]["station_id"]
    return render(ctx, "provider/today.html", ws, title="今日服务登记", form=form, selected_workers=set())


async def log_delivery_page(ctx: Ctx, desk: Desk, contract: str | None) -> Response:
    form, raw = await read_form(ctx.request)
    ws = await desk.load(ctx, form.get("contract_id") or contract, form.get("date") or None)
    # A worker's own account logs for itself: the worker is fixed, whatever the form says.
    workers = [ws.me["worker_id"]] if ws.me else [w for w in raw.getlist("worker_ids") if w]
    body: dict[str, Any] = {
        "contract_id": form.get("contract_id", ""), "station_id": form.get("station_id", ""), "worker_ids": workers,
        "kind": form.get("kind", ""), "area": form.get("area", ""), "date": form.get("date") or None,
        "hours_direct": form.get("hours_direct") or None, "hours_other": form.get("hours_other") or "0",
        "person_times": form.get("person_times") or None, "indicator_code": form.get("indicator_code") or None,
        "content": form.get("content") or None,
    }
    try:
        await ctx.api.post(f"/services-log/v1/counties/{ctx.county}/deliveries", body,
                           idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return render(ctx, "provider/today.html", ws, 422, title="今日服务登记", form=form, selected_workers=set(workers),
                      refusal=Refusal.of(exc, DELIVERY_FIELDS))
    names = "、".join(ws.worker_names.get(w, w) for w in workers)
    return ctx.redirect(f"{ws.base}/deliveries?contract={body['contract_id']}",
                        f"已登记：{cn_date(body['date'])} {body['kind']} {body['person_times']}人次（{names}）")


async def deliveries_page(ctx: Ctx, ws: Workspace, page: int | Position, title: str = "服务记录") -> Response:
    """One page of the contract's deliveries: by number (offset; the provider's, with the total), or
    at a cursor :class:`Position` (a worker's: the API fills each page with the worker's own
    deliveries and names where the next one starts, so only the cursor leads on)."""
    if ws.contract is None:
        return render(ctx, "provider/deliveries.html", ws)
    size = ctx.page_size()
    path = f"/services-log/v1/counties/{ctx.county}/contracts/{ws.contract['contract_id']}/deliveries"
    if isinstance(page, Position):
        try:
            body, following = await ctx.api.get_page(path, page.cursor, limit=size)
        except ApiProblem as exc:  # a cursor refused (edited, or another contract's): the first page
            if page.first or exc.status != 422 or exc.problem.get("field") != "cursor":
                raise
            page = Position()
            body, following = await ctx.api.get_page(path, None, limit=size)
        return render(ctx, "provider/deliveries.html", ws, title=title, page=CursorPage(list(body["items"]), size, page, following))
    body = await ctx.api.get(path, offset=(page_number(page) - 1) * size, limit=size)
    return render(ctx, "provider/deliveries.html", ws, title=title, page=api_page(body, page_number(page), size))


async def _delivery(ctx: Ctx, delivery_id: str) -> dict[str, Any]:
    return await ctx.api.get(f"/services-log/v1/counties/{ctx.county}/deliveries/{delivery_id}")


def _delivery_form(d: dict[str, Any]) -> dict[str, Any]:
    form = {k: d.get(k) for k in ("station_id", "kind", "area", "date", "person_times", "indicator_code", "content")}
    form.update(hours_direct=str(d["hours_direct"]), hours_other=str(d["hours_other"]))
    return form


async def delivery_page(ctx: Ctx, desk: Desk, delivery_id: str) -> Response:
    d = await _delivery(ctx, delivery_id)
    ws = await desk.load(ctx, d["contract_id"], d["date"])
    return render(ctx, "provider/delivery.html", ws, title="更正或作废", d=d, form=_delivery_form(d),
                  selected_workers=set(d["worker_ids"]))


async def correction_page(ctx: Ctx, desk: Desk, delivery_id: str) -> Response:
    form, raw = await read_form(ctx.request)
    d = await _delivery(ctx, delivery_id)
    changes: dict[str, Any] = {"reason": form.get("reason", "")}
    for key in ("station_id", "kind", "area", "date", "person_times", "hours_direct", "hours_other", "content"):
        value = form.get(key)
        if value not in (None, "") and str(value) != str(d.get(key) if d.get(key) is not None else ""):
            changes[key] = value
    workers = [w for w in raw.getlist("worker_ids") if w]
    if workers and set(workers) != set(d["worker_ids"]):
        changes["worker_ids"] = workers
    if (form.get("indicator_code") or None) != d.get("indicator_code"):
        changes["indicator_code"] = form.get("indicator_code") or None
    try:
        await ctx.api.post(f"/services-log/v1/counties/{ctx.county}/deliveries/{delivery_id}/corrections", changes,
                           idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        ws = await desk.load(ctx, d["contract_id"], d["date"])
        return render(ctx, "provider/delivery.html", ws, 422, title="更正或作废", d=d, form=form,
                      selected_workers=set(workers), refusal=Refusal.of(exc, DELIVERY_FIELDS))
    return ctx.redirect(f"{desk.base}/deliveries?contract={d['contract_id']}", "已更正（原记录保留在历史中）")


async def voiding_page(ctx: Ctx, desk: Desk, delivery_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    d = await _delivery(ctx, delivery_id)
    try:
        await ctx.api.post(f"/services-log/v1/counties/{ctx.county}/deliveries/{delivery_id}/voiding",
                           {"reason": form.get("void_reason", "")}, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        ws = await desk.load(ctx, d["contract_id"], d["date"])
        return render(ctx, "provider/delivery.html", ws, 422, title="更正或作废", d=d, form={**_delivery_form(d), **form},
                      selected_workers=set(d["worker_ids"]), refusal=Refusal.of(exc, {"reason"}, {"reason": "void_reason"}))
    return ctx.redirect(f"{desk.base}/deliveries?contract={d['contract_id']}", "已作废（记录保留，不再计入统计）")


# ---------------------------------------------------------------- the provider's routes

DESK = Desk("/provider", workspace)


@router.get("/")
async def today(ctx: Ngo, contract: ContractQ = None) -> Response:
    return await today_page(ctx, await workspace(ctx, contract))


@router.post("/")
async def log_delivery(ctx: Ngo, contract: ContractQ = None) -> Response:
    return await log_delivery_page(ctx, DESK, contract)


@router.get("/deliveries")
async def deliveries(ctx: Ngo, contract: ContractQ = None, page: PageNo = 1) -> Response:
    return await deliveries_page(ctx, await workspace(ctx, contract), page)


@router.get("/deliveries/{delivery_id}")
async def delivery_form(ctx: Ngo, delivery_id: str) -> Response:
    return await delivery_page(ctx, DESK, delivery_id)


@router.post("/deliveries/{delivery_id}/correction")
async def correct(ctx: Ngo, delivery_id: str) -> Response:
    return await correction_page(ctx, DESK, delivery_id)


@router.post("/deliveries/{delivery_id}/voiding")
async def void(ctx: Ngo, delivery_id: str) -> Response:
    return await voiding_page(ctx, DESK, delivery_id)


# ---------------------------------------------------------------- Excel route


@router.get("/import")
async def import_page(ctx: Ngo, contract: ContractQ = None) -> Response:
    ws = await workspace(ctx, contract)
    return render(ctx, "provider/import.html", ws, title="Excel 批量导入")


@router.get("/import/template.xlsx")
async def import_template(ctx: Ngo, contract: ContractQ = None) -> Response:
    ws = await workspace(ctx, contract)
    if ws.contract is None:
        return render(ctx, "provider/import.html", ws)
    title = f"{ctx.session.org_name or '服务记录台账'} · 服务期 {ws.contract_label(ws.contract)}"
    data = sheets.template(ws.contract, title, ws.stations, ws.workers, ws.areas)
    return Response(data, media_type=sheets.XLSX,
                    headers={"Content-Disposition": "attachment; filename=\"deliveries-import.xlsx\"; filename*=UTF-8''%E6%9C%8D%E5%8A%A1%E8%AE%B0%E5%BD%95%E5%AF%BC%E5%85%A5.xlsx"})


@router.post("/import")
async def upload(ctx: Ngo, contract: ContractQ = None) -> Response:
    form, raw = await read_form(ctx.request)
    ws = await workspace(ctx, form.get("contract_id") or contract)
    upload = raw.get("file")
    refusal = Refusal()
    report = None
    if upload is None or isinstance(upload, str) or not upload.filename:
        refusal.add("file", "请选择要上传的 Excel（.xlsx）或 CSV 文件")
    else:
        data = await upload.read(sheets.MAX_UPLOAD_BYTES + 1)
        if len(data) > sheets.MAX_UPLOAD_BYTES:
            refusal.add("file", "文件超过16 MB，请拆分后上传")
        else:
            if data[:2] == b"PK":
                data = sheets.drop_unfilled_rows(data)
            try:
                report = await ctx.api.post(
                    f"/services-log/v1/counties/{ctx.county}/deliveries/import",
                    files={"file": (upload.filename, data, upload.content_type or "application/octet-stream")},
                    params={"contract_id": ws.contract["contract_id"] if ws.contract else None},
                    idempotency_key=form.get("idempotency_key") or None,
                )
            except ApiProblem as exc:
                refusal = Refusal.of(exc, {"file"})
    if ctx.request.headers.get("HX-Request"):  # the fragment replaces the report area (htmx swaps 200s only)
        return ctx.render("provider/_import_report.html", report=report, refusal=refusal, ws=ws)
    return render(ctx, "provider/import.html", ws, 422 if refusal else 200, title="Excel 批量导入", report=report, refusal=refusal)


# ---------------------------------------------------------------- progress and briefs


@router.get("/progress")
async def progress(ctx: Ngo, contract: ContractQ = None) -> Response:
    ws = await workspace(ctx, contract)
    if ws.contract is None:
        return render(ctx, "provider/progress.html", ws)
    p = await ctx.api.get(f"/services-log/v1/counties/{ctx.county}/contracts/{ws.contract['contract_id']}/progress")
    names = [f"{i['name']}（{i['unit']}）" for i in p["indicators"]]
    option = {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"data": ["实际完成", "计划进度", "全年目标"]},
        "grid": {"left": 50, "right": 20, "bottom": 60, "containLabel": True},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"interval": 0, "rotate": 20 if len(names) > 4 else 0}},
        "yAxis": {"type": "value"},
        "series": [
            {"name": "实际完成", "type": "bar", "data": [i["actual"] for i in p["indicators"]], "label": {"show": True, "position": "top"}},
            {"name": "计划进度", "type": "bar",
             "data": [i["planned_to_date"] if i["planned_to_date"] is not None else i["expected_to_date"] for i in p["indicators"]],
             "label": {"show": True, "position": "top"}},
            {"name": "全年目标", "type": "bar", "data": [i["target"] for i in p["indicators"]], "label": {"show": True, "position": "top"}},
        ],
    }
    return render(ctx, "provider/progress.html", ws, title="指标进度", progress=p,
                  chart=json.dumps(option, ensure_ascii=False).replace("</", "<\\/"))


@router.get("/briefs")
async def briefs(ctx: Ngo, contract: ContractQ = None, month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None) -> Response:
    ws = await workspace(ctx, contract)
    if ws.contract is None:
        return render(ctx, "provider/briefs.html", ws)
    months = ws.months
    this_month = today_iso()[:7]
    month = month or (this_month if this_month in months else months[0])
    brief, refusal = None, Refusal()
    try:
        brief = await ctx.api.get(f"/services-log/v1/counties/{ctx.county}/contracts/{ws.contract['contract_id']}/briefs/{month}")
    except ApiProblem as exc:
        refusal = Refusal.of(exc, set())
    return render(ctx, "provider/briefs.html", ws, title="月度简报", brief=brief, month=month, months=months, refusal=refusal)


@router.get("/briefs/download")
async def brief_download(ctx: Ngo, contract: Annotated[str, Query(max_length=64)], month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]) -> Response:
    r = await ctx.api.get_raw(f"/services-log/v1/counties/{ctx.county}/contracts/{contract}/briefs/{month}", format="xlsx")
    return Response(r.content, media_type=sheets.XLSX,
                    headers={"Content-Disposition": f'attachment; filename="brief-{month}.xlsx"'})
