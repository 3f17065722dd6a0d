"""Request and response bodies of the procurement API (they become its OpenAPI text)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import Fen as StrictFen
from shared.bounds import day_range
from shared.text import Name as CleanName

Day = day_range(date(2000, 1, 1), date(2099, 12, 31))
Fen = Annotated[StrictFen, Field(ge=0, le=10**13, description="Integer fen (R-FIN-1)")]
Code = Annotated[str, Field(min_length=1, max_length=50)]
Name = Annotated[CleanName, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=5000)]
Id = Annotated[str, Field(max_length=64)]
Method = Literal["公开招标", "邀请招标", "竞争性谈判", "竞争性磋商", "单一来源采购", "项目评审会"]
MilestoneKind = Literal["mobilisation", "bidding", "service", "evaluation"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- programmes ----------------------------------------------------------------------
class AllocationIn(Strict):
    county: str = Field(pattern=r"^\d{6}$", description="6-digit code of a registered county/district")
    name: CleanName | None = Field(default=None, max_length=100, examples=["静安区"])
    amount_fen: Fen
    pilot_areas: int | None = Field(default=None, ge=1, le=1000, description="Pilot streets/towns (试点街道) it funds")


class MilestoneSpec(Strict):
    kind: MilestoneKind = Field(description="mobilisation 动员部署, bidding 招投标, service 服务, evaluation 评估")
    starts_on: Day | None = None
    due_on: Day
    description: str | None = Field(default=None, max_length=500)


class ThemeIn(Strict):
    county: str = Field(pattern=r"^\d{6}$")
    title: Name = Field(examples=["社会工作促进楼组自治项目"])
    goal: Text = ""
    pilot_areas: int = Field(default=1, ge=1, le=1000)


class ProgrammeIn(Strict):
    issuer: Name = Field(examples=["上海市民政局"])
    level: Literal["province", "city"] = "city"
    document_no: str = Field(default="", max_length=100, examples=["沪民社工发〔2018〕8号"])
    title: Name
    issued_on: Day
    budget_fen: Fen
    allocations: list[AllocationIn] = Field(max_length=200)
    milestones: list[MilestoneSpec] = Field(default_factory=list, max_length=4)
    themes: list[ThemeIn] = Field(default_factory=list, max_length=200, description="Pilot themes (试点项目) per county")


class ProgrammeCreated(BaseModel):
    programme_id: str


class MilestoneIn(Strict):
    reached_on: Day


class AllocationOut(BaseModel):
    county: str
    name: str | None
    amount_fen: int
    pilot_areas: int | None
    committed_fen: int
    remaining_fen: int
    projects: list[dict[str, Any]] | None = Field(description="Charged projects; null when the caller is not granted the county")


class MilestoneOut(BaseModel):
    kind: str
    starts_on: date | None = None
    due_on: date
    description: str | None = None
    reached_on: date | None
    status: Literal["done", "overdue", "in_progress", "upcoming"]


class ProgrammeOut(BaseModel):
    programme_id: str
    version: int
    issuer: str
    level: str
    document_no: str
    title: str
    issued_on: date
    budget_fen: int
    as_of: date
    allocations: list[AllocationOut]
    milestones: list[MilestoneOut]
    themes: list[dict[str, Any]]


# --- project applications ------------------------------------------------------------
class ApplicantIn(Strict):
    kind: Literal["community", "street", "county_bureau"] = Field(description="社区, 街道 or 县(区)民政局")
    name: Name = Field(examples=["湖里区湖里街道和通社区"])
    street: str | None = Field(default=None, max_length=100, description="街道 a community belongs to")


class TargetGroupIn(Strict):
    group: Name = Field(examples=["困境儿童"])
    number: int = Field(ge=-(10**9), le=10**9, description="How many people (服务对象的数量)")


class JustificationIn(Strict):
    consultation: Text = Field(description="征求居民意见情况: how residents were consulted")
    target_groups: list[TargetGroupIn] = Field(max_length=50)
    needs: list[Text] = Field(max_length=50, description="服务需求")
    resolution: str | None = Field(default=None, max_length=500, description="e.g. 经社区两委会决议，同意申报")


class ApplicationIn(Strict):
    applicant: ApplicantIn
    name: Name = Field(description="项目名称")
    programme_id: Id | None = Field(default=None, description="The programme whose county allocation funds it")
    year_index: int = Field(ge=1, le=5, description="Year k of the project (服务期限: 3年项目第1年 → 1)")
    project_years: int = Field(ge=1, le=5, description="n, the project's years")
    budget_fen: Fen
    justification: JustificationIn
    service_areas: list[str] = Field(max_length=20, description="R-LOG-2 service areas")
    applied_on: Day


class ProjectCreated(BaseModel):
    project_id: str


class DecisionIn(Strict):
    step: Literal["community_resolution", "street_review", "district_approval"]
    outcome: Literal["approved", "rejected"]
    decided_on: Day
    decided_by: Name = Field(description="The deciding unit, e.g. 湖里街道办事处")
    reason: str | None = Field(default=None, max_length=2000, description="Required for a rejection")
    reference: str | None = Field(default=None, max_length=200, description="Resolution or document number")


class DecisionOut(BaseModel):
    project_id: str
    status: Literal["applied", "approved", "rejected"]
    next_step: str | None
    decisions: list[dict[str, Any]]


class ProjectOut(BaseModel):
    project_id: str
    county: str
    version: int
    status: str
    next_step: str | None
    applicant: dict[str, Any]
    name: str
    programme_id: str | None
    year_index: int
    project_years: int
    budget_fen: int
    justification: dict[str, Any]
    service_areas: list[str]
    applied_on: date
    decisions: list[dict[str, Any]]
    procurement_id: str | None


# --- procurement ---------------------------------------------------------------------
class FundingIn(Strict):
    source: Name = Field(examples=["一般公共预算"])
    amount_fen: Fen


class ServiceItemIn(Strict):
    code: Code
    name: Name = Field(examples=["个案服务"])
    unit: str = Field(min_length=1, max_length=20, examples=["个"])
    minimum: int = Field(ge=-(10**9), le=10**9, description="Minimum planned quantity (最低指标)")


class StaffingIn(Strict):
    professionals: int = Field(ge=0, le=1000, description="专业服务人员 (social workers and related professionals)")
    supervisors: int = Field(default=0, ge=0, le=100)
    requirements: str | None = Field(default=None, max_length=2000)


class PackageIn(Strict):
    code: Code = "1"
    name: Name = Field(examples=["九龙镇镇龙片区家庭综合服务中心"])
    kind: Literal["general", "family_centre"] = Field(
        default="general", description="family_centre: the Guangzhou hours standard (R-LOG-4) and R-FIN-10 apply"
    )
    annual_budget_fen: Fen
    station_ids: list[Id] = Field(max_length=100)
    service_start: Day
    funding: list[FundingIn] = Field(min_length=1, max_length=20)
    service_items: list[ServiceItemIn] = Field(max_length=200)
    staffing: StaffingIn | None = None
    quality_standards: list[Text] = Field(default_factory=list, max_length=50)


class CriterionIn(Strict):
    code: Code
    name: Name = Field(examples=["服务方案"])
    weight: int = Field(ge=-100, le=1000)
    kind: Literal["price", "quality"] = "quality"


class ProcurementIn(Strict):
    method: Method
    single_source_justification: str | None = Field(default=None, max_length=5000)
    invited_provider_ids: list[Id] = Field(default_factory=list, max_length=50)
    opened_on: Day
    bid_deadline: Day
    probation_first_year: bool = Field(default=False, description="Year 1 is a probation year (试用考核期)")
    packages: list[PackageIn] = Field(max_length=20)
    evaluation_criteria: list[CriterionIn] = Field(max_length=20)


class ProcurementCreated(BaseModel):
    procurement_id: str


class PlannedItemIn(Strict):
    code: Code
    planned: int = Field(ge=-(10**9), le=10**9)


class BidStaffingIn(Strict):
    professionals: int = Field(ge=0, le=1000)
    planned_hours: int | None = Field(default=None, ge=0, le=10**7, description="Planned professional hours a year")


class BidIn(Strict):
    provider_id: Id
    package: Code = "1"
    submitted_on: Day
    annual_price_fen: Fen
    items: list[PlannedItemIn] = Field(max_length=200, description="Planned quantity for every service item")
    staffing: BidStaffingIn | None = None
    service_plan: Text = ""


class BidCreated(BaseModel):
    bid_id: str


class PanelScoreIn(Strict):
    bid_id: Id
    criteria: dict[str, Annotated[int, Field(ge=-1000, le=1000)]] = Field(
        max_length=50, description="Score 0–100 per quality criterion code (the price score is computed)"
    )


class AwardIn(Strict):
    package: Code = "1"
    awarded_on: Day
    scores: list[PanelScoreIn] = Field(max_length=200)
    signed_on: Day | None = Field(default=None, description="Planned signing day of the drafted contract")
    purchaser: str | None = Field(default=None, max_length=200, description="Default: the applicant unit")


class ScoreOut(BaseModel):
    rank: int
    bid_id: str
    provider_id: str
    annual_price_fen: int
    criteria: dict[str, float]
    total: float


class FundingOut(BaseModel):
    source: str
    amount_fen: int


class IndicatorOut(BaseModel):
    code: str
    name: str
    unit: str
    target: int


class ContractDraft(BaseModel):
    """Exactly the body of ``POST /registry/v1/counties/{county}/contracts``."""

    provider_id: str
    station_ids: list[str]
    purchaser: str
    signed_on: date
    effective_on: date
    period_start: date
    period_end: date
    amount_fen: int
    funding: list[FundingOut]
    service_areas: list[str]
    indicators: list[IndicatorOut]
    cycle_years: int
    year_index: int
    probation: bool = Field(description="Year 1 as a probation year (试用考核期)")


class AwardOut(BaseModel):
    procurement_id: str
    package: str
    bid_id: str
    provider_id: str
    awarded_on: date
    scores: list[ScoreOut]
    probation: bool = Field(description="The drafted year is a probation year (试用考核期)")
    staffing: dict[str, Any] | None
    contract_draft: ContractDraft


class ProcurementOut(BaseModel):
    procurement_id: str
    county: str
    version: int
    status: Literal["open", "awarded"]
    project_id: str
    method: str
    single_source_justification: str | None
    invited_provider_ids: list[str]
    opened_on: date
    bid_deadline: date
    probation_first_year: bool
    packages: list[dict[str, Any]]
    evaluation_criteria: list[dict[str, Any]]
    bids: list[dict[str, Any]]
    refused_bids: list[dict[str, Any]]
    awards: list[AwardOut]
