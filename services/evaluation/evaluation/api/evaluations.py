"""Evaluation routes (paths of API.md): scheduling, the provider's and the evaluator's steps,
the conclusion, feedback and appeal, and the county's and contract's views."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from evaluation.api.common import (
    AsOf,
    CountyCode,
    EvaluationId,
    EvaluatorSide,
    FeedbackParty,
    Points,
    ProviderSide,
    Purchaser,
    Reader,
    Store,
    Strict,
    check_may_read,
    evaluator_of,
    new_id,
    provider_of,
    today_if_none,
)
from evaluation.domainmodel import Evaluation
from evaluation.views import contract_view, evaluation_summary, evaluation_view, evaluations_of
from shared.infra.auth import Role
from shared.infra.service import CommandHeaders, run_command
from shared.rules import Forbidden

Text = Annotated[str, Field(min_length=1, max_length=5000)]
Note = Annotated[str, Field(max_length=5000)]
Ref = Annotated[str, Field(min_length=1, max_length=64)]
OnDay = Annotated[date | None, Field(default=None, description="Default: today (China Standard Time)")]


class ScheduleIn(Strict):
    contract_id: Ref
    stage: str = Field(max_length=20, description="process (过程评估), midterm (中期), final (末期) or annual (年度绩效评估)")
    evaluator_org: Ref
    scheduled_on: date = Field(description="The on-site evaluation day (for the process stage: its start)")


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
    name: Annotated[str, Field(min_length=1, max_length=100)]
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


class ConclusionOut(BaseModel):
    evaluation_id: str
    contract_id: str
    stage: str
    score: Decimal
    grade: str
    passed: bool
    fraud_found: bool
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


router = APIRouter(prefix="/v1/counties/{county}", tags=["evaluations"])


def _view(store: Store, evaluation: Evaluation, as_of: date | None = None) -> EvaluationOut:
    return EvaluationOut(**evaluation_view(store, evaluation, today_if_none(as_of)))


@router.post("/evaluations", status_code=201, response_model=ScheduledOut)
def schedule(county: CountyCode, body: ScheduleIn, scope: Purchaser, store: Store, headers: CommandHeaders) -> ScheduledOut:
    """Schedule an evaluation of a contract at a stage (R-EVAL-1 timing windows) by an accredited,
    independent evaluator organisation (R-EVAL-7). It is bound to the rubric version in force now —
    the county's own rubric if it has one, else the province's — or, if the contract already has an
    evaluation, to that one's version, so mid-term and final use the same standard (R-EVAL-2).
    It gets its R-EVAL-3 deadlines in working days. Publishes `EvaluationScheduled`."""
    evaluation = run_command(
        store, scope, headers, body.model_dump(mode="json"),
        lambda: store.schedule(county, body.contract_id, body.stage, body.evaluator_org, body.scheduled_on),
        lambda ids: store.evaluation(county, ids[0]),
    )
    steps = evaluation_view(store, evaluation, today_if_none(None))["steps"]
    return ScheduledOut(
        evaluation_id=str(evaluation.id), rubric_id=evaluation.rubric_id, rubric_version=evaluation.rubric_version, steps=steps
    )


@router.get("/evaluations", response_model=list[EvaluationSummary])
def evaluations(
    county: CountyCode,
    scope: Reader,
    store: Store,
    contract_id: Annotated[str | None, Query(max_length=64)] = None,
    as_of: AsOf = None,
) -> list[EvaluationSummary]:
    """The county's evaluations in the order they were scheduled, each with its overdue steps on
    `as_of` (a provider sees its own, an evaluator those assigned to its organisation)."""
    provider, org = provider_of(scope), evaluator_of(scope)
    today = today_if_none(as_of)
    return [
        EvaluationSummary(**evaluation_summary(e, today))
        for e in evaluations_of(store, county, contract_id)
        if (provider is None or e.provider_id == provider) and (org is None or e.evaluator_org == org)
    ]


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
def evaluation(county: CountyCode, evaluation_id: EvaluationId, scope: Reader, store: Store, as_of: AsOf = None) -> EvaluationOut:
    """The evaluation with each R-EVAL-3 step's due date and status (`done`, `pending`, `overdue`
    on `as_of`), visits per station (R-EVAL-10), survey, scores, deductions, conclusion and appeal."""
    found = store.evaluation(county, evaluation_id)
    check_may_read(scope, found)
    return _view(store, found, as_of)


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def contract(
    county: CountyCode, contract_id: Annotated[str, Path(min_length=1, max_length=64)], scope: Reader, store: Store,
    as_of: AsOf = None,
) -> ContractOut:
    """A contract as evaluation sees it: service year, stage windows (R-EVAL-1), outcome figures
    from services-log (R-LOG-8) and its evaluations with their overdue steps."""
    view = contract_view(store, county, contract_id, today_if_none(as_of))
    provider = provider_of(scope)
    if provider is not None and provider != view["provider_id"]:
        raise Forbidden("this is another provider's contract", rule="R-AUD-6")
    return ContractOut(**view)


def _command(store: Store, scope: Any, headers: CommandHeaders, county: str, evaluation_id: str, body: BaseModel, action: Any) -> Evaluation:
    return run_command(
        store, scope, headers, body.model_dump(mode="json"), action, lambda ids: store.evaluation(county, evaluation_id)
    )


@router.post("/evaluations/{evaluation_id}/self-evaluation", response_model=EvaluationOut)
def submit_self_evaluation(
    county: CountyCode, evaluation_id: EvaluationId, body: SelfEvaluationIn, scope: ProviderSide, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """The provider submits its self-evaluation report (自评报告), due 10 working days before the
    on-site evaluation (R-EVAL-3; a late one is recorded as late). Publishes `SelfEvaluationSubmitted`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.submit_self_evaluation(
        county, evaluation_id, provider_of(scope), today_if_none(body.submitted_on), body.summary, body.self_scores,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/review", response_model=EvaluationOut)
def review(
    county: CountyCode, evaluation_id: EvaluationId, body: ReviewIn, scope: EvaluatorSide, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """The evaluator reviews the self-evaluation report, due 5 working days before (R-EVAL-3)."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.review(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.reviewed_on), body.notes,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/visits", status_code=201, response_model=VisitOut)
def record_visit(
    county: CountyCode, evaluation_id: EvaluationId, body: VisitIn, scope: EvaluatorSide, store: Store, headers: CommandHeaders
) -> VisitOut:
    """Record an unannounced process visit (R-EVAL-1): the member's credential shown and the
    record signed by the centre's staff on site (R-EVAL-10). Publishes `ProcessVisitRecorded`
    with the station's count of visits done against the rubric's requirement (default 4 a year)."""
    visit_id = new_id(county, headers)
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.record_visit(
        county, evaluation_id, evaluator_of(scope), visit_id=visit_id, station_id=body.station_id,
        visited_on=today_if_none(body.visited_on), member_id=body.member_id, credential_shown=body.credential_shown,
        signed_by=body.signed_by.model_dump(), findings=body.findings,
    ))
    return VisitOut(
        visit_id=visit_id, evaluation_id=evaluation_id, station_id=body.station_id,
        visits_done=found.visits_done(body.station_id), visits_required=found.policy["process_visits_per_station"],
    )


@router.post("/evaluations/{evaluation_id}/surveys", response_model=EvaluationOut)
def record_survey(
    county: CountyCode, evaluation_id: EvaluationId, body: SurveyIn, scope: EvaluatorSide, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """Record the satisfaction survey (公众评议), scored per R-EVAL-4: 满意 5, 基本满意 3, 不满意 0,
    不了解 the mean of the other answers to the question; question = sum / respondents, group =
    mean of its questions, total = mean of the groups. Publishes `SurveyRecorded`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.record_survey(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.surveyed_on),
        [r.model_dump() for r in body.responses],
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/scores", response_model=EvaluationOut)
def score_items(
    county: CountyCode, evaluation_id: EvaluationId, body: ScoresIn, scope: EvaluatorSide, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """The evaluator scores rubric items of the pinned version (0 to each item's maximum). Items
    scored by the survey or by services-log's indicator figures are computed, never typed in.
    Publishes `ItemScored` per item."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.score_items(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.scored_on), [s.model_dump() for s in body.scores],
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/deductions", response_model=EvaluationOut)
def deduct(
    county: CountyCode, evaluation_id: EvaluationId, body: DeductionIn, scope: EvaluatorSide, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """A spot-check (察访核验) finding: its points are subtracted from the total (R-EVAL-5)."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.deduct(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.found_on), body.points, body.reason,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/conclusion", response_model=ConclusionOut)
def conclude(
    county: CountyCode, evaluation_id: EvaluationId, body: ConclusionIn, scope: EvaluatorSide, store: Store, headers: CommandHeaders
) -> ConclusionOut:
    """Conclude: the total score (weighted dimensions, survey, services-log outcome figures, minus
    deductions), the grade by the pinned rubric's thresholds (R-EVAL-6) and whether it passed.
    A fraud finding fails it (R-EVAL-9). Publishes `EvaluationConcluded`, which finance (tranches)
    and registry (renewal, bans) react to (R-EVAL-8)."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.conclude(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.concluded_on), body.fraud_found, body.fraud_details,
    ))
    c = found.conclusion
    assert c is not None
    return ConclusionOut(
        evaluation_id=str(found.id), contract_id=found.contract_id, stage=found.stage, score=c["score"], grade=c["grade"],
        passed=c["passed"], fraud_found=c["fraud_found"], concluded_on=c["concluded_on"], rubric_id=found.rubric_id,
        rubric_version=found.rubric_version, breakdown=c["breakdown"], appeal_due_on=c["appeal_due_on"],
    )


@router.post("/evaluations/{evaluation_id}/feedback", response_model=EvaluationOut)
def feedback(
    county: CountyCode, evaluation_id: EvaluationId, body: FeedbackIn, scope: FeedbackParty, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """Feedback and consensus on the report, due 5 working days after it (R-EVAL-3)."""
    party = "provider" if scope.principal.role == Role.PROVIDER else "evaluator"
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.record_feedback(
        county, evaluation_id, provider_of(scope), evaluator_of(scope), today_if_none(body.agreed_on), body.notes, party,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/appeal", response_model=EvaluationOut)
def appeal(
    county: CountyCode, evaluation_id: EvaluationId, body: AppealIn, scope: ProviderSide, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """The provider appeals a failed evaluation — once, within the rubric's appeal window
    (default 10 working days after the conclusion). Publishes `EvaluationAppealed`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.appeal(
        county, evaluation_id, provider_of(scope), today_if_none(body.appealed_on), body.reason,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/appeal/decision", response_model=EvaluationOut)
def decide_appeal(
    county: CountyCode, evaluation_id: EvaluationId, body: AppealDecisionIn, scope: Purchaser, store: Store, headers: CommandHeaders
) -> EvaluationOut:
    """The purchaser decides the appeal; an upheld one states the revised score, graded by the
    pinned rubric's thresholds. Publishes `AppealDecided`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: store.decide_appeal(
        county, evaluation_id, body.upheld, body.revised_score, today_if_none(body.decided_on), body.reason,
    ))
    return _view(store, found)
