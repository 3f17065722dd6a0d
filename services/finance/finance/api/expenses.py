"""The ring-fenced account of a contract (专款专用, R-FIN-8) and its reconciliation (对账)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from finance.api.common import ContractBookkeeper, ContractId, ContractReader, CountyCode, Store, Strict, own_provider
from finance.application import expense_id_for
from finance.reconciliation import reconcile
from shared.bounds import Day as BoundedDay
from shared.infra.service import CommandHeaders, run_command

router = APIRouter(prefix="/v1/counties/{county}/contracts/{contract_id}", tags=["expenses"])


class ExpenseIn(Strict):
    category: str = Field(description="`personnel` (wages, bonuses, social insurance, tax) or `operations` "
                          "(quality assurance and operations) — the R-FIN-4 cost structure")
    amount_fen: int = Field(le=10**13, description="Integer fen (R-FIN-1)")
    spent_on: BoundedDay
    voucher: str = Field(min_length=1, max_length=100, description="The original voucher (原始凭证) number")


class ExpenseFindingOut(BaseModel):
    rule: str
    kind: str = Field(description="`beyond_funds_received`, `cost_structure`, `outside_contract_period` or `duplicate_voucher`")
    detail: str


class ExpenseOut(BaseModel):
    expense_id: str
    contract_id: str
    category: str
    amount_fen: int
    spent_on: date
    voucher: str
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


@router.post("/expenses", status_code=201, response_model=ExpenseOut)
def book_expense(
    county: CountyCode, contract_id: ContractId, body: ExpenseIn, scope: ContractBookkeeper, store: Store, headers: CommandHeaders
) -> ExpenseOut:
    """Book an expense against the contract's ring-fenced account with its voucher (R-FIN-8); a
    provider books only for its own contracts. The expense is recorded (`ExpenseBooked`) and
    flagged (`ExpenseFlagged`) when spending exceeds the funds received (paid tranches), when the
    category split breaks the cost structure (R-FIN-4: operations above 100 − personnel minimum
    percent of the contract amount), when it is dated outside the contract period, or when its
    voucher was already booked in the county."""
    expense_id = expense_id_for(county, headers[0])
    entry: dict[str, Any] = run_command(
        store, scope, headers, {"contract_id": contract_id, **body.model_dump(mode="json")},
        lambda: store.book_expense(
            county, contract_id, expense_id=expense_id, category=body.category, amount_fen=body.amount_fen,
            spent_on=body.spent_on, voucher=body.voucher, provider_id=own_provider(scope),
        ),
        lambda _ids: store.expense(county, contract_id, expense_id),
    )
    return ExpenseOut(**entry)


@router.get("/expenses", response_model=list[ExpenseOut])
def expenses(county: CountyCode, contract_id: ContractId, scope: ContractReader, store: Store) -> list[ExpenseOut]:
    """Every expense booked against the contract, with its findings."""
    return [ExpenseOut(**e) for e in store.expenses(county, contract_id, own_provider(scope))]


@router.get("/reconciliation", response_model=ReconciliationOut)
def reconciliation(county: CountyCode, contract_id: ContractId, scope: ContractReader, store: Store) -> ReconciliationOut:
    """The contract's reconciliation: contract amount, tranches awaiting their trigger, scheduled,
    paid, withheld and cancelled, spending by category and the balance (paid − spent). Each figure
    lists the `event_id`s of the events behind it, as found in `/finance/v1/audit/events` and on
    JetStream."""
    schedule = store.schedule(county, contract_id, own_provider(scope))
    return ReconciliationOut(**reconcile(store, schedule))
