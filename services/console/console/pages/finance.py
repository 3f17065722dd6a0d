"""Finance (财务, role ``finance``) pages: the tranche board of the county (status, due date,
provisional dates, overdue in working days, findings that block payment), a contract's account —
record a tranche's payment with its voucher (R-FIN-7), book expenses in 元 (R-FIN-8, R-FIN-4),
the reconciliation and the ring-fenced account (专款专用)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from console.api import ApiProblem, Refusal
from console.formats import MoneyError, yuan_to_fen
from console.paging import At, Count, CursorPage, Position, read_bounded, read_first, read_page
from console.roles import NavItem, RolePages
from console.web import Ctx, read_form, signed_in, today_iso

router = APIRouter(prefix="/finance-office", tags=["finance"])
Officer = Annotated[Ctx, Depends(signed_in("finance"))]
ContractId = Annotated[str, Path(min_length=1, max_length=100)]

PAGES = RolePages(
    roles=("finance",),
    title="财务",
    router=router,
    nav=[NavItem("拨付看板", "/finance-office/"), NavItem("逾期与问题", "/finance-office/issues")],
)
CATEGORIES = {"personnel": "人员经费（工资、奖金、社保、个税）", "operations": "质量保障及运营经费"}
EXPENSE_FINDINGS = {
    "beyond_funds_received": "支出超过已拨付资金",
    "cost_structure": "费用结构不符（R-FIN-4）",
    "outside_contract_period": "不在协议服务期内",
    "duplicate_voucher": "凭证重复入账",
}
OPEN_STATUSES = ("scheduled", "overdue")


def fin(ctx: Ctx, path: str = "") -> str:
    return f"/finance/v1/counties/{ctx.county}{path}"


async def provider_names(ctx: Ctx) -> dict[str, str]:
    return {p["provider_id"]: p["name"] for p in await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/providers")}


async def tranches_of(ctx: Ctx, contract_id: str) -> list[dict[str, Any]]:
    try:
        return await ctx.api.get(fin(ctx, f"/contracts/{contract_id}/tranches"))
    except ApiProblem as exc:
        if exc.status == 404:
            return []  # finance has not heard of the contract yet (NATS)
        raise


async def blocking_of(ctx: Ctx, contract_id: str) -> list[dict[str, Any]]:
    """The contract's open findings that block payment (R-FIN-2/3)."""
    try:
        found = await ctx.api.get(fin(ctx, f"/contracts/{contract_id}/findings"))
    except ApiProblem as exc:
        if exc.status == 404:
            return []
        raise
    return [f for f in found if f["blocks_payment"] and f["status"] == "open"]


@router.get("/")
async def board(ctx: Officer, at: At) -> Response:
    """The county's contracts one API page at a time (signing order) with their tranches; the
    counts are of the first API page of the overdue and open-findings lists (“20+”: more follow)."""
    size = ctx.page_size()
    shown = await read_page(ctx.api, f"/registry/v1/counties/{ctx.county}/contracts", at, size)
    first_overdue = await read_first(ctx.api, fin(ctx, "/tranches/overdue"), size)
    open_findings = await read_first(ctx.api, fin(ctx, "/findings"), size, status="open")
    blocking_count = Count(sum(1 for f in open_findings.items if f["blocks_payment"]), open_findings.has_next)
    # working days late of the page's overdue tranches: a lookup bounded like a picker (PICKER_MAX contracts)
    overdue = {(o["contract_id"], o["seq"]): o for o in await read_bounded(ctx.api, fin(ctx, "/tranches/overdue"))}
    names = await provider_names(ctx)
    rows = []
    for c in shown.items:  # tranche schedules and blocking findings of this page's contracts only
        rows.append({"c": c, "provider": names.get(c["provider_id"], c["provider_id"]),
                     "tranches": await tranches_of(ctx, c["contract_id"]), "blocking": await blocking_of(ctx, c["contract_id"])})
    return ctx.render("finance/board.html", title="拨付看板", rows=rows, page=shown, overdue=overdue, today=today_iso(),
                      stats={"overdue": first_overdue.count, "blocking": blocking_count})


@router.get("/issues")
async def issues(ctx: Officer, at: At) -> Response:
    """Overdue tranches one API page at a time (a page: the overdue tranches of up to
    SWP_CONSOLE_PAGE_SIZE contracts); the first API page of the open findings."""
    overdue = await read_page(ctx.api, fin(ctx, "/tranches/overdue"), at, ctx.page_size())
    findings = await read_first(ctx.api, fin(ctx, "/findings"), ctx.page_size(), status="open")
    return ctx.render("finance/issues.html", title="逾期与问题", overdue=overdue, findings=findings.items,
                      findings_total=findings.count, expense_kinds=EXPENSE_FINDINGS)


# ---------------------------------------------------------------- one contract's account


async def _account(ctx: Ctx, contract_id: str, at: Position | None = None, section: str | None = None,
                   form: dict[str, Any] | None = None, refusal: Refusal | None = None, status_code: int = 200) -> Response:
    """The contract's account; its expenses one API page at a time (SWP_CONSOLE_PAGE_SIZE, in
    booking order, by cursor: a contract may book thousands)."""
    c = await ctx.api.get(f"/registry/v1/counties/{ctx.county}/contracts/{contract_id}")
    tranches = await tranches_of(ctx, contract_id)
    try:
        findings = await ctx.api.get(fin(ctx, f"/contracts/{contract_id}/findings"))
        expenses = await read_page(ctx.api, fin(ctx, f"/contracts/{contract_id}/expenses"), at or Position(), ctx.page_size())
        reconciliation = await ctx.api.get(fin(ctx, f"/contracts/{contract_id}/reconciliation"))
    except ApiProblem as exc:
        if exc.status != 404:
            raise
        findings, expenses, reconciliation = [], CursorPage([], ctx.page_size()), None
    names = await provider_names(ctx)
    blocked = any(f["blocks_payment"] and f["status"] == "open" for f in findings)
    return ctx.render(
        "finance/contract.html", status_code=status_code, title="协议资金", c=c, tranches=tranches, findings=findings,
        expenses=expenses, r=reconciliation, blocked=blocked,
        provider=names.get(c["provider_id"], c["provider_id"]), categories=CATEGORIES, expense_kinds=EXPENSE_FINDINGS,
        section=section, form=form or {}, refusal=refusal or Refusal(), blank=Refusal(), today=today_iso(),
    )


@router.get("/contracts/{contract_id}")
async def account(ctx: Officer, contract_id: ContractId, at: At) -> Response:
    return await _account(ctx, contract_id, at)


@router.post("/contracts/{contract_id}/tranches/{seq}/payment")
async def pay(ctx: Officer, contract_id: ContractId, seq: Annotated[int, Path(ge=1, le=100)]) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"paid_on": form.get("paid_on") or None, "voucher": form.get("voucher", "")}
    try:
        await ctx.api.post(fin(ctx, f"/contracts/{contract_id}/tranches/{seq}/payment"), body,
                           idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _account(ctx, contract_id, None, f"pay-{seq}", form, Refusal.of(exc, {"paid_on", "voucher"}), 422)
    return ctx.redirect(f"/finance-office/contracts/{contract_id}", f"已登记第{seq}笔拨付（凭证 {body['voucher']}）")


@router.post("/contracts/{contract_id}/findings/{finding_id}/resolution")
async def resolve(ctx: Officer, contract_id: ContractId, finding_id: Annotated[str, Path(min_length=1, max_length=20)]) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"resolution": form.get("resolution", "")}
    try:
        await ctx.api.post(fin(ctx, f"/contracts/{contract_id}/findings/{finding_id}/resolution"), body,
                           idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _account(ctx, contract_id, None, f"resolve-{finding_id}", form, Refusal.of(exc, {"resolution"}), 422)
    return ctx.redirect(f"/finance-office/contracts/{contract_id}", "资金来源问题已解决，可继续拨付")


@router.post("/issues/overdue-check")
async def overdue_check(ctx: Officer) -> Response:
    """Record every tranche found overdue for the first time today (``TrancheOverdue``, R-FIN-9)."""
    form, _ = await read_form(ctx.request)
    recorded = await ctx.api.post(fin(ctx, "/tranches/overdue-check"), {}, idempotency_key=form.get("idempotency_key") or None)
    return ctx.redirect("/finance-office/issues", f"逾期检查完成：新记录{len(recorded)}笔逾期")


@router.post("/contracts/{contract_id}/expenses")
async def book(ctx: Officer, contract_id: ContractId) -> Response:
    form, _ = await read_form(ctx.request)
    refusal = Refusal()
    body: dict[str, Any] = {"category": form.get("category", ""), "spent_on": form.get("spent_on") or None,
                            "voucher": form.get("voucher", "")}
    try:
        body["amount_fen"] = yuan_to_fen(form.get("amount"), allow_zero=False)
    except MoneyError as exc:
        refusal.add("amount", str(exc), "R-FIN-1")
    if refusal:
        return await _account(ctx, contract_id, None, "expense", form, refusal, 422)
    try:
        entry = await ctx.api.post(fin(ctx, f"/contracts/{contract_id}/expenses"), body,
                                   idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        known = {"category", "spent_on", "voucher", "amount"}
        return await _account(ctx, contract_id, None, "expense", form, Refusal.of(exc, known, {"amount_fen": "amount"}), 422)
    flags = "；".join(EXPENSE_FINDINGS.get(f["kind"], f["kind"]) for f in entry.get("findings") or [])
    return ctx.redirect(f"/finance-office/contracts/{contract_id}",
                        "已登记支出" + (f"，但被标记：{flags}" if flags else ""))
