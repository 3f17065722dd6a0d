"""Stations and social workers: hire, move, qualify, leave; certificate deadlines (R-REG-2, R-REG-3)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from registry.api.common import (
    AsOf,
    CountyCode,
    Day,
    OwnWorkerKeeper,
    OwnWorkerReader,
    ProviderSide,
    Purchaser,
    Reader,
    Service,
    Store,
    Strict,
    WorkerReader,
    ensure_own,
    today,
)
from registry.commands import EstablishStation, HireWorker, MoveWorker, QualifyWorker, RecordWorkerLeaving
from registry.domainmodel import EDUCATION_LEVELS, QUALIFICATIONS, STATION_KINDS, WORKER_ROLES, Station, Worker, plain
from registry.reads import StationList, WorkerDetail, WorkerList, WorkerWorkplace, Workplace
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, respond
from shared.infra.service import CommandHeaders
from shared.rules import RuleViolation
from shared.text import Name

router = APIRouter(prefix="/v1/counties/{county}", tags=["stations and workers"])


class StationIn(Strict):
    name: Name = Field(min_length=1, max_length=200)
    township: Name = Field(min_length=1, max_length=100, description="乡镇/街道")
    kind: str = Field(description=f"One of {STATION_KINDS}, or its Chinese name (家庭综合服务中心 / 家综, 社会工作室, "
                      "乡镇社工站, 街道社工站, 县级社工总站 …), recorded by the code")


class StationCreated(BaseModel):
    station_id: str


class StationOut(BaseModel):
    station_id: str
    name: str
    township: str
    kind: str


class WorkerIn(Strict):
    provider_id: str = Field(min_length=1, max_length=64)
    station_id: str = Field(min_length=1, max_length=64)
    name: Name = Field(min_length=1, max_length=100)
    birth_date: Day
    education: str = Field(description=f"One of {EDUCATION_LEVELS} (专科 is 大专, 研究生 is 硕士)")
    qualification: str = Field(description=f"One of {QUALIFICATIONS}; the short forms DOMAIN.md and the seeds use "
                               "(无, 助理社工师, 社工师 / 中级, 高级社工师 / 高级) are recorded by the full name")
    role: str = Field(description=f"One of {WORKER_ROLES}, or 驻站社工 / 项目社工 / 社工, 督导, 站长 (recorded by the code)")
    hired_on: Day


class WorkerCreated(BaseModel):
    worker_id: str


class MoveIn(Strict):
    to_station_id: str = Field(min_length=1, max_length=64)
    moved_on: Day = Field(description="First day at the new station")


class QualificationIn(Strict):
    qualification: str = Field(description=f"One of {QUALIFICATIONS[1:]} (or its short form, as on hiring)")
    qualified_on: Day


class LeavingIn(Strict):
    left_on: Day = Field(description="Last day employed")
    reason: str = Field(default="", max_length=500)


class WorkerOut(BaseModel):
    worker_id: str
    provider_id: str
    station_id: str
    name: str
    birth_date: date
    education: str
    qualification: str
    role: str
    hired_on: date
    qualified_on: date | None
    left_on: date | None
    assignments: list[dict[str, Any]] = Field(description="Stations over time: [{station_id, start, end}]")
    certificate_due_on: date | None = Field(description="R-REG-3: deadline of a worker hired without a certificate")
    certificate_days_left: int | None = Field(description="Days from as_of to the deadline (negative once passed)")
    certificate_overdue: bool = Field(description="The deadline passed unmet (调整岗位或重新招募)")
    version: int


def worker_out(w: Worker, as_of: date) -> WorkerOut:
    due = w.certificate_due_on
    return WorkerOut(
        worker_id=str(w.id), provider_id=w.provider_id, station_id=w.station_id, name=w.name, birth_date=w.birth_date,
        education=w.education, qualification=w.qualification, role=w.role, hired_on=w.hired_on,
        qualified_on=w.qualified_on, left_on=w.left_on, assignments=[plain(a) for a in w.assignments], certificate_due_on=due,
        certificate_days_left=(due - as_of).days if due else None, certificate_overdue=w.certificate_overdue(as_of),
        version=w.version,
    )


def station_out(s: Station) -> StationOut:
    return StationOut(station_id=str(s.id), name=s.name, township=s.township, kind=s.kind)




@router.post("/stations", status_code=201, response_model=StationCreated)
def establish_station(county: CountyCode, body: StationIn, scope: Purchaser, registry: Service, headers: CommandHeaders) -> StationCreated:
    """Establish a station (乡镇/街道社工站, 社会工作室, 家庭综合服务中心 or the county hub)."""
    sid = registry.bus.run(EstablishStation(county=county, name=body.name, township=body.township, kind=body.kind), scope, headers)
    return StationCreated(station_id=str(sid))


@router.get("/stations", response_model=list[StationOut])
def list_stations(
    request: Request, response: Response, county: CountyCode, scope: Reader, registry: Service,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[StationOut]:
    """The county's stations in the order they were established, paged (`limit`, `cursor`, `X-Next-Cursor`)."""
    found = registry.reads.ask(StationList(county=county, limit=limit, cursor=cursor), scope)
    respond(request, response, found.name, found.query, found.page)
    return [station_out(s) for s in found.page.items]


@router.post("/workers", status_code=201, response_model=WorkerCreated)
def hire_worker(county: CountyCode, body: WorkerIn, scope: ProviderSide, registry: Service, headers: CommandHeaders) -> WorkerCreated:
    """Record a social worker hired by a provider at a station. Age and education are checked at
    hiring against the county's policy (R-REG-3); a worker hired without a certificate must obtain one
    by `certificate_due_on` (policy `certificate_deadline_years`). A provider hires for itself only."""
    ensure_own(scope, body.provider_id)
    wid = registry.bus.run(HireWorker(county=county, **body.model_dump()), scope, headers)
    return WorkerCreated(worker_id=str(wid))


@router.get("/workers", response_model=list[WorkerOut])
def list_workers(
    request: Request,
    response: Response,
    county: CountyCode,
    scope: WorkerReader,
    registry: Service,
    provider_id: str | None = Query(default=None),
    station_id: str | None = Query(default=None, description="Workers whose latest station is this one (those who left included, with left_on)"),
    certificate_due_within_days: int | None = Query(
        default=None, ge=0, le=3650,
        description="R-REG-3: only workers employed on as_of whose certificate deadline has passed or falls within "
        "this many days of as_of, soonest first (overdue ones carry certificate_overdue=true)",
    ),
    as_of: AsOf = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> list[WorkerOut]:
    """The county's social workers in hiring order, paged (`limit`, `cursor`, `X-Next-Cursor`; with
    `station_id` a page may hold fewer than `limit`). A provider sees its own workers only. With
    `certificate_due_within_days` the answer is that deadline list, soonest first, unpaged."""
    day = as_of or today()
    query = WorkerList(
        county=county, as_of=day, provider_id=provider_id, station_id=station_id,
        certificate_due_within_days=certificate_due_within_days, limit=limit, cursor=cursor,
    )
    found = registry.reads.ask(query, scope)
    respond(request, response, found.name, found.query, found.page)
    return [worker_out(w, day) for w in found.page.items]


@router.get("/workers/{worker_id}", response_model=WorkerOut)
def get_worker(county: CountyCode, worker_id: str, scope: OwnWorkerReader, registry: Service, as_of: AsOf = None) -> WorkerOut:
    """One social worker with the stations worked at and the certificate deadline."""
    return worker_out(registry.reads.ask(WorkerDetail(county=county, worker_id=worker_id), scope), as_of or today())


class WorkplaceStation(BaseModel):
    station_id: str
    name: str
    township: str
    kind: str
    since: date = Field(description="First day of the worker's assignment there")


class WorkplaceIndicator(BaseModel):
    code: str = Field(description="What a delivery names as `indicator_code` to count towards it")
    name: str
    unit: str
    target: int


class WorkplaceContract(BaseModel):
    contract_id: str
    status: str
    period_start: date
    period_end: date
    station_ids: list[str] = Field(description="The contract's stations among the worker's (not the contract's others)")
    service_areas: list[str] = Field(description="R-LOG-2: the areas a delivery may be in")
    indicators: list[WorkplaceIndicator]


class WorkplaceOut(BaseModel):
    worker_id: str
    provider_id: str
    name: str
    role: str
    as_of: date
    employed: bool = Field(description="Employed by its provider on as_of (false: hired later, or left)")
    stations: list[WorkplaceStation] = Field(description="The station(s) the worker is assigned to on as_of")
    contracts: list[WorkplaceContract] = Field(
        description="Its provider's signed contracts covering those stations, whose service period includes as_of"
    )
    worked_under: list[WorkplaceContract] = Field(
        default_factory=list,
        description=(
            "With `since`: a page (`offset`, `limit`) of its provider's contracts it worked under from `since` "
            "to `as_of` (whatever their status now: covering a station it was assigned to on a day it was "
            "employed, R-LOG-3), newest period first; `station_ids` are those stations. Empty without `since`"
        ),
    )
    worked_total: int = Field(default=0, description="How many contracts `worked_under` lists in all")
    worked_stations: list[StationOut] = Field(
        default_factory=list, description="With `since`: the stations it was assigned to from `since` to `as_of`"
    )


def _workplace_contract(c: Any, ids: set[str]) -> WorkplaceContract:
    return WorkplaceContract(
        contract_id=str(c.id), status=c.status, period_start=c.period_start, period_end=c.period_end,
        station_ids=[s for s in c.station_ids if s in ids], service_areas=list(c.service_areas),
        indicators=[WorkplaceIndicator(**{k: i[k] for k in ("code", "name", "unit", "target")}) for i in c.indicators],
    )


def workplace_out(found: Workplace) -> WorkplaceOut:
    w, ids = found.worker, {str(s.id) for s in found.stations}
    since = {a.station_id: a.start for a in w.assignments if a.covers(found.as_of)}
    return WorkplaceOut(
        worker_id=str(w.id), provider_id=w.provider_id, name=w.name, role=w.role, as_of=found.as_of,
        employed=w.employed_on(found.as_of),
        stations=[WorkplaceStation(**station_out(s).model_dump(), since=since[str(s.id)]) for s in found.stations],
        contracts=[_workplace_contract(c, ids) for c in found.contracts],
        worked_under=[_workplace_contract(c, set(stations)) for c, stations in found.worked_under],
        worked_total=found.worked_total,
        worked_stations=[station_out(s) for s in found.worked_stations],
    )


# The widest window `since` may open before `as_of` (a service cycle: three contract years).
WORKED_WINDOW_DAYS = 1_096
WorkedSince = Annotated[
    Day | None,
    Query(
        description=f"Also list the contracts it worked under from this day to `as_of` (`worked_under`): at most "
        f"{WORKED_WINDOW_DAYS} days before `as_of`, not after it (422, R-LOG-3)"
    ),
]
WorkedOffset = Annotated[int, Query(ge=0, le=10_000, description="`worked_under` from this one")]
WorkedLimit = Annotated[int, Query(ge=1, le=100, description="`worked_under` items per page")]


@router.get("/workers/{worker_id}/workplace", response_model=WorkplaceOut)
def get_workplace(
    county: CountyCode, worker_id: str, scope: OwnWorkerReader, registry: Service, as_of: AsOf = None,
    since: WorkedSince = None, offset: WorkedOffset = 0, limit: WorkedLimit = 20,
) -> WorkplaceOut:
    """What a social worker may log services against on `as_of` (default today, China time): the
    station it is assigned to that day and its provider's signed contracts that cover the station
    and whose service period includes the day, each with its service areas (R-LOG-2) and indicator
    codes (R-LOG-8). A worker's own token reads only its own (another worker's is 404, as an
    unknown id); a provider only its own workers'. Once the worker has left, or before it is hired,
    `employed` is false and both lists are empty. With `since` (at most three years before `as_of`),
    `worked_under` also pages the contracts it worked under from `since` to `as_of` — those of a
    station it has left, ended ones, those before it left — so its deliveries under them can be
    found; its own only, as the rest."""
    day = as_of or today()
    if since is not None and not (day - timedelta(days=WORKED_WINDOW_DAYS) <= since <= day):
        raise RuleViolation(
            f"since must be from {day - timedelta(days=WORKED_WINDOW_DAYS)} to {day} (as_of)", rule="R-LOG-3", field="since",
            facts={"code": "since_outside_window", "earliest": (day - timedelta(days=WORKED_WINDOW_DAYS)).isoformat(), "latest": day.isoformat()},
        )
    query = WorkerWorkplace(county=county, worker_id=worker_id, as_of=day, since=since, offset=offset, limit=limit)
    found = registry.reads.ask(query, scope)
    return workplace_out(found)


def _own_worker(scope: Any, store: Any, county: str, worker_id: str) -> None:
    """A provider commands only its own workers."""
    ensure_own(scope, store.worker(county, worker_id).provider_id)


@router.post("/workers/{worker_id}/move", response_model=WorkerOut)
def move_worker(
    county: CountyCode, worker_id: str, body: MoveIn, scope: OwnWorkerKeeper, store: Store, registry: Service, headers: CommandHeaders
) -> WorkerOut:
    """Move a worker to another station of the county from `moved_on` (same provider). Publishes `WorkerMoved`."""
    _own_worker(scope, store, county, worker_id)
    command = MoveWorker(county=county, worker_id=worker_id, to_station_id=body.to_station_id, moved_on=body.moved_on)
    return worker_out(registry.bus.run(command, scope, headers), body.moved_on)


@router.post("/workers/{worker_id}/qualification", response_model=WorkerOut)
def qualify_worker(
    county: CountyCode, worker_id: str, body: QualificationIn, scope: OwnWorkerKeeper, store: Store, registry: Service, headers: CommandHeaders
) -> WorkerOut:
    """Record a certificate level obtained (全国社会工作者职业水平证书, R-REG-3); it clears a pending
    certificate deadline. Only a higher level than the one held. Publishes `WorkerQualified`."""
    _own_worker(scope, store, county, worker_id)
    command = QualifyWorker(county=county, worker_id=worker_id, qualification=body.qualification, qualified_on=body.qualified_on)
    return worker_out(registry.bus.run(command, scope, headers), body.qualified_on)


@router.post("/workers/{worker_id}/leaving", response_model=WorkerOut)
def worker_leaves(
    county: CountyCode, worker_id: str, body: LeavingIn, scope: OwnWorkerKeeper, store: Store, registry: Service, headers: CommandHeaders
) -> WorkerOut:
    """Record that a worker left the provider; `left_on` is the last day employed. Publishes `WorkerLeft`."""
    _own_worker(scope, store, county, worker_id)
    command = RecordWorkerLeaving(county=county, worker_id=worker_id, left_on=body.left_on, reason=body.reason)
    return worker_out(registry.bus.run(command, scope, headers), body.left_on)
