"""What every services-log route shares: the composed service, who may call, and the contract checks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import BaseModel, ConfigDict

from services_log.composition import ServicesLog
from services_log.reads import CONFIDENTIAL_READERS
from services_log.uploads import UploadParser
from shared.infra.auth import CountyScope, Owner, Owns, Role, county_scope
from shared.rules import DomainError, Forbidden

IDS = uuid.UUID("7a1d3e5f-9b2c-5d4e-8f6a-1b3c5d7e9f0a")
CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]
ContractId = Annotated[str, Path(min_length=1, max_length=64, description="The registry's contract id")]


async def get_service(request: Request) -> ServicesLog:  # async: no I/O, no thread hop
    return request.app.state.service


# The composed service (services_log.composition): ``.bus`` runs typed commands (services_log.commands),
# ``.reads`` answers typed queries (services_log.reads).
Service = Annotated[ServicesLog, Depends(get_service)]


async def get_uploads(request: Request) -> UploadParser:
    return request.app.state.uploads


Uploads = Annotated[UploadParser, Depends(get_uploads)]
# The provider's side records services: the provider (承接机构) and its social workers.
ProviderSide = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.WORKER, write=True))]
Reader = Annotated[
    CountyScope,
    Depends(
        county_scope(
            Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.WORKER, Role.EVALUATOR, Role.FINANCE, Role.AUDITOR
        )
    ),
]
READERS = (Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.WORKER, Role.EVALUATOR, Role.FINANCE, Role.AUDITOR)
# The same on one resource of the path, which a provider's or worker's token must own (R-AUD-6).
ContractReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.CONTRACT))]
ContractProviderSide = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.WORKER, write=True, owns=Owns.CONTRACT))]
WorkerReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.WORKER))]
DeliveryReader = Annotated[CountyScope, Depends(county_scope(*READERS, owns=Owns.DELIVERY))]
DeliveryProviderSide = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.WORKER, write=True, owns=Owns.DELIVERY))]
# R-LOG-5: beneficiaries' personal data (and casework content, services_log.reads) are for the
# provider and the purchaser — not for evaluators (个案、小组资料除外), finance or auditors.
PersonalDataReader = Annotated[CountyScope, Depends(county_scope(*CONFIDENTIAL_READERS))]
PersonalDataKeeper = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.PURCHASER, write=True))]
# …of one beneficiary: the provider that registered the person (R-LOG-5, R-AUD-6).
OwnPersonalDataReader = Annotated[CountyScope, Depends(county_scope(*CONFIDENTIAL_READERS, owns=Owns.BENEFICIARY))]
OwnPersonalDataKeeper = Annotated[CountyScope, Depends(county_scope(Role.PROVIDER, Role.PURCHASER, write=True, owns=Owns.BENEFICIARY))]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def acting_provider(scope: CountyScope) -> str | None:
    """The provider a provider's or worker's token acts for (None for the purchaser's side)."""
    if scope.principal.role not in (Role.PROVIDER, Role.WORKER):
        return None
    if not scope.principal.provider_id:
        raise Forbidden("a provider's or worker's token names its provider_id", rule="R-AUD-6", facts={"code": "token_without_provider"})
    return scope.principal.provider_id


def acting_worker(scope: CountyScope) -> str | None:
    """The social worker a worker's token is (None for every other role): it records, sees and
    touches only deliveries that name it among their workers (R-AUD-6)."""
    return scope.principal.worker_id if scope.principal.role == Role.WORKER else None


def check_own_delivery(scope: CountyScope, worker_ids: Sequence[str] | None) -> None:
    """A worker's token records (or corrects into) only deliveries naming itself."""
    worker = acting_worker(scope)
    if worker is not None and worker_ids is not None and worker not in worker_ids:
        raise Forbidden("a worker records only deliveries it took part in: name yourself among worker_ids",
                        rule="R-AUD-6", field="worker_ids", facts={"code": "not_own_delivery"})


def new_id(county: str, headers: tuple[str | None, str | None]) -> str:
    """A new record's id; with an Idempotency-Key, the same id on every repeat of the command."""
    key = headers[0]
    return str(uuid.uuid5(IDS, f"{county}:{key}")) if key else str(uuid.uuid4())


def _contract_owner(service: ServicesLog, county: str, ref: str) -> Owner | None:
    try:
        return Owner(frozenset({service.lookups.contract(county, ref).provider_id}))
    except DomainError:
        return None


def _worker_owner(service: ServicesLog, county: str, ref: str) -> Owner | None:
    worker = service.lookups.worker(county, ref)
    return None if worker is None else Owner(frozenset(e.provider_id for e in worker.employments), worker_ids=frozenset({ref}))


def _delivery_owner(service: ServicesLog, county: str, ref: str) -> Owner | None:
    """A delivery belongs to its contract's provider and, for a worker's token, to the workers who delivered it."""
    try:
        delivery = service.lookups.delivery(county, ref)
        owner = _contract_owner(service, county, delivery.facts.contract_id)
    except DomainError:
        return None
    return None if owner is None else Owner(owner.provider_ids, worker_ids=frozenset(delivery.facts.worker_ids))


def _beneficiary_owner(service: ServicesLog, county: str, ref: str) -> Owner | None:
    try:
        provider = service.lookups.beneficiary(county, ref).provider_id
    except DomainError:
        return None
    return None if provider is None else Owner(frozenset({provider}))  # registered before v2: county-wide


OWNERS = {
    Owns.CONTRACT: _contract_owner, Owns.WORKER: _worker_owner, Owns.DELIVERY: _delivery_owner,
    Owns.BENEFICIARY: _beneficiary_owner,
}
