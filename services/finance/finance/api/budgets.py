"""Budgets per county, year and funding source, with the county's cap rule (R-FIN-2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from finance.api.common import BudgetSetter, CountyCode, CountyReader, Store, Strict
from shared.infra.service import CommandHeaders, run_command
from shared.rules import RuleViolation

router = APIRouter(prefix="/v1/counties/{county}", tags=["budgets"])


class CapIn(Strict):
    kind: str = Field(description="`ceiling` (purchases ≤ percent of the base) or `floor` (≥)", examples=["ceiling"])
    percent: Decimal = Field(gt=0, le=100, decimal_places=2, examples=["2"])
    base_fen: int = Field(ge=0, le=10**14, description="The base the percentage is of, e.g. that year's total social-assistance funds")


class BudgetIn(Strict):
    year: int = Field(ge=2000, le=2100)
    source: str = Field(min_length=1, max_length=100, examples=["社会救助专项经费"])
    amount_fen: int = Field(ge=0, le=10**13, description="Allocated for purchasing services from this source (R-FIN-1)")
    cap: CapIn | None = None


class CapOut(BaseModel):
    kind: str
    percent: str
    base_fen: int
    limit_fen: int


class CommitmentOut(BaseModel):
    contract_id: str
    amount_fen: int


class BudgetOut(BaseModel):
    year: int
    source: str
    allocated: bool
    amount_fen: int
    cap: CapOut | None
    committed_fen: int
    remaining_fen: int
    status: str = Field(description="`within`, `exceeded` (allocation or ceiling), `below_floor` or `unallocated`")
    contracts: list[CommitmentOut]


def basis_points(percent: Decimal) -> int:
    scaled = percent * 100
    if scaled != scaled.to_integral_value():
        raise RuleViolation("cap.percent has at most two decimals", rule="R-FIN-2", field="cap.percent")
    return int(scaled)


@router.post("/budgets", status_code=201, response_model=BudgetOut)
def allocate_budget(county: CountyCode, body: BudgetIn, scope: BudgetSetter, store: Store, headers: CommandHeaders) -> BudgetOut:
    """Allocate (or re-allocate) a year's budget for one funding source (R-FIN-2). The amount is also
    the base of the county policy's `funding_caps` on it (registry's county policy, e.g. purchases from
    社会救助专项经费 ≤ 2% of that year's budget of them): registry learns it from `BudgetAllocated` and
    refuses at signing a contract over a ceiling. Contracts commit their funding shares to the budget
    years of their service period (pro rata by days). Entering a budget re-checks the commitments
    already made (in the order they were made): each contract that takes a year past the allocation or
    a ceiling gets a `FundingRuleBreached` finding that blocks its payments until resolved. `cap` is the
    older, per-line way of stating a ceiling or floor (`base_fen` given here); it is still honoured, but
    a county's caps belong in its policy. Publishes `BudgetAllocated`."""
    cap = body.cap
    budget = run_command(
        store, scope, headers, body.model_dump(mode="json"),
        lambda: store.allocate_budget(
            county, body.year, body.source, body.amount_fen,
            cap.kind if cap else None, basis_points(cap.percent) if cap else None, cap.base_fen if cap else None,
        ),
        lambda _ids: store.county_budget(county, body.year),
    )
    return BudgetOut(**store.budget_line(budget, body.source))


@router.get("/budgets", response_model=list[BudgetOut])
def budgets(
    county: CountyCode, scope: CountyReader, store: Store,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Only this year")] = None,
) -> list[BudgetOut]:
    """The county's budget lines with what contracts committed of them and each line's status."""
    return [BudgetOut(**line) for line in store.budgets(county, year)]
