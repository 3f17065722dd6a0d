"""Events of projects and procurement (立项 → 采购 → 授标). Published by the registry service,
which owns providers and contracts: subjects ``swp.<county>.registry.<EventType>``.

Programmes are province-level facts: ``ProgrammeLaunched`` and ``ProgrammeFundsAllocated``
travel on ``swp.province.registry.…``, the district named in ``data.county``.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from shared.events import IntegrationEvent, integration_event
from shared.events.registry import FundingShare, IndicatorTarget

SERVICE = "registry"


class Milestone(BaseModel):
    kind: str  # mobilisation | bidding | service | evaluation
    starts_on: date | None = None
    due_on: date
    description: str | None = None


class PilotTheme(BaseModel):
    county: str
    title: str
    goal: str = ""
    pilot_areas: int = 1


class TargetGroup(BaseModel):
    group: str
    number: int


class ServiceItem(BaseModel):
    code: str
    name: str
    unit: str
    minimum: int


class PackageRequirements(BaseModel):
    code: str
    name: str
    kind: str  # general | family_centre
    annual_budget_fen: int
    station_ids: list[str]
    service_start: date
    funding: list[FundingShare]
    service_items: list[ServiceItem]
    staffing: dict[str, int | str | None] | None = None
    quality_standards: list[str] = []
    standard: dict[str, int] | None = None  # family centres: the hours standard applied (R-LOG-4, R-FIN-10)


class EvaluationCriterion(BaseModel):
    code: str
    name: str
    weight: int
    kind: str  # price | quality


class BidScore(BaseModel):
    rank: int
    bid_id: str
    provider_id: str
    annual_price_fen: int
    criteria: dict[str, float]
    total: float


@integration_event(SERVICE)
class ProgrammeLaunched(IntegrationEvent):
    """A province or city programme (专项/试点项目) was launched with its budget, milestones and pilot themes."""

    programme_id: str
    issuer: str
    level: str
    document_no: str
    title: str
    issued_on: date
    budget_fen: int
    counties: list[str]
    milestones: list[Milestone]
    themes: list[PilotTheme]


@integration_event(SERVICE)
class ProgrammeFundsAllocated(IntegrationEvent):
    """A programme allocated part of its budget to a county/district (the allocations sum to the budget)."""

    programme_id: str
    county: str
    amount_fen: int
    pilot_areas: int | None = None


@integration_event(SERVICE)
class ProjectApplied(IntegrationEvent):
    """A project application (立项申请) was filed by a community, street or county bureau."""

    project_id: str
    county: str
    applicant_kind: str
    applicant_name: str
    name: str
    programme_id: str | None = None
    year_index: int
    project_years: int
    budget_fen: int
    service_areas: list[str]
    target_groups: list[TargetGroup]
    applied_on: date


@integration_event(SERVICE)
class ProjectDecided(IntegrationEvent):
    """One step of a project's decision chain was taken; ``status`` is the application's status after it."""

    project_id: str
    county: str
    step: str  # community_resolution | street_review | district_approval
    outcome: str  # approved | rejected
    decided_on: date
    decided_by: str
    reason: str | None = None
    status: str  # applied | approved | rejected


@integration_event(SERVICE)
class ProcurementOpened(IntegrationEvent):
    """The procurement of an approved project was opened with its method and published requirements."""

    procurement_id: str
    county: str
    project_id: str
    method: str
    single_source_justification: str | None = None
    invited_provider_ids: list[str] = []
    opened_on: date
    bid_deadline: date
    probation_first_year: bool = False
    packages: list[PackageRequirements]
    evaluation_criteria: list[EvaluationCriterion]
    # Per package code, the decimal quantities of its family-centre standard (e.g. direct hours per
    # professional "1632.3", R-LOG-4), as strings — never floats; `standard` holds the whole numbers.
    standard_decimals: dict[str, dict[str, str]] | None = None


@integration_event(SERVICE)
class BidSubmitted(IntegrationEvent):
    """A valid bid was received for a whole package (its price is disclosed with the award)."""

    bid_id: str
    procurement_id: str
    county: str
    package: str
    provider_id: str
    submitted_on: date


@integration_event(SERVICE)
class BidRejected(IntegrationEvent):
    """A bid was refused as invalid (无效投标), with the rule and the field that refused it."""

    bid_id: str
    procurement_id: str
    county: str
    package: str
    provider_id: str
    submitted_on: date
    rule: str
    field: str | None = None
    detail: str


@integration_event(SERVICE)
class ProcurementAwarded(IntegrationEvent):
    """A package was awarded by weighted scoring; every valid bid's scores are recorded."""

    procurement_id: str
    county: str
    project_id: str
    package: str
    bid_id: str
    provider_id: str
    awarded_on: date
    scores: list[BidScore]


@integration_event(SERVICE)
class ContractDrafted(IntegrationEvent):
    """The award drafted the contract: the terms to sign (the body of POST …/contracts)."""

    procurement_id: str
    county: str
    project_id: str
    package: str
    bid_id: str
    provider_id: str
    station_ids: list[str]
    purchaser: str
    signed_on: date
    effective_on: date
    period_start: date
    period_end: date
    amount_fen: int
    funding: list[FundingShare]
    service_areas: list[str]
    indicators: list[IndicatorTarget]
    cycle_years: int
    year_index: int
    probation: bool = False
    staffing: dict[str, int | None] | None = None
