"""services-log's reads: a contract's deliveries page, its progress (R-LOG-8, R-LOG-4), the monthly
brief and the quarterly service data (R-LOG-7). Reads only through the lookups: a query records
nothing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from services_log.domainmodel import (
    PAGE_SIZE,
    Contract,
    Counted,
    ServiceDelivery,
    hours_against_caps,
    indicator_progress,
    totals_between,
)
from services_log.domainmodel.ledger import plus_each
from services_log.domainmodel.served import YEAR, quarter_of
from services_log.lookups import ServicesLogLookups
from shared.rules import RuleViolation


class ServicesLogQueries:
    def __init__(self, lookups: ServicesLogLookups) -> None:
        self.lookups = lookups

    def deliveries_of(self, county: str, contract_id: str, offset: int, limit: int) -> tuple[int, list[ServiceDelivery]]:
        """A page of the contract's deliveries in the order logged: reads at most two index pages."""
        contract = self.lookups.contract(county, contract_id)
        log = self.lookups.contract_log(contract, read_only=True)
        total, end = log.deliveries_logged, min(offset + limit, log.deliveries_logged)
        if offset >= end:
            return total, []
        if not log.indexed:  # opened by an earlier version and not written to since
            ids = self.lookups.logged_ids(log)[offset:end]
        else:
            first, ids = offset // PAGE_SIZE, []
            for number in range(first, (end - 1) // PAGE_SIZE + 1):
                page = self.lookups.index_page(contract.contract_id, number, read_only=True)
                ids.extend(page.ids if page else [])
            ids = ids[offset - first * PAGE_SIZE : end - first * PAGE_SIZE]
        return total, [self.lookups.delivery(county, i, read_only=True) for i in ids]

    # --- progress and monthly briefs ---------------------------------------------------
    def progress(self, county: str, contract_id: str, as_of: date | None) -> dict[str, Any]:
        """R-LOG-8 indicator progress and R-LOG-4 hours, as of a day of the contract year."""
        contract = self.lookups.contract(county, contract_id)
        tally = self.lookups.contract_log(contract, read_only=True).tally
        day = self.lookups.day_in_year(contract, as_of)
        totals = totals_between(tally, None, day)
        year = self.lookups.served(contract, YEAR, read_only=True)
        return {
            "contract_id": contract.contract_id,
            "as_of": day,
            "period_start": contract.period_start,
            "period_end": contract.period_end,
            "deliveries": totals.deliveries,
            "person_times": totals.person_times,
            "beneficiaries": year.persons("", day),
            "hours_direct": totals.hours_direct,
            "hours_other": totals.hours_other,
            "indicators": [
                {**status.as_dict(), "beneficiaries": year.persons(status.code, day)}
                for status in indicator_progress(contract, tally, day)
            ],
            "hours": hours_against_caps(contract, tally, len(self.lookups.staff_on(contract, day))).as_dict(),
        }

    def brief(self, county: str, contract_id: str, month: str) -> dict[str, Any]:
        """月度工作简报: the month's deliveries by kind and area, person-times, hours and progress."""
        contract = self.lookups.contract(county, contract_id)
        if month not in contract.months():
            raise RuleViolation(f"{month} is not a month of the contract year", rule="R-LOG-7", field="month", facts={"code": "month_outside_year", "month": month})
        log = self.lookups.contract_log(contract, read_only=True)
        year, mon = (int(x) for x in month.split("-"))
        first = max(contract.period_start, date(year, mon, 1))
        last = min(contract.period_end, (date(year, mon, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1))
        in_month = totals_between(log.tally, first, last)
        by_month = log.tally.months.get(month)
        served, year = self.lookups.served(contract, month, read_only=True), self.lookups.served(contract, YEAR, read_only=True)
        indicators = []
        for status in indicator_progress(contract, log.tally, last):
            plan = contract.plan_of(status.code)
            indicators.append({
                **status.as_dict(), "beneficiaries": year.persons(status.code, last),
                "actual_in_month": int(in_month.indicators.get(status.code, 0)), "planned_in_month": plan.get(month),
                "beneficiaries_in_month": served.persons(status.code),
            })

        return {
            "contract_id": contract.contract_id,
            "month": month,
            "first_day": first,
            "last_day": last,
            "deliveries": in_month.deliveries,
            "person_times": in_month.person_times,
            "beneficiaries": served.persons(),
            "hours_direct": in_month.hours_direct,
            "hours_other": in_month.hours_other,
            "by_kind": breakdown("kind", by_month.kinds if by_month else {}),
            "by_area": breakdown("area", by_month.areas if by_month else {}),
            "indicators": indicators,
            "reports": [r.as_dict() for r in log.reports if r.period == month],
        }

    def quarters(self, contract: Contract) -> list[str]:
        """The calendar quarters ``YYYY-Qn`` the contract year touches, in order."""
        out: list[str] = []
        for month in contract.months():
            quarter = quarter_of(date(int(month[:4]), int(month[5:]), 1))
            if quarter not in out:
                out.append(quarter)
        return out

    def quarterly(self, county: str, contract_id: str, quarter: str) -> dict[str, Any]:
        """季度服务数据 (seed 001: 每季度上报服务数据): the quarter's deliveries, person-times, persons
        served, hours, by kind, area and month, and indicator progress — from the log, like a brief.
        Reads at most three months' tallies and four small aggregates, whatever the history."""
        contract = self.lookups.contract(county, contract_id)
        if quarter not in self.quarters(contract):
            raise RuleViolation(
                f"{quarter} is not a quarter of the contract year ({'、'.join(self.quarters(contract))})",
                rule="R-LOG-7", field="quarter",
                facts={"code": "quarter_outside_year", "quarter": quarter, "quarters": self.quarters(contract)},
            )
        log = self.lookups.contract_log(contract, read_only=True)
        year_no, q = int(quarter[:4]), int(quarter[-1])
        months = [m for m in contract.months() if quarter_of(date(int(m[:4]), int(m[5:]), 1)) == quarter]
        first = max(contract.period_start, date(year_no, 3 * q - 2, 1))
        end_month = date(year_no, 3 * q, 28) + timedelta(days=4)
        last = min(contract.period_end, end_month.replace(day=1) - timedelta(days=1))
        in_quarter = totals_between(log.tally, first, last)
        kinds: dict[str, Counted] = {}
        areas: dict[str, Counted] = {}
        by_month = []
        for month in months:
            counted = log.tally.months.get(month)
            if counted is not None:
                kinds, areas = plus_each(kinds, counted.kinds), plus_each(areas, counted.areas)
            brief_first = max(first, date(int(month[:4]), int(month[5:]), 1))
            month_end = (date(int(month[:4]), int(month[5:]), 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            month_totals = totals_between(log.tally, brief_first, min(last, month_end))
            by_month.append({
                "month": month, "deliveries": month_totals.deliveries, "person_times": month_totals.person_times,
                "beneficiaries": self.lookups.served(contract, month, read_only=True).persons(),
                "hours_direct": month_totals.hours_direct, "hours_other": month_totals.hours_other,
            })
        served, year = self.lookups.served(contract, quarter, read_only=True), self.lookups.served(contract, YEAR, read_only=True)
        indicators = []
        for status in indicator_progress(contract, log.tally, last):
            plan = contract.plan_of(status.code)
            planned = [int(plan[m]) for m in months if m in plan]
            indicators.append({
                **status.as_dict(), "beneficiaries": year.persons(status.code, last),
                "actual_in_quarter": int(in_quarter.indicators.get(status.code, 0)),
                "planned_in_quarter": sum(planned) if planned else None,
                "beneficiaries_in_quarter": served.persons(status.code),
            })

        return {
            "contract_id": contract.contract_id,
            "quarter": quarter,
            "first_day": first,
            "last_day": last,
            "months": months,
            "deliveries": in_quarter.deliveries,
            "person_times": in_quarter.person_times,
            "beneficiaries": served.persons(),
            "hours_direct": in_quarter.hours_direct,
            "hours_other": in_quarter.hours_other,
            "by_kind": breakdown("kind", kinds),
            "by_area": breakdown("area", areas),
            "by_month": by_month,
            "indicators": indicators,
            "reports": [r.as_dict() for r in log.reports if r.period in months],
        }


def breakdown(label: str, counts: Mapping[str, Counted]) -> list[dict[str, Any]]:
    """A month's (or quarter's) kinds or areas with deliveries, by name: ``{label: name, deliveries, person_times, hours}``."""
    return [{label: k, **v.as_dict()} for k, v in sorted(counts.items()) if v.deliveries]
