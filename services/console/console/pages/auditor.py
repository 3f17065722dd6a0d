"""Auditor (审计, role ``auditor``) pages, read-only (R-AUD-6): the verify status of every service's
hash chain (R-AUD-4), a contract's timeline across the four services (as ``swp audit timeline``,
built from the ``/<svc>/v1/audit/events`` feeds), the contract and its tranches read "as of" a
chosen instant (``?recorded_as_of=``, R-AUD-3), one event's inclusion proof and the download of a
service's audit events of the county as JSON Lines."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from console.api import Api, ApiProblem
from console.paging import At, CursorPage, paginate, read_bounded, read_page
from console.roles import NavItem, RolePages
from console.web import Ctx, signed_in

router = APIRouter(prefix="/auditor", tags=["auditor"])
Auditor = Annotated[Ctx, Depends(signed_in("auditor"))]
PageNo = Annotated[int, Query(ge=1, le=10**6)]
ContractId = Annotated[str, Path(pattern=r"^[0-9a-fA-F-]{32,36}$")]
Service = Annotated[str, Path(pattern=r"^(registry|services-log|evaluation|finance)$")]
AsOfText = Annotated[str | None, Query(max_length=40)]

PAGES = RolePages(
    roles=("auditor",),
    title="审计",
    router=router,
    nav=[NavItem("审计总览", "/auditor/"), NavItem("服务协议时间线", "/auditor/contracts"), NavItem("按时刻查询", "/auditor/as-of")],
)
SERVICES = {"registry": "登记（registry）", "services-log": "服务记录（services-log）", "evaluation": "评估（evaluation）",
            "finance": "资金（finance）"}
FEED_PAGE = 500  # events asked for per call of an audit feed
TIMELINE_CAP = 2000  # events per service shown on one timeline; beyond it the page says so
EXPORT_PAGE = 1000
CHINA = ZoneInfo("Asia/Shanghai")
LOCAL_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def as_of_instant(text: str | None) -> str | None:
    """The browser's ``datetime-local`` value (China time) or an RFC 3339 instant → RFC 3339."""
    if not text:
        return None
    text = text.strip()
    try:
        if LOCAL_INSTANT.match(text):
            return datetime.fromisoformat(text).replace(tzinfo=CHINA).isoformat()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)).isoformat()


def china_time(instant: str | None) -> str:
    """An RFC 3339 instant as Beijing time, to the second (the as-of form's time zone)."""
    if not instant:
        return ""
    try:
        return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return instant[:19]


@router.get("/")
async def overview(ctx: Auditor) -> Response:
    status = []
    for svc, name in SERVICES.items():
        try:
            v = await ctx.api.get(f"/{svc}/v1/audit/verify")
            status.append({"svc": svc, "name": name, "ok": bool(v.get("verified")), "v": v, "error": None})
        except ApiProblem as exc:
            status.append({"svc": svc, "name": name, "ok": False, "v": {}, "error": exc.detail})
    return ctx.render("auditor/overview.html", title="审计总览", status=status, services=SERVICES)


@router.get("/contracts")
async def contracts(ctx: Auditor, at: At) -> Response:
    """The county's contracts in signing order, one API page at a time."""
    rows = await read_page(ctx.api, f"/registry/v1/counties/{ctx.county}/contracts", at, ctx.page_size())
    names = {p["provider_id"]: p["name"] for p in await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/providers")}
    return ctx.render("auditor/contracts.html", title="服务协议时间线", rows=rows, names=names)


async def contract_timeline(ctx: Ctx, contract_id: str, until: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every event of the contract in every service recorded up to ``until``, by recorded time
    (the ``swp audit timeline`` stitching, over the HTTP audit feeds), and the services whose
    events were cut at ``TIMELINE_CAP``."""
    events: dict[str, dict[str, Any]] = {}
    truncated = []
    for svc in SERVICES:
        after, seen = 0, 0
        while True:
            body = await ctx.api.get(f"/{svc}/v1/audit/events", contract_id=contract_id, after=after, limit=FEED_PAGE,
                                     county=ctx.county, until=until)
            for e in body["events"]:
                events[str(e["event_id"])] = e
            seen += len(body["events"])
            if seen >= TIMELINE_CAP:
                truncated.append(svc)
                break
            if not body["events"] or body["next_after"] == after:
                break
            after = body["next_after"]
    ordered = sorted(events.values(), key=lambda e: (e.get("recorded_at") or "", e["service"], e["position"]))
    by_id = {str(e["event_id"]): e for e in ordered}
    for e in ordered:
        e["recorded_cn"] = china_time(e.get("recorded_at"))
        cause = by_id.get(str(e.get("causation_id")))
        e["caused_by"] = f"{cause['service']} · {cause['event_type']}" if cause else None
    return ordered, truncated


@router.get("/contracts/{contract_id}")
async def timeline(ctx: Auditor, contract_id: ContractId, recorded_as_of: AsOfText = None, page: PageNo = 1) -> Response:
    instant = as_of_instant(recorded_as_of)
    bad_instant = bool(recorded_as_of) and instant is None
    c = await ctx.api.get(f"/registry/v1/counties/{ctx.county}/contracts/{contract_id}", recorded_as_of=instant)
    try:
        tranches = await ctx.api.get(f"/finance/v1/counties/{ctx.county}/contracts/{contract_id}/tranches", recorded_as_of=instant)
    except ApiProblem:
        tranches = []
    events, truncated = await contract_timeline(ctx, contract_id, instant)
    services_seen = sorted({e["service"] for e in events})
    shown = paginate(events, page, 50)
    return ctx.render(
        "auditor/timeline.html", title="服务协议时间线", c=c, tranches=tranches, events=shown, services=SERVICES,
        services_seen=services_seen, truncated=truncated, instant=instant, as_of_text=recorded_as_of or "",
        bad_instant=bad_instant, cap=TIMELINE_CAP,
    )


# Read routes an auditor may ask "as of" an instant (R-AUD-3); ``{county}`` is the auditor's county.
AS_OF_READS = {
    "registry-county": ("/registry/v1/counties/{county}", "县（区）及其政策"),
    "registry-contracts": ("/registry/v1/counties/{county}/contracts", "服务协议列表"),
    "registry-providers": ("/registry/v1/counties/{county}/providers", "承接机构"),
    "registry-workers": ("/registry/v1/counties/{county}/workers", "社工"),
    "evaluation-evaluations": ("/evaluation/v1/counties/{county}/evaluations", "评估"),
    "finance-overdue": ("/finance/v1/counties/{county}/tranches/overdue", "逾期拨付"),
    "finance-findings": ("/finance/v1/counties/{county}/findings", "资金问题"),
}
READ_PATH = re.compile(r"^/(registry|services-log|evaluation|finance)/v1/[A-Za-z0-9_\-/.]{1,300}$")


@router.get("/as-of")
async def as_of_read(
    ctx: Auditor,
    at: At,
    read: Annotated[str, Query(max_length=40)] = "",
    path: Annotated[str, Query(max_length=320)] = "",
    recorded_as_of: AsOfText = None,
) -> Response:
    """Any read of the API as of an instant: a listed read of the county, or a path typed in
    (GET only, one of the four services; the API decides what the auditor's token may see). A
    list answer is one API page of SWP_CONSOLE_PAGE_SIZE, with 首页 / 上一页 / 下一页."""
    instant = as_of_instant(recorded_as_of)
    chosen = AS_OF_READS[read][0].format(county=ctx.county) if read in AS_OF_READS else path.strip()
    error, body, shown = None, None, None
    if chosen:
        if not READ_PATH.match(chosen) or ".." in chosen:
            error = "路径须为 /registry、/services-log、/evaluation 或 /finance 下的 /v1/… 查询接口"
        elif recorded_as_of and instant is None:
            error = "时刻格式不正确"
        else:
            try:
                body, next_cursor = await ctx.api.get_page(chosen, at.cursor, limit=ctx.page_size(), recorded_as_of=instant)
                if isinstance(body, list):
                    shown = CursorPage(body, ctx.page_size(), at, next_cursor)
            except ApiProblem as exc:
                error = exc.detail or f"HTTP {exc.status}"
    pretty = json.dumps(body, ensure_ascii=False, indent=2) if body is not None else ""
    if len(pretty) > 200_000:
        pretty = pretty[:200_000] + "\n…（已截断，请缩小查询范围）"
    return ctx.render(
        "auditor/as_of.html", title="按时刻查询", reads=[(k, label) for k, (_p, label) in AS_OF_READS.items()],
        form={"read": read, "path": path, "recorded_as_of": (recorded_as_of or "")[:19]}, chosen=chosen, instant=instant,
        error=error, pretty=pretty, page=shown, pager_params={"read": read, "path": path, "recorded_as_of": recorded_as_of},
    )


@router.get("/proofs/{svc}/{position}")
async def proof(ctx: Auditor, svc: Service, position: Annotated[int, Path(ge=1, le=2**53)], download: bool = False) -> Response:
    try:
        p = await ctx.api.get(f"/{svc}/v1/audit/proofs/{position}")
    except ApiProblem as exc:
        return ctx.render("auditor/proof.html", status_code=exc.status, title="包含证明", svc=svc, position=position, p=None,
                          error=exc.detail, services=SERVICES)
    if download:
        return Response(json.dumps(p, ensure_ascii=False, indent=2), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{svc}-proof-{position}.json"'})
    return ctx.render("auditor/proof.html", title="包含证明", svc=svc, position=position, p=p, error=None, services=SERVICES,
                      pretty=json.dumps(p, ensure_ascii=False, indent=2))


@router.get("/export/{svc}.jsonl")
async def export(ctx: Auditor, svc: Service) -> Response:
    """The county's audit events of one service as JSON Lines, streamed page by page from the
    feed (never the whole log in memory)."""
    county, token = ctx.county, ctx.session.token
    await ctx.api.get(f"/{svc}/v1/audit/events", county=county, after=0, limit=1)  # refused now, not mid-download
    connector = ctx.request.app.state.connector

    async def lines() -> AsyncIterator[bytes]:
        # Its own client: the request's client closes when the handler returns, before streaming ends.
        async with connector.client() as client:
            api = Api(client, token)
            after = 0
            while True:
                body = await api.get(f"/{svc}/v1/audit/events", county=county, after=after, limit=EXPORT_PAGE)
                for e in body["events"]:
                    yield (json.dumps(e, ensure_ascii=False) + "\n").encode()
                if not body["events"] or body["next_after"] == after:
                    return
                after = body["next_after"]

    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{svc}-{county}-audit-events.jsonl"'})
