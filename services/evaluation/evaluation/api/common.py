"""What every evaluation route shares: the store, who may call, ids."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from evaluation.application import EvaluationService
from shared.bounds import Day as BoundedDay
from shared.clock import china_today
from shared.infra.auth import CountyScope, Owner, Owns, Principal, Role, county_scope, require_roles
from shared.rules import DomainError, Forbidden

IDS = uuid.UUID("e4a1c7b2-3d5f-5e60-8a9b-7c1d2e3f4a5b")
CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]
EvaluationId = Annotated[str, Path(min_length=1, max_length=64, description="The evaluation's id")]
AsOf = Annotated[
    BoundedDay | None, Query(description="The day on which deadlines are judged overdue (default: today, China Standard Time)")
]
Points = Annotated[Decimal, Field(ge=0, le=1000, max_digits=8, decimal_places=2)]


async def get_service(request: Request) -> EvaluationService:  # async: no I/O, no thread hop
    return request.app.state.service


# The composed service: ``.bus`` runs typed commands (evaluation.commands), ``.reads`` answers typed
# queries (evaluation.reads), narrowed there to what the caller may see.
Service = Annotated[EvaluationService, Depends(get_service)]
ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
AnyPrincipal = Annotated[Principal, Depends(require_roles(*(r for r in Role if r != Role.SUBSCRIBER)))]
# The purchaser (购买主体) runs the county's evaluations; province admins may act for it.
Purchaser = Annotated[CountyScope, Depends(county_scope(Role.PURCHASER, Role.PROVINCE_ADMIN, write=True))]
# On one evaluation of the path: the provider evaluated, the evaluator organisation assigned (R-AUD-6).
ProviderSide = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, write=True, owns=Owns.EVALUATION))]
EvaluatorSide = Annotated[CountyScope, Depends(county_scope(Role.EVALUATOR, write=True, owns=Owns.EVALUATION))]
FeedbackParty = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.EVALUATOR, write=True, owns=Owns.EVALUATION))]
READERS = (Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.EVALUATOR, Role.FINANCE, Role.AUDITOR)
Reader = Annotated[CountyScope, Depends(county_scope(*READERS))]
EvaluationReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.EVALUATION))]
ContractReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.CONTRACT))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def new_id(county: str, headers: tuple[str | None, str | None]) -> str:
    """A new record's id; with an Idempotency-Key, the same id on every repeat of the command."""
    key = headers[0]
    return str(uuid.uuid5(IDS, f"{county}:{key}")) if key else str(uuid.uuid4())


def today_if_none(day: date | None) -> date:
    return day or china_today()


def provider_of(scope: CountyScope) -> str | None:
    """The provider a provider's token acts for; None for other roles."""
    if scope.principal.role != Role.PROVIDER:
        return None
    if not scope.principal.provider_id:
        raise Forbidden("a provider's token names its provider_id", rule="R-AUD-6", facts={"code": "token_without_provider"})
    return scope.principal.provider_id


def evaluator_of(scope: CountyScope) -> str | None:
    """The evaluator organisation an evaluator's token acts for; None for other roles."""
    if scope.principal.role != Role.EVALUATOR:
        return None
    if not scope.principal.evaluator_org:
        raise Forbidden("an evaluator's token names its evaluator_org", rule="R-AUD-6", facts={"code": "token_without_evaluator"})
    return scope.principal.evaluator_org


def _evaluation_owner(service: EvaluationService, county: str, ref: str) -> Owner | None:
    store = service.store
    try:
        found = store.evaluation(county, ref)
    except DomainError:
        return None
    return Owner(frozenset({found.provider_id}), frozenset({found.evaluator_org}))


def _contract_owner(service: EvaluationService, county: str, ref: str) -> Owner | None:
    store = service.store
    """A contract: its provider; an evaluator organisation once one of its evaluations is assigned to it."""
    try:
        contract = store.contract(county, ref)
    except DomainError:
        return None
    listed = store.directory(county).evaluations_of(ref)
    orgs = frozenset(store.evaluation(county, e.evaluation_id).evaluator_org for e in listed)
    return Owner(frozenset({contract.provider_id}), orgs)


OWNERS = {Owns.EVALUATION: _evaluation_owner, Owns.CONTRACT: _contract_owner}
