"""Aggregates of programmes, projects and procurement. Pure domain: standard library,
eventsourcing.domain and shared.rules only. Rule ids: see the package docstring.

Typed state (#16 item 1): a programme's :class:`Milestone`s; a project's :class:`Decision`s and its
:class:`ProjectStatus`; a procurement's :class:`BidEntry`s, :class:`RefusedBidEntry`s, :class:`Award`s
and :class:`Draft`s, its status a :class:`ProcurementStatus`. The events keep their recorded fields and
values. Still the mappings recorded: a programme's allocations and themes, a project's applicant and
justification, a procurement's project, packages, criteria, award scores and drafted terms — requirements
published as submitted and handed on (``ProcurementOpened``, ``ContractDrafted``) as recorded.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation

NS = uuid.UUID("5d0e9a7c-1f2b-5c3d-9e4f-a1b2c3d4e5f6")

MILESTONE_KINDS = ("mobilisation", "bidding", "service", "evaluation")  # 动员部署, 招投标, 服务, 评估
APPLICANT_KINDS = ("community", "street", "county_bureau")  # 社区, 街道, 县(区)民政局
DECISION_STEPS = ("community_resolution", "street_review", "district_approval")
# The chain starts at the applicant's own level: a street's application has no community resolution.
DECISION_CHAINS: dict[str, tuple[str, ...]] = {
    "community": DECISION_STEPS,
    "street": DECISION_STEPS[1:],
    "county_bureau": DECISION_STEPS[2:],
}
METHODS = ("公开招标", "邀请招标", "竞争性谈判", "竞争性磋商", "单一来源采购", "项目评审会")
SINGLE_SOURCE = "单一来源采购"
INVITED = "邀请招标"
PACKAGE_KINDS = ("general", "family_centre")


class ProjectStatus(StrEnum):
    APPLIED = "applied"
    APPROVED = "approved"
    REJECTED = "rejected"


class ProcurementStatus(StrEnum):
    OPEN = "open"
    AWARDED = "awarded"


@dataclass(frozen=True)
class Milestone:
    """R-PRJ-1: a programme milestone (动员部署, 招投标, 服务, 评估) and when it is due."""

    kind: str
    starts_on: date | None  # in the order of the milestone as published (and as the audit's state shows it)
    due_on: date
    description: str | None = None

    @classmethod
    def recorded(cls, m: Mapping[str, Any]) -> Milestone:
        return cls(kind=m["kind"], starts_on=m.get("starts_on"), due_on=m["due_on"], description=m.get("description"))


@dataclass(frozen=True)
class Decision:
    """R-PRJ-4: one step of a project's decision chain."""

    step: str
    outcome: str
    decided_on: date
    decided_by: str
    reason: str | None
    reference: str | None


@dataclass(frozen=True)
class BidEntry:
    """A valid bid received for a package (the bid itself is its own aggregate, :class:`Bid`)."""

    bid_id: str
    provider_id: str
    package: str
    submitted_on: date


@dataclass(frozen=True)
class RefusedBidEntry:
    """An invalid bid (无效投标) and the rule that refused it."""

    bid_id: str
    provider_id: str
    package: str
    rule: str
    field: str | None


@dataclass(frozen=True)
class Award:
    """R-PRC-3: the winning bid of a package, with the panel's weighted scores as recorded."""

    bid_id: str
    provider_id: str
    awarded_on: date
    scores: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Draft:
    """The contract drafted from an award: ``terms`` is the body of the contract signing route."""

    bid_id: str
    terms: Mapping[str, Any]
    staffing: Mapping[str, Any] | None


def allocation_id(programme_id: str, county: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"allocation:{programme_id}:{county}")


# --- programmes ----------------------------------------------------------------------
class Programme(Aggregate):
    """A province or city programme (专项/试点项目): budget, county allocations, milestones, themes."""

    @event("Launched")
    def __init__(
        self,
        issuer: str,
        level: str,
        document_no: str,
        title: str,
        issued_on: date,
        budget_fen: int,
        allocations: list[dict[str, Any]],
        milestones: list[dict[str, Any]],
        themes: list[dict[str, Any]],
    ) -> None:
        self.issuer = issuer
        self.level = level
        self.document_no = document_no
        self.title = title
        self.issued_on = issued_on
        self.budget_fen = budget_fen
        self.allocations = allocations
        self.milestones: tuple[Milestone, ...] = tuple(Milestone.recorded(m) for m in milestones)
        self.themes = themes
        self.reached: dict[str, date] = {}

    @event("MilestoneReached")
    def reach_milestone(self, kind: str, reached_on: date) -> None:
        self.reached[kind] = reached_on

    def milestone(self, kind: str) -> Milestone:
        for m in self.milestones:
            if m.kind == kind:
                return m
        raise RuleViolation(f"the programme has no {kind} milestone", rule="R-PRJ-1", field="kind")

    def milestone_status(self, kind: str, as_of: date) -> str:
        """done, overdue, in_progress or upcoming — what a province officer sees on ``as_of``."""
        m = self.milestone(kind)
        reached = self.reached.get(kind)
        if reached is not None and reached <= as_of:
            return "done"
        if as_of > m.due_on:
            return "overdue"
        starts = m.starts_on
        return "in_progress" if starts is not None and starts <= as_of else "upcoming"


def check_programme(
    budget_fen: int, allocations: list[dict[str, Any]], milestones: list[dict[str, Any]], themes: list[dict[str, Any]]
) -> None:
    """R-PRJ-1: the split adds up, each county once, milestones in their natural order."""
    if budget_fen <= 0:
        raise RuleViolation("the programme budget must be positive", rule="R-PRJ-1", field="budget_fen")
    if not allocations:
        raise RuleViolation("a programme allocates its budget to at least one county", rule="R-PRJ-1", field="allocations")
    seen: set[str] = set()
    for i, a in enumerate(allocations):
        if a["county"] in seen:
            raise RuleViolation(f"county {a['county']} is allocated twice", rule="R-PRJ-1", field=f"allocations.{i}.county")
        seen.add(a["county"])
        if a["amount_fen"] <= 0:
            raise RuleViolation("an allocation must be positive", rule="R-PRJ-1", field=f"allocations.{i}.amount_fen")
    total = sum(a["amount_fen"] for a in allocations)
    if total > budget_fen:
        raise RuleViolation(
            f"over-allocation: the allocations total {total} fen, the budget is {budget_fen} fen",
            rule="R-PRJ-1",
            field="allocations",
        )
    if total < budget_fen:
        raise RuleViolation(
            f"the allocations must sum to the budget: {budget_fen - total} fen left unallocated",
            rule="R-PRJ-1",
            field="allocations",
        )
    kinds = [m["kind"] for m in milestones]
    if len(set(kinds)) != len(kinds):
        raise RuleViolation("each milestone kind once", rule="R-PRJ-1", field="milestones")
    ordered = sorted(milestones, key=lambda m: MILESTONE_KINDS.index(m["kind"]))
    for i, m in enumerate(milestones):
        if m["kind"] not in MILESTONE_KINDS:
            raise RuleViolation(f"kind must be one of {MILESTONE_KINDS}", rule="R-PRJ-1", field=f"milestones.{i}.kind")
        if m.get("starts_on") is not None and m["starts_on"] > m["due_on"]:
            raise RuleViolation("a milestone cannot start after it is due", rule="R-PRJ-1", field=f"milestones.{i}.starts_on")
    for before, after in itertools.pairwise(ordered):
        if after["due_on"] < before["due_on"]:
            raise RuleViolation(
                f"the {after['kind']} milestone cannot be due before {before['kind']}",
                rule="R-PRJ-1",
                field=f"milestones.{milestones.index(after)}.due_on",
            )
    for i, t in enumerate(themes):
        if t["county"] not in seen:
            raise RuleViolation("a pilot theme belongs to an allocated county", rule="R-PRJ-1", field=f"themes.{i}.county")


class ProgrammeAllocation(Aggregate):
    """A county's share (额度) of a programme, and the projects charged against it (R-PRJ-3)."""

    @staticmethod
    def create_id(programme_id: str, county: str, amount_fen: int, pilot_areas: int | None) -> uuid.UUID:
        return allocation_id(programme_id, county)

    @event("Allocated")
    def __init__(self, programme_id: str, county: str, amount_fen: int, pilot_areas: int | None) -> None:
        self.programme_id = programme_id
        self.county = county
        self.amount_fen = amount_fen
        self.pilot_areas = pilot_areas
        self.charges: dict[str, int] = {}

    @property
    def committed_fen(self) -> int:
        return sum(self.charges.values())

    @property
    def remaining_fen(self) -> int:
        return self.amount_fen - self.committed_fen

    def reserve(self, project_id: str, amount_fen: int) -> None:
        if amount_fen > self.remaining_fen:
            raise RuleViolation(
                f"the project's {amount_fen} fen exceed the county's remaining programme allocation of "
                f"{self.remaining_fen} fen (allocated {self.amount_fen})",
                rule="R-PRJ-3",
                field="budget_fen",
            )
        if self.pilot_areas is not None and len(self.charges) >= self.pilot_areas:
            raise RuleViolation(
                f"the programme funds {self.pilot_areas} pilot area(s) in this county, all taken",
                rule="R-PRJ-3",
                field="programme_id",
            )
        self._charge(project_id, amount_fen)

    @event("ProjectCharged")
    def _charge(self, project_id: str, amount_fen: int) -> None:
        self.charges[project_id] = amount_fen

    @event("ProjectReleased")
    def release(self, project_id: str) -> None:
        self.charges.pop(project_id, None)


# --- project applications ------------------------------------------------------------
class Project(Aggregate):
    """A project application (立项申请) of a community, street or county bureau."""

    @event("Applied")
    def __init__(
        self,
        county: str,
        applicant: dict[str, Any],
        name: str,
        programme_id: str | None,
        year_index: int,
        project_years: int,
        budget_fen: int,
        justification: dict[str, Any],
        service_areas: list[str],
        applied_on: date,
    ) -> None:
        self.county = county
        self.applicant = applicant
        self.name = name
        self.programme_id = programme_id
        self.year_index = year_index
        self.project_years = project_years
        self.budget_fen = budget_fen
        self.justification = justification
        self.service_areas = service_areas
        self.applied_on = applied_on
        self.decisions: tuple[Decision, ...] = ()
        self.status = ProjectStatus.APPLIED
        self.procurement_id: str | None = None

    @property
    def chain(self) -> tuple[str, ...]:
        return DECISION_CHAINS[self.applicant["kind"]]

    @property
    def next_step(self) -> str | None:
        return self.chain[len(self.decisions)] if self.status == ProjectStatus.APPLIED else None

    def decide(
        self, step: str, outcome: str, decided_on: date, decided_by: str, reason: str | None, reference: str | None
    ) -> None:
        """R-PRJ-4: the next step of the chain, by the unit of that level; a rejection ends it."""
        if self.status != ProjectStatus.APPLIED:
            raise RuleViolation(f"the application is already {self.status}", rule="R-PRJ-4", field="step")
        if step != self.next_step:
            raise RuleViolation(
                f"the next decision is {self.next_step} (chain {' → '.join(self.chain)})", rule="R-PRJ-4", field="step"
            )
        if outcome not in ("approved", "rejected"):
            raise RuleViolation("outcome is approved or rejected", rule="R-PRJ-4", field="outcome")
        if outcome == "rejected" and not (reason or "").strip():
            raise RuleViolation("a rejection states its reason", rule="R-PRJ-4", field="reason")
        previous = self.decisions[-1].decided_on if self.decisions else self.applied_on
        if decided_on < previous:
            raise RuleViolation(f"a decision cannot precede {previous}", rule="R-PRJ-4", field="decided_on")
        last = step == self.chain[-1]
        status = "rejected" if outcome == "rejected" else ("approved" if last else "applied")
        self._decided(step, outcome, decided_on, decided_by, reason, reference, status)

    @event("Decided")
    def _decided(
        self,
        step: str,
        outcome: str,
        decided_on: date,
        decided_by: str,
        reason: str | None,
        reference: str | None,
        status: str,
    ) -> None:
        self.decisions = (*self.decisions, Decision(step, outcome, decided_on, decided_by, reason, reference))
        self.status = ProjectStatus(status)

    @event("ProcurementStarted")
    def start_procurement(self, procurement_id: str) -> None:
        self.procurement_id = procurement_id


def check_application(year_index: int, project_years: int, budget_fen: int, justification: dict[str, Any]) -> None:
    """R-PRJ-2: what the 立项申请表 must say (申报理由: 征求居民意见情况, 服务对象的数量、需求)."""
    if not 1 <= year_index <= project_years:
        raise RuleViolation(f"year {year_index} is not within a {project_years}-year project (服务期限: 第{year_index}年超出{project_years}年项目)", rule="R-PRJ-2", field="year_index")
    if budget_fen <= 0:
        raise RuleViolation("the project budget (项目预算) must be positive", rule="R-PRJ-2", field="budget_fen")
    if not justification["consultation"].strip():
        raise RuleViolation("state how residents were consulted (征求居民意见情况)", rule="R-PRJ-2", field="justification.consultation")
    if not justification["target_groups"]:
        raise RuleViolation("name the target groups and their numbers (服务对象及数量)", rule="R-PRJ-2", field="justification.target_groups")
    for i, g in enumerate(justification["target_groups"]):
        if g["number"] <= 0:
            raise RuleViolation("a target group's number (服务对象数量) must be positive", rule="R-PRJ-2",
                                field=f"justification.target_groups.{i}.number")
    if not [n for n in justification["needs"] if n.strip()]:
        raise RuleViolation("state the needs the project answers (服务需求)", rule="R-PRJ-2", field="justification.needs")


# --- procurement ---------------------------------------------------------------------
class Procurement(Aggregate):
    """The procurement (采购) of an approved project: method, published requirements, bids, awards."""

    @event("Opened")
    def __init__(
        self,
        county: str,
        project: dict[str, Any],
        method: str,
        single_source_justification: str | None,
        invited_provider_ids: list[str],
        opened_on: date,
        bid_deadline: date,
        probation_first_year: bool,
        packages: list[dict[str, Any]],
        evaluation_criteria: list[dict[str, Any]],
    ) -> None:
        self.county = county
        self.project = project  # what the draft needs: id, name, purchaser, service areas, year k of n
        self.method = method
        self.single_source_justification = single_source_justification
        self.invited_provider_ids = invited_provider_ids
        self.opened_on = opened_on
        self.bid_deadline = bid_deadline
        self.probation_first_year = probation_first_year
        self.packages = packages
        self.evaluation_criteria = evaluation_criteria
        self.bids: tuple[BidEntry, ...] = ()
        self.refused: tuple[RefusedBidEntry, ...] = ()
        self.awards: dict[str, Award] = {}  # package code → its award, in the order awarded
        self.drafts: dict[str, Draft] = {}

    def package(self, code: str, field: str = "package") -> dict[str, Any]:
        for p in self.packages:
            if p["code"] == code:
                return p
        raise RuleViolation(f"no package {code!r} in this procurement", rule="R-PRC-2", field=field)

    def bids_for(self, package: str) -> list[BidEntry]:
        return [b for b in self.bids if b.package == package]

    @property
    def status(self) -> ProcurementStatus:
        return ProcurementStatus.AWARDED if len(self.awards) == len(self.packages) else ProcurementStatus.OPEN

    @event("BidReceived")
    def receive_bid(self, bid_id: str, provider_id: str, package: str, submitted_on: date) -> None:
        self.bids = (*self.bids, BidEntry(bid_id, provider_id, package, submitted_on))

    @event("BidRefused")
    def refuse_bid(self, bid_id: str, provider_id: str, package: str, rule: str, field: str | None) -> None:
        self.refused = (*self.refused, RefusedBidEntry(bid_id, provider_id, package, rule, field))

    @event("Awarded")
    def award(
        self, project_id: str, package: str, bid_id: str, provider_id: str, awarded_on: date, scores: list[dict[str, Any]]
    ) -> None:
        self.awards = {**self.awards, package: Award(bid_id, provider_id, awarded_on, tuple(scores))}

    @event("ContractDrafted")
    def draft_contract(
        self, project_id: str, package: str, bid_id: str, terms: dict[str, Any], staffing: dict[str, Any] | None
    ) -> None:
        self.drafts = {**self.drafts, package: Draft(bid_id, terms, staffing)}


class Bid(Aggregate):
    """A valid bid (投标文件) for one whole package."""

    @event("Submitted")
    def __init__(
        self,
        county: str,
        procurement_id: str,
        package: str,
        provider_id: str,
        submitted_on: date,
        annual_price_fen: int,
        items: list[dict[str, Any]],
        staffing: dict[str, Any] | None,
        service_plan: str,
    ) -> None:
        self.county = county
        self.procurement_id = procurement_id
        self.package = package
        self.provider_id = provider_id
        self.submitted_on = submitted_on
        self.annual_price_fen = annual_price_fen
        self.items = items
        self.staffing = staffing
        self.service_plan = service_plan


class RejectedBid(Aggregate):
    """An invalid bid (无效投标), kept for the evaluation report with the rule that refused it."""

    @event("Rejected")
    def __init__(
        self,
        county: str,
        procurement_id: str,
        package: str,
        provider_id: str,
        submitted_on: date,
        annual_price_fen: int,
        rule: str,
        field: str | None,
        detail: str,
    ) -> None:
        self.county = county
        self.procurement_id = procurement_id
        self.package = package
        self.provider_id = provider_id
        self.submitted_on = submitted_on
        self.annual_price_fen = annual_price_fen
        self.rule = rule
        self.field = field
        self.detail = detail

    def violation(self) -> RuleViolation:
        return RuleViolation(self.detail, rule=self.rule, field=self.field)
