"""Rubric routes: the province's unified rubric and a county's own (R-EVAL-2, R-EVAL-4, R-EVAL-6)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from evaluation.api.common import AnyPrincipal, CountyCode, ProvinceAdmin, Purchaser, Reader, Service, Strict
from evaluation.commands import PublishRubric
from evaluation.domainmodel import PROVINCE
from evaluation.reads import RubricInForce, RubricVersion
from shared.infra.auth import CountyScope
from shared.infra.service import CommandHeaders
from shared.text import Name

Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.\-]+$")]
Label = Annotated[Name, Field(min_length=1, max_length=200)]
Score = Annotated[Decimal, Field(gt=0, le=100, max_digits=6, decimal_places=2)]


class ItemIn(Strict):
    code: Code
    name: Label
    max_score: Score
    source: Literal["evaluator", "survey", "indicators"] = Field(
        default="evaluator",
        description="`evaluator` (scored on site), `survey` (the R-EVAL-4 satisfaction score out of 5, scaled) or "
        "`indicators` (indicator completion reported by services-log, scaled)",
    )


class DimensionIn(Strict):
    code: Code
    name: Label
    weight: Score = Field(description="Share of the 100-point total; the weights add up to 100")
    items: list[ItemIn] = Field(max_length=50)


class QuestionIn(Strict):
    code: Code
    text: Annotated[str, Field(min_length=1, max_length=500)]


class GroupIn(Strict):
    code: Code
    name: Label = Field(description="A category of respondents (各类代表), e.g. 服务对象")
    questions: list[QuestionIn] = Field(max_length=50)


class SurveyIn(Strict):
    groups: list[GroupIn] = Field(max_length=20)


class PolicyIn(Strict):
    process_visits_per_station: int | None = Field(default=None, ge=1, le=52, description="R-EVAL-1, default 4 a year")
    appeal_working_days: int | None = Field(default=None, ge=1, le=60, description="Appeal window after the conclusion, default 10")


class RubricIn(Strict):
    name: Label = Field(examples=["2026年度乡镇(街道)社工站项目统一评估标准"])
    dimensions: list[DimensionIn] | None = Field(
        default=None, max_length=20, description="Default: the five dimensions of R-EVAL-2 with their items"
    )
    survey: SurveyIn | None = Field(default=None, description="Satisfaction survey groups and questions (R-EVAL-4)")
    thresholds: dict[str, Annotated[Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=2)]] | None = Field(
        default=None, max_length=10, description="Grade thresholds {优秀, 良好, 合格} (R-EVAL-6); default 90, 80, 60"
    )
    policy: PolicyIn | None = None


class RubricPublishedOut(BaseModel):
    rubric_id: str
    scope: str
    version: int


class RubricOut(BaseModel):
    rubric_id: str
    scope: str
    latest_version: int
    version: int
    name: str
    dimensions: list[dict[str, Any]]
    survey: dict[str, Any]
    thresholds: dict[str, Decimal]
    policy: dict[str, int]


router = APIRouter(tags=["rubrics"])


def _publish(service: Service, scope: CountyScope, headers: CommandHeaders, body: RubricIn) -> RubricPublishedOut:
    rubric = service.bus.run(PublishRubric(county=scope.county, **body.model_dump()), scope, headers)
    return RubricPublishedOut(rubric_id=str(rubric.id), scope=rubric.scope, version=rubric.current_version)


@router.post("/v1/rubrics", status_code=201, response_model=RubricPublishedOut)
def publish_province_rubric(body: RubricIn, principal: ProvinceAdmin, service: Service, headers: CommandHeaders) -> RubricPublishedOut:
    """Publish the next version of the province's unified rubric (统一评估标准). Province admins only.

    Evaluations already scheduled keep the version they were bound to; new ones take this one,
    unless their county publishes its own rubric. Publishes `RubricPublished`."""
    return _publish(service, CountyScope(county=PROVINCE, principal=principal), headers, body)


@router.post("/v1/counties/{county}/rubric", status_code=201, response_model=RubricPublishedOut)
def publish_county_rubric(
    county: CountyCode, body: RubricIn, scope: Purchaser, service: Service, headers: CommandHeaders
) -> RubricPublishedOut:
    """Publish the next version of the county's own rubric (the purchaser, or a province admin);
    from then on it is in force for the county's new evaluations instead of the province's."""
    return _publish(service, scope, headers, body)


@router.get("/v1/counties/{county}/rubric", response_model=RubricOut)
def rubric_in_force(county: CountyCode, scope: Reader, service: Service) -> RubricOut:
    """The rubric version a new evaluation in this county would be bound to now."""
    return RubricOut(**service.reads.ask(RubricInForce(county=county), scope))


@router.get("/v1/rubrics/{rubric_id}/versions/{version}", response_model=RubricOut)
def rubric_version(
    rubric_id: Annotated[str, Path(max_length=64)],
    version: Annotated[int, Path(ge=1, le=100_000)],
    principal: AnyPrincipal,
    service: Service,
) -> RubricOut:
    """One published version of a rubric (what evaluations bound to it are scored against)."""
    return RubricOut(**service.reads.ask(RubricVersion(rubric_id=rubric_id, version=version), principal))
