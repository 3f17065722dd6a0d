"""The county bureau's side of evaluation (role ``purchaser``): accredit third-party evaluator
organisations and their members (R-EVAL-7), and schedule a contract's evaluation at a stage
(R-EVAL-1 windows) — in the API only the purchaser (or a province admin) schedules. The pages
live under ``/purchaser/evaluations``; their navigation entry is in ``purchaser.PAGES``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from console.api import ApiProblem, Refusal
from console.paging import PICKER_MAX, At, Position, read_bounded, read_page
from console.roles import RolePages
from console.web import Ctx, read_form, signed_in, today_iso

router = APIRouter(prefix="/purchaser/evaluations", tags=["purchaser"])
Clerk = Annotated[Ctx, Depends(signed_in("purchaser"))]

# No navigation of its own: ``pages_for("purchaser")`` finds ``purchaser.PAGES`` first.
PAGES = RolePages(roles=("purchaser",), title="县（区）民政局", router=router, nav=[])

STAGES = {"process": "过程评估（不打招呼走访）", "midterm": "中期评估", "final": "末期评估", "annual": "年度绩效评估"}
STATUSES = {"scheduled": "已安排", "in_progress": "进行中", "concluded": "已出结论", "appealed": "申诉中", "closed": "已办结"}
MAX_OPTIONS = PICKER_MAX  # a picker lists at most this many, read in one API page


def ev(ctx: Ctx, path: str = "") -> str:
    return f"/evaluation/v1/counties/{ctx.county}{path}"


async def _page(ctx: Ctx, at: Position | None = None, section: str | None = None, form: dict[str, Any] | None = None,
                refusal: Refusal | None = None, status_code: int = 200) -> Response:
    evaluations = await read_page(ctx.api, ev(ctx, "/evaluations"), at or Position(), ctx.page_size())  # scheduling order
    orgs = await ctx.api.get(ev(ctx, "/evaluators"))  # the county's accredited organisations (the API does not page them)
    providers = {p["provider_id"]: p["name"] for p in await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/providers")}
    contracts = await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/contracts", status="signed")
    contract_options = [
        (c["contract_id"], f"{providers.get(c['provider_id'], c['provider_id'])}（{c['period_start']} 至 {c['period_end']}）")
        for c in contracts[:MAX_OPTIONS]
    ]
    return ctx.render(
        "purchaser/evaluations.html", status_code=status_code, title="评估安排",
        rows=evaluations, orgs=orgs, org_names={o["evaluator_org"]: o["name"] for o in orgs},
        org_options=[(o["evaluator_org"], o["name"]) for o in orgs[:MAX_OPTIONS]], providers=providers,
        provider_options=list(providers.items())[:MAX_OPTIONS], contract_options=contract_options,
        stage_options=list(STAGES.items()), stages=STAGES, statuses=STATUSES, section=section,
        form=form or {}, refusal=refusal or Refusal(), blank=Refusal(), today=today_iso(),
    )


@router.get("")
async def evaluations(ctx: Clerk, at: At) -> Response:
    return await _page(ctx, at)


@router.post("/schedule")
async def schedule(ctx: Clerk) -> Response:
    form, _ = await read_form(ctx.request)
    body = {k: form.get(k, "") for k in ("contract_id", "stage", "evaluator_org")}
    body["scheduled_on"] = form.get("scheduled_on") or None
    try:
        await ctx.api.post(ev(ctx, "/evaluations"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _page(ctx, None, "schedule", form, Refusal.of(exc, set(body)), 422)
    return ctx.redirect("/purchaser/evaluations", f"已安排{STAGES.get(body['stage'], body['stage'])}")


@router.post("/evaluators")
async def accredit(ctx: Clerk) -> Response:
    form, raw = await read_form(ctx.request)
    body = {"name": form.get("name", ""), "certificate_no": form.get("certificate_no", ""),
            "accredited_until": form.get("accredited_until") or None,
            "linked_provider_ids": [p for p in raw.getlist("linked_provider_ids") if p]}
    try:
        await ctx.api.post(ev(ctx, "/evaluators"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _page(ctx, None, "accredit", form, Refusal.of(exc, set(body)), 422)
    return ctx.redirect("/purchaser/evaluations", f"已登记评估机构：{body['name']}")


@router.post("/members")
async def add_member(ctx: Clerk) -> Response:
    form, _ = await read_form(ctx.request)
    org = form.get("evaluator_org", "")
    body = {"name": form.get("name", ""), "credential_no": form.get("credential_no", ""), "valid_until": form.get("valid_until") or None}
    if not org:
        refusal = Refusal()
        refusal.add("evaluator_org", "请选择评估机构", "R-EVAL-7")
        return await _page(ctx, None, "member", form, refusal, 422)
    try:
        await ctx.api.post(ev(ctx, f"/evaluators/{org}/members"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _page(ctx, None, "member", form, Refusal.of(exc, set(body) | {"evaluator_org"}), 422)
    return ctx.redirect("/purchaser/evaluations", f"已登记评估人员：{body['name']}")
