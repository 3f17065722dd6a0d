"""Stations (社工站 …) and the social workers (社工) who staff them (R-REG-2, R-REG-3).

Typed state (#16 item 1): a station's :class:`StationKind`; a worker's :class:`WorkerRole`, its
:class:`Assignment`s and :class:`HeldQualification`s. The events keep their recorded fields and values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from registry.domainmodel.policy import EDUCATION_LEVELS, QUALIFICATIONS
from shared.rules import RuleViolation


class StationKind(StrEnum):
    TOWNSHIP_STATION = "township_station"  # 乡镇社工站
    STREET_STATION = "street_station"  # 街道社工站
    COMMUNITY_ROOM = "community_room"  # 村/社区社会工作室
    FAMILY_CENTRE = "family_centre"  # 家庭综合服务中心 (家综)
    COUNTY_HUB = "county_hub"  # 县级社工总站


class WorkerRole(StrEnum):
    SOCIAL_WORKER = "social_worker"
    SUPERVISOR = "supervisor"
    STATION_HEAD = "station_head"


STATION_KINDS = tuple(k.value for k in StationKind)
WORKER_ROLES = tuple(r.value for r in WorkerRole)

# The names DOMAIN.md and the seeds give stations, roles and education, recorded by their codes.
STATION_KIND_ALIASES = {
    "乡镇社工站": "township_station", "乡镇社会工作服务站": "township_station",
    "街道社工站": "street_station", "街道社会工作服务站": "street_station",
    "社会工作室": "community_room", "村社会工作室": "community_room", "社区社会工作室": "community_room",
    "家庭综合服务中心": "family_centre", "家综": "family_centre",
    "县级社工总站": "county_hub", "社工总站": "county_hub", "县社会工作服务总站": "county_hub", "指导中心": "county_hub",
}
ROLE_ALIASES = {"社工": "social_worker", "驻站社工": "social_worker", "项目社工": "social_worker", "督导": "supervisor",
                "站长": "station_head"}
EDUCATION_ALIASES = {"专科": "大专", "大学专科": "大专", "大学本科": "本科", "研究生": "硕士"}


def canonical(value: str, aliases: dict[str, str]) -> str:
    """``value`` by its code (an unknown value is returned as given, to be refused)."""
    value = value.strip()
    return aliases.get(value, value)


@dataclass(frozen=True)
class Assignment:
    """Where a worker was when: ``end`` None while current (its last day otherwise)."""

    station_id: str
    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class HeldQualification:
    """A certificate level and the day it was obtained (None: held when hired)."""

    qualification: str
    since: date | None = None


class Station(Aggregate):
    """A station (社工站 / 社会工作室 / 家庭综合服务中心 / 县级总站) in one county."""

    @event("Established")
    def __init__(self, county: str, name: str, township: str, kind: str) -> None:
        self.county = county
        self.name = name
        self.township = township
        self.kind = StationKind(kind)


def check_station_kind(kind: str) -> None:
    if kind not in STATION_KINDS:
        raise RuleViolation(
            f"kind must be one of {STATION_KINDS}", rule="R-REG-2", field="kind", facts={"code": "station_kind_unknown", "kind": kind}
        )


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def year_end_from(start: date) -> date:
    """The last day of a year running from ``start``: the day before the same date a year later
    (a start on 29 February runs to 28 February, the day before 1 March)."""
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:  # 29 February
        return date(start.year + 1, 2, 28)


def qualification_rank(qualification: str) -> int:
    return QUALIFICATIONS.index(qualification)


def check_hiring(policy: dict[str, Any], birth_date: date, education: str, qualification: str, role: str, hired_on: date) -> None:
    """R-REG-3: age limit and minimum education at hiring; known certificate level and role."""
    limit = int(policy["worker_max_age_at_hiring"])
    if age_on(birth_date, hired_on) > limit:
        raise RuleViolation(
            f"worker is {age_on(birth_date, hired_on)} on {hired_on}, the county's limit at hiring is {limit}",
            rule="R-REG-3",
            field="birth_date",
            facts={"code": "worker_too_old", "age": age_on(birth_date, hired_on), "date": hired_on.isoformat(), "limit": limit},
        )
    minimum = policy["min_education"]
    if education not in EDUCATION_LEVELS:
        raise RuleViolation(
            f"education must be one of {EDUCATION_LEVELS}", rule="R-REG-3", field="education",
            facts={"code": "education_unknown", "education": education},
        )
    if EDUCATION_LEVELS.index(education) < EDUCATION_LEVELS.index(minimum):
        raise RuleViolation(
            f"education must be at least {minimum}", rule="R-REG-3", field="education",
            facts={"code": "education_below", "education": education, "minimum": minimum},
        )
    if qualification not in QUALIFICATIONS:
        raise RuleViolation(
            f"qualification must be one of {QUALIFICATIONS}", rule="R-REG-3", field="qualification",
            facts={"code": "qualification_unknown", "qualification": qualification},
        )
    if role not in WORKER_ROLES:
        raise RuleViolation(
            f"role must be one of {WORKER_ROLES}", rule="R-REG-2", field="role", facts={"code": "role_unknown", "role": role}
        )


def certificate_due(policy: dict[str, Any], qualification: str, hired_on: date) -> date | None:
    """R-REG-3: hired without a certificate → one is due within the policy's years."""
    if qualification != "none":
        return None
    return add_years(hired_on, int(policy["certificate_deadline_years"]))


class Worker(Aggregate):
    """A social worker employed by a provider, at one station at a time."""

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
        self.role = WorkerRole(role)
        self.hired_on = hired_on
        self.certificate_due_on = certificate_due_on
        self.qualified_on: date | None = None
        # Certificate levels over time, the one held at hiring first.
        self.qualifications: tuple[HeldQualification, ...] = (HeldQualification(qualification),)
        self.left_on: date | None = None
        self.leaving_reason: str | None = None
        self.assignments: tuple[Assignment, ...] = (Assignment(station_id, hired_on),)

    # --- queries --------------------------------------------------------------------------
    def employed_on(self, day: date) -> bool:
        return self.hired_on <= day and (self.left_on is None or day <= self.left_on)

    def station_on(self, day: date) -> str | None:
        return next((a.station_id for a in self.assignments if a.covers(day)), None)

    def qualification_on(self, day: date) -> str:
        held = [q for q in self.qualifications if q.since is None or q.since <= day]
        return held[-1].qualification if held else self.qualifications[0].qualification

    def certificate_overdue(self, as_of: date) -> bool:
        """R-REG-3: the deadline passed unmet — flagged for 调整岗位或重新招募."""
        return self.certificate_due_on is not None and self.certificate_due_on < as_of

    # --- changes --------------------------------------------------------------------------
    def move_to(self, station_id: str, moved_on: date) -> None:
        """From ``moved_on`` the worker is at ``station_id`` (same provider: no subcontracting, R-REG-8)."""
        self._still_employed("moved_on")
        current = self.assignments[-1]
        if station_id == current.station_id:
            raise RuleViolation(
                "the worker is already at that station", rule="R-REG-2", field="to_station_id",
                facts={"code": "already_at_station", "station_id": station_id},
            )
        if moved_on <= current.start:
            raise RuleViolation(
                f"moved_on must be after {current.start}", rule="R-REG-2", field="moved_on",
                facts={"code": "move_not_after_start", "start": current.start.isoformat(), "date": moved_on.isoformat()},
            )
        self._moved(
            provider_id=self.provider_id, from_station_id=current.station_id, to_station_id=station_id, moved_on=moved_on
        )

    def _end_assignment(self, end: date) -> None:
        *earlier, current = self.assignments
        self.assignments = (*earlier, dataclasses.replace(current, end=end))

    @event("Moved")
    def _moved(self, provider_id: str, from_station_id: str, to_station_id: str, moved_on: date) -> None:
        self._end_assignment(moved_on - timedelta(days=1))
        self.assignments = (*self.assignments, Assignment(to_station_id, moved_on))
        self.station_id = to_station_id

    def qualify(self, qualification: str, qualified_on: date) -> None:
        """R-REG-3: a certificate level obtained (or a higher one); meets the deadline if one was due."""
        self._still_employed("qualified_on")
        if qualification not in QUALIFICATIONS[1:]:
            raise RuleViolation(
                f"qualification must be one of {QUALIFICATIONS[1:]}", rule="R-REG-3", field="qualification",
                facts={"code": "qualification_unknown", "qualification": qualification},
            )
        if qualification_rank(qualification) <= qualification_rank(self.qualification):
            raise RuleViolation(
                f"the worker already holds {self.qualification}", rule="R-REG-3", field="qualification",
                facts={"code": "qualification_not_higher", "held": self.qualification, "qualification": qualification},
            )
        self._qualified(qualification=qualification, qualified_on=qualified_on)

    @event("Qualified")
    def _qualified(self, qualification: str, qualified_on: date) -> None:
        self.qualification = qualification
        self.qualified_on = qualified_on
        self.qualifications = (*self.qualifications, HeldQualification(qualification, qualified_on))
        self.certificate_due_on = None

    def leave(self, left_on: date, reason: str) -> None:
        """``left_on`` is the last day employed."""
        self._still_employed("left_on")
        if left_on < self.assignments[-1].start:
            raise RuleViolation(
                f"left_on cannot precede {self.assignments[-1].start}", rule="R-REG-3", field="left_on",
                facts={"code": "left_before_start", "start": self.assignments[-1].start.isoformat(), "date": left_on.isoformat()},
            )
        self._left(provider_id=self.provider_id, station_id=self.station_id, left_on=left_on, reason=reason)

    @event("Left")
    def _left(self, provider_id: str, station_id: str, left_on: date, reason: str) -> None:
        self.left_on = left_on
        self.leaving_reason = reason
        self._end_assignment(left_on)

    def _still_employed(self, field: str) -> None:
        if self.left_on is not None:
            raise RuleViolation(
                f"the worker left on {self.left_on}", rule="R-REG-3", field=field,
                facts={"code": "worker_left", "date": self.left_on.isoformat()},
            )
