"""What every finance route shares: the store, path parameters, the roles allowed, caller scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import BaseModel, ConfigDict

from finance.composition import Finance
from shared.infra.auth import CountyScope, Owner, Owns, Role, county_scope
from shared.rules import DomainError

CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]
ContractId = Annotated[str, Path(min_length=1, max_length=100, description="The contract id registry gave")]


async def get_finance(request: Request) -> Finance:  # async: no I/O, no thread hop
    return request.app.state.service


# The composed service: ``.bus`` runs typed commands (finance.commands), ``.queries`` reads.
Service = Annotated[Finance, Depends(get_finance)]
# Read a contract's figures: a provider only its own contracts (checked per route).
Reader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.AUDITOR)),
]
# …on one contract of the path, which a provider's token must own (R-AUD-6, docs/ACCESS.md).
ContractReader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.AUDITOR, owns=Owns.CONTRACT)),
]
ContractBookkeeper = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.FINANCE, write=True, owns=Owns.CONTRACT))]
# County-wide views (budgets, overdue tranches, findings): not for providers.
CountyReader = Annotated[
    CountyScope, Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.FINANCE, Role.AUDITOR))
]
Finance = Annotated[CountyScope, Depends(county_scope(Role.FINANCE, write=True))]
BudgetSetter = Annotated[CountyScope, Depends(county_scope(Role.FINANCE, Role.PROVINCE_ADMIN, write=True))]
Supervisor = Annotated[CountyScope, Depends(county_scope(Role.PURCHASER, Role.FINANCE, write=True))]
Bookkeeper = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.FINANCE, write=True))]


def own_provider(scope: CountyScope) -> str | None:
    """The provider a caller is limited to (None: not a provider; "" never matches a contract)."""
    if scope.principal.role != Role.PROVIDER:
        return None
    return scope.principal.provider_id or ""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _contract_owner(finance: Finance, county: str, ref: str) -> Owner | None:
    try:
        return Owner(frozenset({finance.queries.schedule(county, ref).provider_id}))
    except DomainError:
        return None


OWNERS = {Owns.CONTRACT: _contract_owner}
