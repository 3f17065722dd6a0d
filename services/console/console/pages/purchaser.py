"""County bureau (购买主体, role ``purchaser``) pages: the county dashboard, providers, stations,
workers, and the contract wizard (amounts in 元)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from console import labels
from console.api import ApiProblem, Refusal
from console.formats import MoneyError, yuan_to_fen
from console.paging import PICKER_MAX, At, Count, Position, read_bounded, read_first, read_page
from console.roles import NavItem, RolePages
from console.web import Ctx, read_form, signed_in, today_iso

router = APIRouter(prefix="/purchaser", tags=["purchaser"])
Clerk = Annotated[Ctx, Depends(signed_in("purchaser"))]

PAGES = RolePages(
    roles=("purchaser",),
    title="县（区）民政局",
    router=router,
    nav=[
        NavItem("工作台", "/purchaser/"),
        NavItem("服务协议", "/purchaser/contracts"),
        NavItem("承接机构", "/purchaser/providers"),
        NavItem("社工站点", "/purchaser/stations"),
        NavItem("社工", "/purchaser/workers"),
        NavItem("评估安排", "/purchaser/evaluations"),
    ],
)
MAX_OPTIONS = PICKER_MAX  # a picker lists at most this many, read in one API page (a county has tens of providers and stations)


def reg(ctx: Ctx, path: str = "") -> str:
    return f"/registry/v1/counties/{ctx.county}{path}"


async def providers(ctx: Ctx) -> list[dict[str, Any]]:
    """For pickers and names: at most MAX_OPTIONS, one API page."""
    return await read_bounded(ctx.api, reg(ctx, "/providers"))


async def stations(ctx: Ctx) -> list[dict[str, Any]]:
    """For pickers and names: at most MAX_OPTIONS, one API page."""
    return await read_bounded(ctx.api, reg(ctx, "/stations"))


def stage_of(contract: dict[str, Any], today: str) -> tuple[str, str]:
    """A contract's stage in the purchase cycle as the clerk thinks of it, with a tag colour."""
    if contract["status"] != "signed":
        return labels.CONTRACT_STATUS.get(contract["status"], contract["status"]), "info"
    if contract["filed_on"] is None:
        late = contract["filing_due_on"] < today
        return ("备案逾期" if late else "待备案"), ("danger" if late else "warning")
    if contract["effective_on"] > today:
        return "已备案·待生效", ""
    done = {e.get("stage") for e in contract.get("evaluations") or []}
    if "final" in done or "annual" in done:
        return "末期评估完成", "success"
    if "midterm" in done:
        return "中期评估完成", "success"
    return "驻站服务中", "success"


# ---------------------------------------------------------------- dashboard


@router.get("/")
async def dashboard(ctx: Clerk, at: At) -> Response:
    """The contracts one API page at a time; every count is of the first API page of its list
    only (“20+” when more follow), so the dashboard's cost does not grow with the county."""
    today, size = today_iso(), ctx.page_size()
    fin = f"/finance/v1/counties/{ctx.county}"
    shown = await read_page(ctx.api, reg(ctx, "/contracts"), at, size)
    names = {p["provider_id"]: p["name"] for p in await providers(ctx)}
    rows = []
    for c in shown.items:  # tranche schedules of the contracts on this page only
        try:
            tranches = await ctx.api.get(f"{fin}/contracts/{c['contract_id']}/tranches")
        except ApiProblem:
            tranches = []
        next_tranche = next((t for t in tranches if t["status"] in ("scheduled", "overdue", "awaiting_trigger")), None)
        rows.append({"c": c, "stage": stage_of(c, today), "provider": names.get(c["provider_id"], c["provider_id"]), "next": next_tranche})
    signed = await read_first(ctx.api, reg(ctx, "/contracts"), size, status="signed")
    late = await read_first(ctx.api, reg(ctx, "/contracts"), size, filing="overdue")
    pending = await read_first(ctx.api, reg(ctx, "/contracts"), size, filing="pending")
    overdue = await read_first(ctx.api, f"{fin}/tranches/overdue", size)
    open_findings = await read_first(ctx.api, f"{fin}/findings", size, status="open")
    findings = [f for f in open_findings.items if f["blocks_payment"]]
    evaluations = await read_first(ctx.api, f"/evaluation/v1/counties/{ctx.county}/evaluations", size)
    coming = [e for e in evaluations.items if e["status"] != "concluded" and (e["scheduled_on"] >= today or e["overdue"])]
    coming.sort(key=lambda e: e["scheduled_on"])
    filing_due = [c for c in late.items + pending.items if c["status"] == "signed"]
    stats = {
        "contracts": signed.count,
        "filing_due": late.count + pending.count,
        "filing_late": late.count,
        "overdue": overdue.count,
        "evaluations": Count(len(coming), evaluations.has_next),
        "findings": Count(len(findings), open_findings.has_next),
    }
    by_id = {c["contract_id"]: c for c in (*shown.items, *late.items, *pending.items, *signed.items)}
    return ctx.render(
        "purchaser/dashboard.html", title="工作台", stats=stats, rows=rows, page=shown, today=today,
        overdue=overdue.items[:size], findings=findings[:size], coming=coming[:size],
        filing_due=filing_due[:size], names=names, by_id=by_id,
    )


# ---------------------------------------------------------------- providers

PROVIDER_FIELDS = {"name", "uscc", "rating", "has_party_org"}


@router.get("/providers")
async def provider_list(ctx: Clerk, at: At) -> Response:
    return await _providers_page(ctx, at)


async def _providers_page(ctx: Ctx, at: Position, form: dict[str, Any] | None = None, refusal: Refusal | None = None,
                          status_code: int = 200) -> Response:
    rows = await read_page(ctx.api, reg(ctx, "/providers"), at, ctx.page_size())
    return ctx.render("purchaser/providers.html", status_code=status_code, title="承接机构", rows=rows,
                      form=form or {}, refusal=refusal or Refusal())


@router.post("/providers")
async def register_provider(ctx: Clerk) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"name": form.get("name", ""), "uscc": form.get("uscc", "").upper(), "rating": form.get("rating") or None,
            "has_party_org": form.get("has_party_org") == "on"}
    try:
        await ctx.api.post(reg(ctx, "/providers"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _providers_page(ctx, Position(), form, Refusal.of(exc, PROVIDER_FIELDS), 422)
    return ctx.redirect("/purchaser/providers", f"已登记承接机构：{body['name']}")


# ---------------------------------------------------------------- stations


@router.get("/stations")
async def station_list(ctx: Clerk, at: At) -> Response:
    return await _stations_page(ctx, at)


async def _stations_page(ctx: Ctx, at: Position, form: dict[str, Any] | None = None, refusal: Refusal | None = None,
                         status_code: int = 200) -> Response:
    rows = await read_page(ctx.api, reg(ctx, "/stations"), at, ctx.page_size())
    return ctx.render("purchaser/stations.html", status_code=status_code, title="社工站点", rows=rows,
                      form=form or {}, refusal=refusal or Refusal())


@router.post("/stations")
async def establish_station(ctx: Clerk) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"name": form.get("name", ""), "township": form.get("township", ""), "kind": form.get("kind", "")}
    try:
        await ctx.api.post(reg(ctx, "/stations"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _stations_page(ctx, Position(), form, Refusal.of(exc, set(body)), 422)
    return ctx.redirect("/purchaser/stations", f"已设立站点：{body['name']}")


# ---------------------------------------------------------------- workers

WORKER_FIELDS = {"provider_id", "station_id", "name", "birth_date", "education", "qualification", "role", "hired_on"}


@router.get("/workers")
async def worker_list(ctx: Clerk, at: At) -> Response:
    return await _workers_page(ctx, at)


async def _workers_page(ctx: Ctx, at: Position, form: dict[str, Any] | None = None, refusal: Refusal | None = None,
                        status_code: int = 200) -> Response:
    workers = await read_page(ctx.api, reg(ctx, "/workers"), at, ctx.page_size())
    provider_rows, station_rows = await providers(ctx), await stations(ctx)
    return ctx.render(
        "purchaser/workers.html", status_code=status_code, title="社工", rows=workers,
        providers=[(p["provider_id"], p["name"]) for p in provider_rows[:MAX_OPTIONS]],
        stations=[(s["station_id"], s["name"]) for s in station_rows[:MAX_OPTIONS]],
        provider_names={p["provider_id"]: p["name"] for p in provider_rows},
        station_names={s["station_id"]: s["name"] for s in station_rows},
        form=form or {"hired_on": today_iso()}, refusal=refusal or Refusal(),
    )


@router.post("/workers")
async def hire_worker(ctx: Clerk) -> Response:
    form, _ = await read_form(ctx.request)
    body = {k: form.get(k, "") for k in WORKER_FIELDS}
    try:
        await ctx.api.post(reg(ctx, "/workers"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _workers_page(ctx, Position(), form, Refusal.of(exc, WORKER_FIELDS), 422)
    return ctx.redirect("/purchaser/workers", f"已登记社工：{body['name']}")


# ---------------------------------------------------------------- contracts


@router.get("/contracts")
async def contract_list(ctx: Clerk, at: At) -> Response:
    """The county's contracts in signing order, one API page of SWP_CONSOLE_PAGE_SIZE."""
    shown = await read_page(ctx.api, reg(ctx, "/contracts"), at, ctx.page_size())
    names = {p["provider_id"]: p["name"] for p in await providers(ctx)}
    today = today_iso()
    rows = [{"c": c, "stage": stage_of(c, today), "provider": names.get(c["provider_id"], c["provider_id"])} for c in shown.items]
    return ctx.render("purchaser/contracts.html", title="服务协议", rows=rows, page=shown)


CONTRACT_FIELDS = {
    "provider_id", "station_ids", "purchaser", "signed_on", "effective_on", "period_start", "period_end", "amount",
    "service_areas", "indicators", "funding", "tranche_plan", "supervisor_id", "probation",
}
CONTRACT_ALIASES = {"amount_fen": "amount", "funding": "funding", "indicators": "indicators", "tranche_plan": "tranche_plan"}
PLAN_ITEM = re.compile(r"(\d{4})\s*[-年/.]\s*(\d{1,2})\s*月?\s*[:：=]\s*(\d+)")


def parse_monthly_plan(text: str) -> dict[str, int]:
    """'2026-12:50, 2027-01:100' (or 2026年12月：50 …) → {'2026-12': 50, '2027-01': 100}."""
    plan: dict[str, int] = {}
    rest = text
    for year, month, value in PLAN_ITEM.findall(text):
        if not 1 <= int(month) <= 12:
            raise ValueError(f"{year}年{month}月不是有效月份")
        plan[f"{year}-{int(month):02d}"] = int(value)
        rest = PLAN_ITEM.sub("", rest, count=1)
    if re.sub(r"[\s,，;；、]", "", rest):
        raise ValueError("月度计划格式为“2026-12:50, 2027-01:100”（年-月:数量，逗号分隔）")
    return plan


def contract_body(form: dict[str, Any], raw: Any, refusal: Refusal) -> dict[str, Any]:
    """The contract as the API takes it, from the wizard's fields (amounts in 元 → fen)."""
    body: dict[str, Any] = {
        "provider_id": form.get("provider_id", ""),
        "station_ids": [s for s in raw.getlist("station_ids") if s],
        "purchaser": form.get("purchaser", ""),
        "signed_on": form.get("signed_on") or None,
        "effective_on": form.get("effective_on") or None,
        "period_start": form.get("period_start") or None,
        "period_end": form.get("period_end") or None,
        "service_areas": [a for a in raw.getlist("service_areas") if a],
        "probation": form.get("probation") == "on",
    }
    try:
        body["amount_fen"] = yuan_to_fen(form.get("amount"), allow_zero=False)
    except MoneyError as exc:
        refusal.add("amount", str(exc), "R-FIN-1")
    body["funding"] = []
    for source, amount in zip(raw.getlist("funding_source"), raw.getlist("funding_amount"), strict=False):
        if not source and not amount.strip():
            continue
        try:
            body["funding"].append({"source": source, "amount_fen": yuan_to_fen(amount)})
        except MoneyError as exc:
            refusal.add("funding", f"{source or '资金来源'}：{exc}", "R-FIN-1")
    body["indicators"] = []
    rows = zip(raw.getlist("ind_code"), raw.getlist("ind_name"), raw.getlist("ind_unit"), raw.getlist("ind_target"),
               raw.getlist("ind_plan"), strict=False)
    for n, (code, name, unit, target, plan) in enumerate(rows, start=1):
        if not any(v.strip() for v in (code, name, unit, target, plan)):
            continue
        indicator: dict[str, Any] = {"code": code.strip(), "name": name.strip(), "unit": unit.strip()}
        try:
            indicator["target"] = int(target.strip())
        except ValueError:
            refusal.add("indicators", f"第{n}个指标：目标值须为整数", "R-LOG-8")
        try:
            indicator["monthly_plan"] = parse_monthly_plan(plan)
        except ValueError as exc:
            refusal.add("indicators", f"第{n}个指标：{exc}", "R-LOG-8")
        body["indicators"].append(indicator)
    plan_rows = [
        (seq, percent, trigger, days)
        for seq, percent, trigger, days in zip(raw.getlist("tr_seq"), raw.getlist("tr_percent"), raw.getlist("tr_trigger"),
                                               raw.getlist("tr_days"), strict=False)
        if percent.strip()
    ]
    if plan_rows:
        body["tranche_plan"] = []
        for n, (seq, percent, trigger, days) in enumerate(plan_rows, start=1):
            try:
                body["tranche_plan"].append({"seq": int(seq or n), "percent": int(percent), "trigger": trigger,
                                             "due_working_days": int(days or 15)})
            except ValueError:
                refusal.add("tranche_plan", f"第{n}笔：比例和工作日须为整数", "R-FIN-5")
    return body


async def _wizard(ctx: Ctx, form: dict[str, Any], raw: Any = None, refusal: Refusal | None = None, status_code: int = 200) -> Response:
    provider_rows, station_rows = await providers(ctx), await stations(ctx)
    county = await ctx.api.get(f"/registry/v1/counties/{ctx.county}")
    policy = county.get("policy") or {}

    def rows(*names: str, minimum: int) -> list[dict[str, str]]:
        values = [raw.getlist(n) if raw is not None else [] for n in names]
        out = [dict(zip(names, vals, strict=False)) for vals in zip(*values, strict=False)]
        return out + [dict.fromkeys(names, "") for _ in range(max(0, minimum - len(out)))]

    return ctx.render(
        "purchaser/contract_new.html", status_code=status_code, title="签订服务协议", county_name=county.get("name", ""),
        providers=[(p["provider_id"], p["name"]) for p in provider_rows[:MAX_OPTIONS]],
        stations=[(s["station_id"], f"{s['name']}（{s['township']}）") for s in station_rows[:MAX_OPTIONS]],
        form=form, refusal=refusal or Refusal(), selected_stations=set(raw.getlist("station_ids")) if raw is not None else set(),
        selected_areas=set(raw.getlist("service_areas")) if raw is not None else set(),
        indicators=rows("ind_code", "ind_name", "ind_unit", "ind_target", "ind_plan", minimum=2),
        funding=rows("funding_source", "funding_amount", minimum=2),
        tranches=rows("tr_seq", "tr_percent", "tr_trigger", "tr_days", minimum=0),
        default_plan=policy.get("tranche_plan") or [],
    )


@router.get("/contracts/new")
async def contract_wizard(ctx: Clerk) -> Response:
    county = await ctx.api.get(f"/registry/v1/counties/{ctx.county}")
    return await _wizard(ctx, {"purchaser": f"{county.get('name', '')}民政局", "signed_on": today_iso()})


@router.post("/contracts/new")
async def sign_contract(ctx: Clerk) -> Response:
    form, raw = await read_form(ctx.request)
    refusal = Refusal()
    body = contract_body(form, raw, refusal)
    if refusal:
        return await _wizard(ctx, form, raw, refusal, 422)
    try:
        created = await ctx.api.post(reg(ctx, "/contracts"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        names = {s["station_id"]: s["name"] for s in await stations(ctx)}  # a refusal names stations, not ids
        return await _wizard(ctx, form, raw, Refusal.of(exc, CONTRACT_FIELDS, CONTRACT_ALIASES, names=names), 422)
    return ctx.redirect(f"/purchaser/contracts/{created['contract_id']}", "服务协议已签订")


@router.get("/contracts/{contract_id}")
async def contract_detail(ctx: Clerk, contract_id: str) -> Response:
    return await _detail(ctx, contract_id)


async def _detail(ctx: Ctx, contract_id: str, form: dict[str, Any] | None = None, refusal: Refusal | None = None,
                  status_code: int = 200) -> Response:
    c = await ctx.api.get(reg(ctx, f"/contracts/{contract_id}"))
    try:
        tranches = await ctx.api.get(f"/finance/v1/counties/{ctx.county}/contracts/{contract_id}/tranches")
    except ApiProblem:
        tranches = []  # finance has not heard of the contract yet
    names = {p["provider_id"]: p["name"] for p in await providers(ctx)}
    station_names = {s["station_id"]: s["name"] for s in await stations(ctx)}
    return ctx.render(
        "purchaser/contract.html", status_code=status_code, title="服务协议", c=c, tranches=tranches,
        provider=names.get(c["provider_id"], c["provider_id"]), station_names=station_names, today=today_iso(),
        stage=stage_of(c, today_iso()), form=form or {"filed_on": today_iso(), "filed_with": "市民政局"},
        refusal=refusal or Refusal(),
    )


@router.post("/contracts/{contract_id}/filing")
async def file_contract(ctx: Clerk, contract_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"filed_on": form.get("filed_on") or None, "filed_with": form.get("filed_with") or "市民政局"}
    try:
        await ctx.api.post(reg(ctx, f"/contracts/{contract_id}/filing"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _detail(ctx, contract_id, form, Refusal.of(exc, set(body)), 422)
    return ctx.redirect(f"/purchaser/contracts/{contract_id}", "已登记备案")
