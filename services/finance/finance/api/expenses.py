"""The ring-fenced account of a contract (专款专用, R-FIN-8) and its reconciliation (对账)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from finance.api.common import ContractBookkeeper, ContractId, ContractReader, CountyCode, Service, Strict, own_provider
from finance.commands import BookExpense, expense_id_for
from finance.reads import ContractExpenses, ContractReconciliation
from shared.bounds import Day as BoundedDay
from shared.bounds import Fen
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, Page, decode_cursor, respond
from shared.infra.service import CommandHeaders

router = APIRouter(prefix="/v1/counties/{county}/contracts/{contract_id}", tags=["expenses"])


class ExpenseIn(Strict):
    category: str = Field(description="`personnel` (wages, bonuses, social insurance, tax) or `operations` "
                          "(quality assurance and operations) — the R-FIN-4 cost structure; the seeds' names (人员费用, 服务质量保障费用, "
                          "运营管理费 …) are booked by the code")
    amount_fen: Fen = Field(le=10**13, description="Integer fen (R-FIN-1)")
    spent_on: BoundedDay
    voucher: str = Field(min_length=1, max_length=100, description="The original voucher (原始凭证) number")
    worker_id: str | None = Field(
        default=None, max_length=64,
        description="Personnel only: the worker (社工, registry's `worker_id`) whose wages (工资) these are; with `month`",
    )
    month: str | None = Field(
        default=None, max_length=7, examples=["2026-03"],
        description="Personnel only: the month (YYYY-MM, 2000-01 … 2100-12) the wages are for; with `worker_id`. A worker's wages booked "
                    "for a month below the county's minimum wage × the policy's `min_wage_multiplier` are flagged (R-FIN-4)",
    )


class ExpenseFindingOut(BaseModel):
    rule: str
    kind: str = Field(description="`beyond_funds_received`, `cost_structure`, `below_minimum_wage`, "
                                  "`outside_contract_period` or `duplicate_voucher`")
    detail: str


class ExpenseOut(BaseModel):
    expense_id: str
    contract_id: str
    category: str
    amount_fen: int
    spent_on: date
    voucher: str
    worker_id: str | None = None
    month: str | None = None
    findings: list[ExpenseFindingOut]


class Figure(BaseModel):
    amount_fen: int
    event_ids: list[str] = Field(description="`event_id`s of the envelopes behind the figure")


class TrancheFigure(Figure):
    tranches: list[int]


class SpentFigure(Figure):
    by_category: dict[str, Figure]


class FindingTrail(BaseModel):
    finding_id: str
    rule: str
    status: str
    event_ids: list[str]


class FlagTrail(BaseModel):
    count: int
    event_ids: list[str]


class WageShortfall(BaseModel):
    worker_id: str
    month: str
    paid_fen: int
    minimum_fen: int
    missing_fen: int
    event_ids: list[str]


class CostFinding(BaseModel):
    rule: str = Field(description="R-FIN-4")
    kind: str = Field(description="`personnel_below_floor`, `operations_above_ceiling` or `below_minimum_wage`")
    detail: str
    missing_fen: int = Field(description="What is missing (personnel, wages) or in excess (operations), in fen")


class CostStructure(BaseModel):
    """R-FIN-4 under the policy snapshot the contract was signed under (`ContractSigned.policy`)."""

    personnel_fen: int
    personnel_floor_percent: int = Field(description="The policy's `personnel_min_percent`")
    personnel_floor_fen: int = Field(description="`personnel_floor_percent` of the contract amount, rounded up")
    personnel_missing_fen: int = Field(description="How much personnel spending is short of the floor now")
    operations_fen: int
    operations_ceiling_percent: int = Field(description="The policy's `operations_max_percent`")
    operations_ceiling_fen: int
    minimum_wage_fen: int | None = Field(description="The county's `local_min_wage_fen` × `min_wage_multiplier` "
                                                     "(rounded up); null while the county has not set its minimum wage")
    wages_below_minimum: list[WageShortfall]
    year_over: bool = Field(description="The service year has ended (or the contract was terminated): the "
                                        "personnel floor is judged")
    findings: list[CostFinding]


class ReconciliationOut(BaseModel):
    contract_id: str
    contract_amount: Figure
    awaiting_trigger: TrancheFigure
    scheduled: TrancheFigure
    paid: TrancheFigure
    withheld: TrancheFigure
    cancelled: TrancheFigure
    spent: SpentFigure
    balance: Figure = Field(description="Paid minus spent: funds received and not yet spent")
    funding_findings: list[FindingTrail]
    expense_findings: FlagTrail
    cost_structure: CostStructure


@router.post("/expenses", status_code=201, response_model=ExpenseOut)
def book_expense(
    county: CountyCode, contract_id: ContractId, body: ExpenseIn, scope: ContractBookkeeper, finance: Service, headers: CommandHeaders
) -> ExpenseOut:
    """Book an expense against the contract's ring-fenced account with its voucher (R-FIN-8); a
    provider books only for its own contracts. The expense is recorded (`ExpenseBooked`) and
    flagged (`ExpenseFlagged`) when spending exceeds the funds received (paid tranches), when the
    category split breaks the cost structure (R-FIN-4: operations above the policy's
    `operations_max_percent` of the contract amount), when a worker's wages for a month (`worker_id` +
    `month`, personnel only) stay below the county's `local_min_wage_fen` × `min_wage_multiplier`
    (R-FIN-4, not checked while the county has not set its minimum wage), when it is dated outside the
    contract period, or when its voucher was already booked in the county. `worker_id` and `month` come
    together, on personnel expenses only, the month as YYYY-MM (else 422, R-FIN-4, naming the field)."""
    expense_id = expense_id_for(county, headers[0])
    command = BookExpense(
        county=county, contract_id=contract_id, category=body.category, amount_fen=body.amount_fen,
        spent_on=body.spent_on, voucher=body.voucher, worker_id=body.worker_id, month=body.month,
        expense_id=expense_id, provider_id=own_provider(scope),
    )
    entry: dict[str, Any] = finance.bus.run(command, scope, headers)
    return ExpenseOut(**entry)


@router.get("/expenses", response_model=list[ExpenseOut])
def expenses(
    request: Request, response: Response, county: CountyCode, contract_id: ContractId, scope: ContractReader, finance: Service,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[ExpenseOut]:
    """The expenses booked against the contract, with their findings, in booking order — paged
    like every list: at most `limit` a page, the next page named in `X-Next-Cursor` (and `Link`)
    while more follow; expenses booked during a walk come after it, none is seen twice. A page
    costs the same whatever the number of expenses the contract has (issue 16)."""
    query = {"county": county, "contract_id": contract_id}
    after = decode_cursor("finance.expenses", query, cursor)
    found: Page[dict[str, Any]] = finance.reads.ask(
        ContractExpenses(county=county, contract_id=contract_id, limit=limit, after=after), scope
    )
    respond(request, response, "finance.expenses", query, found)
    return [ExpenseOut(**e) for e in found.items]


@router.get("/reconciliation", response_model=ReconciliationOut)
def reconciliation(county: CountyCode, contract_id: ContractId, scope: ContractReader, finance: Service) -> ReconciliationOut:
    """The contract's reconciliation: contract amount, tranches awaiting their trigger, scheduled,
    paid, withheld and cancelled, spending by category and the balance (paid − spent), and the R-FIN-4
    cost structure (`cost_structure`): personnel against the policy's floor — a finding with what is
    missing once the service year is over —, operations against the policy's ceiling, and every
    worker's monthly wages below the county's minimum wage × multiplier. Each figure
    lists the `event_id`s of the events behind it, as found in `/finance/v1/audit/events` and on
    JetStream."""
    return ReconciliationOut(**finance.reads.ask(ContractReconciliation(county=county, contract_id=contract_id), scope))
