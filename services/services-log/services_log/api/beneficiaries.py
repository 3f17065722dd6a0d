"""Beneficiaries (服务对象): pseudonymous references, personal data encrypted and erasable (R-LOG-5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from services_log.api.common import (
    CountyCode,
    OwnPersonalDataKeeper,
    OwnPersonalDataReader,
    ProviderSide,
    Service,
    Strict,
    acting_provider,
)
from services_log.commands import EraseBeneficiary, RegisterBeneficiary
from services_log.reads import BeneficiaryOf
from shared.infra.service import CommandHeaders
from shared.text import Name

router = APIRouter(prefix="/v1/counties/{county}", tags=["beneficiaries"])
Ref = Annotated[str, Path(max_length=64, description="Pseudonymous beneficiary reference")]


class PersonalData(Strict):
    name: Name = Field(min_length=1, max_length=100)
    id_number: str | None = Field(default=None, max_length=30, description="居民身份证号")
    phone: str | None = Field(default=None, max_length=30)


class BeneficiaryCreated(BaseModel):
    beneficiary_ref: str


class BeneficiaryOut(BaseModel):
    beneficiary_ref: str
    erased: bool
    personal_data: PersonalData | None = Field(description="null once erased")


class ErasureIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


@router.post("/beneficiaries", status_code=201, response_model=BeneficiaryCreated)
def register_beneficiary(
    county: CountyCode, body: PersonalData, scope: ProviderSide, service: Service, headers: CommandHeaders
) -> BeneficiaryCreated:
    """Register a person served; deliveries cite the returned pseudonymous reference. The personal
    data is encrypted with the person's own key (kept outside the event log) before it is stored."""
    # The idempotency record keeps a fingerprint of the request: keyed, so the log holds nothing
    # a guess at the person's data could be checked against once they are erased (R-AUD-2).
    data = body.model_dump()
    command = RegisterBeneficiary(
        county=county, personal_data_hmac=service.lookups.personal_data_hmac(data), personal_data=data,
        provider_id=acting_provider(scope),
    )
    beneficiary = service.bus.run(command, scope, headers)
    return BeneficiaryCreated(beneficiary_ref=str(beneficiary.id))


@router.get("/beneficiaries/{beneficiary_ref}", response_model=BeneficiaryOut)
def get_beneficiary(county: CountyCode, beneficiary_ref: Ref, scope: OwnPersonalDataReader, service: Service) -> BeneficiaryOut:
    """The person's personal data, for the provider and the purchaser only (R-LOG-5)."""
    found = service.reads.ask(BeneficiaryOf(county=county, beneficiary_ref=beneficiary_ref), scope)
    beneficiary, data = found.beneficiary, found.personal_data
    return BeneficiaryOut(
        beneficiary_ref=str(beneficiary.id), erased=beneficiary.erased,
        personal_data=PersonalData(**data) if data else None,
    )


@router.post("/beneficiaries/{beneficiary_ref}/erasure", response_model=BeneficiaryOut)
def erase_beneficiary(
    county: CountyCode, beneficiary_ref: Ref, body: ErasureIn, scope: OwnPersonalDataKeeper, service: Service, headers: CommandHeaders
) -> BeneficiaryOut:
    """Erase the person's personal data by destroying their key (crypto-shredding, R-AUD-2): the
    history and the deliveries citing the reference stay; the data can never be read again."""
    beneficiary = service.bus.run(EraseBeneficiary(county=county, ref=beneficiary_ref, reason=body.reason), scope, headers)
    return BeneficiaryOut(beneficiary_ref=str(beneficiary.id), erased=True, personal_data=None)
