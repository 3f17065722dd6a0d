"""Budgets per county, year and funding source: the allocations and the bases of the county's caps (R-FIN-2)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator

from finance.api.common import BudgetSetter, CountyCode, CountyReader, Service, Strict
from finance.commands import AllocateBudget
from finance.reads import Budgets
from shared.bounds import Fen
from shared.infra.service import CommandHeaders
from shared.rules import RuleViolation
from shared.text import Name

router = APIRouter(prefix="/v1/counties/{county}", tags=["budgets"])

CAPS_ARE_POLICY = (
    "finance no longer takes a cap with a budget: a county's funding caps (资金使用比例上限/下限) are "
    "one piece of county policy, `funding_caps` [{source, bound: ceiling|floor, percent, base, base_year}], "
    "set with `PUT /registry/v1/counties/{county}`; enter here only the budget amount, which is the base "
    "those caps are a percentage of. 经费比例上限/下限属县级政策配置（funding_caps），请在 registry 的县政策中设置。"
)


def is_cap_field(name: str) -> bool:
    """``cap`` (the older per-line cap), its flattened spellings (``cap_kind`` …) and caps lists."""
    return name in ("cap", "caps", "funding_caps") or name.startswith("cap_")


class BudgetIn(Strict):
    year: int = Field(ge=2000, le=2100)
    source: Name = Field(min_length=1, max_length=100, examples=["社会救助专项经费"])
    amount_fen: Fen = Field(
        ge=0, le=10**13,
        description="Allocated for purchasing services from this source (R-FIN-1); also the base of the county "
        "policy's `funding_caps` on it. A `cap` (or `cap_…`) field is refused: caps are county policy (R-FIN-2).",
    )

    @model_validator(mode="before")
    @classmethod
    def no_cap_of_its_own(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = sorted(k for k in data if isinstance(k, str) and is_cap_field(k))
            if named:
                raise RuleViolation(
                    f"{named[0]}: {CAPS_ARE_POLICY}", rule="R-FIN-2", field=named[0],
                    facts={"code": "cap_with_budget", "fields": named, "policy": "funding_caps", "set_with": "PUT /registry/v1/counties/{county}"},
                )
        return data


class CapOut(BaseModel):
    bound: str = Field(description="`ceiling` (purchases ≤ limit) or `floor` (purchases ≥ limit)")
    percent: str
    base: str = Field(description="The funding source whose budget is the base")
    base_year: int = Field(description="The budget year of the base (the line's year, or the previous one for 上年度)")
    base_fen: int | None = Field(description="That budget's allocated amount; null while it is not entered")
    limit_fen: int | None = Field(description="percent × base in fen (a ceiling rounds down, a floor up); null without a base")


class CommitmentOut(BaseModel):
    contract_id: str
    amount_fen: int


class ReleaseOut(BaseModel):
    contract_id: str
    amount_fen: int = Field(description="Its unpaid tranches, released from this line (R-FIN-2)")
    terminated_on: date
    reason: str = Field(description="The termination's kind and reason")


class BudgetOut(BaseModel):
    year: int
    source: str
    allocated: bool
    amount_fen: int
    caps: list[CapOut] = Field(
        description="The county policy's `funding_caps` on this source, from the policy snapshot of the latest "
        "contract committed to this line (`caps_policy_of`); empty when no contract has brought a policy here"
    )
    caps_policy_of: str | None = Field(description="The contract whose policy snapshot the caps come from")
    committed_fen: int = Field(
        description="What stays committed: the contracts' commitments (`contracts`, as made at signing) less what "
        "terminations released (`released_fen`) — amounts paid or still payable (R-FIN-2)"
    )
    remaining_fen: int
    status: str = Field(
        description="`within`, `exceeded` (the allocation or a policy ceiling), `below_floor` (a policy floor not "
        "reached) or `unallocated`"
    )
    contracts: list[CommitmentOut]
    released_fen: int = Field(0, description="The sum of `releases`")
    releases: list[ReleaseOut] = Field(
        default_factory=list,
        description="Terminated contracts' unpaid tranches released from this line (`CommitmentReleased`): what, "
        "when (terminated_on) and why (reason)",
    )


@router.post("/budgets", status_code=201, response_model=BudgetOut)
def allocate_budget(county: CountyCode, body: BudgetIn, scope: BudgetSetter, finance: Service, headers: CommandHeaders) -> BudgetOut:
    """Allocate (or re-allocate) a year's budget for one funding source (R-FIN-2). The amount is also
    the base of the county policy's `funding_caps` on it (registry's county policy, e.g. purchases from
    社会救助专项经费 ≤ 2% of that year's budget of them): registry learns it from `BudgetAllocated` and
    refuses at signing a contract over a ceiling. Contracts commit their funding shares to the budget
    years of their service period (pro rata by days). Entering a budget re-checks the commitments
    already made (in the order they were made) against the allocation and the caps of each
    contract's policy snapshot: each contract that takes a year past the allocation or a ceiling gets
    a `FundingRuleBreached` finding that blocks its payments until resolved.

    Caps are one piece of county configuration: finance takes no cap of its own. A body with `cap`
    (the older per-line cap) or any `cap_…` / `caps` / `funding_caps` field is refused with 422, `rule:
    R-FIN-2` and `field` naming it; set caps as county policy `funding_caps` with
    `PUT /registry/v1/counties/{county}`. Budgets recorded earlier with a per-line cap still load; that
    cap is ignored. Publishes `BudgetAllocated` (its `cap_…` fields are always null now)."""
    command = AllocateBudget(county=county, year=body.year, source=body.source, amount_fen=body.amount_fen)
    budget = finance.bus.run(command, scope, headers)
    return BudgetOut(**finance.queries.budget_line(budget, body.source))


@router.get("/budgets", response_model=list[BudgetOut])
def budgets(
    county: CountyCode, scope: CountyReader, finance: Service,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Only this year")] = None,
) -> list[BudgetOut]:
    """The county's budget lines with what contracts committed of them, the county policy's caps on
    each (from the latest committed contract's policy snapshot) and each line's status by them. A
    terminated contract's unpaid tranches are released from the lines it committed them to
    (`CommitmentReleased`): `releases` says what, when and why, and `committed_fen` counts only what
    was paid or is still payable (R-FIN-2); `contracts` keeps each commitment as made."""
    return [BudgetOut(**line) for line in finance.reads.ask(Budgets(county=county, year=year), scope)]
