"""Third-party evaluator (第三方评估机构, role ``evaluator``) pages: the organisation's assignments
and the R-EVAL-* workflow of one evaluation — deadlines in working days (R-EVAL-3), review of the
self-evaluation, unannounced visits (R-EVAL-10), the satisfaction survey scored with the 不了解
rule (R-EVAL-4), scores per rubric item, spot-check deductions (R-EVAL-5), the conclusion
(R-EVAL-6/9) and feedback.

Scheduling is the purchaser's (county bureau's) act in the API (``POST …/evaluations`` takes the
purchaser or a province admin), so an evaluator sees its assignments here and does not schedule.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from console.api import ApiProblem, Refusal
from console.paging import At, Count, read_bounded, read_first, read_page
from console.roles import NavItem, RolePages
from console.web import Ctx, read_form, signed_in, today_iso

router = APIRouter(prefix="/evaluator", tags=["evaluator"])
Evaluator = Annotated[Ctx, Depends(signed_in("evaluator"))]

PAGES = RolePages(
    roles=("evaluator",),
    title="第三方评估机构",
    router=router,
    nav=[NavItem("评估任务", "/evaluator/"), NavItem("评估标准", "/evaluator/rubric")],
)

STEPS = {
    "self_evaluation": ("承接机构提交自评报告", "现场评估前10个工作日"),
    "review": ("评估机构审阅自评报告", "现场评估前5个工作日"),
    "report": ("出具评估报告（评估结论）", "现场评估后20个工作日"),
    "feedback": ("反馈与共识", "评估报告后5个工作日"),
    "visits": ("过程评估不打招呼走访", "服务年度结束前"),
}
STEP_STATUS = {"done": ("已完成", "success"), "pending": ("待办", "warning"), "overdue": ("已逾期", "danger")}
EVALUATION_STATUS = {
    "scheduled": "已安排", "in_progress": "进行中", "concluded": "已出结论", "appealed": "申诉中", "closed": "已办结",
}
ANSWERS = ("满意", "基本满意", "不满意", "不了解")
ANSWER_POINTS = {"满意": 5, "基本满意": 3, "不满意": 0}
MAX_RESPONDENTS = 5000  # the API's bound on one survey
STAGE_NAMES = {"process": "过程评估", "midterm": "中期评估", "final": "末期评估", "annual": "年度绩效评估"}
SOURCES = {"evaluator": "现场评分", "survey": "公众评议自动计分", "indicators": "服务指标完成率自动计分"}


def ev(ctx: Ctx, path: str = "") -> str:
    return f"/evaluation/v1/counties/{ctx.county}{path}"


def org_of(ctx: Ctx) -> str:
    return ctx.session.evaluator_org or ""


async def provider_names(ctx: Ctx) -> dict[str, str]:
    try:
        return {p["provider_id"]: p["name"] for p in await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/providers")}
    except ApiProblem:
        return {}


@router.get("/")
async def assignments(ctx: Evaluator, at: At) -> Response:
    """The organisation's evaluations (the API lists only its own) one API page at a time, in
    scheduling order, open ones first within the page; the counts are of the first API page."""
    shown = await read_page(ctx.api, ev(ctx, "/evaluations"), at, ctx.page_size())
    shown.items.sort(key=lambda e: (e["status"] == "concluded", e["scheduled_on"]))
    first = shown if shown.at.first else await read_first(ctx.api, ev(ctx, "/evaluations"), ctx.page_size())
    return ctx.render(
        "evaluator/assignments.html", title="评估任务", rows=shown, providers=await provider_names(ctx),
        stages=STAGE_NAMES, statuses=EVALUATION_STATUS, steps=STEPS, today=today_iso(),
        overdue=Count(sum(1 for e in first.items if e["overdue"]), first.has_next),
        open=Count(sum(1 for e in first.items if e["status"] != "concluded"), first.has_next),
    )


@router.get("/rubric")
async def rubric(ctx: Evaluator) -> Response:
    try:
        content = await ctx.api.get(ev(ctx, "/rubric"))
    except ApiProblem as exc:
        if exc.status != 404:
            raise
        content = None
    return ctx.render("evaluator/rubric.html", title="评估标准", rubric=content, sources=SOURCES)


# ---------------------------------------------------------------- one evaluation


async def _detail(ctx: Ctx, evaluation_id: str, section: str | None = None, form: dict[str, Any] | None = None,
                  refusal: Refusal | None = None, status_code: int = 200) -> Response:
    e = await ctx.api.get(ev(ctx, f"/evaluations/{evaluation_id}"))
    content = await ctx.api.get(f"/evaluation/v1/rubrics/{e['rubric_id']}/versions/{e['rubric_version']}")
    try:
        org = await ctx.api.get(ev(ctx, f"/evaluators/{e['evaluator_org']}"))
    except ApiProblem:
        org = {"name": e["evaluator_org"], "members": []}
    try:
        stations = {s["station_id"]: s["name"] for s in await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/stations")}
    except ApiProblem:
        stations = {}
    scored = {s["item_code"]: s for s in e["scores"]}
    items = [
        {**item, "dimension": dim["name"], "weight": dim["weight"], "source": item.get("source", "evaluator"),
         "scored": scored.get(item["code"])}
        for dim in content["dimensions"] for item in dim["items"]
    ]
    survey_groups = content["survey"]["groups"]
    station_ids = [s["station_id"] for s in (e.get("visits") or {}).get("stations", [])]
    providers = await provider_names(ctx)
    return ctx.render(
        "evaluator/evaluation.html", status_code=status_code, title=f"{e['stage_name']} · 评估", e=e, rubric=content,
        items=items, groups=survey_groups, answers=ANSWERS, org=org, stations=stations, station_ids=station_ids,
        provider=providers.get(e["provider_id"], e["provider_id"]), steps=STEPS, step_status=STEP_STATUS,
        statuses=EVALUATION_STATUS, sources=SOURCES, section=section, form=form or {},
        refusal=refusal or Refusal(), blank=Refusal(), members=[(m["member_id"], m["name"]) for m in org.get("members", [])],
        station_options=[(s, stations.get(s, s)) for s in station_ids] or [(s, n) for s, n in stations.items()],
        evaluator_items=[i for i in items if i["source"] == "evaluator"],
    )


@router.get("/evaluations/{evaluation_id}")
async def evaluation(ctx: Evaluator, evaluation_id: str) -> Response:
    return await _detail(ctx, evaluation_id)


async def _act(ctx: Ctx, evaluation_id: str, section: str, step: str, body: dict[str, Any], form: dict[str, Any],
               flash: str, known: set[str], aliases: dict[str, str] | None = None, refusal: Refusal | None = None) -> Response:
    if refusal:
        return await _detail(ctx, evaluation_id, section, form, refusal, 422)
    try:
        await ctx.api.post(ev(ctx, f"/evaluations/{evaluation_id}/{step}"), body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        try:  # the stations by name, for a refusal naming one (R-EVAL-1: its visits are complete)
            names = {s["station_id"]: s["name"] for s in await read_bounded(ctx.api, f"/registry/v1/counties/{ctx.county}/stations")}
        except ApiProblem:
            names = {}
        return await _detail(ctx, evaluation_id, section, form, Refusal.of(exc, known, aliases, names=names), 422)
    return ctx.redirect(f"/evaluator/evaluations/{evaluation_id}#{section}", flash)


@router.post("/evaluations/{evaluation_id}/review")
async def review(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"reviewed_on": form.get("on") or None, "notes": form.get("notes", "")}
    return await _act(ctx, evaluation_id, "review", "review", body, form, "已登记自评报告审阅", {"on", "notes"},
                      {"reviewed_on": "on"})


@router.post("/evaluations/{evaluation_id}/visits")
async def visit(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    body = {
        "visited_on": form.get("on") or None, "station_id": form.get("station_id", ""), "member_id": form.get("member_id", ""),
        "credential_shown": form.get("credential_shown") == "on",
        "signed_by": {"name": form.get("signer_name", ""), "role": form.get("signer_role", "")},
        "findings": form.get("findings", ""),
    }
    return await _act(ctx, evaluation_id, "visits", "visits", body, form, "已登记走访记录",
                      {"on", "station_id", "member_id", "credential_shown", "findings", "signer_name", "signer_role"},
                      {"visited_on": "on", "signed_by.name": "signer_name", "signed_by.role": "signer_role", "signed_by": "signer_name"})


def survey_responses(form: dict[str, Any], groups: list[dict[str, Any]], refusal: Refusal) -> list[dict[str, Any]]:
    """Counts per answer per question (``n-<group>-<question>-<answer>``) → one questionnaire per
    respondent, as the API takes them. Within a group every question has the same respondents, so
    the counts of each question must add up to the group's number of respondents."""
    responses: list[dict[str, Any]] = []
    for g in groups:
        per_question: dict[str, list[str]] = {}
        for q in g["questions"]:
            answers: list[str] = []
            for a in ANSWERS:
                raw = (form.get(f"n-{g['code']}-{q['code']}-{a}") or "0").strip() or "0"
                if not raw.isdigit():
                    refusal.add("survey", f"{g['name']}·{q['text']}「{a}」须为人数（非负整数）", "R-EVAL-4")
                    continue
                answers += [a] * int(raw)
            per_question[q["code"]] = answers
        counts = {len(v) for v in per_question.values()}
        if len(counts) > 1:
            refusal.add("survey", f"{g['name']}：每个问题的答卷人数应相同（现为 {sorted(counts)}）", "R-EVAL-4")
            continue
        respondents = counts.pop() if counts else 0
        if respondents > MAX_RESPONDENTS:
            refusal.add("survey", f"一次最多登记{MAX_RESPONDENTS}份答卷", "R-EVAL-4")
            continue
        for i in range(respondents):
            responses.append({"group": g["code"], "answers": {code: answers[i] for code, answers in per_question.items()}})
    if not responses and not refusal:
        refusal.add("survey", "请填写各类代表的答卷人数", "R-EVAL-4")
    return responses


@router.post("/evaluations/{evaluation_id}/surveys")
async def survey(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    e = await ctx.api.get(ev(ctx, f"/evaluations/{evaluation_id}"))
    content = await ctx.api.get(f"/evaluation/v1/rubrics/{e['rubric_id']}/versions/{e['rubric_version']}")
    refusal = Refusal()
    responses = survey_responses(form, content["survey"]["groups"], refusal)
    body = {"surveyed_on": form.get("on") or None, "responses": responses}
    return await _act(ctx, evaluation_id, "survey", "surveys", body, form, "已登记公众评议", {"on", "survey"},
                      {"surveyed_on": "on", "responses": "survey"}, refusal)


@router.post("/evaluations/{evaluation_id}/scores")
async def scores(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    refusal = Refusal()
    rows = []
    for name, value in form.items():
        if not name.startswith("score-") or not str(value).strip():
            continue
        code = name.removeprefix("score-")
        try:
            score = Decimal(str(value).strip())
        except InvalidOperation:
            refusal.add("scores", f"{code}：分值须为数字，如 4.5", "R-EVAL-2")
            continue
        rows.append({"item_code": code, "score": str(score), "note": form.get(f"note-{code}", "")})
    if not rows and not refusal:
        refusal.add("scores", "请至少为一个评估项目打分", "R-EVAL-2")
    body = {"scored_on": form.get("on") or None, "scores": rows}
    return await _act(ctx, evaluation_id, "scores", "scores", body, form, f"已登记{len(rows)}个评估项目的得分",
                      {"on", "scores"}, {"scored_on": "on"}, refusal)


@router.post("/evaluations/{evaluation_id}/deductions")
async def deduction(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"found_on": form.get("on") or None, "points": form.get("points", ""), "reason": form.get("reason", "")}
    return await _act(ctx, evaluation_id, "deductions", "deductions", body, form, "已登记察访核验扣分",
                      {"on", "points", "reason"}, {"found_on": "on"})


@router.post("/evaluations/{evaluation_id}/conclusion")
async def conclusion(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    fraud = form.get("fraud_found") == "on"
    body = {"concluded_on": form.get("on") or None, "fraud_found": fraud, "fraud_details": form.get("fraud_details") or None,
            "serious_breach_found": form.get("serious_breach_found") == "on",
            "serious_breach_details": form.get("serious_breach_details") or None}
    return await _act(ctx, evaluation_id, "conclusion", "conclusion", body, form, "已出具评估结论",
                      {"on", "fraud_found", "fraud_details", "serious_breach_found", "serious_breach_details", "scores", "survey"},
                      {"concluded_on": "on", "surveys": "survey"})


@router.post("/evaluations/{evaluation_id}/feedback")
async def feedback(ctx: Evaluator, evaluation_id: str) -> Response:
    form, _ = await read_form(ctx.request)
    body = {"agreed_on": form.get("on") or None, "notes": form.get("notes", "")}
    return await _act(ctx, evaluation_id, "feedback", "feedback", body, form, "已登记反馈与共识", {"on", "notes"},
                      {"agreed_on": "on"})
