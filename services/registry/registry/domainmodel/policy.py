"""Counties (县/区, the tenants) and their versioned policy parameters.

Where DOMAIN.md says counties differ, the number is a policy parameter with the DOMAIN.md
default, never a constant in code. A contract keeps (a snapshot of) the policy version it
was signed under; finance and services-log read that snapshot from ``ContractSigned.policy``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation

NS = uuid.UUID("a3c2e1f0-4b5d-5e6f-8a9b-0c1d2e3f4a5b")

EDUCATION_LEVELS = ("高中", "中专", "大专", "本科", "硕士", "博士")
# 全国社会工作者职业水平证书, lowest first; "none" = hired without a certificate (R-REG-3).
QUALIFICATIONS = ("none", "助理社会工作师", "社会工作师", "高级社会工作师")
# The same levels as DOMAIN.md and the seeds write them (助理社工师、社工师(中级)、高级 …), recorded by full name.
QUALIFICATION_ALIASES = {
    "无": "none", "助理社工师": "助理社会工作师", "初级社会工作师": "助理社会工作师", "初级社工师": "助理社会工作师",
    "社工师": "社会工作师", "中级社会工作师": "社会工作师", "中级社工师": "社会工作师", "中级": "社会工作师",
    "高级社工师": "高级社会工作师", "高级": "高级社会工作师",
}


def canonical_qualification(value: str) -> str:
    """A certificate level by its full name (an unknown value is returned as given, to be refused)."""
    value = value.strip()
    return QUALIFICATION_ALIASES.get(value, value)
TRIGGERS = ("contract_effective", "midterm_passed", "final_passed", "annual_passed")

# R-FIN-2: 社会救助专项经费, 困难群众救助补助资金, 福彩公益金 (welfare lottery), 一般公共预算, 社会资金.
FUNDING_SOURCES = ("社会救助专项经费", "困难群众救助补助资金", "福彩公益金", "一般公共预算", "社会资金")

DEFAULT_TRANCHE_PLAN: list[dict[str, Any]] = [  # R-FIN-5: 50 / 30 / 20
    {"seq": 1, "percent": 50, "trigger": "contract_effective", "due_working_days": 15},
    {"seq": 2, "percent": 30, "trigger": "midterm_passed", "due_working_days": 15},
    {"seq": 3, "percent": 20, "trigger": "final_passed", "due_working_days": 15},
]

# name: (default, rule, meaning). Decimal quantities are strings ("1632.3"): never floats.
PARAMETERS: dict[str, tuple[Any, str, str]] = {
    "worker_max_age_at_hiring": (40, "R-REG-3", "age limit at hiring (some counties 35)"),
    "min_education": ("大专", "R-REG-3", f"minimum education, one of {EDUCATION_LEVELS}"),
    "certificate_deadline_years": (2, "R-REG-3", "years a worker hired without a certificate has to obtain one"),
    "min_workers_per_station": (2, "R-REG-2", "social workers of the provider each contracted station needs"),
    "supervisor_required": (False, "R-REG-2", "a contract must name a supervisor (督导)"),
    "supervisor_min_qualification": ("社会工作师", "R-REG-2", "the supervisor's certificate level at least (中级)"),
    "require_rating_3a": (False, "R-REG-1", "providers need an assessment rating of 3A or better"),
    "require_party_org": (False, "R-REG-1", "providers need a party organisation (党组织)"),
    "require_prior_pass": (False, "R-REG-1", "providers need a prior government project evaluated 合格 or better"),
    "contract_cycle_years": (3, "R-REG-4", "years of a contract cycle, signed one year at a time (一年一签)"),
    "filing_working_days": (15, "R-REG-5", "working days after signing within which the contract is filed (备案)"),
    "ban_years": (3, "R-EVAL-9", "years a provider is banned after fraud (弄虚作假) or serious breach"),
    "funding_caps": (
        [], "R-FIN-2",
        "caps per funding source: [{source, bound: ceiling|floor, percent, base, base_year: current|previous}] — "
        "purchases from `source` at most (ceiling) / at least (floor) `percent` of the `base` source's budget of the "
        "same (or the previous) year, as entered in finance; see README 'Funding caps'",
    ),
    "station_min_amount_fen": (12_000_000, "R-FIN-3", "a station's annual funding at least (120,000 yuan)"),
    "personnel_min_percent": (90, "R-FIN-4", "personnel share of the contract amount at least"),
    "operations_max_percent": (10, "R-FIN-4", "quality assurance and operations share at most"),
    "min_wage_multiplier": ("1.1", "R-FIN-4", "wages at least the local minimum wage times this"),
    "standard_budget_fen": (200_000_000, "R-FIN-10", "the standard annual budget of a centre (2,000,000 yuan)"),
    "extra_worker_per_fen": (10_000_000, "R-FIN-10", "each such amount above the standard allows one more professional"),
    "max_daily_hours": (12, "R-LOG-4", "hours one worker may log in a day"),
    "annual_hours_per_staff": (1960, "R-LOG-4", "professional hours per staff per year"),
    "annual_direct_hours_per_staff": ("1632.3", "R-LOG-4", "direct service hours per staff per year"),
    "hours_ceiling_percent": (110, "R-LOG-4", "the plan may not exceed this percent of the hours target"),
    "tranche_plan": (DEFAULT_TRANCHE_PLAN, "R-FIN-5", "default tranche plan of a contract"),
    "local_min_wage_fen": (0, "R-FIN-4", "the county's monthly minimum wage (最低工资标准) in fen; 0 = not configured "
                           "(wages are not checked until the county sets it)"),
    # 政府采购货物和服务招标投标管理办法 第五十五条: 服务项目价格分值占总分值的比重不得低于10%, 不得高于30%.
    "price_weight_min_percent": (10, "R-PRC-1", "a service procurement's price criterion weighs at least this (of 100)"),
    "price_weight_max_percent": (30, "R-PRC-1", "…and at most this: quality decides, not the lowest price (不以价低者得)"),
    "funding_sources": (list(FUNDING_SOURCES), "R-FIN-2", "the funding sources (资金来源) a contract may name, by their Chinese names"),
}
DEFAULT_POLICY: dict[str, Any] = {name: spec[0] for name, spec in PARAMETERS.items()}
# Upper bounds of the whole-number parameters: beyond them a value is a typing error, not a policy.
_MAXIMA = {
    "worker_max_age_at_hiring": 70, "certificate_deadline_years": 10, "min_workers_per_station": 50,
    "contract_cycle_years": 5, "filing_working_days": 120, "ban_years": 20, "station_min_amount_fen": 10**13,
    "personnel_min_percent": 100, "operations_max_percent": 100, "standard_budget_fen": 10**13,
    "extra_worker_per_fen": 10**13, "max_daily_hours": 24, "annual_hours_per_staff": 8784, "hours_ceiling_percent": 1000,
    "local_min_wage_fen": 10**8,
    "price_weight_min_percent": 100, "price_weight_max_percent": 100,
}


def county_id(code: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"county:{code}")


def merged_policy(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults with ``overrides`` applied, each override checked against its parameter."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(PARAMETERS))
    if unknown:
        raise RuleViolation(f"unknown policy parameters: {unknown}", rule="R-REG-4", field=f"policy.{unknown[0]}", facts={"code": "policy_unknown", "parameters": unknown})
    for name, value in overrides.items():
        problem = _parameter_problem(name, value)
        if problem:
            raise RuleViolation(
                f"policy {name} {problem}", rule=PARAMETERS[name][1], field=f"policy.{name}",
                facts={"code": "policy_value_invalid", "parameter": name, "expects": _expects(name),
                       "maximum": _MAXIMA.get(name)},
            )
    merged = {**DEFAULT_POLICY, **overrides}
    if merged["price_weight_min_percent"] > merged["price_weight_max_percent"]:
        raise RuleViolation(
            "policy price_weight_min_percent exceeds price_weight_max_percent (价格分值比重下限高于上限)",
            rule="R-PRC-1", field="policy.price_weight_min_percent",
            facts={"code": "price_weights_inverted", "minimum": merged["price_weight_min_percent"], "maximum": merged["price_weight_max_percent"]},
        )
    sources = merged["funding_sources"]
    for i, cap in enumerate(merged["funding_caps"]):
        for key in ("source", "base"):
            if cap.get(key, cap["source"]) not in sources:
                raise RuleViolation(
                    f"policy funding_caps: {cap.get(key)!r} is not one of the county's funding_sources {sources}",
                    rule="R-FIN-2", field=f"policy.funding_caps.{i}.{key}",
                    facts={"code": "funding_source_unknown", "source": cap.get(key), "sources": sources},
                )
    return merged


def _expects(name: str) -> str:
    """What a parameter takes, named for a refusal's facts (the console words it)."""
    default = PARAMETERS[name][0]
    if name in ("local_min_wage_fen", "min_education", "supervisor_min_qualification", "tranche_plan", "funding_sources"):
        return name
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "whole"
    return "decimal" if isinstance(default, str) else "funding_caps"


def _parameter_problem(name: str, value: Any) -> str | None:
    default = PARAMETERS[name][0]
    if name == "local_min_wage_fen":  # 0 (the default) = not configured, so a policy read back can be sent again
        ok = _whole(value) and 0 <= value <= _MAXIMA[name]
        return None if ok else f"must be a whole number of fen from 0 (not configured) to {_MAXIMA[name]}"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int):
        if not _whole(value) or value < 1:
            return "must be a positive whole number"
        return f"must be at most {_MAXIMA[name]}" if value > _MAXIMA[name] else None
    if name == "min_education":
        return None if value in EDUCATION_LEVELS else f"must be one of {EDUCATION_LEVELS}"
    if name == "supervisor_min_qualification":
        return None if value in QUALIFICATIONS[1:] else f"must be one of {QUALIFICATIONS[1:]}"
    if isinstance(default, str):
        return None if _positive_decimal(value) else "must be a positive decimal written as a string"
    if name == "tranche_plan":
        return tranche_plan_problem(value)
    if name == "funding_sources":
        return funding_sources_problem(value)
    return funding_caps_problem(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_decimal(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and 0 < number <= 10**6


def tranche_plan_problem(plan: Any) -> str | None:
    if not isinstance(plan, list) or not plan or len(plan) > 12 or not all(isinstance(t, dict) for t in plan):
        return "must be a list of 1 to 12 tranches"
    for t in plan:
        if not _whole(t.get("seq")) or not _whole(t.get("percent")) or not 1 <= t["percent"] <= 100:
            return "needs a whole seq and a percent of 1 to 100 in every tranche"
        days = t.get("due_working_days", 15)
        if not _whole(days) or not 1 <= days <= 120:
            return "due_working_days must be 1 to 120"
    if sum(t["percent"] for t in plan) != 100:
        return "percentages must sum to 100"
    if sorted(t["seq"] for t in plan) != list(range(1, len(plan) + 1)):
        return "seq must run 1..n"
    bad = [t.get("trigger") for t in plan if t.get("trigger") not in TRIGGERS]
    return f"trigger must be one of {TRIGGERS}, not {bad[0]!r}" if bad else None


MAX_FUNDING_CAPS = 40  # two per source at most (a ceiling and a floor) of 20 sources


def funding_caps_problem(caps: Any) -> str | None:
    if not isinstance(caps, list) or len(caps) > MAX_FUNDING_CAPS:
        return f"must be a list of at most {MAX_FUNDING_CAPS} caps"
    for cap in caps:
        if not isinstance(cap, dict) or not isinstance(cap.get("source"), str) or not cap["source"]:
            return "entries need a funding source"
        if cap.get("bound") not in ("ceiling", "floor"):
            return "bound must be ceiling or floor"
        percent = cap.get("percent")
        if not (_positive_decimal(percent) or (_whole(percent) and 0 < percent <= 100)):
            return "percent must be a positive number (decimals as strings)"
        if not isinstance(cap.get("base", cap["source"]), str):
            return "base must name the funding source whose budget the percent is of"
        if cap.get("base_year", "current") not in ("current", "previous"):
            return "base_year must be current (当年) or previous (上年度)"
    return None


def funding_sources_problem(sources: Any) -> str | None:
    if not isinstance(sources, list) or not 1 <= len(sources) <= 20:
        return "must be a list of 1 to 20 source names"
    if not all(isinstance(x, str) and 0 < len(x.strip()) == len(x) <= 100 for x in sources) or len(set(sources)) != len(sources):
        return "must name each source once, without surrounding spaces"
    return None


def percent_label(percent: Any) -> str:
    return f"{Decimal(str(percent)).normalize():f}%"


class County(Aggregate):
    """A county (县/区), the tenant, with its policy parameters (versioned by events)."""

    @staticmethod
    def create_id(code: str, name: str, policy: dict[str, Any]) -> uuid.UUID:
        return county_id(code)

    @event("Registered")
    def __init__(self, code: str, name: str, policy: dict[str, Any]) -> None:
        self.code = code
        self.name = name
        self.policy = policy
        self.policy_version = 1
        self.policies: dict[str, dict[str, Any]] = {"1": policy}

    def revise(self, name: str, policy: dict[str, Any] | None) -> None:
        """A new name and/or policy; ``policy=None`` keeps the policy in force. Unchanged → no event.
        Each change is a new policy version (the version names the county record as a whole)."""
        policy = self.policy if policy is None else policy
        if (name, policy) != (self.name, self.policy):
            self.change_policy(name=name, policy=policy, policy_version=self.policy_version + 1)

    @event("PolicyChanged")
    def change_policy(self, name: str, policy: dict[str, Any], policy_version: int) -> None:
        self.name = name
        self.policy = policy
        self.policy_version = policy_version
        self.policies[str(policy_version)] = policy

    def policy_of(self, version: int) -> dict[str, Any] | None:
        return self.policies.get(str(version))
