"""The checks a contract must pass to be signed (R-REG-1, R-REG-2, R-REG-4, R-LOG-2, R-LOG-8,
R-FIN-2, R-FIN-5), and the terms a renewal starts from (R-REG-7)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from registry.domainmodel.contract import Contract, plain
from registry.domainmodel.policy import QUALIFICATIONS, tranche_plan_problem
from registry.domainmodel.provider import CountyBan, Provider
from registry.domainmodel.workforce import Worker, WorkerRole, add_years, qualification_rank, year_end_from
from shared.rules import RuleViolation
from shared.workdays import DueDate, WorkdayCalendar

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

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
    probation: bool = False,
) -> None:
    """The checks on a contract's own terms (those that need no other aggregate)."""
    if amount_fen <= 0:
        raise RuleViolation(
            "contract amount must be positive", rule="R-FIN-1", field="amount_fen", facts={"code": "amount_not_positive"}
        )
    if sum(int(f["amount_fen"]) for f in funding) != amount_fen:
        raise RuleViolation(
            "funding shares must sum to amount_fen", rule="R-FIN-2", field="funding",
            facts={"code": "funding_sum", "sum_fen": sum(int(f["amount_fen"]) for f in funding), "amount_fen": amount_fen},
        )
    if period_end <= period_start:
        raise RuleViolation(
            "period_end must be after period_start", rule="R-REG-4", field="period_end",
            facts={"code": "period_end_not_after_start", "period_start": period_start.isoformat(), "period_end": period_end.isoformat()},
        )
    if period_end > add_years(period_start, 1):
        raise RuleViolation(
            f"a contract covers one service year (一年一签): from {period_start} it ends on {add_years(period_start, 1)} at the latest",
            rule="R-REG-4",
            field="period_end",
            facts={"code": "period_over_a_year", "period_start": period_start.isoformat(),
                   "latest": add_years(period_start, 1).isoformat()},
        )
    if signed_on > effective_on:
        raise RuleViolation(
            "effective_on cannot precede signed_on", rule="R-REG-4", field="effective_on",
            facts={"code": "effective_before_signed", "date": effective_on.isoformat(), "signed_on": signed_on.isoformat()},
        )
    if effective_on > period_end:
        raise RuleViolation(
            "the contract takes effect within its service year", rule="R-REG-4", field="effective_on",
            facts={"code": "effective_after_period", "date": effective_on.isoformat(), "period_end": period_end.isoformat()},
        )
    if not 1 <= year_index <= cycle_years:
        raise RuleViolation(
            f"year_index must be within the {cycle_years}-year cycle", rule="R-REG-4", field="year_index",
            facts={"code": "year_outside_cycle", "year": year_index, "cycle_years": cycle_years},
        )
    if probation and year_index != 1:
        raise RuleViolation(
            "only year 1 may be a probation year (试用考核期)", rule="R-REG-4", field="probation",
            facts={"code": "probation_not_first_year", "year": year_index},
        )
    check_service_areas(service_areas)
    if len(set(service_areas)) != len(service_areas):
        raise RuleViolation(
            "service areas are listed once each", rule="R-LOG-2", field="service_areas", facts={"code": "service_area_twice"}
        )
    check_indicators(indicators)
    problem = tranche_plan_problem(tranche_plan)
    if problem:
        raise RuleViolation(f"tranche plan {problem}", rule="R-FIN-5", field="tranche_plan", facts={"code": "tranche_plan_invalid"})


def check_service_areas(service_areas: list[str]) -> None:
    """R-LOG-2: at least one area, each of the service areas."""
    if not service_areas:
        raise RuleViolation("at least one service area", rule="R-LOG-2", field="service_areas", facts={"code": "no_service_area"})
    for i, area in enumerate(service_areas):
        if area not in SERVICE_AREAS:
            raise RuleViolation(
                f"{area!r} is not a service area of R-LOG-2", rule="R-LOG-2", field=f"service_areas.{i}",
                facts={"code": "service_area_unknown", "area": area},
            )


def check_indicators(indicators: list[dict[str, Any]]) -> None:
    codes = [ind["code"] for ind in indicators]
    if len(set(codes)) != len(codes):
        raise RuleViolation(
            "indicator codes must be unique", rule="R-LOG-8", field="indicators", facts={"code": "indicator_code_twice"}
        )
    for i, ind in enumerate(indicators):
        if int(ind["target"]) <= 0:
            raise RuleViolation(
                "indicator targets must be positive", rule="R-LOG-8", field=f"indicators.{i}.target",
                facts={"code": "indicator_target_not_positive", "indicator_code": ind["code"]},
            )
        for month, planned in (ind.get("monthly_plan") or {}).items():
            if not _MONTH.match(month) or int(planned) < 0:
                raise RuleViolation(
                    "the monthly plan (进度表) maps YYYY-MM to a planned number ≥ 0", rule="R-LOG-8", field=f"indicators.{i}.monthly_plan",
                    facts={"code": "monthly_plan_invalid", "indicator_code": ind["code"], "month": month},
                )


def check_cycle(previous: Contract | None, period_start: date, period_end: date, cycle_start: date, cycle_years: int) -> None:
    """R-REG-4: the year lies inside its cycle; a renewal year follows the previous one."""
    if previous is not None and period_start <= previous.period_end:
        raise RuleViolation(
            f"year {previous.year_index + 1} starts after year {previous.year_index} ends ({previous.period_end})",
            rule="R-REG-4",
            field="period_start",
            facts={"code": "renewal_starts_early", "year": previous.year_index + 1, "previous_end": previous.period_end.isoformat()},
        )
    # As written in the seeds (2015年6月10日至2016年6月10日, 一年): a year may end on its anniversary.
    cycle_end = add_years(cycle_start, cycle_years)
    if period_end > cycle_end:
        raise RuleViolation(
            f"the {cycle_years}-year cycle ends on {cycle_end}", rule="R-REG-4", field="period_end",
            facts={"code": "cycle_ends", "cycle_years": cycle_years, "cycle_end": cycle_end.isoformat()},
        )


def check_not_banned(provider: Provider, bans: list[CountyBan], signed_on: date, recorded_on: date) -> None:
    """R-REG-1, R-EVAL-9: a ban follows the organisation (its 统一社会信用代码) into every county.
    ``bans`` are the organisation's bans in any county. Refused when one is in force on the signing
    day, or on the day the contract is recorded: a contract cannot be back-dated to before a ban
    that was already in force when it is entered."""
    own = [CountyBan(provider.county, str(provider.id), b.banned_on, b.until, b.reason) for b in provider.bans]
    everywhere = own + list(bans)
    for day, when in ((signed_on, f"on the signing day {signed_on}"), (recorded_on, f"on {recorded_on}, the day it is recorded")):
        ban = next((b for b in reversed(everywhere) if b.in_force_on(day)), None)
        if ban is None:
            continue
        where = "" if ban.county == provider.county else f" by county {ban.county}"
        back_dated = "" if day == signed_on else " (a contract cannot be back-dated to before a ban in force)"
        raise RuleViolation(
            f"统一社会信用代码 {provider.uscc} is banned from government purchase (禁止参与政府购买服务){where} "
            f"from {ban.banned_on} until {ban.until} ({ban.reason}): the ban is in force {when}{back_dated}",
            rule="R-REG-1",
            field="provider_id" if day == signed_on else "signed_on",
            facts={"code": "provider_banned", "banned_on": ban.banned_on.isoformat(), "until": ban.until.isoformat(),
                   "date": day.isoformat(), "elsewhere": ban.county != provider.county, "back_dated": day != signed_on},
        )


def check_eligibility(policy: dict[str, Any], provider: Provider, on: date) -> None:
    """R-REG-1: the county's policy flags (bans: :func:`check_not_banned`)."""
    if policy["require_rating_3a"] and not provider.rating_at_least("3A"):
        raise RuleViolation(
            f"the county requires a 3A rating or better; provider is rated {provider.rating or 'unrated'}",
            rule="R-REG-1",
            field="provider_id",
            facts={"code": "rating_below_3a", "rating": provider.rating},
        )
    if policy["require_party_org"] and not provider.has_party_org:
        raise RuleViolation(
            "the county requires a party organisation (党组织)", rule="R-REG-1", field="provider_id",
            facts={"code": "party_org_required"},
        )
    if policy["require_prior_pass"] and not provider.has_prior_pass:
        raise RuleViolation(
            "the county requires a prior government project evaluated 合格 or better", rule="R-REG-1", field="provider_id",
            facts={"code": "prior_pass_required"},
        )


def check_staffing(policy: dict[str, Any], station_ids: list[str], workers: list[Worker], on: date) -> None:
    """R-REG-2: each station has at least the minimum of the provider's workers on the signing day."""
    minimum = int(policy["min_workers_per_station"])
    for i, station_id in enumerate(station_ids):
        staff = sum(1 for w in workers if w.employed_on(on) and w.station_on(on) == station_id)
        if staff < minimum:
            raise RuleViolation(
                f"station {station_id} has {staff} of the provider's social workers on {on}; the county requires {minimum}",
                rule="R-REG-2",
                field=f"station_ids.{i}",
                facts={"code": "station_understaffed", "station_id": station_id, "date": on.isoformat(), "staff": staff,
                       "minimum": minimum},
            )


def check_supervisor(policy: dict[str, Any], supervisor: Worker | None, on: date) -> None:
    """R-REG-2: where required (or named), a supervisor (督导) of the provider with 中级 or above."""
    if supervisor is None:
        if policy["supervisor_required"]:
            raise RuleViolation(
                "the county requires the contract to name a supervisor (督导)", rule="R-REG-2", field="supervisor_id",
                facts={"code": "supervisor_required"},
            )
        return
    minimum = policy["supervisor_min_qualification"]
    if supervisor.role != WorkerRole.SUPERVISOR or not supervisor.employed_on(on):
        raise RuleViolation(
            f"not a supervisor of the provider on {on}", rule="R-REG-2", field="supervisor_id",
            facts={"code": "not_a_supervisor", "worker_id": str(supervisor.id), "date": on.isoformat()},
        )
    held = supervisor.qualification_on(on)
    if qualification_rank(held) < QUALIFICATIONS.index(minimum):
        raise RuleViolation(
            f"the supervisor holds {held} on {on}; at least {minimum} is required", rule="R-REG-2", field="supervisor_id",
            facts={"code": "supervisor_underqualified", "worker_id": str(supervisor.id), "date": on.isoformat(), "held": held,
                   "minimum": minimum},
        )


def filing_due(policy: dict[str, Any], signed_on: date, calendar: WorkdayCalendar | None = None) -> DueDate:
    """R-REG-5: filed within the policy's working days of signing (State Council calendar, R-FIN-6)."""
    return (calendar or WorkdayCalendar()).add_workdays(signed_on, int(policy["filing_working_days"]))


def _shift_month(month: str, years: int) -> str:
    year, mm = month.split("-")
    return f"{int(year) + years:04d}-{mm}"


def renewal_terms(previous: Contract) -> dict[str, Any]:
    """The next year's terms as the previous year's, one year on (any of them may be overridden)."""
    start = previous.period_end + timedelta(days=1)
    return {
        "provider_id": previous.provider_id,
        "station_ids": list(previous.station_ids),
        "purchaser": previous.purchaser,
        "effective_on": start,
        "period_start": start,
        "period_end": year_end_from(start),
        "amount_fen": previous.amount_fen,
        "funding": [plain(f) for f in previous.funding],
        "service_areas": list(previous.service_areas),
        "indicators": [
            {**ind, "monthly_plan": {_shift_month(m, 1): n for m, n in (ind.get("monthly_plan") or {}).items()}}
            for ind in previous.indicators
        ],
        "tranche_plan": [dict(t) for t in previous.tranche_plan],
        "supervisor_id": previous.supervisor_id,
    }
