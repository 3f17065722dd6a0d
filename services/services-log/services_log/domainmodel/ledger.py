"""A contract's service log (服务台账), the index of its deliveries, and a worker's timesheet (工时).

The log keeps running totals (its :class:`Tally`) changed only by events that carry their own
deltas, so totals follow corrections and voidings (R-LOG-6) and replay to the same numbers.
A tally is frozen and typed; ``plus`` returns a new tally sharing every bucket it did not change:

    days:    {"YYYY-MM-DD": DayCounts(deliveries, person_times, hours_direct, hours_other, indicators: {code: n})}
    months:  {"YYYY-MM": MonthCounts(kinds: {kind: Counted}, areas: {area: Counted}, totals: the month's days added up)}
    workers: {worker_id: WorkerHours(direct, other)}
    stated:  {indicator code: deliveries that state their quantity}   (only once one does)

The ``Tallied`` events keep the shape they were always recorded in — a delta as nested dicts of
numbers (:meth:`Tally.as_delta`, read back by :meth:`Tally.of`) — so a store written before the
tally was typed replays unchanged; only snapshots of the log changed shape (version 3, upcast).

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from services_log.domainmodel.copying import CopyOnWrite
from services_log.domainmodel.delivery import HOUR_UNITS, PERSON_TIME_UNITS, DeliveryFacts
from services_log.domainmodel.registry_view import NS, Contract, decimal_of
from shared.rules import RuleViolation

Number = int | Decimal


class ReportKind(StrEnum):
    """R-LOG-7 reports a provider submits."""

    NEEDS_SURVEY = "needs_survey"
    MIDTERM = "midterm"
    FINAL = "final"
    SELF_EVALUATION = "self_evaluation"
    MONTHLY_BRIEF = "monthly_brief"


REPORT_KINDS = tuple(k.value for k in ReportKind)


class Counting(StrEnum):
    """How an indicator counts (R-LOG-8); ``stated`` once a delivery states its quantity."""

    PERSON_TIMES = "person_times"
    HOURS = "hours"
    DELIVERIES = "deliveries"
    STATED = "stated"


class PlanBasis(StrEnum):
    MONTHLY_PLAN = "monthly_plan"  # the contract's 进度表
    PRO_RATA = "pro_rata"  # the target spread over the contract year


def _sum(total: Mapping[str, Number], more: Mapping[str, Number]) -> dict[str, Number]:
    """Per key, ``total`` plus ``more`` (a key missing counts 0); a new dict, neither changed."""
    out = dict(total)
    for key, value in more.items():
        out[key] = total.get(key, 0) + value
    return out


@dataclass(frozen=True)
class DayCounts:
    """What the deliveries of a day (or a month, or any span) add up to. A missing number is the
    integer 0, as in the dicts the log was first kept in, so sums keep their exact Decimals."""

    deliveries: int = 0
    person_times: int = 0
    hours_direct: Number = 0
    hours_other: Number = 0
    indicators: Mapping[str, Number] = field(default_factory=dict)

    def plus(self, other: DayCounts) -> DayCounts:
        return DayCounts(
            self.deliveries + other.deliveries,
            self.person_times + other.person_times,
            self.hours_direct + other.hours_direct,
            self.hours_other + other.hours_other,
            _sum(self.indicators, other.indicators) if other.indicators else self.indicators,
        )

    @classmethod
    def of(cls, counts: Mapping[str, Any]) -> DayCounts:
        return cls(
            counts.get("deliveries", 0), counts.get("person_times", 0), counts.get("hours_direct", 0),
            counts.get("hours_other", 0), dict(counts.get("indicators") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries, "person_times": self.person_times, "hours_direct": self.hours_direct,
            "hours_other": self.hours_other, "indicators": dict(self.indicators),
        }


@dataclass(frozen=True)
class Counted:
    """A month's deliveries of one kind or area: how many, their person-times and worker-hours."""

    deliveries: int = 0
    person_times: int = 0
    hours: Number = 0

    def plus(self, other: Counted) -> Counted:
        return Counted(self.deliveries + other.deliveries, self.person_times + other.person_times, self.hours + other.hours)

    @classmethod
    def of(cls, counts: Mapping[str, Any]) -> Counted:
        return cls(counts.get("deliveries", 0), counts.get("person_times", 0), counts.get("hours", 0))

    def as_dict(self) -> dict[str, Any]:
        return {"deliveries": self.deliveries, "person_times": self.person_times, "hours": self.hours}


def plus_each(total: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """Per key, ``total[key].plus(more[key])``; a new dict, neither changed. A missing bucket is an
    empty one *plus* the other (not the other itself): 0 + x, as the log's dicts always added, turns
    a delta's ``Decimal("-0")`` into ``0`` — so totals read exactly as they always did."""
    out = dict(total)
    for key, value in more.items():
        held = total.get(key)
        out[key] = (type(value)() if held is None else held).plus(value)
    return out


@dataclass(frozen=True)
class MonthCounts:
    """A month: its deliveries by kind and by area, and its days added up (``totals``)."""

    kinds: Mapping[str, Counted] = field(default_factory=dict)
    areas: Mapping[str, Counted] = field(default_factory=dict)
    totals: DayCounts = field(default_factory=DayCounts)

    def plus(self, other: MonthCounts) -> MonthCounts:
        return MonthCounts(
            plus_each(self.kinds, other.kinds) if other.kinds else self.kinds,
            plus_each(self.areas, other.areas) if other.areas else self.areas,
            self.totals.plus(other.totals),
        )

    @classmethod
    def of(cls, counts: Mapping[str, Any]) -> MonthCounts:
        return cls(
            {k: Counted.of(v) for k, v in (counts.get("kinds") or {}).items()},
            {a: Counted.of(v) for a, v in (counts.get("areas") or {}).items()},
            DayCounts.of(counts.get("totals") or {}),
        )


@dataclass(frozen=True)
class WorkerHours:
    direct: Number = 0
    other: Number = 0

    def plus(self, more: WorkerHours) -> WorkerHours:
        return WorkerHours(self.direct + more.direct, self.other + more.other)


@dataclass(frozen=True)
class Tally:
    """A contract's running totals, or the change (delta) one command makes to them (module doc)."""

    days: Mapping[str, DayCounts] = field(default_factory=dict)
    months: Mapping[str, MonthCounts] = field(default_factory=dict)
    workers: Mapping[str, WorkerHours] = field(default_factory=dict)
    stated: Mapping[str, int] = field(default_factory=dict)

    def plus(self, delta: Tally) -> Tally:
        """This tally with ``delta`` added, as a new tally: only the buckets ``delta`` touches are
        new, every other one is shared (so a copy of the log costs nothing, :class:`CopyOnWrite`)."""
        return Tally(
            plus_each(self.days, delta.days) if delta.days else self.days,
            plus_each(self.months, delta.months) if delta.months else self.months,
            plus_each(self.workers, delta.workers) if delta.workers else self.workers,
            _sum(self.stated, delta.stated) if delta.stated else self.stated,
        )

    @classmethod
    def sum(cls, parts: Iterable[Tally]) -> Tally:
        """``Tally().plus(a).plus(b)…`` in one pass: each bucket added into a dict built here (then
        never changed), not every map copied per part — a bulk import's batch adds 500 deltas."""
        days: dict[str, Any] = {}
        months: dict[str, Any] = {}
        workers: dict[str, Any] = {}
        stated: dict[str, int] = {}
        for part in parts:
            for into, more in ((days, part.days), (months, part.months), (workers, part.workers)):
                for key, value in more.items():
                    into[key] = (into.get(key) or type(value)()).plus(value)
            for code, n in part.stated.items():
                stated[code] = stated.get(code, 0) + n
        return cls(days, months, workers, stated)

    def with_month_totals(self) -> Tally:
        """The delta as the log adds it: its days also added into their months' ``totals``."""
        totals: dict[str, MonthCounts] = {}
        for day, counts in self.days.items():
            month = day[:7]
            totals[month] = MonthCounts(totals=(totals[month].totals if month in totals else DayCounts()).plus(counts))
        return Tally(self.days, plus_each(self.months, totals), self.workers, self.stated) if totals else self

    @classmethod
    def of(cls, recorded: Mapping[str, Any]) -> Tally:
        """A tally (or a delta) from the nested dicts it was recorded in (events, old snapshots)."""
        return cls(
            {d: DayCounts.of(c) for d, c in (recorded.get("days") or {}).items()},
            {m: MonthCounts.of(c) for m, c in (recorded.get("months") or {}).items()},
            {w: WorkerHours(h.get("direct", 0), h.get("other", 0)) for w, h in (recorded.get("workers") or {}).items()},
            dict(recorded.get("stated") or {}),
        )

    def as_delta(self) -> dict[str, Any]:
        """As a ``Tallied`` event records it (the shape of every delta recorded): no month totals."""
        delta: dict[str, Any] = {"stated": dict(self.stated)} if self.stated else {}
        return delta | {
            "days": {d: c.as_dict() for d, c in self.days.items()},
            "months": {
                m: {"kinds": {k: v.as_dict() for k, v in c.kinds.items()}, "areas": {a: v.as_dict() for a, v in c.areas.items()}}
                for m, c in self.months.items()
            },
            "workers": {w: {"direct": h.direct, "other": h.other} for w, h in self.workers.items()},
        }

    def as_dict(self) -> dict[str, Any]:
        """Whole, month totals too (how a snapshot of the log holds it; :meth:`of` reads it back)."""
        out = self.as_delta()
        for month, counted in self.months.items():
            out["months"][month]["totals"] = counted.totals.as_dict()
        return out


def counting_of(unit: str) -> Counting:
    """How an indicator of ``unit`` counts (R-LOG-8): ``person_times`` — a 人次 indicator adds each
    delivery's person-times; ``hours`` — an hours indicator (小时, 工时) adds its worker-hours;
    ``deliveries`` — any other unit (场, 期, 次, 个, 节 …) counts each delivery as one, unless the
    delivery states how much of the unit it completes (``indicator_quantity``; shown as ``stated``)."""
    if unit in PERSON_TIME_UNITS:
        return Counting.PERSON_TIMES
    if unit in HOUR_UNITS:
        return Counting.HOURS
    return Counting.DELIVERIES


def indicator_amount(facts: DeliveryFacts, unit: str) -> int | Decimal:
    """What one delivery adds to an indicator: person-times (人次), hours, or one session/activity (期, 场, 次 …)."""
    counting = counting_of(unit)
    if counting == Counting.PERSON_TIMES:
        return facts.person_times
    if counting == Counting.HOURS:
        return facts.hours * len(facts.worker_ids)
    return 1 if facts.indicator_quantity is None else facts.indicator_quantity


def contribution(facts: DeliveryFacts, contract: Contract, sign: int = 1) -> Tally:
    """The delta one delivery makes to its contract's tally (``sign=-1`` takes it back out)."""
    n = len(facts.worker_ids)
    direct, other = facts.hours_direct * n * sign, facts.hours_other * n * sign
    indicators: dict[str, Number] = {}
    stated: dict[str, int] = {}
    if facts.indicator_code is not None:
        indicator = contract.indicator(facts.indicator_code)
        if indicator is not None:
            indicators[facts.indicator_code] = indicator_amount(facts, indicator.unit_or_blank) * sign
            if facts.indicator_quantity is not None:
                stated[facts.indicator_code] = sign
    counted = Counted(sign, facts.person_times * sign, direct + other)
    return Tally(
        days={facts.date.isoformat(): DayCounts(sign, facts.person_times * sign, direct, other, indicators)},
        months={facts.month: MonthCounts(kinds={facts.kind: counted}, areas={facts.area: counted})},
        workers={w: WorkerHours(facts.hours_direct * sign, facts.hours_other * sign) for w in facts.worker_ids},
        stated=stated,
    )


def contributions(batch: Iterable[DeliveryFacts], contract: Contract) -> Tally:
    """``Tally.sum(contribution(f, contract) for f in batch)`` in one pass over the batch (a bulk
    import's): the same buckets, the same numbers added in the same order, the same key order —
    without a ``Tally`` and its dicts built per delivery and added again, and each indicator's
    unit looked up once per batch rather than once per delivery."""
    days: dict[str, list[Any]] = {}  # deliveries, person-times, direct, other, indicators
    months: dict[str, tuple[dict[str, list[Any]], dict[str, list[Any]]]] = {}  # kinds, areas: deliveries, person-times, hours
    workers: dict[str, list[Any]] = {}  # direct, other
    stated: dict[str, int] = {}
    units: dict[str, str | None] = {}
    for facts in batch:
        n = len(facts.worker_ids)
        direct, other = facts.hours_direct * n * 1, facts.hours_other * n * 1
        day_key = facts.date.isoformat()
        day = days.get(day_key)
        if day is None:
            day = days[day_key] = [0, 0, 0, 0, {}]
        day[0] += 1
        day[1] += facts.person_times
        day[2] += direct
        day[3] += other
        code = facts.indicator_code
        if code is not None:
            if code not in units:
                indicator = contract.indicator(code)
                units[code] = None if indicator is None else indicator.unit_or_blank
            unit = units[code]
            if unit is not None:
                day[4][code] = day[4].get(code, 0) + indicator_amount(facts, unit) * 1
                if facts.indicator_quantity is not None:
                    stated[code] = stated.get(code, 0) + 1
        month = months.get(facts.month)
        if month is None:
            month = months[facts.month] = ({}, {})
        hours = direct + other
        for into, key in ((month[0], facts.kind), (month[1], facts.area)):
            counted = into.get(key)
            if counted is None:
                counted = into[key] = [0, 0, 0]
            counted[0] += 1
            counted[1] += facts.person_times
            counted[2] += hours
        for worker_id in dict.fromkeys(facts.worker_ids):
            held = workers.get(worker_id)
            if held is None:
                held = workers[worker_id] = [0, 0]
            held[0] += facts.hours_direct * 1
            held[1] += facts.hours_other * 1
    return Tally(
        {d: DayCounts(c[0], c[1], c[2], c[3], c[4]) for d, c in days.items()},
        {
            m: MonthCounts({k: Counted(*c) for k, c in kinds.items()}, {a: Counted(*c) for a, c in areas.items()}, DayCounts())
            for m, (kinds, areas) in months.items()
        },
        {w: WorkerHours(h[0], h[1]) for w, h in workers.items()},
        stated,
    )


def totals_between(tally: Tally, first: date | None, last: date) -> DayCounts:
    """Deliveries, person-times, hours and indicator amounts dated within [first, last].

    A month wholly inside adds its ``totals``; a month cut by ``first`` or ``last`` adds the days
    inside: at most a year's months and two months' days, whatever the number of deliveries."""
    out = DayCounts(hours_direct=Decimal(0), hours_other=Decimal(0))
    low = first or date.min
    for month, counted in tally.months.items():
        year, mon = int(month[:4]), int(month[5:7])
        start, end = date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])
        if end < low or start > last:
            continue
        if low <= start and end <= last:
            out = out.plus(counted.totals)
            continue
        for day in range(max(start, low).day, min(end, last).day + 1):
            counts = tally.days.get(date(year, mon, day).isoformat())
            if counts:
                out = out.plus(counts)
    return out


def _whole(value: int | Decimal) -> int:
    return int(Decimal(value).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True)
class IndicatorProgress:
    """R-LOG-8: one indicator's target, actual to a day, the plan to date and whether it is on track."""

    code: str
    name: str
    unit: str
    counting: Counting
    target: int
    actual: int
    planned_to_date: int | None
    expected_to_date: int
    plan_basis: PlanBasis
    on_track: bool

    def as_dict(self) -> dict[str, Any]:
        """As reads answer it and ``ProgressReported`` records it (enums as their strings)."""
        return {
            "code": self.code, "name": self.name, "unit": self.unit, "counting": self.counting.value,
            "target": self.target, "actual": self.actual, "planned_to_date": self.planned_to_date,
            "expected_to_date": self.expected_to_date, "plan_basis": self.plan_basis.value, "on_track": self.on_track,
        }


def indicator_progress(contract: Contract, tally: Tally, as_of: date) -> list[IndicatorProgress]:
    """R-LOG-8: per indicator, target, actual to ``as_of``, the plan to date and whether it is on track.

    With a monthly plan (进度表) ``planned_to_date`` is the plan of every month up to and including
    ``as_of``'s month; on track means the actual has reached the plan pro-rated to ``as_of`` (the
    month's own plan is due by its end). Without a plan the target is pro-rated over the year.
    """
    actual = totals_between(tally, None, as_of).indicators
    month = as_of.strftime("%Y-%m")
    fraction = Decimal(as_of.day) / calendar.monthrange(as_of.year, as_of.month)[1]
    out = []
    for ind in contract.indicators:
        plan = ind.plan
        target = int(ind.target)
        planned: int | None
        if plan:
            before = sum(int(v) for m, v in plan.items() if m < month)
            planned = before + int(plan.get(month, 0))
            expected = before + _whole(int(plan.get(month, 0)) * fraction)
            basis = PlanBasis.MONTHLY_PLAN
        else:
            elapsed = (as_of - contract.period_start).days + 1
            length = (contract.period_end - contract.period_start).days + 1
            planned, expected, basis = None, _whole(Decimal(target) * max(elapsed, 0) / length), PlanBasis.PRO_RATA
        done = _whole(actual.get(ind.code, 0))
        out.append(
            IndicatorProgress(
                code=ind.code,
                name=ind.label,
                unit=ind.unit_or_blank,
                counting=Counting.STATED if tally.stated.get(ind.code) else counting_of(ind.unit_or_blank),
                target=target,
                actual=done,
                planned_to_date=planned,
                expected_to_date=expected,
                plan_basis=basis,
                on_track=done >= expected,
            )
        )
    return out


@dataclass(frozen=True)
class WorkerAgainstCap:
    worker_id: str
    hours_direct: Decimal
    hours_other: Decimal
    over_annual_hours: bool


@dataclass(frozen=True)
class HoursAgainstCaps:
    """R-LOG-4: a contract's professional hours against its staff's annual targets and caps."""

    staff: int
    per_staff_annual_hours: Decimal
    per_staff_annual_direct_hours: Decimal
    annual_hours_target: Decimal
    annual_hours_ceiling: Decimal
    annual_direct_hours_minimum: Decimal
    hours_direct: Decimal
    hours_other: Decimal
    hours_total: Decimal
    over_ceiling: bool
    direct_minimum_reached: bool
    workers: tuple[WorkerAgainstCap, ...]

    def as_dict(self) -> dict[str, Any]:
        """As the progress read answers it (in this order)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "workers"}
        out["workers"] = [
            {"worker_id": w.worker_id, "hours_direct": w.hours_direct, "hours_other": w.hours_other, "over_annual_hours": w.over_annual_hours}
            for w in self.workers
        ]
        return out


def hours_against_caps(contract: Contract, tally: Tally, staff: int) -> HoursAgainstCaps:
    """R-LOG-4: the contract's professional hours against its staff's annual targets and caps."""
    per_staff = decimal_of(contract.policy["annual_hours_per_staff"])
    per_staff_direct = decimal_of(contract.policy["annual_direct_hours_per_staff"])
    ceiling_percent = decimal_of(contract.policy["hours_ceiling_percent"])
    workers = tally.workers
    direct = sum((decimal_of(w.direct) for w in workers.values()), Decimal(0))
    other = sum((decimal_of(w.other) for w in workers.values()), Decimal(0))
    target = per_staff * staff
    ceiling = target * ceiling_percent / 100
    # Whole hours, rounded down, as seed 004 writes it (14 × 1,632.3 = 22,852.2 → 22,852) and as
    # procurement's hours window counts it: 22,852 direct hours reach the minimum.
    minimum_direct = (per_staff_direct * staff).to_integral_value(rounding=ROUND_FLOOR)
    return HoursAgainstCaps(
        staff=staff,
        per_staff_annual_hours=per_staff,
        per_staff_annual_direct_hours=per_staff_direct,
        annual_hours_target=target,
        annual_hours_ceiling=ceiling,
        annual_direct_hours_minimum=minimum_direct,
        hours_direct=direct,
        hours_other=other,
        hours_total=direct + other,
        over_ceiling=direct + other > ceiling,
        direct_minimum_reached=direct >= minimum_direct,
        workers=tuple(
            WorkerAgainstCap(
                worker_id=worker_id,
                hours_direct=decimal_of(w.direct),
                hours_other=decimal_of(w.other),
                over_annual_hours=decimal_of(w.direct) + decimal_of(w.other) > per_staff,
            )
            for worker_id, w in sorted(workers.items())
        ),
    )


@dataclass(frozen=True)
class Report:
    """A report the provider submitted (R-LOG-7); ``period`` a month ``YYYY-MM`` or None."""

    report_id: str
    kind: ReportKind
    period: str | None
    submitted_on: date
    title: str
    summary: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id, "kind": self.kind.value, "period": self.period,
            "submitted_on": self.submitted_on, "title": self.title, "summary": self.summary,
        }

    @classmethod
    def of(cls, recorded: Mapping[str, Any]) -> Report:
        return cls(
            recorded["report_id"], ReportKind(recorded["kind"]), recorded["period"], recorded["submitted_on"],
            recorded["title"], recorded["summary"],
        )


@dataclass(frozen=True)
class ScopeComplaint:
    """A township imposed tasks outside the contract (行政化; R-LOG-7, R-REG-6)."""

    complaint_id: str
    station_id: str | None
    township: str
    filed_on: date
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "complaint_id": self.complaint_id, "station_id": self.station_id, "township": self.township,
            "filed_on": self.filed_on, "description": self.description,
        }

    @classmethod
    def of(cls, recorded: Mapping[str, Any]) -> ScopeComplaint:
        return cls(recorded["complaint_id"], recorded["station_id"], recorded["township"], recorded["filed_on"], recorded["description"])


PAGE_SIZE = 500  # delivery ids per index page: a listing (limit ≤ 500) reads at most two pages


class ContractLog(CopyOnWrite, Aggregate):
    """服务台账: a contract's running totals, how many deliveries it has, reports (R-LOG-7) and
    scope complaints. Version 2: no list or set of delivery ids (see the module doc). Version 3:
    typed state (:class:`Tally`, :class:`Report`, :class:`ScopeComplaint`), in snapshots too.

    ``indexed`` is False for a log opened before the index pages existed: its deliveries are
    named only by its ``Tallied`` events until the first command that writes to it puts them
    into pages (once; ``Indexed``)."""

    class_version = 3

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
        if tally.get("days"):  # no month totals yet: the days added up per month
            tally = Tally.of(tally).with_month_totals().as_dict()
        state["tally"] = tally

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A snapshot of version 2 (the tally, reports and complaints as dicts) into typed state."""
        state["tally"] = Tally.of(state.get("tally") or {})
        state["reports"] = [Report.of(r) for r in state.get("reports") or ()]
        state["complaints"] = [ScopeComplaint.of(c) for c in state.get("complaints") or ()]

    @event(Opened)
    def __init__(self, contract_id: str, county: str, indexed: bool = True) -> None:
        self.contract_id = contract_id
        self.county = county
        self.indexed = indexed
        self.deliveries_logged = 0
        self.tally = Tally()
        # Lists (as JSON reads them back from a snapshot), never changed in place: each event assigns a new one.
        self.reports: list[Report] = []
        self.complaints: list[ScopeComplaint] = []

    def tally_changes(self, new_delivery_ids: list[str], delta: Tally) -> None:
        """New deliveries and the change they, corrections or voidings make to the totals.
        The ids are recorded in the event (and in the index pages), only counted here."""
        self._tallied(new_delivery_ids=new_delivery_ids, delta=delta.as_delta())

    # The delta is recorded as nested dicts, as it always was (so old stores replay unchanged).
    @event("Tallied")
    def _tallied(self, new_delivery_ids: list[str], delta: dict[str, Any]) -> None:
        self.tally = self.tally.plus(Tally.of(delta).with_month_totals())
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
            indicators=[p.as_dict() for p in indicator_progress(contract, self.tally, as_of)],
            hours_direct=totals.hours_direct,
            hours_other=totals.hours_other,
            person_times=totals.person_times,
            deliveries=totals.deliveries,
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
            raise RuleViolation(f"kind must be one of {REPORT_KINDS}", rule="R-LOG-7", field="kind", facts={"code": "report_kind_unknown", "kind": kind})
        if kind == ReportKind.MONTHLY_BRIEF:
            if period is None:
                raise RuleViolation("a monthly brief names its month (period YYYY-MM)", rule="R-LOG-7", field="period", facts={"code": "brief_month_missing"})
            if period not in contract.months():
                raise RuleViolation(f"{period} is not a month of the contract", rule="R-LOG-7", field="period", facts={"code": "month_outside_year", "month": period})
        elif period is not None and period not in contract.months():
            raise RuleViolation(f"{period} is not a month of the contract", rule="R-LOG-7", field="period", facts={"code": "month_outside_year", "month": period})
        if submitted_on < contract.period_start:
            raise RuleViolation("a report is submitted during or after the contract year", rule="R-LOG-7", field="submitted_on", facts={"code": "report_before_year", "date": submitted_on.isoformat(), "period_start": contract.period_start.isoformat()})
        self._report_submitted(
            report_id=report_id, contract_id=self.contract_id, kind=kind, period=period,
            submitted_on=submitted_on, title=title, summary=summary,
        )

    @event("ReportSubmitted")
    def _report_submitted(
        self, report_id: str, contract_id: str, kind: str, period: str | None, submitted_on: date, title: str, summary: str | None
    ) -> None:
        self.reports = [*self.reports, Report(report_id, ReportKind(kind), period, submitted_on, title, summary)]

    def file_complaint(
        self, contract: Contract, complaint_id: str, station_id: str | None, township: str, filed_on: date, description: str
    ) -> None:
        """R-LOG-7, R-REG-6: a township imposed tasks outside the contract (行政化)."""
        if station_id is not None and station_id not in contract.station_ids:
            raise RuleViolation("the station is not a station of the contract", rule="R-LOG-7", field="station_id", facts={"code": "station_not_in_contract", "station_id": station_id})
        if filed_on < contract.period_start:
            raise RuleViolation("a scope complaint concerns the contract year", rule="R-LOG-7", field="filed_on", facts={"code": "complaint_before_year", "date": filed_on.isoformat(), "period_start": contract.period_start.isoformat()})
        self._complaint_filed(
            complaint_id=complaint_id, contract_id=self.contract_id, station_id=station_id,
            township=township, filed_on=filed_on, description=description,
        )

    @event("ScopeComplaintFiled")
    def _complaint_filed(
        self, complaint_id: str, contract_id: str, station_id: str | None, township: str, filed_on: date, description: str
    ) -> None:
        self.complaints = [*self.complaints, ScopeComplaint(complaint_id, station_id, township, filed_on, description)]


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
