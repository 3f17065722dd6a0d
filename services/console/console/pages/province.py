"""Province admin (省级管理员, role ``province_admin``) pages: a county and its policy — every
parameter editable, its meaning explained (the list, rules and defaults come from the registry's
county read, ``parameters``) — the province's evaluation rubric, and the official working-day
calendar of a year (finance's ``/v1/calendars``, R-FIN-6)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from console.api import ApiProblem, Refusal
from console.formats import MoneyError, fen_to_yuan_text, yuan_to_fen
from console.roles import NavItem, RolePages
from console.web import Ctx, read_form, signed_in

router = APIRouter(prefix="/province", tags=["province"])
Admin = Annotated[Ctx, Depends(signed_in("province_admin"))]
County = Annotated[str, Path(pattern=r"^\d{6}$")]

PAGES = RolePages(
    roles=("province_admin",),
    title="省级管理员",
    router=router,
    nav=[NavItem("县（区）与政策", "/province/"), NavItem("评估标准", "/province/rubric"), NavItem("工作日历", "/province/calendars")],
)

# What each parameter means, in Chinese (the API gives the rule, the default and an English meaning).
POLICY_ZH: dict[str, str] = {
    "worker_max_age_at_hiring": "社工入职时的年龄上限（周岁，部分县为35）",
    "min_education": "社工最低学历",
    "certificate_deadline_years": "未持证入职的社工须在几年内取得职业资格证书",
    "min_workers_per_station": "每个签约站点至少配备承接机构的社工人数",
    "supervisor_required": "服务协议须指定督导",
    "supervisor_min_qualification": "督导至少应持有的职业资格（中级为社会工作师）",
    "require_rating_3a": "承接机构须具有3A及以上社会组织评估等级",
    "require_party_org": "承接机构须建立党组织",
    "require_prior_pass": "承接机构须有政府购买项目评估合格及以上的经历",
    "contract_cycle_years": "服务周期年数（一年一签）",
    "filing_working_days": "协议签订后须在多少个工作日内备案",
    "ban_years": "弄虚作假或严重违约后禁止参与政府购买的年数",
    "funding_caps": "各资金来源的比例上限/下限：[{source 资金来源, bound ceiling上限|floor下限, percent 百分比, base 基数}]",
    "station_min_amount_fen": "每个站点年度资金不低于（元）",
    "personnel_min_percent": "人员经费占协议金额的比例不低于（%）",
    "operations_max_percent": "质量保障及运营经费占比不高于（%）",
    "min_wage_multiplier": "社工工资不低于当地最低工资标准的倍数",
    "standard_budget_fen": "一个社工站（中心）的标准年度预算（元）",
    "extra_worker_per_fen": "超出标准预算每多此金额可多配一名专业人员（元）",
    "max_daily_hours": "一名社工一天最多可登记的服务小时数",
    "annual_hours_per_staff": "每名工作人员年度专业服务小时数",
    "annual_direct_hours_per_staff": "每名工作人员年度直接服务小时数",
    "hours_ceiling_percent": "计划服务时数不得超过时数目标的百分比",
    "tranche_plan": "协议的默认拨付计划：[{seq 笔次, percent 比例, trigger 触发条件, due_working_days 工作日}]",
    "local_min_wage_fen": "当地月最低工资标准（元）；0 表示尚未设定，暂不核查工资",
    "price_weight_min_percent": "服务类采购价格分值占总分值的比重不低于（%）",
    "price_weight_max_percent": "服务类采购价格分值占总分值的比重不高于（%）",
    "funding_sources": "协议可列明的资金来源（按中文名称），如 [\"社会救助专项经费\", \"福彩公益金\"]",
}
EDUCATION = ("高中", "中专", "大专", "本科", "硕士", "博士")
QUALIFICATIONS = ("助理社会工作师", "社会工作师", "高级社会工作师")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def kind_of(name: str, default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if name.endswith("_fen"):
        return "money"
    if isinstance(default, int):
        return "int"
    if isinstance(default, list | dict):
        return "json"
    if name == "min_education":
        return "education"
    if name == "supervisor_min_qualification":
        return "qualification"
    return "decimal"


def shown(kind: str, value: Any) -> str:
    if kind == "money":
        return fen_to_yuan_text(value)
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "bool":
        return "on" if value else ""
    return str(value)


@router.get("/")
async def counties(ctx: Admin, county: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    if county:
        return ctx.redirect(f"/province/counties/{county.strip()}")
    return ctx.render("province/counties.html", title="县（区）与政策", form={}, refusal=Refusal())


@router.post("/")
async def register_county(ctx: Admin) -> Response:
    form, _ = await read_form(ctx.request)
    code = form.get("county", "")
    if not re.fullmatch(r"\d{6}", code):
        refusal = Refusal()
        refusal.add("county", "请填写6位县（区）行政区划代码，如 640402")
        return ctx.render("province/counties.html", status_code=422, title="县（区）与政策", form=form, refusal=refusal)
    try:
        await ctx.api.put(f"/registry/v1/counties/{code}", {"name": form.get("name", "")},
                          idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return ctx.render("province/counties.html", status_code=422, title="县（区）与政策", form=form,
                          refusal=Refusal.of(exc, {"name", "county"}))
    return ctx.redirect(f"/province/counties/{code}", f"已登记县（区）{form.get('name', '')}")


async def _county(ctx: Ctx, code: str, values: dict[str, str] | None = None, refusal: Refusal | None = None,
                  status_code: int = 200) -> Response:
    c = await ctx.api.get(f"/registry/v1/counties/{code}")
    params = []
    for p in c.get("parameters", []):
        kind = kind_of(p["name"], p["default"])
        value = c["policy"].get(p["name"], p["default"])
        params.append({
            **p, "kind": kind, "zh": POLICY_ZH.get(p["name"], ""), "value": shown(kind, value),
            "default_shown": shown(kind, p["default"]), "overridden": value != p["default"],
        })
    form = values if values is not None else {p["name"]: p["value"] for p in params}
    return ctx.render("province/county.html", status_code=status_code, title=f"{c['name']} · 政策", c=c, params=params,
                      form=form, refusal=refusal or Refusal(), education=EDUCATION, qualifications=QUALIFICATIONS)


@router.get("/counties/{code}")
async def county(ctx: Admin, code: County) -> Response:
    return await _county(ctx, code)


def parse_value(kind: str, text: str | None) -> Any:
    text = (text or "").strip()
    if kind == "bool":
        return text == "on"
    if kind == "money":  # the platform judges the amount (some parameters, like the minimum wage, allow 0)
        return yuan_to_fen(text, allow_zero=True)
    if kind == "int":
        if not re.fullmatch(r"\d+", text):
            raise ValueError("须为正整数")
        return int(text)
    if kind == "json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError("须为 JSON 列表，如 []") from exc
    return text


@router.post("/counties/{code}")
async def change_policy(ctx: Admin, code: County) -> Response:
    form, _ = await read_form(ctx.request)
    c = await ctx.api.get(f"/registry/v1/counties/{code}")
    refusal = Refusal()
    overrides: dict[str, Any] = {}
    for p in c.get("parameters", []):
        kind = kind_of(p["name"], p["default"])
        try:
            value = parse_value(kind, form.get(p["name"]))
        except (ValueError, MoneyError) as exc:
            refusal.add(p["name"], str(exc), p["rule"])
            continue
        if value != p["default"]:
            overrides[p["name"]] = value
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if refusal:
        return await _county(ctx, code, values, refusal, 422)
    try:
        await ctx.api.put(f"/registry/v1/counties/{code}", {"name": form.get("name") or c["name"], "policy": overrides},
                          idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        known = {p["name"] for p in c.get("parameters", [])} | {"name"}
        aliases = {f"policy.{n}": n for n in known}
        return await _county(ctx, code, values, Refusal.of(exc, known, aliases), 422)
    return ctx.redirect(f"/province/counties/{code}", "政策已更新：新签协议按新版本执行，已签协议沿用签订时的版本")


# ---------------------------------------------------------------- rubric


async def _rubric(ctx: Ctx, county: str, form: dict[str, Any] | None = None, refusal: Refusal | None = None,
                  status_code: int = 200) -> Response:
    try:
        rubric = await ctx.api.get(f"/evaluation/v1/counties/{county}/rubric")
    except ApiProblem as exc:
        if exc.status != 404:
            raise
        rubric = None
    defaults = {"name": rubric["name"] if rubric else "统一评估标准", "county": county,
                "t-优秀": "90", "t-良好": "80", "t-合格": "60",  # R-EVAL-6's defaults
                "p-process_visits_per_station": "4", "p-appeal_working_days": "10"}
    if rubric:
        defaults.update({f"t-{g}": str(v) for g, v in rubric["thresholds"].items()})
        defaults.update({f"p-{k}": str(v) for k, v in rubric["policy"].items()})
    return ctx.render("province/rubric.html", status_code=status_code, title="评估标准", rubric=rubric,
                      form=form or defaults, refusal=refusal or Refusal())


@router.get("/rubric")
async def rubric(ctx: Admin, county: Annotated[str, Query(pattern=r"^\d{6}$")] = "640402") -> Response:
    return await _rubric(ctx, county)


@router.post("/rubric")
async def publish_rubric(ctx: Admin) -> Response:
    form, _ = await read_form(ctx.request)
    county = form.get("county") or "640402"
    body: dict[str, Any] = {"name": form.get("name", "")}
    try:
        current = await ctx.api.get(f"/evaluation/v1/counties/{county}/rubric")
        body["dimensions"], body["survey"] = current["dimensions"], current["survey"]  # kept as they are
    except ApiProblem:
        pass
    thresholds = {g: form.get(f"t-{g}") for g in ("优秀", "良好", "合格") if form.get(f"t-{g}")}
    if thresholds:
        body["thresholds"] = thresholds
    policy = {k: int(form[f"p-{k}"]) for k in ("process_visits_per_station", "appeal_working_days")
              if (form.get(f"p-{k}") or "").isdigit()}
    if policy:
        body["policy"] = policy
    try:
        published = await ctx.api.post("/evaluation/v1/rubrics", body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        aliases = {"thresholds": "thresholds", "policy": "policy"}
        return await _rubric(ctx, county, form, Refusal.of(exc, {"name", "thresholds", "policy"}, aliases), 422)
    return ctx.redirect(f"/province/rubric?county={county}", f"已发布省级统一评估标准第{published['version']}版")


# ---------------------------------------------------------------- calendars


def parse_dates(text: str) -> list[str]:
    """Dates typed one per line or separated by commas/spaces, as ISO; anything else is refused."""
    parts = [p for p in re.split(r"[\s,，、;；]+", text or "") if p]
    bad = [p for p in parts if not DATE.fullmatch(p)]
    if bad:
        raise ValueError(f"日期格式应为 2027-01-01：{'、'.join(bad[:5])}")
    return sorted(set(parts))


async def _calendars(ctx: Ctx, form: dict[str, Any] | None = None, refusal: Refusal | None = None, status_code: int = 200) -> Response:
    years = await ctx.api.get("/finance/v1/calendars")
    return ctx.render("province/calendars.html", status_code=status_code, title="工作日历", years=years,
                      form=form or {}, refusal=refusal or Refusal())


@router.get("/calendars")
async def calendars(ctx: Admin) -> Response:
    return await _calendars(ctx)


@router.post("/calendars")
async def load_calendar(ctx: Admin) -> Response:
    form, _ = await read_form(ctx.request)
    refusal = Refusal()
    year = form.get("year", "")
    if not re.fullmatch(r"20\d\d", year):
        refusal.add("year", "请填写年份，如 2027", "R-FIN-6")
    body: dict[str, Any] = {}
    for name in ("holidays", "workdays"):
        try:
            body[name] = parse_dates(form.get(name, ""))
        except ValueError as exc:
            refusal.add(name, str(exc), "R-FIN-6")
    if refusal:
        return await _calendars(ctx, form, refusal, 422)
    try:
        loaded = await ctx.api.post(f"/finance/v1/calendars/{year}", body, idempotency_key=form.get("idempotency_key") or None)
    except ApiProblem as exc:
        return await _calendars(ctx, form, Refusal.of(exc, {"year", "holidays", "workdays"}), 422)
    changed = len(loaded.get("recomputed") or [])
    return ctx.redirect("/province/calendars", f"已载入{year}年工作日历，重算了{changed}个应拨付日")
