"""Registry's facts, as services-log keeps them: fed by registry's events, never by HTTP calls.

A delivery is checked against these (R-LOG-2/3, R-REG-6, R-REG-8) without asking registry,
and they are rebuilt from this service's own log like any other aggregate (R-AUD-3).

The state is typed (``Indicator``, ``ScopeChange``, ``ContractStatus``, ``Employment``); the events
keep the fields registry's facts were recorded with, so stores recorded before load unchanged. The
policy stays a mapping: the county's versioned parameters as signed, of which this service reads
four (``DEFAULT_POLICY``) and shows the rest as they came.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

NS = uuid.UUID("5e7a9c1b-3d2f-5b8e-a1c4-9f0e2d3b4a51")

# The R-LOG-4 policy parameters this service uses, with DOMAIN.md's defaults. A contract keeps
# the values of the policy version it was signed under.
DEFAULT_POLICY: dict[str, Any] = {
    "max_daily_hours": 12,  # a single worker's hours in one day
    "annual_hours_per_staff": 1960,  # professional hours per staff per year (27,440 for 14 staff)
    "annual_direct_hours_per_staff": "1632.3",  # direct service hours per staff per year (22,852 for 14)
    "hours_ceiling_percent": 110,  # the bid/plan may not exceed 110% of the hours target
}


def decimal_of(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class Indicator:
    """A contract indicator (绩效指标) as signed. ``name``, ``unit`` and ``monthly_plan`` are None
    when registry's fact did not give them (contracts signed before they were part of its terms):
    ``as_signed`` shows the indicator as it came, key for key."""

    code: str
    target: int
    name: str | None = None
    unit: str | None = None
    monthly_plan: Mapping[str, int] | None = None  # the 进度表: planned amount per month YYYY-MM

    @property
    def label(self) -> str:
        return self.code if self.name is None else self.name

    @property
    def unit_or_blank(self) -> str:
        return self.unit or ""

    @property
    def plan(self) -> Mapping[str, int]:
        return self.monthly_plan or {}

    @classmethod
    def of(cls, signed: Mapping[str, Any]) -> Indicator:
        plan = signed.get("monthly_plan")
        return cls(signed["code"], signed["target"], signed.get("name"), signed.get("unit"), None if plan is None else dict(plan))

    def as_signed(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.name is not None:
            out["name"] = self.name
        if self.unit is not None:
            out["unit"] = self.unit
        out["target"] = self.target
        if self.monthly_plan is not None:
            out["monthly_plan"] = dict(self.monthly_plan)
        return out


@dataclass(frozen=True)
class ScopeChange:
    """An approved scope change (R-REG-6): these service areas from ``effective_on``."""

    service_areas: tuple[str, ...]
    effective_on: date


class ContractStatus(StrEnum):
    SIGNED = "signed"
    TERMINATED = "terminated"  # ended early: deliveries after ``ended_on`` no longer count
    EXPIRED = "expired"


@dataclass(frozen=True)
class Employment:
    """A period a worker was employed by a provider at a station (``end`` None: still employed)."""

    provider_id: str
    station_id: str
    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    def as_dict(self) -> dict[str, Any]:
        return {"provider_id": self.provider_id, "station_id": self.station_id, "start": self.start, "end": self.end}


class CountyPolicy(Aggregate):
    """A county's policy versions as registry published them (CountyRegistered/PolicyChanged)."""

    @staticmethod
    def create_id(county: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"county-policy:{county}")

    @event("Recorded")
    def __init__(self, county: str, policy: dict[str, Any], version: int) -> None:
        self.county = county
        self.versions: Mapping[str, Mapping[str, Any]] = {str(version): dict(policy)}

    @event("Changed")
    def change(self, policy: dict[str, Any], version: int) -> None:
        self.versions = {**self.versions, str(version): dict(policy)}


class Contract(Aggregate):
    """services-log's copy of a registry contract (服务协议): what every delivery is checked against."""

    @staticmethod
    def create_id(contract_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"contract:{contract_id}")

    @event("Signed")
    def __init__(
        self,
        contract_id: str,
        county: str,
        provider_id: str,
        station_ids: list[str],
        period_start: date,
        period_end: date,
        service_areas: list[str],
        indicators: list[dict[str, Any]],
        policy: dict[str, Any],
    ) -> None:
        self.contract_id = contract_id
        self.county = county
        self.provider_id = provider_id
        self.station_ids = tuple(station_ids)
        self.period_start = period_start
        self.period_end = period_end
        self.service_areas = tuple(service_areas)
        # The order signed: reads list the indicators in it.
        self.indicators = tuple(Indicator.of(i) for i in indicators)
        self.policy: Mapping[str, Any] = {**DEFAULT_POLICY, **policy}
        self.scope_changes: tuple[ScopeChange, ...] = ()
        self.status = ContractStatus.SIGNED
        self.ended_on: date | None = None

    @event("ScopeChanged")
    def change_scope(self, service_areas: list[str], effective_on: date) -> None:
        """An approved scope change (R-REG-6): these areas from ``effective_on``."""
        changes = (*self.scope_changes, ScopeChange(tuple(service_areas), effective_on))
        self.scope_changes = tuple(sorted(changes, key=lambda c: c.effective_on))

    @event("Ended")
    def end(self, status: str, ended_on: date) -> None:
        """Terminated early (deliveries after ``ended_on`` no longer count) or expired."""
        self.status = ContractStatus(status)
        self.ended_on = ended_on

    def areas_on(self, day: date) -> list[str]:
        areas = self.service_areas
        for change in self.scope_changes:
            if change.effective_on <= day:
                areas = change.service_areas
        return list(areas)

    @property
    def last_day(self) -> date:
        if self.status == ContractStatus.TERMINATED and self.ended_on is not None:
            return min(self.period_end, self.ended_on)
        return self.period_end

    def covers(self, day: date) -> bool:
        return self.period_start <= day <= self.last_day

    def indicator(self, code: str) -> Indicator | None:
        return next((i for i in self.indicators if i.code == code), None)

    def plan_of(self, code: str) -> Mapping[str, int]:
        """The indicator's monthly plan (进度表); empty without one (or without the indicator)."""
        indicator = self.indicator(code)
        return {} if indicator is None else indicator.plan

    @property
    def max_daily_hours(self) -> Decimal:
        return decimal_of(self.policy["max_daily_hours"])

    def months(self) -> list[str]:
        """The contract months ``YYYY-MM`` from its start to its end."""
        out, day = [], self.period_start.replace(day=1)
        while day <= self.period_end:
            out.append(day.strftime("%Y-%m"))
            day = (day + timedelta(days=32)).replace(day=1)
        return out


class Worker(Aggregate):
    """A social worker (社工) as registry published them: employer, station and employment periods."""

    @staticmethod
    def create_id(worker_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"worker:{worker_id}")

    @event("Hired")
    def __init__(self, worker_id: str, county: str, provider_id: str, station_id: str, role: str, hired_on: date) -> None:
        self.worker_id = worker_id
        self.county = county
        self.role = role
        self.employments: tuple[Employment, ...] = (Employment(provider_id, station_id, hired_on),)

    @event("Rehired")
    def rehire(self, provider_id: str, station_id: str, role: str, hired_on: date) -> None:
        self._close(hired_on - timedelta(days=1))
        self.role = role
        self.employments = (*self.employments, Employment(provider_id, station_id, hired_on))

    @event("Moved")
    def move(self, provider_id: str, to_station_id: str, moved_on: date) -> None:
        self._close(moved_on - timedelta(days=1))
        self.employments = (*self.employments, Employment(provider_id, to_station_id, moved_on))

    @event("Left")
    def leave(self, left_on: date) -> None:
        self._close(left_on)

    def _close(self, last_day: date) -> None:
        """Every period still open on ``last_day`` ends then (one ending before it starts: the day before)."""
        self.employments = tuple(
            replace(p, end=max(last_day, p.start - timedelta(days=1))) if p.end is None or p.end > last_day else p
            for p in self.employments
        )

    def employment_on(self, day: date) -> Employment | None:
        return next((p for p in self.employments if p.covers(day)), None)

    def is_hired(self, provider_id: str, station_id: str, hired_on: date) -> bool:
        return any(p.provider_id == provider_id and p.station_id == station_id and p.start == hired_on for p in self.employments)


class StationRoster(Aggregate):
    """Everyone who has worked at a station (社工站): a contract's staff are drawn from its stations."""

    @staticmethod
    def create_id(station_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"roster:{station_id}")

    @event("Opened")
    def __init__(self, station_id: str, county: str) -> None:
        self.station_id = station_id
        self.county = county
        self.worker_ids: tuple[str, ...] = ()

    def assign(self, worker_id: str) -> None:
        if worker_id not in self.worker_ids:
            self._assigned(worker_id=worker_id)

    @event("WorkerAssigned")
    def _assigned(self, worker_id: str) -> None:
        self.worker_ids = (*self.worker_ids, worker_id)
