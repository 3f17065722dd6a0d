"""What every registry route shares: the store, who may call, and small helpers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from registry.application import Registry, RegistryApplication
from shared.bounds import Day as BoundedDay
from shared.bounds import day_range
from shared.clock import china_today
from shared.infra.auth import CountyScope, Owner, Owns, Role, county_scope
from shared.rules import Forbidden

IDS = uuid.UUID("5e0c7b1a-3d2f-5a4b-9c8d-7e6f5a4b3c2d")
CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]
# Calendar days the registry reasons about (birth dates to ban ends): far-future dates are typing errors.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2100, 12, 31)
Day = day_range(FIRST_DAY, LAST_DAY)
AsOf = Annotated[BoundedDay | None, Query(description="The day the answer is judged on (default: today, China time)")]


async def get_store(request: Request) -> RegistryApplication:  # async: no I/O, no thread hop
    return request.app.state.store


Store = Annotated[RegistryApplication, Depends(get_store)]


async def get_registry(request: Request) -> Registry:
    return request.app.state.service


# The composed registry: its command objects (``.contracting``, ``.staffing`` …) around the store.
Service = Annotated[Registry, Depends(get_registry)]
ProvinceAdmin = Annotated[CountyScope, Depends(county_scope(Role.PROVINCE_ADMIN, write=True))]
# The purchaser's side (购买主体, or the province on its behalf) registers, signs and decides.
Purchaser = Annotated[CountyScope, Depends(county_scope(Role.PURCHASER, Role.PROVINCE_ADMIN, write=True))]
# …and the provider (承接主体) keeps its own staff and disclosures and asks for scope changes.
ProviderSide = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.PURCHASER, Role.PROVINCE_ADMIN, write=True))]
Reader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR)),
]
# The county record (its name, its policy parameters in force: province rules, nothing personal or
# confidential) is read by every county role; a worker's token too, for its own county (the console
# names the county it signed in to).
CountyReader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.WORKER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR)),
]
# The county's budgets and what contracts commit of them (R-FIN-2): as finance's budgets, not providers'.
BudgetReader = Annotated[CountyScope, Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.FINANCE, Role.AUDITOR))]
# Workers' records hold personal data (name, birth date): the purchaser, the employing provider, auditors
# (and, of one record, the worker it is: OwnWorkerReader).
WORKER_READERS = (Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.AUDITOR)
WorkerReader = Annotated[CountyScope, Depends(county_scope(*WORKER_READERS))]
READERS = (Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR)
PROVIDER_SIDE = (Role.PROVIDER, Role.PURCHASER, Role.PROVINCE_ADMIN)
# The same, on one resource of the path that a provider's token must own (R-AUD-6, docs/ACCESS.md).
ContractReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.CONTRACT))]
ContractProviderSide = Annotated[CountyScope, Depends(county_scope(*PROVIDER_SIDE, write=True, owns=Owns.CONTRACT))]
ProviderReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.PROVIDER))]
OwnProviderSide = Annotated[CountyScope, Depends(county_scope(*PROVIDER_SIDE, write=True, owns=Owns.PROVIDER))]
OwnWorkerReader = Annotated[CountyScope, Depends(county_scope(*WORKER_READERS, Role.WORKER, owns=Owns.WORKER))]
OwnWorkerKeeper = Annotated[CountyScope, Depends(county_scope(*PROVIDER_SIDE, write=True, owns=Owns.WORKER))]


def _owned_by(kind: str, attribute: str) -> Callable[[Registry, str, str], Owner | None]:
    def lookup(registry: Registry, county: str, ref: str) -> Owner | None:
        found = registry.store.find(ref)
        if found is None or type(found).__name__ != kind or getattr(found, "county", None) != county:
            return None
        return Owner(frozenset({str(getattr(found, attribute))}))

    return lookup


def _worker_owner(registry: Registry, county: str, ref: str) -> Owner | None:
    owner = _owned_by("Worker", "provider_id")(registry, county, ref)
    return None if owner is None else Owner(owner.provider_ids, worker_ids=frozenset({ref}))  # a worker: only itself


OWNERS = {
    Owns.CONTRACT: _owned_by("Contract", "provider_id"),
    Owns.WORKER: _worker_owner,
    Owns.PROVIDER: _owned_by("Provider", "id"),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def acting_provider(scope: CountyScope) -> str | None:
    """The provider a provider's token acts for (None for the purchaser's side)."""
    if scope.principal.role != Role.PROVIDER:
        return None
    if not scope.principal.provider_id:
        raise Forbidden("a provider's token names its provider_id", rule="R-AUD-6", facts={"code": "token_without_provider"})
    return scope.principal.provider_id


def ensure_own(scope: CountyScope, provider_id: str) -> None:
    """A provider acts only for itself."""
    acting = acting_provider(scope)
    if acting is not None and acting != provider_id:
        raise Forbidden("this belongs to another provider", rule="R-AUD-6", facts={"code": "other_providers_record"})


def new_id(county: str, headers: tuple[str | None, str | None]) -> str:
    """A new record's id; with an Idempotency-Key, the same id on every repeat of the command."""
    key = headers[0]
    return str(uuid.uuid5(IDS, f"{county}:{key}")) if key else str(uuid.uuid4())


def today() -> date:
    return china_today()
