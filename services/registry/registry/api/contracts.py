"""Service contracts (服务协议): sign, file (备案), change scope, renew, terminate, expire."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from registry.api.common import (
    ContractProviderSide,
    ContractReader,
    CountyCode,
    Day,
    Purchaser,
    Reader,
    Service,
    Store,
    Strict,
    ensure_own,
    new_id,
)
from registry.commands import (
    DecideScopeChange,
    ExpireContracts,
    FileContract,
    RenewContract,
    RequestScopeChange,
    SignContract,
    TerminateContract,
)
from registry.domainmodel import SERVICE_AREAS, TERMINATION_KINDS, TRIGGERS, Contract, filing_due, plain
from registry.reads import ContractDetail, ContractList
from shared.bounds import Fen
from shared.clock import china_today
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, respond
from shared.infra.service import CommandHeaders
from shared.text import Name
from shared.workdays import WorkdayCalendar

router = APIRouter(prefix="/v1/counties/{county}/contracts", tags=["contracts"])


class FundingIn(Strict):
    source: Name = Field(
        min_length=1, max_length=100, examples=["福彩公益金"],
        description="One of the county policy's `funding_sources`, spelt exactly (R-FIN-2)",
    )
    amount_fen: Fen = Field(ge=0, le=10**13)


class IndicatorIn(Strict):
    code: str = Field(min_length=1, max_length=50)
    name: Name = Field(min_length=1, max_length=200)
    unit: Name = Field(min_length=1, max_length=20, examples=["人次"])
    target: int = Field(le=10**9, description="Positive (R-LOG-8)")
    monthly_plan: dict[str, int] = Field(default_factory=dict, max_length=24, description="进度表: {'YYYY-MM': planned}, at most 24 months")


class TrancheIn(Strict):
    seq: int = Field(ge=1, le=12)
    percent: int = Field(ge=1, le=100)
    trigger: str = Field(description=f"One of {TRIGGERS}: the contract taking effect, a passed mid-term evaluation, "
                               "the passed year-end evaluation — `final_passed` and `annual_passed` are both set off "
                               "by whichever year-end evaluation (`final` 末期 or `annual` 年度) the county holds, "
                               "unless the plan names both (R-FIN-5)")
    due_working_days: int = Field(default=15, ge=1, le=120)


class ContractIn(Strict):
    provider_id: str = Field(min_length=1, max_length=64)
    station_ids: list[str] = Field(max_length=100, description="Each staffed on signed_on with the county's minimum of the provider's workers (R-REG-2)")
    purchaser: Name = Field(min_length=1, max_length=200)
    signed_on: Day
    effective_on: Day
    period_start: Day
    period_end: Day = Field(
        description=(
            "The last day of the service year (一年一签): after period_start and at the latest the same calendar "
            "day one year later, as the seeds write it (2015年6月10日至2016年6月10日, 一年); a year starting on "
            "29 February may end on 28 February. Later is refused (R-REG-4)."
        )
    )
    amount_fen: Fen = Field(le=10**13, description="Integer fen (R-FIN-1)")
    funding: list[FundingIn] = Field(max_length=20, description="Shares summing to amount_fen (R-FIN-2)")
    service_areas: list[str] = Field(max_length=20, description=f"From R-LOG-2: {SERVICE_AREAS}")
    indicators: list[IndicatorIn] = Field(max_length=200)
    tranche_plan: list[TrancheIn] | None = Field(default=None, max_length=12, description="Default: the county policy's plan (R-FIN-5)")
    cycle_years: int | None = Field(default=None, ge=1, le=5, description="Default and maximum: the county's contract_cycle_years")
    year_index: int | None = Field(default=None, ge=1, le=5, description="Year of the cycle (default 1)")
    probation: bool = Field(default=False, description="Year 1 as a probation year (试用考核期)")
    supervisor_id: str | None = Field(default=None, max_length=64, description="The supervisor (督导): required when the county's policy says so (R-REG-2)")
    previous_contract_id: str | None = Field(
        default=None, max_length=64,
        description=(
            "Year 2 or later of a cycle: the previous year's contract, of the same provider, whose final/annual "
            "evaluation passed (R-REG-7); signing is then its renewal. Required for year_index ≥ 2, refused for year 1"
        ),
    )
    justification: str | None = Field(
        default=None, max_length=1000,
        description=(
            "Why a second contract of the provider covers a station it already serves in an overlapping service "
            "period (R-REG-7). Without it such a contract is refused; with it the overlap and this text are recorded "
            "(`OverlapJustified`) and shown as `overlap`"
        ),
    )


class RenewalIn(Strict):
    signed_on: Day
    effective_on: Day | None = Field(
        default=None,
        description="Default: the new year's period_start, or signed_on when the renewal is signed after it (R-REG-7 waits for the final evaluation)",
    )
    period_start: Day | None = Field(default=None, description="Default: the day after this year's period_end")
    period_end: Day | None = None
    amount_fen: Fen | None = Field(default=None, le=10**13)
    funding: list[FundingIn] | None = Field(default=None, max_length=20)
    station_ids: list[str] | None = Field(default=None, max_length=100)
    service_areas: list[str] | None = Field(default=None, max_length=20)
    indicators: list[IndicatorIn] | None = Field(default=None, max_length=200)
    tranche_plan: list[TrancheIn] | None = Field(default=None, max_length=12)
    supervisor_id: str | None = Field(default=None, max_length=64)


class ContractCreated(BaseModel):
    contract_id: str


class FilingIn(Strict):
    filed_on: Day
    filed_with: Name = Field(default="市民政局", max_length=200, description="The city bureau the copy was filed with")


class ScopeChangeIn(Strict):
    service_areas: list[str] = Field(min_length=1, max_length=20, description="The contract's areas after the change (R-LOG-2)")
    effective_on: Day
    reason: str = Field(min_length=1, max_length=1000)


class ScopeChangeCreated(BaseModel):
    change_id: str


class ScopeDecisionIn(Strict):
    approved: bool
    decided_on: Day
    approved_by: Name | None = Field(default=None, max_length=200, description="Default: the contract's purchaser")
    note: str = Field(default="", max_length=1000)


class TerminationIn(Strict):
    terminated_on: Day
    kind: str = Field(
        description=(
            f"One of {TERMINATION_KINDS}: breach (违约), serious_breach (严重违约), fraud (弄虚作假), agreement "
            "(协商解除). serious_breach and fraud also ban the provider (R-EVAL-9)"
        )
    )
    reason: str = Field(min_length=1, max_length=1000)


class ExpiryIn(Strict):
    as_of: Day = Field(description="Contracts whose period ended before this day expire")


class ExpiryOut(BaseModel):
    expired: list[str]


class ContractOut(BaseModel):
    contract_id: str
    county: str
    status: str = Field(description="signed, terminated or expired")
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
    cycle_start: date
    year_index: int
    probation: bool
    policy_version: int
    policy: dict[str, Any] = Field(description="The county policy the contract was signed under")
    supervisor_id: str | None
    previous_contract_id: str | None
    next_contract_id: str | None
    filing_due_on: date = Field(description="R-REG-5: `filing_working_days` working days after signing (State Council "
                                "calendar, R-FIN-6); until filed it is counted with every official year loaded so far")
    filing_due_provisional: bool = Field(description="True while a year it counts through has no official calendar "
                                         "(neither chinesecalendar data nor a loaded notice), counted Monday–Friday; "
                                         "loading that year's calendar in finance makes it firm")
    filed_on: date | None
    filing_late: bool | None = Field(
        description=(
            "R-REG-5: true when filed after its due date or, not filed, once the due date has passed (as of today, "
            "China time); false when filed in time; null while not filed and not yet due"
        )
    )
    filing_overdue_on: date | None = Field(
        description="The day the registry flagged the filing overdue (`ContractFilingOverdue`), null if it never was"
    )
    overlap: dict[str, Any] | None = Field(description="R-REG-7: {contract_ids, justification} when signed overlapping other contracts")
    scope_changes: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    ended_on: date | None
    end_kind: str | None
    end_reason: str | None


def contract_out(c: Contract, calendar: WorkdayCalendar | None = None) -> ContractOut:
    """The contract; a filing deadline not yet met is counted with ``calendar`` (the store's
    ``workdays()``: official data plus every loaded year; default the official data alone) (R-REG-5,
    R-FIN-6): loading a year's official calendar moves it and clears ``filing_due_provisional``."""
    fields = {name: getattr(c, name) for name in ContractOut.model_fields if name not in ("contract_id", "version")}
    fields.update(
        station_ids=list(c.station_ids), funding=[plain(f) for f in c.funding], service_areas=list(c.service_areas),
        overlap=None if c.overlap is None else plain(c.overlap), scope_changes=[plain(x) for x in c.scope_changes],
        evaluations=[plain(e) for e in c.evaluations],
    )
    if c.filed_on is None:
        due = filing_due(c.policy, c.signed_on, calendar or WorkdayCalendar())
        fields.update(filing_due_on=due.on, filing_due_provisional=due.provisional)
        if fields["filing_late"] is None and due.on < china_today():
            fields["filing_late"] = True  # computed on read: true from the day after the due date, flagged or not yet
    return ContractOut(contract_id=str(c.id), version=c.version, **fields)


@router.post("", status_code=201, response_model=ContractCreated)
def sign_contract(county: CountyCode, body: ContractIn, scope: Purchaser, registry: Service, headers: CommandHeaders) -> ContractCreated:
    """Sign a service contract (服务协议) for one year of a cycle. Checked on the signing day: the provider
    is eligible under the county's policy flags (3A rating, party organisation, prior pass) and not banned
    (R-REG-1); each station has the minimum of the provider's workers (R-REG-2), and a qualified supervisor
    where required; service areas from R-LOG-2; indicator targets positive (R-LOG-8); funding sums to the
    amount, names only the county's `funding_sources` and exceeds no ceiling of the county's `funding_caps`
    in any budget year of the service period (shares split pro rata by days; the base is the budget finance
    entered, as registry learnt it from `BudgetAllocated`; a refusal's `facts` give the source, the cap and
    the excess in fen) (R-FIN-2); the year lies inside the cycle (R-REG-4). Year 2+ names `previous_contract_id`, whose
    final/annual evaluation passed (R-REG-7); another contract of the provider for one of the stations in an
    overlapping period needs a `justification` (R-REG-7); no ban of the organisation, in any county, is in force
    on `signed_on` or on the day the contract is recorded (R-REG-1, R-EVAL-9). Publishes `ContractSigned` with
    the county policy snapshot, from which finance schedules tranche 1 (and `ContractRenewed` for year 2+)."""
    cid = registry.bus.run(SignContract(county=county, **body.model_dump()), scope, headers)
    return ContractCreated(contract_id=str(cid))


@router.get("", response_model=list[ContractOut])
def list_contracts(
    request: Request,
    response: Response,
    county: CountyCode,
    scope: Reader,
    registry: Service,
    status: str | None = Query(default=None, pattern="^(signed|terminated|expired)$"),
    provider_id: str | None = None,
    filing: str | None = Query(
        default=None, pattern="^(overdue|late|on_time|pending)$",
        description=(
            "R-REG-5 filing (备案) as of today (China time): `overdue` not filed and past its due date (the bureau's "
            "list to chase); `late` filed late or overdue; `on_time` filed by the due date; `pending` not filed, not yet due"
        ),
    ),
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> list[ContractOut]:
    """The county's contracts in signing order, paged (`limit`, `cursor`; the next page is named in
    `X-Next-Cursor`). A provider sees its own only. With `status` or `filing` a page may hold fewer
    than `limit` contracts while `X-Next-Cursor` is present."""
    query = ContractList(county=county, provider_id=provider_id, status=status, filing=filing, limit=limit, cursor=cursor)
    found = registry.reads.ask(query, scope)
    respond(request, response, found.name, found.query, found.page)
    return [contract_out(c, found.calendar) for c in found.page.items]


@router.post("/expiry", response_model=ExpiryOut)
def expire_contracts(county: CountyCode, body: ExpiryIn, scope: Purchaser, registry: Service, headers: CommandHeaders) -> ExpiryOut:
    """Expire every active contract of the county whose period ended before `as_of` (run daily or at
    year end). Publishes `ContractExpired` for each; returns their ids."""
    ids = registry.bus.run(ExpireContracts(county=county, as_of=body.as_of), scope, headers)
    return ExpiryOut(expired=[str(i) for i in ids])


@router.get("/{contract_id}", response_model=ContractOut)
def get_contract(county: CountyCode, contract_id: str, scope: ContractReader, registry: Service) -> ContractOut:
    """A contract as currently recorded, with its filing, scope changes, evaluation results and end."""
    found = registry.reads.ask(ContractDetail(county=county, contract_id=contract_id), scope)
    return contract_out(found.contract, found.calendar)


@router.post("/{contract_id}/filing", response_model=ContractOut)
def file_contract(
    county: CountyCode, contract_id: str, body: FilingIn, scope: Purchaser, store: Store, registry: Service, headers: CommandHeaders
) -> ContractOut:
    """Record the filing (备案) of the signed contract with the city bureau (R-REG-5). Due within the
    policy's `filing_working_days` (15) working days of signing, per the State Council calendar; a later
    filing is accepted and flagged `late`. Publishes `ContractFiled`. A contract not filed by its due date
    is flagged without any request: the registry's periodic sweep publishes `ContractFilingOverdue` once,
    reads show `filing_late: true` from the day after the due date, and `GET …/contracts?filing=overdue`
    lists them."""
    command = FileContract(county=county, contract_id=contract_id, filed_on=body.filed_on, filed_with=body.filed_with)
    return contract_out(registry.bus.run(command, scope, headers), store.workdays())


@router.post("/{contract_id}/scope-changes", status_code=201, response_model=ScopeChangeCreated)
def request_scope_change(
    county: CountyCode, contract_id: str, body: ScopeChangeIn, scope: ContractProviderSide, store: Store, registry: Service, headers: CommandHeaders
) -> ScopeChangeCreated:
    """Ask for a scope change (R-REG-6): the contract's service areas from `effective_on`. Nothing changes
    until the purchaser approves it (`…/scope-changes/{change_id}/decision`). A provider asks for its own
    contracts only."""
    ensure_own(scope, store.contract(county, contract_id).provider_id)
    change_id = new_id(county, headers)
    command = RequestScopeChange(
        county=county, contract_id=contract_id, change_id=change_id, requested_by=scope.principal.sub,
        service_areas=body.service_areas, effective_on=body.effective_on, reason=body.reason,
    )
    registry.bus.run(command, scope, headers)
    return ScopeChangeCreated(change_id=change_id)


@router.post("/{contract_id}/scope-changes/{change_id}/decision", response_model=ContractOut)
def decide_scope_change(
    county: CountyCode, contract_id: str, change_id: str, body: ScopeDecisionIn, scope: Purchaser, store: Store, registry: Service,
    headers: CommandHeaders,
) -> ContractOut:
    """Approve or reject a requested scope change (R-REG-6). Approval makes the areas the contract's
    scope and publishes `ContractScopeChanged` (services-log then accepts deliveries in them)."""
    command = DecideScopeChange(
        county=county, contract_id=contract_id, change_id=change_id, approved=body.approved, decided_on=body.decided_on,
        approved_by=body.approved_by, note=body.note,
    )
    return contract_out(registry.bus.run(command, scope, headers), store.workdays())


@router.post("/{contract_id}/renewal", status_code=201, response_model=ContractCreated)
def renew_contract(
    county: CountyCode, contract_id: str, body: RenewalIn, scope: Purchaser, registry: Service, headers: CommandHeaders
) -> ContractCreated:
    """Sign the next year of the cycle (续签, R-REG-7) — only after this year's final/annual evaluation
    passed (learnt from evaluation's `EvaluationConcluded`/`AppealDecided`); a failed one ends the cycle
    (re-procurement), as does the last year of the cycle. The next year starts from this year's terms one
    year on; any given field replaces them. Every signing check applies again. Publishes `ContractSigned`
    (with `previous_contract_id`, `year_index` + 1) and `ContractRenewed`."""
    new = registry.bus.run(RenewContract(county=county, contract_id=contract_id, **body.model_dump()), scope, headers)
    return ContractCreated(contract_id=str(new))


@router.post("/{contract_id}/termination", response_model=ContractOut)
def terminate_contract(
    county: CountyCode, contract_id: str, body: TerminationIn, scope: Purchaser, store: Store, registry: Service, headers: CommandHeaders
) -> ContractOut:
    """End the contract early with its reason: `breach` (违约), `serious_breach` (严重违约) or `fraud`
    (弄虚作假) — both ban the provider for the county's `ban_years` (R-EVAL-9), publishing `ProviderBanned`;
    the ban follows the organisation's 统一社会信用代码 into every county of the deployment (R-REG-1) —
    or `agreement` (协商解除). Publishes `ContractTerminated`; finance cancels the remaining tranches."""
    command = TerminateContract(
        county=county, contract_id=contract_id, terminated_on=body.terminated_on, kind=body.kind, reason=body.reason
    )
    return contract_out(registry.bus.run(command, scope, headers), store.workdays())
