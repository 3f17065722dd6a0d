"""Counties (the tenants) and their policy parameters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from registry.api.common import BudgetReader, CountyCode, CountyReader, ProvinceAdmin, Service, Strict
from registry.commands import PutCounty
from registry.domainmodel import PARAMETERS
from registry.reads import CountyFunding, CountyPolicy
from shared.clock import china_today
from shared.infra.service import CommandHeaders
from shared.text import Name

router = APIRouter(prefix="/v1/counties", tags=["counties"])

_PARAMETER_DOC = "; ".join(f"`{name}` ({rule}, default {default!r}): {meaning}" for name, (default, rule, meaning) in PARAMETERS.items())


class CountyIn(Strict):
    name: Name = Field(min_length=1, max_length=100, examples=["原州区"])
    policy: dict[str, Any] | None = Field(
        default=None,
        max_length=50,
        description="Overrides of the default policy parameters (omit to keep the policy in force). " + _PARAMETER_DOC,
    )


class ParameterOut(BaseModel):
    name: str
    rule: str = Field(description="The rule (R-…) the parameter belongs to")
    default: Any = Field(description="The province default, in force unless the county overrides it")
    meaning: str


PARAMETER_LIST = [ParameterOut(name=n, rule=rule, default=default, meaning=meaning) for n, (default, rule, meaning) in PARAMETERS.items()]


class CountyOut(BaseModel):
    county: str
    name: str
    policy: dict[str, Any]
    policy_version: int
    parameters: list[ParameterOut] = Field(
        default=PARAMETER_LIST, description="Every policy parameter with its rule, default and meaning (what `policy` keys mean)"
    )


@router.put("/{county}", response_model=CountyOut)
def put_county(county: CountyCode, body: CountyIn, scope: ProvinceAdmin, registry: Service, headers: CommandHeaders) -> CountyOut:
    """Register a county (the tenant) or change its name or policy parameters. Province admins only.

    `policy` lists overrides of the defaults (a change replaces the previous overrides); omitted, the
    policy in force is kept. A policy change is a new version (`CountyPolicyChanged`); contracts keep
    the version — and a snapshot of the policy — they were signed under.
    """
    agg = registry.bus.run(PutCounty(county=county, name=body.name, policy=body.policy), scope, headers)
    return CountyOut(county=county, name=agg.name, policy=agg.policy, policy_version=agg.policy_version)


@router.get("/{county}", response_model=CountyOut)
def get_county(
    county: CountyCode,
    scope: CountyReader,
    registry: Service,
    policy_version: int | None = Query(default=None, ge=1, description="An earlier policy version instead of the one in force"),
) -> CountyOut:
    """The county with its policy in force (or the given earlier version). Every role of the county
    reads it, a worker's token too (its name and the policy parameters: nothing personal)."""
    return CountyOut(**registry.reads.ask(CountyPolicy(county=county, policy_version=policy_version), scope))


class FundingLineOut(BaseModel):
    year: int
    source: str
    budget_fen: int | None = Field(description="The source's budget for the year as finance entered it (BudgetAllocated); null if not yet")
    committed_fen: int = Field(description="What the county's signed contracts commit of it in that year (pro rata by service days)")
    ceiling_fen: int | None = Field(description="The tightest ceiling of the county's funding_caps on this source and year, if its base is known")


@router.get("/{county}/funding", response_model=list[FundingLineOut])
def funding(
    county: CountyCode, scope: BudgetReader, registry: Service,
    year: int | None = Query(default=None, ge=2000, le=2100, description="The budget year (default: this year, China time)"),
) -> list[FundingLineOut]:
    """R-FIN-2 as the registry judges it at signing: per funding source of the county, its budget for
    `year` (registry's copy of finance's `BudgetAllocated`), what signed contracts commit of it in that
    year (each contract's shares split over the years of its service period, pro rata by days), and the
    ceiling the county policy's `funding_caps` put on it. A contract that would take the committed amount
    past a ceiling is refused at signing. Who may read it: as finance's budgets (province admin, the
    purchaser, finance, auditors), not providers or evaluators."""
    lines = registry.reads.ask(CountyFunding(county=county, year=year or china_today().year), scope)
    return [FundingLineOut(**line) for line in lines]
