"""Registry's facts, as services-log keeps them: fed by registry's events, never by HTTP calls.

A delivery is checked against these (R-LOG-2/3, R-REG-6, R-REG-8) without asking registry,
and they are rebuilt from this service's own log like any other aggregate (R-AUD-3).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
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


class CountyPolicy(Aggregate):
    """A county's policy versions as registry published them (CountyRegistered/PolicyChanged)."""

    @staticmethod
    def create_id(county: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"county-policy:{county}")

    @event("Recorded")
    def __init__(self, county: str, policy: dict[str, Any], version: int) -> None:
        self.county = county
        self.versions: dict[str, dict[str, Any]] = {str(version): dict(policy)}

    @event("Changed")
    def change(self, policy: dict[str, Any], version: int) -> None:
        self.versions[str(version)] = dict(policy)


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
        self.station_ids = list(station_ids)
        self.period_start = period_start
        self.period_end = period_end
        self.service_areas = list(service_areas)
        self.indicators = [dict(i) for i in indicators]
        self.policy = {**DEFAULT_POLICY, **policy}
        self.scope_changes: list[dict[str, Any]] = []
        self.status = "signed"
        self.ended_on: date | None = None

    @event("ScopeChanged")
    def change_scope(self, service_areas: list[str], effective_on: date) -> None:
        """An approved scope change (R-REG-6): these areas from ``effective_on``."""
        self.scope_changes.append({"service_areas": list(service_areas), "effective_on": effective_on})
        self.scope_changes.sort(key=lambda c: c["effective_on"])

    @event("Ended")
    def end(self, status: str, ended_on: date) -> None:
        """Terminated early (deliveries after ``ended_on`` no longer count) or expired."""
        self.status = status
        self.ended_on = ended_on

    def areas_on(self, day: date) -> list[str]:
        areas = self.service_areas
        for change in self.scope_changes:
            if change["effective_on"] <= day:
                areas = change["service_areas"]
        return list(areas)

    @property
    def last_day(self) -> date:
        if self.status == "terminated" and self.ended_on is not None:
            return min(self.period_end, self.ended_on)
        return self.period_end

    def covers(self, day: date) -> bool:
        return self.period_start <= day <= self.last_day

    def indicator(self, code: str) -> dict[str, Any] | None:
        return next((i for i in self.indicators if i["code"] == code), None)

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
        # Each period: provider, station, first and last day employed (None: still employed).
        self.employments: list[dict[str, Any]] = [
            {"provider_id": provider_id, "station_id": station_id, "start": hired_on, "end": None}
        ]

    @event("Rehired")
    def rehire(self, provider_id: str, station_id: str, role: str, hired_on: date) -> None:
        self._close(hired_on - timedelta(days=1))
        self.role = role
        self.employments.append({"provider_id": provider_id, "station_id": station_id, "start": hired_on, "end": None})

    @event("Moved")
    def move(self, provider_id: str, to_station_id: str, moved_on: date) -> None:
        self._close(moved_on - timedelta(days=1))
        self.employments.append({"provider_id": provider_id, "station_id": to_station_id, "start": moved_on, "end": None})

    @event("Left")
    def leave(self, left_on: date) -> None:
        self._close(left_on)

    def _close(self, last_day: date) -> None:
        for period in self.employments:
            if period["end"] is None or period["end"] > last_day:
                period["end"] = max(last_day, period["start"] - timedelta(days=1))

    def employment_on(self, day: date) -> dict[str, Any] | None:
        for period in self.employments:
            if period["start"] <= day and (period["end"] is None or day <= period["end"]):
                return period
        return None

    def is_hired(self, provider_id: str, station_id: str, hired_on: date) -> bool:
        return any(
            p["provider_id"] == provider_id and p["station_id"] == station_id and p["start"] == hired_on
            for p in self.employments
        )


class StationRoster(Aggregate):
    """Everyone who has worked at a station (社工站): a contract's staff are drawn from its stations."""

    @staticmethod
    def create_id(station_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"roster:{station_id}")

    @event("Opened")
    def __init__(self, station_id: str, county: str) -> None:
        self.station_id = station_id
        self.county = county
        self.worker_ids: list[str] = []

    def assign(self, worker_id: str) -> None:
        if worker_id not in self.worker_ids:
            self._assigned(worker_id=worker_id)

    @event("WorkerAssigned")
    def _assigned(self, worker_id: str) -> None:
        self.worker_ids.append(worker_id)
