"""Published results (评估结果向社会公布, R-EVAL-8): no token, no personal data."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel

from evaluation.api.common import CountyCode, Service
from evaluation.views import public_results

router = APIRouter(prefix="/public/v1/counties/{county}", tags=["public"])


class PublicResult(BaseModel):
    evaluation_id: str
    contract_id: str
    provider_id: str
    provider_name: str | None
    stage: str
    stage_name: str
    concluded_on: date
    score: Decimal
    grade: str
    passed: bool
    fraud_found: bool
    serious_breach_found: bool = False
    rubric_id: str
    rubric_version: int
    appeal: str | None


@router.get("/results", response_model=list[PublicResult])
def results(county: CountyCode, service: Service) -> list[PublicResult]:
    """The county's concluded evaluations for the public: provider (an organisation), stage, score,
    grade (优秀/良好/合格/不合格), passed, the rubric version, and any appeal's outcome (`pending`,
    `upheld`, `dismissed`; an upheld appeal's revised result is shown). No token needed; no names
    of persons, survey answers or findings."""
    # No token, so no caller to ask the QueryBus as: the published list is the same for everyone
    # (exempt from the typed-query rule, tests/contract/test_architecture.py QUERY_EXEMPT).
    return [PublicResult(**r) for r in public_results(service.store, county)]
