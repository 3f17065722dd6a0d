"""HTTP API of programmes, project applications (立项申请) and procurement (paths fixed by API.md).

Routers: ``programme_router`` (province level, ``/v1/programmes``) and ``router``
(county-scoped, ``/v1/counties/{county}/…``); ``ROUTERS`` lists both for the composition root.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from registry.api.common import Service, today
from registry.commands import (
    ApplyForProject,
    AwardPackage,
    DecideProject,
    LaunchProgramme,
    OpenProcurement,
    ReachMilestone,
    SubmitBid,
)
from registry.domainmodel import plain
from registry.procurement.application import ProcurementCommands
from registry.procurement.bidding import hours_standard
from registry.procurement.domainmodel import Procurement, Programme, Project
from registry.procurement.schemas import (
    AllocationOut,
    ApplicationIn,
    AwardIn,
    AwardOut,
    BidCreated,
    BidIn,
    DecisionIn,
    DecisionOut,
    MilestoneIn,
    MilestoneOut,
    ProcurementCreated,
    ProcurementIn,
    ProcurementOut,
    ProgrammeCreated,
    ProgrammeIn,
    ProgrammeOut,
    ProjectCreated,
    ProjectOut,
)
from registry.reads import ProcurementDetail, ProcurementRead, ProgrammeDetail, ProjectDetail, allocation_rows
from shared.bounds import Day as BoundedDay
from shared.infra.auth import CountyScope, Principal, Role, county_scope, require_roles
from shared.infra.queries import Viewer
from shared.infra.service import CommandHeaders
from shared.rules import Forbidden
from shared.subjects import PROVINCE

CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]
RecordId = Annotated[str, Path(max_length=64)]


def get_store(request: Request) -> ProcurementCommands:
    """The registry's procurement commands and reads (composed with its store, ``.store``)."""
    return request.app.state.service.procurement


Store = Annotated[ProcurementCommands, Depends(get_store)]
ProgrammeAuthor = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
ProgrammeReader = Annotated[
    Principal, Depends(require_roles(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR))
]
# 购买主体 at every level (社区, 街道, 区民政局) acts with the purchaser role; the step names the level.
Purchaser = Annotated[CountyScope, Depends(county_scope(Role.PURCHASER, write=True))]
Bidder = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.PURCHASER, write=True))]
Reader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR)),
]

programme_router = APIRouter(prefix="/v1/programmes", tags=["programmes"])
router = APIRouter(prefix="/v1/counties/{county}", tags=["projects and procurement"])


# --- programmes ----------------------------------------------------------------------
@programme_router.post("", status_code=201, response_model=ProgrammeCreated)
def launch_programme(body: ProgrammeIn, principal: ProgrammeAuthor, registry: Service, headers: CommandHeaders) -> ProgrammeCreated:
    """Launch a province or city programme (专项/试点项目) and allocate its budget to counties.

    The allocations must sum to the budget exactly — over-allocation and unallocated remainders are
    refused (R-PRJ-1); the caller must be granted every allocated county (R-AUD-6). Publishes
    `ProgrammeLaunched` and one `ProgrammeFundsAllocated` per county (subject county `province`,
    the district in `data.county`).
    """
    for i, a in enumerate(body.allocations):
        if not principal.can_see(a.county):
            raise Forbidden(f"token is not granted county {a.county}", rule="R-AUD-6", field=f"allocations.{i}.county")
    pid = registry.bus.run(
        LaunchProgramme(county=PROVINCE, **body.model_dump()), CountyScope(county=PROVINCE, principal=principal), headers
    )
    return ProgrammeCreated(programme_id=str(pid))


@programme_router.get("/{programme_id}", response_model=ProgrammeOut)
def get_programme(
    programme_id: RecordId,
    principal: ProgrammeReader,
    registry: Service,
    as_of: Annotated[BoundedDay | None, Query(description="Milestone status as of this day (default today)")] = None,
) -> ProgrammeOut:
    """The programme with each county's allocation (committed and remaining) and each milestone's
    status as of a day: `done`, `overdue` (past due, not reached), `in_progress` or `upcoming`.
    Projects charged to a county are listed only for callers granted that county."""
    found = registry.reads.ask(ProgrammeDetail(programme_id=programme_id), principal)
    return programme_view(found.programme, found.allocations, as_of or today())


@programme_router.post("/{programme_id}/milestones/{kind}", response_model=ProgrammeOut)
def reach_milestone(
    programme_id: RecordId,
    kind: Annotated[str, Path(pattern="^(mobilisation|bidding|service|evaluation)$")],
    body: MilestoneIn,
    principal: ProgrammeAuthor,
    store: Store,
    registry: Service,
    headers: CommandHeaders,
) -> ProgrammeOut:
    """Record that a milestone (动员部署, 招投标, 服务, 评估) was reached; it is no longer overdue."""
    command = ReachMilestone(county=PROVINCE, programme_id=programme_id, kind=kind, reached_on=body.reached_on)
    programme = registry.bus.run(command, CountyScope(county=PROVINCE, principal=principal), headers)
    return programme_out(store, programme, principal, body.reached_on)


def programme_out(store: ProcurementCommands, p: Programme, principal: Principal, as_of: date) -> ProgrammeOut:
    return programme_view(p, allocation_rows(store, p, Viewer.of(principal)), as_of)


def programme_view(p: Programme, allocations: list[dict[str, Any]], as_of: date) -> ProgrammeOut:
    """The programme as of a day, with its allocations as read for the caller (``reads.allocation_rows``)."""
    return ProgrammeOut(
        programme_id=str(p.id), version=p.version, issuer=p.issuer, level=p.level, document_no=p.document_no,
        title=p.title, issued_on=p.issued_on, budget_fen=p.budget_fen, as_of=as_of,
        allocations=[AllocationOut(**a) for a in allocations],
        milestones=[
            MilestoneOut(**plain(m), reached_on=p.reached.get(m.kind), status=p.milestone_status(m.kind, as_of))
            for m in p.milestones
        ],
        themes=p.themes,
    )


# --- project applications ------------------------------------------------------------
@router.post("/projects", status_code=201, response_model=ProjectCreated)
def apply_for_project(county: CountyCode, body: ApplicationIn, scope: Purchaser, registry: Service, headers: CommandHeaders) -> ProjectCreated:
    """File a project application (立项申请表): applicant unit, project name, year k of an n-year
    project, budget, justification (resident consultation, target groups and numbers, needs) and
    service areas (R-PRJ-2, R-LOG-2). Under a programme the budget is charged to the county's
    allocation and refused beyond it (R-PRJ-3). Publishes `ProjectApplied`."""
    pid = registry.bus.run(ApplyForProject(county=county, **body.model_dump()), scope, headers)
    return ProjectCreated(project_id=str(pid))


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(county: CountyCode, project_id: RecordId, scope: Reader, registry: Service) -> ProjectOut:
    """The application with its decisions so far and the next step of its chain."""
    return project_out(registry.reads.ask(ProjectDetail(county=county, project_id=project_id), scope))


@router.post("/projects/{project_id}/decision", response_model=DecisionOut)
def decide_project(
    county: CountyCode, project_id: RecordId, body: DecisionIn, scope: Purchaser, registry: Service, headers: CommandHeaders
) -> DecisionOut:
    """Record the next decision of the chain (R-PRJ-4): `community_resolution` (社区两委会决议) →
    `street_review` (街道审核, 盖章上报) → `district_approval` (区民政局审批), starting at the
    applicant's level. A rejection needs its reason and releases the programme allocation.
    Publishes `ProjectDecided`."""
    project = registry.bus.run(DecideProject(county=county, project_id=project_id, **body.model_dump()), scope, headers)
    return DecisionOut(project_id=str(project.id), status=project.status.value, next_step=project.next_step,
                       decisions=[plain(d) for d in project.decisions])


def project_out(p: Project) -> ProjectOut:
    return ProjectOut(
        project_id=str(p.id), county=p.county, version=p.version, status=p.status.value, next_step=p.next_step,
        applicant=p.applicant, name=p.name, programme_id=p.programme_id, year_index=p.year_index,
        project_years=p.project_years, budget_fen=p.budget_fen, justification=p.justification,
        service_areas=p.service_areas, applied_on=p.applied_on, decisions=[plain(d) for d in p.decisions],
        procurement_id=p.procurement_id,
    )


# --- procurement ---------------------------------------------------------------------
@router.post("/projects/{project_id}/procurement", status_code=201, response_model=ProcurementCreated)
def open_procurement(
    county: CountyCode, project_id: RecordId, body: ProcurementIn, scope: Purchaser, registry: Service, headers: CommandHeaders
) -> ProcurementCreated:
    """Open the procurement of an approved project (R-PRC-1): method (单一来源采购 with its
    justification and provider, 邀请招标 with ≥ 3 invited providers), packages (包组) with annual
    budget, stations, service items and minimum quantities, staffing and quality standards, and
    evaluation criteria whose weights sum to 100 with exactly one price criterion whose weight lies
    within the county policy's `price_weight_min_percent`–`price_weight_max_percent` (default 10–30,
    服务类 价格分值比重; R-PRC-1). A family-centre package records the county policy's standard in
    force (`standard`: hours per professional, direct hours, the ceiling percent, the standard budget
    and the amount per extra professional; R-LOG-4, R-FIN-10) — its bids are judged by it, whatever
    the policy becomes later. Publishes `ProcurementOpened`."""
    pid = registry.bus.run(OpenProcurement(county=county, project_id=project_id, **body.model_dump()), scope, headers)
    return ProcurementCreated(procurement_id=str(pid))


@router.get("/procurements/{procurement_id}", response_model=ProcurementOut)
def get_procurement(county: CountyCode, procurement_id: RecordId, scope: Reader, registry: Service) -> ProcurementOut:
    """The published requirements, the valid and refused bids, awards and drafted contracts.
    A family-centre package shows `hours`: for its required professionals the annual hours target,
    the ceiling and the direct-hours minimum of its `standard` (Guangzhou, 14 → 27,440, 30,184 and
    22,852). A provider sees only its own bids until the package is awarded."""
    return procurement_out(registry.reads.ask(ProcurementDetail(county=county, procurement_id=procurement_id), scope))


def procurement_out(found: ProcurementRead) -> ProcurementOut:
    """The procurement with the bids, refused bids and awards the caller may see."""
    p = found.procurement
    return ProcurementOut(
        procurement_id=str(p.id), county=p.county, version=p.version, status=p.status.value,
        project_id=p.project["project_id"], method=p.method, single_source_justification=p.single_source_justification,
        invited_provider_ids=p.invited_provider_ids, opened_on=p.opened_on, bid_deadline=p.bid_deadline,
        probation_first_year=p.probation_first_year, packages=[published_package(pk) for pk in p.packages],
        evaluation_criteria=p.evaluation_criteria, bids=[plain(b) for b in found.bids],
        refused_bids=[plain(b) for b in found.refused_bids],
        awards=[award_out(p, code) for code in found.awards],
    )


def published_package(package: dict[str, Any]) -> dict[str, Any]:
    """A package as published; a family centre's with the hours its required staff gives (R-LOG-4)."""
    standard = package.get("standard")
    required = (package.get("staffing") or {}).get("professionals")
    if not standard or not required:
        return package
    return {**package, "hours": hours_standard(required, standard)}


@router.post("/procurements/{procurement_id}/bids", status_code=201, response_model=BidCreated)
def submit_bid(
    county: CountyCode, procurement_id: RecordId, body: BidIn, scope: Bidder, registry: Service, headers: CommandHeaders
) -> BidCreated:
    """Submit a bid (投标) for one whole package, by the provider itself or recorded by the purchaser.

    Refused as invalid (无效投标), with the rule and the field: an ineligible or banned provider
    (R-REG-1), not invited (R-PRC-2), annual price above the package's annual budget, a plan that
    leaves out a service item (whole package only) or falls below a minimum, too few professionals
    (R-PRC-2), more professionals than the budget allows (R-FIN-10), planned professional hours
    outside [direct-hours minimum, ceiling % of the total-hours target] (R-LOG-4) — R-FIN-10 and
    R-LOG-4 by the county-policy standard the package published. An invalid bid is kept
    for the evaluation report and published as `BidRejected`; a valid one as `BidSubmitted`."""
    if scope.principal.role == Role.PROVIDER and scope.principal.provider_id != body.provider_id:
        raise Forbidden("a provider bids only for itself", rule="R-AUD-6", field="provider_id")
    # A repeated key answers as the first time did: the same bid, or the same refusal (RegistryCommands.replay_bid).
    bid_id = registry.bus.run(SubmitBid(county=county, procurement_id=procurement_id, **body.model_dump()), scope, headers)
    return BidCreated(bid_id=str(bid_id))


@router.post("/procurements/{procurement_id}/award", response_model=AwardOut)
def award(
    county: CountyCode, procurement_id: RecordId, body: AwardIn, scope: Purchaser, registry: Service, headers: CommandHeaders
) -> AwardOut:
    """Award a package by weighted scoring of the published criteria (R-PRC-3) — not by the lowest
    price alone: the panel scores each quality criterion 0–100 for every valid bid, price scores
    100 × lowest valid price / the bid's price. The scores are recorded (`ProcurementAwarded`) and
    the winning bid becomes a contract draft (`ContractDrafted`): `contract_draft` is exactly the
    body of `POST /registry/v1/counties/{county}/contracts`. With `probation` the first year is a
    probation year (试用考核期)."""
    procurement = registry.bus.run(AwardPackage(county=county, procurement_id=procurement_id, **body.model_dump()), scope, headers)
    return award_out(procurement, body.package)


def award_out(p: Procurement, package: str) -> AwardOut:
    won, draft = p.awards[package], p.drafts[package]
    return AwardOut(
        procurement_id=str(p.id), package=package, bid_id=won.bid_id, provider_id=won.provider_id,
        awarded_on=won.awarded_on, scores=list(won.scores), probation=draft.terms["probation"],
        staffing=None if draft.staffing is None else dict(draft.staffing), contract_draft=dict(draft.terms),
    )


ROUTERS = [programme_router, router]
