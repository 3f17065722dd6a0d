"""Evaluator routes: accredited third-party organisations, their members and declared links (R-EVAL-7)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from evaluation.api.common import CountyCode, Purchaser, Reader, Service, Strict, new_id
from evaluation.commands import AccreditEvaluator, AccreditMember, DeclareLink
from evaluation.reads import EvaluatorDetail, Evaluators
from evaluation.views import evaluator_view
from shared.bounds import Day as BoundedDay
from shared.infra.service import CommandHeaders
from shared.text import Name

OrgId = Annotated[str, Path(min_length=1, max_length=64, description="The evaluator organisation's id")]


class EvaluatorIn(Strict):
    name: Name = Field(min_length=1, max_length=200, examples=["宁夏汉达社会工作评估中心"])
    certificate_no: str = Field(min_length=1, max_length=100, description="The organisation's evaluation accreditation")
    accredited_until: BoundedDay
    linked_provider_ids: list[str] = Field(
        default_factory=list, max_length=50,
        description="Providers the organisation is linked to (shared management, ownership, staff): it may not evaluate them",
    )


class EvaluatorCreated(BaseModel):
    evaluator_org: str


class MemberIn(Strict):
    name: Name = Field(min_length=1, max_length=100)
    credential_no: str = Field(min_length=1, max_length=100, description="The member's evaluator credential (评估员证)")
    valid_until: BoundedDay


class MemberCreated(BaseModel):
    evaluator_org: str
    member_id: str


class LinkIn(Strict):
    provider_id: str = Field(min_length=1, max_length=64)
    relation: str = Field(min_length=1, max_length=200, examples=["同一法定代表人"])


class EvaluatorOut(BaseModel):
    evaluator_org: str
    county: str
    name: str
    certificate_no: str
    accredited_until: date
    linked_provider_ids: list[str]
    members: list[dict[str, Any]]


router = APIRouter(prefix="/v1/counties/{county}/evaluators", tags=["evaluators"])


@router.post("", status_code=201, response_model=EvaluatorCreated)
def accredit(county: CountyCode, body: EvaluatorIn, scope: Purchaser, service: Service, headers: CommandHeaders) -> EvaluatorCreated:
    """Accredit a third-party evaluator organisation (第三方评估机构) in the county. Its id is the
    `evaluator_org` claim of its evaluators' tokens. Publishes `EvaluatorAccredited`."""
    org_id = service.bus.run(AccreditEvaluator(county=county, **body.model_dump()), scope, headers)
    return EvaluatorCreated(evaluator_org=str(org_id))


@router.get("", response_model=list[EvaluatorOut])
def evaluators(county: CountyCode, scope: Reader, service: Service) -> list[EvaluatorOut]:
    """The county's accredited evaluator organisations, in the order they were accredited."""
    return [EvaluatorOut(**org) for org in service.reads.ask(Evaluators(county=county), scope)]


@router.get("/{evaluator_org}", response_model=EvaluatorOut)
def evaluator(county: CountyCode, evaluator_org: OrgId, scope: Reader, service: Service) -> EvaluatorOut:
    """One evaluator organisation with its members' credentials and its declared links."""
    return EvaluatorOut(**service.reads.ask(EvaluatorDetail(county=county, evaluator_org=evaluator_org), scope))


@router.post("/{evaluator_org}/members", status_code=201, response_model=MemberCreated)
def accredit_member(
    county: CountyCode, evaluator_org: OrgId, body: MemberIn, scope: Purchaser, service: Service, headers: CommandHeaders
) -> MemberCreated:
    """Record a member of the organisation with the evaluator credential they show on visits (持证上岗, R-EVAL-10)."""
    member_id = new_id(county, headers)
    command = AccreditMember(county=county, evaluator_org=evaluator_org, **body.model_dump(), member_id=member_id)
    service.bus.run(command, scope, headers)
    return MemberCreated(evaluator_org=evaluator_org, member_id=member_id)


@router.post("/{evaluator_org}/links", response_model=EvaluatorOut)
def declare_link(
    county: CountyCode, evaluator_org: OrgId, body: LinkIn, scope: Purchaser, service: Service, headers: CommandHeaders
) -> EvaluatorOut:
    """Declare a link between the organisation and a provider: from now on it may not be
    scheduled for, nor conclude, an evaluation of that provider's contracts (R-EVAL-7)."""
    org = service.bus.run(DeclareLink(county=county, evaluator_org=evaluator_org, **body.model_dump()), scope, headers)
    return EvaluatorOut(**evaluator_view(org))
