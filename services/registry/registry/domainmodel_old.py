"""Registry aggregates. Pure domain: standard library, eventsourcing.domain and shared.rules.

Rule ids are from DOMAIN.md; every refusal names the offending field.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation

NS = uuid.UUID("a3c2e1f0-4b5d-5e6f-8a9b-0c1d2e3f4a5b")

# DOMAIN.md defaults; a county overrides any of them (R-REG-*, R-FIN-*).
DEFAULT_POLICY: dict[str, Any] = {
    "worker_max_age_at_hiring": 40,  # R-REG-3 (some counties 35)
    "min_education": "大专",  # R-REG-3
    "certificate_deadline_years": 2,  # R-REG-3
    "min_workers_per_station": 2,  # R-REG-2
    "supervisor_required": False,  # R-REG-2
    "contract_cycle_years": 3,  # R-REG-4
    "filing_working_days": 15,  # R-REG-5
    "require_rating_3a": False,  # R-REG-1
    "require_party_org": False,  # R-REG-1
    "require_prior_pass": False,  # R-REG-1
    "station_min_amount_fen": 12_000_000,  # R-FIN-3: 120,000 yuan
    "personnel_min_percent": 90,  # R-FIN-4
    "max_daily_hours": 12,  # R-LOG-4
    "tranche_plan": [  # R-FIN-5
        {"seq": 1, "percent": 50, "trigger": "contract_effective", "due_working_days": 15},
        {"seq": 2, "percent": 30, "trigger": "midterm_passed", "due_working_days": 15},
        {"seq": 3, "percent": 20, "trigger": "final_passed", "due_working_days": 15},
    ],
}

# R-LOG-2 service areas (服务领域).
SERVICE_AREAS = (
    "社会救助",
    "养老服务",
    "儿童关爱保护",
    "社区治理",
    "社会事务",
    "基层社工人才培养",
    "乡村振兴",
    "基层司法",
)
STATION_KINDS = ("township_station", "street_station", "community_room", "family_centre", "county_hub")
EDUCATION_LEVELS = ("高中", "中专", "大专", "本科", "硕士", "博士")
QUALIFICATIONS = ("none", "助理社会工作师", "社会工作师", "高级社会工作师")
WORKER_ROLES = ("social_worker", "supervisor", "station_head")
TRIGGERS = ("contract_effective", "midterm_passed", "final_passed", "annual_passed")


def county_id(code: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"county:{code}")


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

    @event("PolicyChanged")
    def change_policy(self, name: str, policy: dict[str, Any]) -> None:
        self.name = name
        self.policy = policy
        self.policy_version += 1


def merged_policy(overrides: dict[str, Any] | None) -> dict[str, Any]:
    unknown = set(overrides or {}) - set(DEFAULT_POLICY)
    if unknown:
        raise RuleViolation(f"unknown policy parameters: {sorted(unknown)}", rule="R-REG-4", field="policy")
    return {**DEFAULT_POLICY, **(overrides or {})}


class Provider(Aggregate):
    """A provider (承接主体/承接机构): the NGO that wins contracts and runs stations."""

    @event("Registered")
    def __init__(self, county: str, name: str, uscc: str, rating: str | None, has_party_org: bool) -> None:
        self.county = county
        self.name = name
        self.uscc = uscc
        self.rating = rating
        self.has_party_org = has_party_org
        self.banned_until: date | None = None

    def is_banned_on(self, day: date) -> bool:
        return self.banned_until is not None and day <= self.banned_until

    @event("Banned")
    def ban(self, until: date, reason: str) -> None:
        self.banned_until = until


class Station(Aggregate):
    """A station (社工站 / 社会工作室 / 家庭综合服务中心) in one county."""

    @event("Established")
    def __init__(self, county: str, name: str, township: str, kind: str) -> None:
        self.county = county
        self.name = name
        self.township = township
        self.kind = kind


class Worker(Aggregate):
    """A social worker (社工) employed by a provider at a station."""

    @event("Hired")
    def __init__(
        self,
        county: str,
        provider_id: str,
        station_id: str,
        name: str,
        birth_date: date,
        education: str,
        qualification: str,
        role: str,
        hired_on: date,
        certificate_due_on: date | None,
    ) -> None:
        self.county = county
        self.provider_id = provider_id
        self.station_id = station_id
        self.name = name
        self.birth_date = birth_date
        self.education = education
        self.qualification = qualification
        self.role = role
        self.hired_on = hired_on
        self.certificate_due_on = certificate_due_on
        self.left_on: date | None = None


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_hiring(policy: dict[str, Any], birth_date: date, education: str, hired_on: date) -> None:
    """R-REG-3: age limit and minimum education at hiring."""
    limit = int(policy["worker_max_age_at_hiring"])
    if age_on(birth_date, hired_on) > limit:
        raise RuleViolation(
            f"worker is {age_on(birth_date, hired_on)} on {hired_on}, the county's limit at hiring is {limit}",
            rule="R-REG-3",
            field="birth_date",
        )
    minimum = policy["min_education"]
    if education not in EDUCATION_LEVELS:
        raise RuleViolation(f"education must be one of {EDUCATION_LEVELS}", rule="R-REG-3", field="education")
    if EDUCATION_LEVELS.index(education) < EDUCATION_LEVELS.index(minimum):
        raise RuleViolation(f"education must be at least {minimum}", rule="R-REG-3", field="education")


class Contract(Aggregate):
    """A service contract (服务协议), signed one year at a time (一年一签, R-REG-4)."""

    @event("Signed")
    def __init__(
        self,
        county: str,
        provider_id: str,
        station_ids: list[str],
        purchaser: str,
        signed_on: date,
        effective_on: date,
        period_start: date,
        period_end: date,
        amount_fen: int,
        funding: list[dict[str, Any]],
        service_areas: list[str],
        indicators: list[dict[str, Any]],
        tranche_plan: list[dict[str, Any]],
        cycle_years: int,
        year_index: int,
        policy_version: int,
    ) -> None:
        self.county = county
        self.provider_id = provider_id
        self.station_ids = station_ids
        self.purchaser = purchaser
        self.signed_on = signed_on
        self.effective_on = effective_on
        self.period_start = period_start
        self.period_end = period_end
        self.amount_fen = amount_fen
        self.funding = funding
        self.service_areas = service_areas
        self.indicators = indicators
        self.tranche_plan = tranche_plan
        self.cycle_years = cycle_years
        self.year_index = year_index
        self.policy_version = policy_version
        self.status = "signed"


def check_contract_terms(
    *,
    amount_fen: int,
    funding: list[dict[str, Any]],
    period_start: date,
    period_end: date,
    effective_on: date,
    signed_on: date,
    service_areas: list[str],
    indicators: list[dict[str, Any]],
    tranche_plan: list[dict[str, Any]],
    cycle_years: int,
    year_index: int,
) -> None:
    """The checks on a contract's own terms (those that need no other aggregate)."""
    if amount_fen <= 0:
        raise RuleViolation("contract amount must be positive", rule="R-FIN-1", field="amount_fen")
    if sum(int(f["amount_fen"]) for f in funding) != amount_fen:
        raise RuleViolation("funding shares must sum to amount_fen", rule="R-FIN-2", field="funding")
    if period_end <= period_start:
        raise RuleViolation("period_end must be after period_start", rule="R-REG-4", field="period_end")
    if (period_end - period_start).days > 366:
        raise RuleViolation("a contract covers one service year (一年一签)", rule="R-REG-4", field="period_end")
    if signed_on > effective_on:
        raise RuleViolation("effective_on cannot precede signed_on", rule="R-REG-4", field="effective_on")
    if not 1 <= year_index <= cycle_years:
        raise RuleViolation(f"year_index must be within the {cycle_years}-year cycle", rule="R-REG-4", field="year_index")
    if not service_areas:
        raise RuleViolation("at least one service area", rule="R-LOG-2", field="service_areas")
    for i, area in enumerate(service_areas):
        if area not in SERVICE_AREAS:
            raise RuleViolation(f"{area!r} is not a service area of R-LOG-2", rule="R-LOG-2", field=f"service_areas.{i}")
    codes = [ind["code"] for ind in indicators]
    if len(set(codes)) != len(codes):
        raise RuleViolation("indicator codes must be unique", rule="R-LOG-8", field="indicators")
    for i, ind in enumerate(indicators):
        if int(ind["target"]) <= 0:
            raise RuleViolation("indicator targets must be positive", rule="R-LOG-8", field=f"indicators.{i}.target")
    if sum(int(t["percent"]) for t in tranche_plan) != 100:
        raise RuleViolation("tranche percentages must sum to 100", rule="R-FIN-5", field="tranche_plan")
    if sorted(int(t["seq"]) for t in tranche_plan) != list(range(1, len(tranche_plan) + 1)):
        raise RuleViolation("tranche seq must run 1..n", rule="R-FIN-5", field="tranche_plan")
    for i, t in enumerate(tranche_plan):
        if t["trigger"] not in TRIGGERS:
            raise RuleViolation(f"trigger must be one of {TRIGGERS}", rule="R-FIN-5", field=f"tranche_plan.{i}.trigger")
