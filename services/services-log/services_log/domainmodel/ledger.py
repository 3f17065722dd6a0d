"""A contract's service log (服务台账), the index of its deliveries, and a worker's timesheet (工时).

The log keeps running totals ("the tally") changed only by events that carry their own
deltas, so totals follow corrections and voidings (R-LOG-6) and replay to the same numbers.
A tally is nested dicts of numbers::

    days:    {"YYYY-MM-DD": {deliveries, person_times, hours_direct, hours_other, indicators: {code: n}}}
    months:  {"YYYY-MM": {kinds: {kind: {deliveries, person_times, hours}}, areas: {area: {…}},
                          totals: {the month's days added up}}}
    workers: {worker_id: {direct, other}}
    stated:  {indicator code: deliveries that state their quantity}   (only once one does)

Hours are worker-hours: a delivery's hours count once per named worker.

What the log holds is bounded by the contract year (its days, months, indicators and staff),
never by the number of deliveries: a total to any day adds at most a year's month totals and
one month's days. Which deliveries the contract has is kept apart, in pages of
:class:`DeliveryIndexPage` (at most ``PAGE_SIZE`` ids each), written in the same transaction;
the log only counts them. A duplicate delivery is found by its deterministic id (the store
refuses a second aggregate of one id), not by a set of every id.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from services_log.domainmodel.copying import CopyOnWrite, plus
from services_log.domainmodel.delivery import HOUR_UNITS, PERSON_TIME_UNITS, DeliveryFacts
from services_log.domainmodel.registry_view import NS, Contract, decimal_of
from shared.rules import RuleViolation

# R-LOG-7 reports a provider submits.
REPORT_KINDS = ("needs_survey", "midterm", "final", "self_evaluation", "monthly_brief")


def add_into(total: dict[str, Any], delta: dict[str, Any]) -> None:
    """Add a tally (or a delta) into another, creating what is missing; never aliases ``delta``."""
    for key, value in delta.items():
        if isinstance(value, dict):
            add_into(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def counting_of(unit: str) -> str:
    """How an indicator of ``unit`` counts (R-LOG-8): ``person_times`` — a 人次 indicator adds each
    delivery's person-times; ``hours`` — an hours indicator (小时, 工时) adds its worker-hours;
    ``deliveries`` — any other unit (场, 期, 次, 个, 节 …) counts each delivery as one, unless the
    delivery states how much of the unit it completes (``indicator_quantity``; shown as ``stated``)."""
    if unit in PERSON_TIME_UNITS:
        return "person_times"
    if unit in HOUR_UNITS:
        return "hours"
    return "deliveries"


def indicator_amount(facts: DeliveryFacts, unit: str) -> int | Decimal:
    """What one delivery adds to an indicator: person-times (人次), hours, or one session/activity (期, 场, 次 …)."""
    counting = counting_of(unit)
    if counting == "person_times":
        return facts.person_times
    if counting == "hours":
        return facts.hours * len(facts.worker_ids)
    return 1 if facts.indicator_quantity is None else facts.indicator_quantity


def contribution(facts: DeliveryFacts, contract: Contract, sign: int = 1) -> dict[str, Any]:
    """The delta one delivery makes to its contract's tally (``sign=-1`` takes it back out)."""
    n = len(facts.worker_ids)
    direct, other = facts.hours_direct * n * sign, facts.hours_other * n * sign
    indicators: dict[str, Any] = {}
    stated: dict[str, int] = {}
    if facts.indicator_code is not None:
        indicator = contract.indicator(facts.indicator_code)
        if indicator is not None:
            indicators[facts.indicator_code] = indicator_amount(facts, indicator["unit"]) * sign
            if facts.indicator_quantity is not None:
                stated[facts.indicator_code] = sign
    counted = {"deliveries": sign, "person_times": facts.person_times * sign, "hours": direct + other}
    delta: dict[str, Any] = {"stated": stated} if stated else {}
    return delta | {
        "days": {
            facts.date.isoformat(): {
                "deliveries": sign,
                "person_times": facts.person_times * sign,
                "hours_direct": direct,
                "hours_other": other,
                "indicators": indicators,
            }
        },
        "months": {facts.month: {"kinds": {facts.kind: dict(counted)}, "areas": {facts.area: dict(counted)}}},
        "workers": {
            w: {"direct": facts.hours_direct * sign, "other": facts.hours_other * sign} for w in facts.worker_ids
        },
    }


def month_totals(days: dict[str, Any]) -> dict[str, Any]:
    """``{"YYYY-MM": {"totals": …}}``: per-day counts (of a tally or a delta) added up per month."""
    months: dict[str, Any] = {}
    for day, counts in days.items():
        add_into(months.setdefault(day[:7], {}).setdefault("totals", {}), counts)
    return months


def with_month_totals(delta: dict[str, Any]) -> dict[str, Any]:
    """A delta as the log adds it: its days also added into their months' ``totals``."""
    if not delta.get("days"):
        return delta
    return delta | {"months": plus(delta.get("months") or {}, month_totals(delta["days"]))}


def totals_between(tally: dict[str, Any], first: date | None, last: date) -> dict[str, Any]:
    """Deliveries, person-times, hours and indicator amounts dated within [first, last].

    A month wholly inside adds its ``totals``; a month cut by ``first`` or ``last`` adds the days
    inside: at most a year's months and two months' days, whatever the number of deliveries."""
    out: dict[str, Any] = {"deliveries": 0, "person_times": 0, "hours_direct": Decimal(0), "hours_other": Decimal(0), "indicators": {}}
    low = first or date.min
    days = tally.get("days") or {}
    for month, counted in (tally.get("months") or {}).items():
        year, mon = int(month[:4]), int(month[5:7])
        start, end = date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])
        if end < low or start > last:
            continue
        if low <= start and end <= last:
            add_into(out, counted.get("totals") or {})
            continue
        for day in range(max(start, low).day, min(end, last).day + 1):
            counts = days.get(date(year, mon, day).isoformat())
            if counts:
                add_into(out, counts)
    return out


def _whole(value: int | Decimal) -> int:
    return int(Decimal(value).to_integral_value(rounding=ROUND_FLOOR))


def indicator_progress(contract: Contract, tally: dict[str, Any], as_of: date) -> list[dict[str, Any]]:
    """R-LOG-8: per indicator, target, actual to ``as_of``, the plan to date and whether it is on track.

    With a monthly plan (进度表) ``planned_to_date`` is the plan of every month up to and including
    ``as_of``'s month; on track means the actual has reached the plan pro-rated to ``as_of`` (the
    month's own plan is due by its end). Without a plan the target is pro-rated over the year.
    """
    actual = totals_between(tally, None, as_of)["indicators"]
    month = as_of.strftime("%Y-%m")
    fraction = Decimal(as_of.day) / calendar.monthrange(as_of.year, as_of.month)[1]
    out = []
    for ind in contract.indicators:
        plan: dict[str, int] = ind.get("monthly_plan") or {}
        target = int(ind["target"])
        if plan:
            before = sum(int(v) for m, v in plan.items() if m < month)
            planned: int | None = before + int(plan.get(month, 0))
            expected = before + _whole(int(plan.get(month, 0)) * fraction)
            basis = "monthly_plan"
        else:
            elapsed = (as_of - contract.period_start).days + 1
            length = (contract.period_end - contract.period_start).days + 1
            planned, expected, basis = None, _whole(Decimal(target) * max(elapsed, 0) / length), "pro_rata"
        done = _whole(actual.get(ind["code"], 0))
        out.append(
            {
                "code": ind["code"],
                "name": ind.get("name", ind["code"]),
                "unit": ind.get("unit", ""),
                "counting": "stated" if tally.get("stated", {}).get(ind["code"]) else counting_of(ind.get("unit", "")),
                "target": target,
                "actual": done,
                "planned_to_date": planned,
                "expected_to_date": expected,
                "plan_basis": basis,
                "on_track": done >= expected,
            }
        )
    return out


def hours_against_caps(contract: Contract, tally: dict[str, Any], staff: int) -> dict[str, Any]:
    """R-LOG-4: the contract's professional hours against its staff's annual targets and caps."""
    per_staff = decimal_of(contract.policy["annual_hours_per_staff"])
    per_staff_direct = decimal_of(contract.policy["annual_direct_hours_per_staff"])
    ceiling_percent = decimal_of(contract.policy["hours_ceiling_percent"])
    workers = tally.get("workers", {})
    direct = sum((decimal_of(w["direct"]) for w in workers.values()), Decimal(0))
    other = sum((decimal_of(w["other"]) for w in workers.values()), Decimal(0))
    target = per_staff * staff
    ceiling = target * ceiling_percent / 100
    minimum_direct = per_staff_direct * staff
    return {
        "staff": staff,
        "per_staff_annual_hours": per_staff,
        "per_staff_annual_direct_hours": per_staff_direct,
        "annual_hours_target": target,
        "annual_hours_ceiling": ceiling,
        "annual_direct_hours_minimum": minimum_direct,
        "hours_direct": direct,
        "hours_other": other,
        "hours_total": direct + other,
        "over_ceiling": direct + other > ceiling,
        "direct_minimum_reached": direct >= minimum_direct,
        "workers": [
            {
                "worker_id": worker_id,
                "hours_direct": decimal_of(w["direct"]),
                "hours_other": decimal_of(w["other"]),
                "over_annual_hours": decimal_of(w["direct"]) + decimal_of(w["other"]) > per_staff,
            }
            for worker_id, w in sorted(workers.items())
        ],
    }


PAGE_SIZE = 500  # delivery ids per index page: a listing (limit ≤ 500) reads at most two pages


class ContractLog(CopyOnWrite, Aggregate):
    """服务台账: a contract's running totals, how many deliveries it has, reports (R-LOG-7) and
    scope complaints. Version 2: no list or set of delivery ids (see the module doc).

    ``indexed`` is False for a log opened before the index pages existed: its deliveries are
    named only by its ``Tallied`` events until the first command that writes to it puts them
    into pages (once; ``Indexed``)."""

    class_version = 2

    class Opened(Aggregate.Created):
        class_version = 2
        contract_id: str
        county: str
        indexed: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["indexed"] = False  # opened before the index pages: its ids are in its events

    @staticmethod
    def create_id(contract_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"contract-log:{contract_id}")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot of version 1 (every delivery id in ``delivery_ids`` and ``_known``)."""
        ids = state.pop("delivery_ids", None) or []
        state.pop("_known", None)
        state["deliveries_logged"] = len(ids)
        state["indexed"] = False
        tally = state.get("tally") or {}
        if tally.get("days"):
            tally = plus(tally, {"months": month_totals(tally["days"])})
        state["tally"] = tally

    @event(Opened)
    def __init__(self, contract_id: str, county: str, indexed: bool = True) -> None:
        self.contract_id = contract_id
        self.county = county
        self.indexed = indexed
        self.deliveries_logged = 0
        self.tally: dict[str, Any] = {}
        self.reports: list[dict[str, Any]] = []
        self.complaints: list[dict[str, Any]] = []

    @event("Tallied")
    def tally_changes(self, new_delivery_ids: list[str], delta: dict[str, Any]) -> None:
        """New deliveries and the change they, corrections or voidings make to the totals.
        The ids are recorded in the event (and in the index pages), only counted here."""
        self.tally = plus(self.tally, with_month_totals(delta))
        self.deliveries_logged += len(new_delivery_ids)

    @event("Indexed")
    def mark_indexed(self) -> None:
        """The deliveries this log named only in its events are now in index pages too."""
        self.indexed = True

    def report_progress(self, contract: Contract, as_of: date) -> None:
        totals = totals_between(self.tally, None, contract.last_day)
        self._progress_reported(
            contract_id=self.contract_id,
            as_of=as_of,
            indicators=indicator_progress(contract, self.tally, as_of),
            hours_direct=totals["hours_direct"],
            hours_other=totals["hours_other"],
            person_times=totals["person_times"],
            deliveries=totals["deliveries"],
        )

    # Carries the whole progress so that consumers (evaluation, finance) need not recompute it.
    @event("ProgressReported")
    def _progress_reported(
        self,
        contract_id: str,
        as_of: date,
        indicators: list[dict[str, Any]],
        hours_direct: Decimal,
        hours_other: Decimal,
        person_times: int,
        deliveries: int,
    ) -> None:
        self.progress_as_of = as_of

    def submit_report(
        self, contract: Contract, report_id: str, kind: str, period: str | None, submitted_on: date, title: str, summary: str | None
    ) -> None:
        if kind not in REPORT_KINDS:
            raise RuleViolation(f"kind must be one of {REPORT_KINDS}", rule="R-LOG-7", field="kind")
        if kind == "monthly_brief":
            if period is None:
                raise RuleViolation("a monthly brief names its month (period YYYY-MM)", rule="R-LOG-7", field="period")
            if period not in contract.months():
                raise RuleViolation(f"{period} is not a month of the contract", rule="R-LOG-7", field="period")
        elif period is not None and period not in contract.months():
            raise RuleViolation(f"{period} is not a month of the contract", rule="R-LOG-7", field="period")
        if submitted_on < contract.period_start:
            raise RuleViolation("a report is submitted during or after the contract year", rule="R-LOG-7", field="submitted_on")
        self._report_submitted(
            report_id=report_id, contract_id=self.contract_id, kind=kind, period=period,
            submitted_on=submitted_on, title=title, summary=summary,
        )

    @event("ReportSubmitted")
    def _report_submitted(
        self, report_id: str, contract_id: str, kind: str, period: str | None, submitted_on: date, title: str, summary: str | None
    ) -> None:
        self.reports = [
            *self.reports,
            {"report_id": report_id, "kind": kind, "period": period, "submitted_on": submitted_on, "title": title, "summary": summary},
        ]

    def file_complaint(
        self, contract: Contract, complaint_id: str, station_id: str | None, township: str, filed_on: date, description: str
    ) -> None:
        """R-LOG-7, R-REG-6: a township imposed tasks outside the contract (行政化)."""
        if station_id is not None and station_id not in contract.station_ids:
            raise RuleViolation("the station is not a station of the contract", rule="R-LOG-7", field="station_id")
        if filed_on < contract.period_start:
            raise RuleViolation("a scope complaint concerns the contract year", rule="R-LOG-7", field="filed_on")
        self._complaint_filed(
            complaint_id=complaint_id, contract_id=self.contract_id, station_id=station_id,
            township=township, filed_on=filed_on, description=description,
        )

    @event("ScopeComplaintFiled")
    def _complaint_filed(
        self, complaint_id: str, contract_id: str, station_id: str | None, township: str, filed_on: date, description: str
    ) -> None:
        self.complaints = [
            *self.complaints,
            {"complaint_id": complaint_id, "station_id": station_id, "township": township, "filed_on": filed_on, "description": description},
        ]


class DeliveryIndexPage(CopyOnWrite, Aggregate):
    """Page ``page`` of a contract's deliveries in the order they were logged: positions
    ``page * PAGE_SIZE`` to ``(page + 1) * PAGE_SIZE - 1``. Saved with the log that counts them."""

    @staticmethod
    def create_id(contract_id: str, page: int, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"delivery-index:{contract_id}:{page}")

    @event("Opened")
    def __init__(self, contract_id: str, page: int) -> None:
        self.contract_id = contract_id
        self.page = page
        self.ids: list[str] = []

    @event("Appended")
    def append(self, ids: list[str]) -> None:
        self.ids = [*self.ids, *ids]


class Timesheet(CopyOnWrite, Aggregate):
    """A worker's hours per day (工时) over all contracts: the daily cap of R-LOG-4 is per worker."""

    @staticmethod
    def create_id(worker_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"timesheet:{worker_id}")

    @event("Opened")
    def __init__(self, worker_id: str, county: str) -> None:
        self.worker_id = worker_id
        self.county = county
        self.days: dict[str, Decimal] = {}

    def hours_on(self, day: date) -> Decimal:
        return self.days.get(day.isoformat(), Decimal(0))

    @event("HoursBooked")
    def book(self, entries: list[dict[str, Any]]) -> None:
        """Each entry: delivery_id, date, hours (negative when a correction or voiding releases them)."""
        days = dict(self.days)  # a new dict: the state is never changed in place (CopyOnWrite)
        for entry in entries:
            key = entry["date"].isoformat()
            days[key] = days.get(key, Decimal(0)) + entry["hours"]
        self.days = days
