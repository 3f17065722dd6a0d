"""The public provider disclosure (R-REG-9): no token, no personal data."""

from __future__ import annotations

from collections import Counter
from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field

from registry.api.common import AsOf, CountyCode, Service, today
from registry.domainmodel import QUALIFICATIONS, Contract, Provider, Worker, plain
from registry.reads import PublicProviders

router = APIRouter(prefix="/public/v1/counties/{county}", tags=["public"])


class PublicDisclosure(BaseModel):
    kind: str
    title: str
    year: int | None
    summary: str
    url: str | None
    published_on: date


class PublicEvaluation(BaseModel):
    stage: str
    grade: str
    passed: bool


class PublicProject(BaseModel):
    """One contract year of the provider in this county (项目记录)."""

    contract_id: str
    purchaser: str
    year_index: int
    period_start: date
    period_end: date
    amount_fen: int
    service_areas: list[str]
    status: str
    evaluations: list[PublicEvaluation]


class PublicProvider(BaseModel):
    provider_id: str
    name: str
    uscc: str = Field(description="统一社会信用代码 of the organisation")
    rating: str | None
    has_party_org: bool
    banned_until: date | None = Field(description="Set while a ban from government purchase is in force (R-EVAL-9)")
    staff: int = Field(description="Social workers employed on as_of")
    staff_by_qualification: dict[str, int] = Field(description="Certificate levels of those workers (counts only)")
    disclosures: list[PublicDisclosure]
    projects: list[PublicProject]


def public_provider(p: Provider, workers: list[Worker], contracts: list[Contract], as_of: date) -> PublicProvider:
    employed = [w for w in workers if w.employed_on(as_of)]
    levels = Counter(w.qualification for w in employed)
    ban = p.ban_in_force(as_of)
    return PublicProvider(
        provider_id=str(p.id), name=p.name, uscc=p.uscc, rating=p.rating, has_party_org=p.has_party_org,
        banned_until=ban.until if ban else None,
        staff=len(employed),
        staff_by_qualification={q: levels[q] for q in QUALIFICATIONS if levels[q]},
        disclosures=[PublicDisclosure(**{k: plain(d)[k] for k in PublicDisclosure.model_fields}) for d in p.disclosures],
        projects=[
            PublicProject(
                contract_id=str(c.id), purchaser=c.purchaser, year_index=c.year_index, period_start=c.period_start,
                period_end=c.period_end, amount_fen=c.amount_fen, service_areas=c.service_areas, status=c.status,
                evaluations=[PublicEvaluation(stage=e.stage, grade=e.grade, passed=e.passed) for e in c.evaluations],
            )
            for c in contracts
        ],
    )


@router.get("/providers", response_model=list[PublicProvider])
def public_providers(
    county: CountyCode,
    registry: Service,
    as_of: AsOf = None,
) -> list[PublicProvider]:
    """Provider disclosure (信息公开, R-REG-9) — no token needed: each provider's basic information,
    qualifications (its social workers' certificate levels, as counts), published documents (annual
    financial reports …) and project record in this county with evaluation grades. No personal data:
    no worker names, birth dates or beneficiaries."""
    day = as_of or today()
    records = registry.reads.ask(PublicProviders(county=county), None)  # no token: a public query
    return [public_provider(r.provider, r.workers, r.contracts, day) for r in records]
