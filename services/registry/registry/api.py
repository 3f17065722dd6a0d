"""Registry HTTP API (paths fixed by API.md). Route docstrings become the OpenAPI text."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from registry.application import RegistryApplication
from registry.domainmodel import DEFAULT_POLICY, Contract
from shared.infra.auth import CountyScope, Role, county_scope
from shared.infra.service import CommandHeaders, run_command

CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]


def get_store(request: Request) -> RegistryApplication:
    return request.app.state.store


Store = Annotated[RegistryApplication, Depends(get_store)]
ProvinceAdmin = Annotated[CountyScope, Depends(county_scope(Role.PROVINCE_ADMIN, write=True))]
Purchaser = Annotated[CountyScope, Depends(county_scope(Role.PURCHASER, Role.PROVINCE_ADMIN, write=True))]
Reader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR)),
]

router = APIRouter(prefix="/v1/counties/{county}", tags=["registry"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CountyIn(Strict):
    name: str = Field(min_length=1, max_length=100, examples=["原州区"])
    policy: dict[str, Any] | None = Field(
        default=None, description=f"Overrides of the default policy parameters: {sorted(DEFAULT_POLICY)}"
    )


class CountyOut(BaseModel):
    county: str
    name: str
    policy: dict[str, Any]
    policy_version: int


class ProviderIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    uscc: str = Field(min_length=18, max_length=18, description="统一社会信用代码 (GB 32100-2015)")
    rating: str | None = Field(default=None, pattern=r"^[1-5]A$", description="Assessment rating, e.g. 3A")
    has_party_org: bool = False


class ProviderCreated(BaseModel):
    provider_id: str


class StationIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    township: str = Field(min_length=1, max_length=100, description="乡镇/街道")
    kind: str = Field(description="township_station, street_station, community_room, family_centre, county_hub")


class StationCreated(BaseModel):
    station_id: str


class WorkerIn(Strict):
    provider_id: str
    station_id: str
    name: str = Field(min_length=1, max_length=100)
    birth_date: date
    education: str = Field(description="高中, 中专, 大专, 本科, 硕士, 博士")
    qualification: str = Field(description="none, 助理社会工作师, 社会工作师, 高级社会工作师")
    role: str = Field(description="social_worker, supervisor, station_head")
    hired_on: date


class WorkerCreated(BaseModel):
    worker_id: str


class FundingIn(Strict):
    source: str = Field(min_length=1, max_length=100)
    amount_fen: int = Field(ge=0, le=10**13)


class IndicatorIn(Strict):
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=20, examples=["人次"])
    target: int = Field(le=10**9)
    monthly_plan: dict[str, int] = Field(default_factory=dict, description="进度表: {'YYYY-MM': planned}")


class TrancheIn(Strict):
    seq: int = Field(ge=1, le=12)
    percent: int = Field(ge=1, le=100)
    trigger: str
    due_working_days: int = Field(default=15, ge=1, le=120)


class ContractIn(Strict):
    provider_id: str
    station_ids: list[str] = Field(max_length=100)
    purchaser: str = Field(min_length=1, max_length=200)
    signed_on: date
    effective_on: date
    period_start: date
    period_end: date
    amount_fen: int = Field(le=10**13, description="Integer fen (R-FIN-1)")
    funding: list[FundingIn] = Field(max_length=20)
    service_areas: list[str] = Field(max_length=20)
    indicators: list[IndicatorIn] = Field(max_length=200)
    tranche_plan: list[TrancheIn] | None = None
    cycle_years: int | None = Field(default=None, ge=1, le=5)
    year_index: int | None = Field(default=None, ge=1, le=5)


class ContractCreated(BaseModel):
    contract_id: str


class ContractOut(BaseModel):
    contract_id: str
    county: str
    status: str
    version: int
    provider_id: str
    station_ids: list[str]
    purchaser: str
    signed_on: date
    effective_on: date
    period_start: date
    period_end: date
    amount_fen: int
    funding: list[dict[str, Any]]
    service_areas: list[str]
    indicators: list[dict[str, Any]]
    tranche_plan: list[dict[str, Any]]
    cycle_years: int
    year_index: int
    policy_version: int


county_router = APIRouter(prefix="/v1/counties", tags=["counties"])


@county_router.put("/{county}", response_model=CountyOut)
def put_county(county: CountyCode, body: CountyIn, scope: ProvinceAdmin, store: Store, headers: CommandHeaders) -> CountyOut:
    """Register a county (the tenant) or change its policy parameters. Province admins only.

    A policy change is a new event; contracts keep the policy version they were signed under.
    """
    agg = run_command(
        store, scope, headers, body.model_dump(),
        lambda: store.put_county(county, body.name, body.policy),
        lambda _ids: store.county(county),
    )
    return CountyOut(county=county, name=agg.name, policy=agg.policy, policy_version=agg.policy_version)


@county_router.get("/{county}", response_model=CountyOut)
def get_county(county: CountyCode, scope: Reader, store: Store) -> CountyOut:
    """The county with its policy in force."""
    agg = store.county(county)
    return CountyOut(county=county, name=agg.name, policy=agg.policy, policy_version=agg.policy_version)


@router.post("/providers", status_code=201, response_model=ProviderCreated)
def register_provider(county: CountyCode, body: ProviderIn, scope: Purchaser, store: Store, headers: CommandHeaders) -> ProviderCreated:
    """Register a provider (承接主体). The USCC is checked per GB 32100-2015 (R-REG-1)."""
    pid = run_command(
        store, scope, headers, body.model_dump(),
        lambda: store.register_provider(county, body.name, body.uscc, body.rating, body.has_party_org),
        lambda ids: ids[0],
    )
    return ProviderCreated(provider_id=str(pid))


@router.post("/stations", status_code=201, response_model=StationCreated)
def establish_station(county: CountyCode, body: StationIn, scope: Purchaser, store: Store, headers: CommandHeaders) -> StationCreated:
    """Establish a station (社工站, 社会工作室, 家庭综合服务中心 or the county hub)."""
    sid = run_command(
        store, scope, headers, body.model_dump(),
        lambda: store.establish_station(county, body.name, body.township, body.kind),
        lambda ids: ids[0],
    )
    return StationCreated(station_id=str(sid))


@router.post("/workers", status_code=201, response_model=WorkerCreated)
def hire_worker(county: CountyCode, body: WorkerIn, scope: Purchaser, store: Store, headers: CommandHeaders) -> WorkerCreated:
    """Record a social worker hired by a provider at a station; age and education checked (R-REG-3)."""
    wid = run_command(
        store, scope, headers, body.model_dump(mode="json"),
        lambda: store.hire_worker(county, **body.model_dump()),
        lambda ids: ids[0],
    )
    return WorkerCreated(worker_id=str(wid))


@router.post("/contracts", status_code=201, response_model=ContractCreated)
def sign_contract(county: CountyCode, body: ContractIn, scope: Purchaser, store: Store, headers: CommandHeaders) -> ContractCreated:
    """Sign a service contract (服务协议). Publishes `ContractSigned`, from which finance schedules tranche 1."""
    terms = body.model_dump()
    cid = run_command(
        store, scope, headers, body.model_dump(mode="json"),
        lambda: store.sign_contract(county, terms),
        lambda ids: ids[0],
    )
    return ContractCreated(contract_id=str(cid))


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def get_contract(county: CountyCode, contract_id: str, scope: Reader, store: Store) -> ContractOut:
    """A contract as currently recorded."""
    c: Contract = store.contract(county, contract_id)
    return ContractOut(
        contract_id=str(c.id), county=c.county, status=c.status, version=c.version,
        provider_id=c.provider_id, station_ids=c.station_ids, purchaser=c.purchaser,
        signed_on=c.signed_on, effective_on=c.effective_on, period_start=c.period_start,
        period_end=c.period_end, amount_fen=c.amount_fen, funding=c.funding,
        service_areas=c.service_areas, indicators=c.indicators, tranche_plan=c.tranche_plan,
        cycle_years=c.cycle_years, year_index=c.year_index, policy_version=c.policy_version,
    )
