"""Providers (承接主体/承接机构): the NGOs that win contracts and run stations (R-REG-1, R-REG-9).

Typed state (#16 item 1): :class:`PriorProject`s, :class:`Ban`s and :class:`Disclosure`s
(kind a :class:`DisclosureKind`); the events keep their recorded fields and values."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from registry.domainmodel.policy import NS
from registry.domainmodel.uscc import uscc_problem
from shared.rules import RuleViolation

RATINGS = ("1A", "2A", "3A", "4A", "5A")  # 社会组织评估等级
PASS_GRADES = ("优秀", "良好", "合格")  # R-EVAL-6: passed = 合格 or better
GRADES = (*PASS_GRADES, "不合格")
# R-REG-9: what a provider discloses to the public.
class DisclosureKind(StrEnum):
    BASIC_INFO = "basic_info"
    QUALIFICATION = "qualification"
    ANNUAL_FINANCIAL_REPORT = "annual_financial_report"
    PROJECT_RECORD = "project_record"


DISCLOSURE_KINDS = tuple(k.value for k in DisclosureKind)


@dataclass(frozen=True)
class PriorProject:
    """A government project before this platform, as verified by the purchaser (R-REG-1)."""

    name: str
    year: int
    grade: str

    @classmethod
    def recorded(cls, project: Mapping[str, Any]) -> PriorProject:
        return cls(name=project["name"], year=project["year"], grade=project["grade"])


def prior_projects_of(projects: Iterable[Mapping[str, Any]]) -> tuple[PriorProject, ...]:
    return tuple(PriorProject.recorded(p) for p in projects)


@dataclass(frozen=True)
class Ban:
    """R-EVAL-9: banned from government purchase from ``banned_on`` through ``until``."""

    banned_on: date
    until: date
    reason: str
    evaluation_id: str | None = None
    contract_id: str | None = None

    def in_force_on(self, day: date) -> bool:
        return self.banned_on <= day <= self.until


@dataclass(frozen=True)
class CountyBan:
    """A ban of an organisation as the county directory knows it, in whichever county it was imposed."""

    county: str
    provider_id: str
    banned_on: date
    until: date
    reason: str

    def in_force_on(self, day: date) -> bool:
        return self.banned_on <= day <= self.until


@dataclass(frozen=True)
class Disclosure:
    """R-REG-9: a document the provider published."""

    disclosure_id: str
    kind: DisclosureKind
    title: str
    year: int | None
    summary: str
    url: str | None
    published_on: date


def check_uscc(uscc: str) -> None:
    problem = uscc_problem(uscc)
    if problem:
        raise RuleViolation(f"统一社会信用代码 {problem}", rule="R-REG-1", field="uscc", facts={"code": "uscc_invalid", "uscc": uscc})


def check_prior_projects(prior_projects: list[dict[str, Any]]) -> None:
    for i, project in enumerate(prior_projects):
        if project.get("grade") not in GRADES:
            raise RuleViolation(
                f"grade must be one of {GRADES}", rule="R-REG-1", field=f"prior_projects.{i}.grade",
                facts={"code": "grade_unknown", "grade": project.get("grade")},
            )


class Provider(Aggregate):
    """A provider registered in one county, identified there by its 统一社会信用代码."""

    @staticmethod
    def create_id(county: str, uscc: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"provider:{county}:{uscc}")

    @event("Registered")
    def __init__(
        self,
        county: str,
        name: str,
        uscc: str,
        rating: str | None,
        has_party_org: bool,
        prior_projects: list[dict[str, Any]],
    ) -> None:
        self.county = county
        self.name = name
        self.uscc = uscc
        self.rating = rating
        self.has_party_org = has_party_org
        self.prior_projects = prior_projects_of(prior_projects)
        self.passed_evaluations: tuple[str, ...] = ()
        self.bans: tuple[Ban, ...] = ()
        self.banned_until: date | None = None
        self.disclosures: tuple[Disclosure, ...] = ()

    # --- eligibility (R-REG-1) -----------------------------------------------------------
    def is_banned_on(self, day: date) -> bool:
        return any(ban.in_force_on(day) for ban in self.bans)

    def ban_in_force(self, day: date) -> Ban | None:
        return next((ban for ban in reversed(self.bans) if ban.in_force_on(day)), None)

    @property
    def has_prior_pass(self) -> bool:
        return bool(self.passed_evaluations) or any(p.grade in PASS_GRADES for p in self.prior_projects)

    def rating_at_least(self, minimum: str) -> bool:
        return self.rating in RATINGS and RATINGS.index(self.rating) >= RATINGS.index(minimum)

    # --- changes ---------------------------------------------------------------------------
    @event("ProfileUpdated")
    def update_profile(self, rating: str | None, has_party_org: bool, prior_projects: list[dict[str, Any]]) -> None:
        self.rating = rating
        self.has_party_org = has_party_org
        self.prior_projects = prior_projects_of(prior_projects)

    def impose_ban(
        self, banned_on: date, until: date, reason: str, evaluation_id: str | None = None, contract_id: str | None = None
    ) -> None:
        """R-EVAL-9: banned from government purchase from ``banned_on`` through ``until``."""
        if until < banned_on:
            raise RuleViolation(
                "a ban ends on or after the day it starts", rule="R-EVAL-9", field="until",
                facts={"code": "ban_ends_before_start", "banned_on": banned_on.isoformat(), "until": until.isoformat()},
            )
        if any(b.until >= until and b.banned_on <= banned_on for b in self.bans):
            return  # an existing ban already covers it: nothing new to record
        self._banned(banned_on=banned_on, until=until, reason=reason, evaluation_id=evaluation_id, contract_id=contract_id)

    @event("Banned")
    def _banned(
        self, banned_on: date, until: date, reason: str, evaluation_id: str | None, contract_id: str | None
    ) -> None:
        self.bans = (*self.bans, Ban(banned_on, until, reason, evaluation_id, contract_id))
        self.banned_until = max(b.until for b in self.bans)

    def note_evaluation(self, evaluation_id: str, passed: bool) -> None:
        """A passed evaluation of one of its contracts counts as a prior pass (R-REG-1)."""
        if passed and evaluation_id not in self.passed_evaluations:
            self._evaluation_passed(evaluation_id=evaluation_id)

    @event("EvaluationPassed")
    def _evaluation_passed(self, evaluation_id: str) -> None:
        self.passed_evaluations = (*self.passed_evaluations, evaluation_id)

    def disclose(self, disclosure_id: str, kind: str, title: str, year: int | None, summary: str, url: str | None, published_on: date) -> None:
        """R-REG-9: publish a document (basic info, qualifications, annual financial report, project record)."""
        if kind not in DISCLOSURE_KINDS:
            raise RuleViolation(
                f"kind must be one of {DISCLOSURE_KINDS}", rule="R-REG-9", field="kind",
                facts={"code": "disclosure_kind_unknown", "kind": kind},
            )
        if kind == "annual_financial_report" and year is None:
            raise RuleViolation(
                "an annual financial report names its year", rule="R-REG-9", field="year", facts={"code": "report_year_missing"}
            )
        self._disclosed(disclosure_id=disclosure_id, kind=kind, title=title, year=year, summary=summary, url=url, published_on=published_on)

    @event("DisclosurePublished")
    def _disclosed(self, disclosure_id: str, kind: str, title: str, year: int | None, summary: str, url: str | None, published_on: date) -> None:
        self.disclosures = (
            *self.disclosures,
            Disclosure(disclosure_id, DisclosureKind(kind), title, year, summary, url, published_on),
        )
