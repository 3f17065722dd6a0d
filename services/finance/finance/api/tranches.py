"""Tranches (R-FIN-5/6), payments (R-FIN-7), overdue tranches (R-FIN-9) and funding findings."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from finance.api.common import (
    ContractId,
    ContractReader,
    CountyCode,
    CountyReader,
    Finance,
    Service,
    Strict,
    Supervisor,
)
from finance.commands import PayTranche, RecordOverdue, ResolveFinding
from finance.queries import FinanceQueries
from finance.reads import ContractFindings, ContractTranches, CountyFindings, OverdueTranches
from shared.bounds import AnyDay
from shared.bounds import Day as BoundedDay
from shared.clock import china_today
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, decode_cursor, respond
from shared.infra.service import CommandHeaders
from shared.rules import RuleViolation

router = APIRouter(prefix="/v1/counties/{county}", tags=["tranches"])

Seq = Annotated[int, Path(ge=1, le=100, description="The tranche's number in the plan")]


class TrancheOut(BaseModel):
    seq: int
    percent: int
    amount_fen: int
    trigger: str
    status: str = Field(description="`awaiting_trigger`, `scheduled`, `overdue`, `paid`, `withheld` or `cancelled`")
    due_on: date | None
    provisional: bool
    triggered_on: date | None = None
    paid_on: date | None = None
    voucher: str | None = None


class PaymentIn(Strict):
    paid_on: BoundedDay
    voucher: str = Field(min_length=1, max_length=100, description="The payment voucher (拨付凭证) number")


class OverdueOut(BaseModel):
    contract_id: str
    seq: int
    amount_fen: int
    trigger: str
    due_on: date
    provisional: bool
    working_days_late: int
    recorded_on: date | None = Field(description="When an overdue check first recorded it (`TrancheOverdue`)")


class OverdueCheckIn(Strict):
    as_of: BoundedDay | None = Field(default=None, description="Default: today (China Standard Time)")


class FindingOut(BaseModel):
    contract_id: str
    kind: str = Field(description="`funding` (R-FIN-2/3, blocks payment until resolved) or an expense finding kind")
    rule: str
    detail: str
    status: str
    blocks_payment: bool
    finding_id: str | None = None
    source: str | None = None
    amount_fen: int | None = None
    limit_fen: int | None = None
    resolution: str | None = None
    expense_id: str | None = None


class ResolutionIn(Strict):
    resolution: str = Field(min_length=1, max_length=500, examples=["县财政追加一般公共预算，资金来源已调整"])


@router.get("/contracts/{contract_id}/tranches", response_model=list[TrancheOut])
def tranches(county: CountyCode, contract_id: ContractId, scope: ContractReader, finance: Service) -> list[TrancheOut]:
    """The contract's tranche schedule (R-FIN-5): status `awaiting_trigger`, `scheduled`, `paid`,
    `withheld`, `cancelled` or `overdue` (scheduled and past its due date, R-FIN-9). `provisional`
    marks a due date computed without the State Council calendar of its year (R-FIN-6). Triggers:
    `contract_effective`; `midterm_passed` (a passed mid-term evaluation); `final_passed` and
    `annual_passed` are the year-end tranche — a passed `final` or `annual` evaluation sets off
    whichever of the two the plan names (a county evaluating `annual` keeps the default plan's
    `final_passed`), and a failed one withholds it (R-FIN-7); a plan naming both keeps them apart."""
    return [TrancheOut(**t) for t in finance.reads.ask(ContractTranches(county=county, contract_id=contract_id), scope)]


@router.post("/contracts/{contract_id}/tranches/{seq}/payment", status_code=201, response_model=TrancheOut)
def pay_tranche(
    county: CountyCode, contract_id: ContractId, seq: Seq, body: PaymentIn, scope: Finance, finance: Service,
    headers: CommandHeaders,
) -> TrancheOut:
    """Record a tranche's payment (拨付) with its date and voucher. Refused (R-FIN-7) for a tranche
    awaiting its trigger, withheld, cancelled or already paid, dated before its trigger, or while
    a funding finding of the contract is open. Publishes `TranchePaid`."""
    command = PayTranche(county=county, contract_id=contract_id, seq=seq, paid_on=body.paid_on, voucher=body.voucher)
    schedule = finance.bus.run(command, scope, headers)
    return TrancheOut(**FinanceQueries.tranche_view(schedule.tranche(seq), china_today()))


@router.get("/tranches/overdue", response_model=list[OverdueOut])
def overdue(
    request: Request, response: Response, county: CountyCode, scope: CountyReader, finance: Service,
    as_of: Annotated[AnyDay | None, Query(description="Default: today (China Standard Time); any date 0001-01-01 … 9999-12-31")] = None,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[OverdueOut]:
    """Tranches of the county scheduled but not paid by their due date (R-FIN-9), with the working
    days late (counted by an index over the official calendar: as cheap for 9999-12-31 as for
    tomorrow). Contract by contract in the order finance received them, each contract's tranches by
    seq; paged by contract: a page holds the overdue tranches of at most `limit` contracts (and may
    hold none while `X-Next-Cursor` is present — stop when it is absent)."""
    day = as_of or china_today()
    query = {"county": county, "as_of": day.isoformat()}
    after = decode_cursor("finance.overdue", query, cursor)
    found = finance.reads.ask(OverdueTranches(county=county, as_of=day, limit=limit, after=after), scope)
    respond(request, response, "finance.overdue", query, found.page)
    return [OverdueOut(**row) for row in found.rows]


@router.post("/tranches/overdue-check", response_model=list[OverdueOut])
def overdue_check(
    county: CountyCode, body: OverdueCheckIn, scope: Supervisor, finance: Service, headers: CommandHeaders
) -> list[OverdueOut]:
    """Record every tranche found overdue for the first time as of `as_of` (R-FIN-9): one
    `TrancheOverdue` per tranche, ever. Returns those newly recorded."""
    as_of = body.as_of or china_today()
    if as_of > china_today():
        raise RuleViolation("an overdue check cannot look into the future", rule="R-FIN-9", field="as_of", facts={"code": "overdue_future", "date": as_of.isoformat()})
    rows = finance.bus.run(RecordOverdue(county=county, as_of=as_of), scope, headers)
    return [OverdueOut(**row) for row in rows]


@router.get("/findings", response_model=list[FindingOut])
def findings(
    request: Request, response: Response, county: CountyCode, scope: CountyReader, finance: Service,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[FindingOut]:
    """Findings on the county's contracts: funding findings (`FundingRuleBreached`, R-FIN-2 caps and
    R-FIN-3 station minimum — they block payment until resolved) and expense findings
    (`ExpenseFlagged`, R-FIN-4/R-FIN-8). Contract by contract in the order of each contract's first
    finding; paged by contract: a page holds the findings of at most `limit` contracts (and may hold none
    while `X-Next-Cursor` is present — stop when it is absent)."""
    query = {"county": county, "status": status}
    after = decode_cursor("finance.findings", query, cursor)
    found = finance.reads.ask(CountyFindings(county=county, status=status, limit=limit, after=after), scope)
    respond(request, response, "finance.findings", query, found.page)
    return [FindingOut(**row) for row in found.rows]


@router.get("/contracts/{contract_id}/findings", response_model=list[FindingOut])
def contract_findings(county: CountyCode, contract_id: ContractId, scope: ContractReader, finance: Service) -> list[FindingOut]:
    """The contract's funding findings, open and resolved."""
    return [FindingOut(**f) for f in finance.reads.ask(ContractFindings(county=county, contract_id=contract_id), scope)]


@router.post("/contracts/{contract_id}/findings/{finding_id}/resolution", response_model=FindingOut)
def resolve_finding(
    county: CountyCode, contract_id: ContractId, finding_id: Annotated[str, Path(max_length=20)], body: ResolutionIn,
    scope: Supervisor, finance: Service, headers: CommandHeaders,
) -> FindingOut:
    """Resolve a funding finding (e.g. the budget was raised or the funding re-arranged): the
    contract's tranches can be paid again once no finding is open. Publishes `FundingFindingResolved`."""
    command = ResolveFinding(county=county, contract_id=contract_id, finding_id=finding_id, resolution=body.resolution)
    schedule = finance.bus.run(command, scope, headers)
    return FindingOut(**FinanceQueries.finding_row(schedule, schedule.finding(finding_id)))
