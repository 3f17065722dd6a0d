"""Per contract: progress (R-LOG-8, R-LOG-4), monthly briefs, reports and scope complaints (R-LOG-7),
its deliveries, and what services-log knows of it and of workers from registry's events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services_log.api.common import (
    ContractId,
    ContractProviderSide,
    ContractReader,
    CountyCode,
    Service,
    Strict,
    WorkerReader,
    acting_provider,
    new_id,
)
from services_log.api.deliveries import DeliveryOut
from services_log.commands import FileComplaint, SubmitReport
from services_log.domainmodel import REPORT_KINDS
from services_log.reads import (
    ContractDeliveries,
    ContractOf,
    ContractProgress,
    ContractReports,
    MonthlyBrief,
    QuarterlyData,
    ScopeComplaints,
    WorkerOf,
)
from services_log.workbooks import XLSX, brief_workbook, quarterly_workbook
from shared.bounds import Day as BoundedDay
from shared.infra.paging import CursorParam, decode_cursor, respond
from shared.infra.paging import Page as Paged
from shared.infra.service import CommandHeaders
from shared.text import Name

router = APIRouter(prefix="/v1/counties/{county}", tags=["contracts"])
Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Contract month YYYY-MM")]
Quarter = Annotated[str, Path(pattern=r"^\d{4}-Q[1-4]$", description="Calendar quarter YYYY-Qn (Q1 = January–March)")]
Format = Annotated[Literal["json", "xlsx"] | None, Query(description="xlsx for the workbook (or send Accept: " + XLSX + ")")]
COUNTING = (
    "How the indicator's unit counts (R-LOG-8): `person_times` — a 人次 indicator adds each delivery's "
    "person-times (服务人次); `hours` — an hours indicator (小时, 工时) adds its worker-hours; `deliveries` — "
    "any other unit (场, 期, 次, 个, 节 …) counts each delivery logged against it as one; `stated` — such an "
    "indicator once a delivery states how much of the unit it completes (`indicator_quantity`, e.g. 0 for a "
    "session of a 期 still running and 1 for the one that completes it): stated quantities count as stated, "
    "deliveries that state none count one each"
)
BENEFICIARIES = (
    "Persons served (服务人数): distinct beneficiaries (pseudonymous refs, R-LOG-5) cited by the deliveries "
    "counted here — one person served five times is 5 person-times and 1 person. Attendees a delivery counts "
    "only as person-times (no refs) are not persons"
)


class IndicatorProgressOut(BaseModel):
    code: str
    name: str
    unit: str
    counting: Literal["person_times", "hours", "deliveries", "stated"] = Field(description=COUNTING)
    target: int
    actual: int = Field(description="Done up to as_of")
    planned_to_date: int | None = Field(description="The monthly plan (进度表) through as_of's month; null without a plan")
    expected_to_date: int = Field(description="The plan pro-rated to as_of (without a plan: the target pro-rated over the year)")
    plan_basis: str = Field(description="monthly_plan or pro_rata")
    on_track: bool = Field(description="actual >= expected_to_date")
    beneficiaries: int = Field(description=BENEFICIARIES + ", by this indicator's deliveries dated up to as_of")


class WorkerHoursOut(BaseModel):
    worker_id: str
    hours_direct: Decimal
    hours_other: Decimal
    over_annual_hours: bool


class HoursOut(BaseModel):
    """R-LOG-4: per professional staff 1,960 h/year in total and 1,632.3 h/year direct; the plan at most 110%."""

    staff: int = Field(description="Workers of the provider employed at the contract's stations on as_of")
    per_staff_annual_hours: Decimal
    per_staff_annual_direct_hours: Decimal
    annual_hours_target: Decimal
    annual_hours_ceiling: Decimal
    annual_direct_hours_minimum: Decimal = Field(
        description="staff × the direct hours per staff, in whole hours rounded down (14 staff: 22,852)"
    )
    hours_direct: Decimal = Field(description="Worker-hours logged (each named worker's hours count)")
    hours_other: Decimal
    hours_total: Decimal
    over_ceiling: bool
    direct_minimum_reached: bool
    workers: list[WorkerHoursOut]


class ProgressOut(BaseModel):
    contract_id: str
    as_of: dt.date
    period_start: dt.date
    period_end: dt.date
    deliveries: int
    person_times: int
    beneficiaries: int = Field(description=BENEFICIARIES + ", dated up to as_of")
    hours_direct: Decimal
    hours_other: Decimal
    indicators: list[IndicatorProgressOut]
    hours: HoursOut


class KindCount(BaseModel):
    kind: str
    deliveries: int
    person_times: int
    hours: Decimal


class AreaCount(BaseModel):
    area: str
    deliveries: int
    person_times: int
    hours: Decimal


class BriefIndicatorOut(IndicatorProgressOut):
    actual_in_month: int
    planned_in_month: int | None
    beneficiaries_in_month: int = Field(description="Persons this indicator's deliveries of the month served")


class QuarterIndicatorOut(IndicatorProgressOut):
    actual_in_quarter: int
    planned_in_quarter: int | None = Field(description="The monthly plan (进度表) of the quarter's months; null without a plan")
    beneficiaries_in_quarter: int = Field(description="Persons this indicator's deliveries of the quarter served")


class MonthCount(BaseModel):
    month: str
    deliveries: int
    person_times: int
    beneficiaries: int
    hours_direct: Decimal
    hours_other: Decimal


class ReportIn(Strict):
    kind: str = Field(max_length=30, description=f"R-LOG-7: {', '.join(REPORT_KINDS)}")
    period: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM; required for monthly_brief")
    submitted_on: BoundedDay
    title: Name = Field(min_length=1, max_length=200)
    summary: str | None = Field(default=None, max_length=20000)


class ReportOut(BaseModel):
    report_id: str
    kind: str
    period: str | None
    submitted_on: dt.date
    title: str
    summary: str | None


class BriefOut(BaseModel):
    contract_id: str
    month: str
    first_day: dt.date
    last_day: dt.date
    deliveries: int
    person_times: int
    beneficiaries: int = Field(description=BENEFICIARIES + ", in the month")
    hours_direct: Decimal
    hours_other: Decimal
    by_kind: list[KindCount]
    by_area: list[AreaCount]
    indicators: list[BriefIndicatorOut]
    reports: list[ReportOut] = Field(description="Reports submitted for this month (the monthly brief itself)")


class QuarterlyOut(BaseModel):
    contract_id: str
    quarter: str
    first_day: dt.date = Field(description="The quarter's first day within the contract year")
    last_day: dt.date = Field(description="The quarter's last day within the contract year")
    months: list[str] = Field(description="The contract months of the quarter")
    deliveries: int
    person_times: int
    beneficiaries: int = Field(description=BENEFICIARIES + ", in the quarter (not the sum of the months')")
    hours_direct: Decimal
    hours_other: Decimal
    by_kind: list[KindCount]
    by_area: list[AreaCount]
    by_month: list[MonthCount]
    indicators: list[QuarterIndicatorOut]
    reports: list[ReportOut] = Field(description="Reports submitted for the quarter's months")


class ReportCreated(BaseModel):
    report_id: str


class ComplaintIn(Strict):
    township: str = Field(min_length=1, max_length=100, description="乡镇/街道 that imposed the tasks")
    station_id: str | None = Field(default=None, max_length=64)
    filed_on: BoundedDay
    description: str = Field(min_length=1, max_length=4000, description="The out-of-contract tasks (行政化)")


class ComplaintCreated(BaseModel):
    complaint_id: str


class ComplaintOut(BaseModel):
    complaint_id: str
    station_id: str | None
    township: str
    filed_on: dt.date
    description: str


class DeliveryPage(BaseModel):
    total: int
    offset: int
    items: list[DeliveryOut]


class ScopeChangeOut(BaseModel):
    service_areas: list[str]
    effective_on: dt.date


class ContractOut(BaseModel):
    contract_id: str
    provider_id: str
    station_ids: list[str]
    period_start: dt.date
    period_end: dt.date
    last_day: dt.date = Field(description="period_end, or the termination date")
    status: str = Field(description="signed, terminated or expired")
    service_areas: list[str] = Field(description="As signed")
    scope_changes: list[ScopeChangeOut] = Field(description="Approved scope changes (R-REG-6)")
    indicators: list[dict[str, Any]]
    policy: dict[str, Any]


class EmploymentOut(BaseModel):
    provider_id: str
    station_id: str
    start: dt.date
    end: dt.date | None


class WorkerOut(BaseModel):
    worker_id: str
    role: str
    employments: list[EmploymentOut]


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def get_contract(county: CountyCode, contract_id: ContractId, scope: ContractReader, service: Service) -> ContractOut:
    """The contract as services-log knows it from registry's events (404 until `ContractSigned` arrived)."""
    c = service.reads.ask(ContractOf(county=county, contract_id=contract_id), scope)
    return ContractOut(
        contract_id=c.contract_id, provider_id=c.provider_id, station_ids=list(c.station_ids), period_start=c.period_start,
        period_end=c.period_end, last_day=c.last_day, status=c.status.value, service_areas=list(c.service_areas),
        scope_changes=[ScopeChangeOut(service_areas=list(s.service_areas), effective_on=s.effective_on) for s in c.scope_changes],
        indicators=[i.as_signed() for i in c.indicators], policy=dict(c.policy),
    )


@router.get("/workers/{worker_id}", response_model=WorkerOut)
def get_worker(county: CountyCode, worker_id: Annotated[str, Path(max_length=64)], scope: WorkerReader, service: Service) -> WorkerOut:
    """A worker's employment periods per station, from registry's WorkerHired/Moved/Left events."""
    worker = service.reads.ask(WorkerOf(county=county, worker_id=worker_id), scope)
    return WorkerOut(worker_id=worker.worker_id, role=worker.role, employments=[EmploymentOut(**e.as_dict()) for e in worker.employments])


@router.get("/contracts/{contract_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    request: Request, response: Response,
    county: CountyCode, contract_id: ContractId, scope: ContractReader, service: Service,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorParam = None,
) -> DeliveryPage:
    """The contract's deliveries in the order they were logged (voided ones included, marked). For a
    worker's token, `items` holds only deliveries that name it among their workers: the next `limit`
    of them at or after position `offset` of the contract's list, in the same order (read from the
    worker's own list, whatever the contract's size); the next page (`X-Next-Cursor`) resumes after
    the last one, and is absent after its last delivery — follow the cursor, not `offset` + `limit`.
    `total` and `offset` still count the contract's deliveries.

    Paged like every list: while more follow, `X-Next-Cursor` (and `Link: rel="next"`) names the
    next page; repeat the request with `cursor` set to it (a cursor replaces `offset`; one issued
    for another contract is refused, 422 field `cursor`). The log is append-only, so a position
    never moves: a walk sees each delivery once, in order, while new ones are logged."""
    query = {"contract_id": contract_id}
    start = decode_cursor("deliveries", query, cursor)
    if start is not None:
        offset = start
    page = service.reads.ask(ContractDeliveries(county=county, contract_id=contract_id, offset=offset, limit=limit), scope)
    following = page.following
    respond(request, response, "deliveries", query, Paged([], following if following < page.total else None))
    return DeliveryPage(total=page.total, offset=page.offset, items=[DeliveryOut(**d) for d in page.items])


@router.get("/contracts/{contract_id}/progress", response_model=ProgressOut)
def progress(
    county: CountyCode, contract_id: ContractId, scope: ContractReader, service: Service,
    as_of: Annotated[BoundedDay | None, Query(description="Default today; kept within the contract year")] = None,
) -> ProgressOut:
    """Indicator progress (R-LOG-8): per indicator how its unit counts (`counting`), the target, the
    actual to date, the monthly plan to date, whether it is on track and the persons it served; the
    contract's deliveries, person-times (人次) and persons served (人数, distinct beneficiaries); and
    the professional hours against R-LOG-4's caps."""
    return ProgressOut.model_validate(service.reads.ask(ContractProgress(county=county, contract_id=contract_id, as_of=as_of), scope))


@router.get(
    "/contracts/{contract_id}/briefs/{month}",
    response_model=BriefOut,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def monthly_brief(
    county: CountyCode, contract_id: ContractId, month: Month, scope: ContractReader, service: Service,
    format: Format = None,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Any:
    """The monthly brief (月度工作简报) of a contract month: deliveries by kind and area, person-times
    and persons served (服务人数), hours and indicator progress (with how each indicator counts), as
    JSON or as an XLSX workbook for download (text cells are text, never formulas)."""
    brief = service.reads.ask(MonthlyBrief(county=county, contract_id=contract_id, month=month), scope)
    return _report(brief, BriefOut, brief_workbook, f"brief-{month}.xlsx", format, accept)


@router.get(
    "/contracts/{contract_id}/quarterly/{quarter}",
    response_model=QuarterlyOut,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
)
def quarterly_report(
    county: CountyCode, contract_id: ContractId, quarter: Quarter, scope: ContractReader, service: Service,
    format: Format = None,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Any:
    """The quarterly service data (季度服务数据; seed 001: 每季度上报服务数据) of a calendar quarter the
    contract year touches, produced from the service log like the monthly brief: deliveries,
    person-times and persons served (a person served in two months of the quarter counts once),
    hours, by kind, area and month, and indicator progress at the quarter's last day with what the
    quarter added and its plan. JSON, or an XLSX workbook (text cells are text, never formulas).
    Who may read it: as for briefs (a provider only its own contracts). A quarter outside the
    contract year is refused (422, R-LOG-7, field `quarter`)."""
    report = service.reads.ask(QuarterlyData(county=county, contract_id=contract_id, quarter=quarter), scope)
    return _report(report, QuarterlyOut, quarterly_workbook, f"quarterly-{quarter}.xlsx", format, accept)


def _report(
    report: dict[str, Any], model: type[BaseModel], workbook: Callable[[dict[str, Any]], bytes], filename: str,
    format: str | None, accept: str | None,
) -> Any:
    """A report as JSON, or as an XLSX download when ``?format=xlsx`` or the client accepts XLSX."""
    if format == "xlsx" or (format is None and XLSX in (accept or "")):
        return Response(workbook(report), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return model.model_validate(report)


@router.post("/contracts/{contract_id}/reports", status_code=201, response_model=ReportCreated)
def submit_report(
    county: CountyCode, contract_id: ContractId, body: ReportIn, scope: ContractProviderSide, service: Service, headers: CommandHeaders
) -> ReportCreated:
    """The provider submits a report (R-LOG-7): needs survey (需求调查报告), mid-term (中期), final
    (末期), self-evaluation (自评) or the monthly brief (月度工作简报, with its month). Publishes `ReportSubmitted`."""
    command = SubmitReport(
        county=county, contract_id=contract_id, **body.model_dump(), report_id=new_id(county, headers),
        provider_id=acting_provider(scope),
    )
    return ReportCreated(report_id=service.bus.run(command, scope, headers))


@router.get("/contracts/{contract_id}/reports", response_model=list[ReportOut])
def list_reports(county: CountyCode, contract_id: ContractId, scope: ContractReader, service: Service) -> list[ReportOut]:
    """Reports the provider submitted for the contract, with their dates."""
    return [ReportOut(**r.as_dict()) for r in service.reads.ask(ContractReports(county=county, contract_id=contract_id), scope)]


@router.post("/contracts/{contract_id}/scope-complaints", status_code=201, response_model=ComplaintCreated)
def file_complaint(
    county: CountyCode, contract_id: ContractId, body: ComplaintIn, scope: ContractProviderSide, service: Service, headers: CommandHeaders
) -> ComplaintCreated:
    """The provider complains that a township imposes tasks outside the contract (行政化; R-LOG-7,
    R-REG-6). Publishes `ScopeComplaintFiled`."""
    command = FileComplaint(
        county=county, contract_id=contract_id, **body.model_dump(), complaint_id=new_id(county, headers),
        provider_id=acting_provider(scope),
    )
    return ComplaintCreated(complaint_id=service.bus.run(command, scope, headers))


@router.get("/contracts/{contract_id}/scope-complaints", response_model=list[ComplaintOut])
def list_complaints(county: CountyCode, contract_id: ContractId, scope: ContractReader, service: Service) -> list[ComplaintOut]:
    """Scope complaints filed for the contract."""
    return [ComplaintOut(**c.as_dict()) for c in service.reads.ask(ScopeComplaints(county=county, contract_id=contract_id), scope)]

