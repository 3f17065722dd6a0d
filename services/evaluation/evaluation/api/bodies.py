"""Request and response bodies of the evaluation routes (their field descriptions are the OpenAPI text)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field

from evaluation.api.common import Points, Strict
from shared.bounds import Day as BoundedDay
from shared.text import Name

Text = Annotated[str, Field(min_length=1, max_length=5000)]
Note = Annotated[str, Field(max_length=5000)]
Ref = Annotated[str, Field(min_length=1, max_length=64)]
OnDay = Annotated[BoundedDay | None, Field(default=None, description="Default: today (China Standard Time)")]


class ScheduleIn(Strict):
    contract_id: Ref
    stage: str = Field(max_length=20, description="process (过程评估), midterm (中期), final (末期) or annual (年度绩效评估); "
                       "the names DOMAIN.md and the seeds use (mid-term, 中期评估, 终期评估 …) are recorded by the code")
    evaluator_org: Ref
    scheduled_on: BoundedDay = Field(description="The on-site evaluation day (for the process stage: its start)")


class ScheduledOut(BaseModel):
    evaluation_id: str
    rubric_id: str
    rubric_version: int
    steps: list[dict[str, Any]]


class SelfEvaluationIn(Strict):
    submitted_on: OnDay = None
    summary: Text
    self_scores: dict[str, Points] = Field(default_factory=dict, max_length=200, description="The provider's own item scores")


class ReviewIn(Strict):
    reviewed_on: OnDay = None
    notes: Note = ""


class SignatureIn(Strict):
    name: Annotated[Name, Field(min_length=1, max_length=100)]
    role: Annotated[str, Field(min_length=1, max_length=100, examples=["中心主任", "中心副主任"])]


class VisitIn(Strict):
    station_id: Ref
    visited_on: OnDay = None
    member_id: Ref = Field(description="The accredited member who visited")
    credential_shown: bool = Field(description="The member showed their evaluator credential on site (R-EVAL-10)")
    signed_by: SignatureIn = Field(description="The centre's staff member who signed the visit record on site")
    findings: Text


class VisitOut(BaseModel):
    visit_id: str
    evaluation_id: str
    station_id: str
    visits_done: int
    visits_required: int


class ResponseIn(Strict):
    group: Annotated[str, Field(min_length=1, max_length=50)]
    answers: dict[str, Annotated[str, Field(max_length=10)]] = Field(
        max_length=50, description="question code → 满意, 基本满意, 不满意 or 不了解"
    )


class SurveyIn(Strict):
    surveyed_on: OnDay = None
    responses: list[ResponseIn] = Field(max_length=5000, description="One completed questionnaire per respondent")


class ItemScoreIn(Strict):
    item_code: Annotated[str, Field(min_length=1, max_length=50)]
    score: Points
    note: Note = ""


class ScoresIn(Strict):
    scored_on: OnDay = None
    scores: list[ItemScoreIn] = Field(min_length=1, max_length=200)


class DeductionIn(Strict):
    found_on: OnDay = None
    points: Points
    reason: Text


class ConclusionIn(Strict):
    concluded_on: OnDay = None
    fraud_found: bool = Field(default=False, description="弄虚作假 found (R-EVAL-9): fails the evaluation; registry bans the provider")
    fraud_details: Annotated[str, Field(max_length=5000)] | None = None
    serious_breach_found: bool = Field(
        default=False,
        description="严重违约 (serious breach of the contract) found (R-EVAL-9): fails the evaluation; registry "
        "terminates the contract (kind `serious_breach`) and bans the provider for the county's `ban_years`",
    )
    serious_breach_details: Annotated[str, Field(max_length=5000)] | None = Field(
        default=None, description="What was found; required with `serious_breach_found`"
    )


class ConclusionOut(BaseModel):
    evaluation_id: str
    contract_id: str
    stage: str
    score: Decimal
    grade: str
    passed: bool
    fraud_found: bool
    serious_breach_found: bool = False
    concluded_on: date
    rubric_id: str
    rubric_version: int
    breakdown: dict[str, Any]
    appeal_due_on: date


class FeedbackIn(Strict):
    agreed_on: OnDay = None
    notes: Note = ""


class AppealIn(Strict):
    appealed_on: OnDay = None
    reason: Text


class AppealDecisionIn(Strict):
    upheld: bool
    revised_score: Points | None = Field(default=None, description="Required when upheld: the score after review")
    decided_on: OnDay = None
    reason: Text


class EvaluationOut(BaseModel):
    evaluation_id: str
    county: str
    contract_id: str
    provider_id: str
    stage: str
    stage_name: str
    evaluator_org: str
    scheduled_on: date
    window: dict[str, date]
    rubric_id: str
    rubric_version: int
    status: str
    as_of: date
    steps: list[dict[str, Any]]
    overdue: list[str]
    self_evaluation: dict[str, Any] | None
    review: dict[str, Any] | None
    visits: dict[str, Any] | None
    survey: dict[str, Any] | None
    scores: list[dict[str, Any]]
    deductions: list[dict[str, Any]]
    conclusion: dict[str, Any] | None
    feedback: dict[str, Any] | None
    appeal: dict[str, Any] | None
    result: dict[str, Any] | None
    version: int


class EvaluationSummary(BaseModel):
    evaluation_id: str
    contract_id: str
    provider_id: str
    stage: str
    evaluator_org: str
    scheduled_on: date
    rubric_version: int
    status: str
    overdue: list[str] = Field(description="Steps past their due date and not done (R-EVAL-3)")
    result: dict[str, Any] | None


class ContractOut(BaseModel):
    contract_id: str
    provider_id: str
    station_ids: list[str]
    period_start: date
    period_end: date
    terminated_on: date | None
    windows: dict[str, dict[str, date]]
    outcomes: dict[str, Any]
    evaluations: list[EvaluationSummary]
