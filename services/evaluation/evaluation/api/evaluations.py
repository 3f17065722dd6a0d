"""Evaluation routes (paths of API.md): scheduling, the provider's and the evaluator's steps,
the conclusion, feedback and appeal, and the county's and contract's views."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from evaluation.api.bodies import (
    AppealDecisionIn,
    AppealIn,
    ConclusionIn,
    ConclusionOut,
    ContractOut,
    DeductionIn,
    EvaluationOut,
    EvaluationSummary,
    FeedbackIn,
    ReviewIn,
    ScheduledOut,
    ScheduleIn,
    ScoresIn,
    SelfEvaluationIn,
    SurveyIn,
    VisitIn,
    VisitOut,
)
from evaluation.api.common import (
    AsOf,
    ContractReader,
    CountyCode,
    EvaluationId,
    EvaluationReader,
    EvaluatorSide,
    FeedbackParty,
    ProviderSide,
    Purchaser,
    Reader,
    Service,
    evaluator_of,
    new_id,
    provider_of,
    today_if_none,
)
from evaluation.application import EvaluationService
from evaluation.commands import (
    Appeal,
    Conclude,
    DecideAppeal,
    Deduct,
    RecordFeedback,
    RecordSurvey,
    RecordVisit,
    ReviewSelfEvaluation,
    ScheduleEvaluation,
    ScoreItems,
    SubmitSelfEvaluation,
)
from evaluation.domainmodel import Evaluation
from evaluation.reads import ContractEvaluations, CountyEvaluations, EvaluationDetail, narrowing
from evaluation.views import evaluation_view
from shared.infra.auth import Role
from shared.infra.commands import Command
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, decode_cursor, respond
from shared.infra.queries import Viewer
from shared.infra.service import CommandHeaders

router = APIRouter(prefix="/v1/counties/{county}", tags=["evaluations"])


def _view(service: EvaluationService, evaluation: Evaluation, as_of: date | None = None) -> EvaluationOut:
    """The evaluation a command just changed (or replayed), as its route answers it."""
    return EvaluationOut(**evaluation_view(service.store, evaluation, today_if_none(as_of)))


def _run(service: EvaluationService, command: Command, scope: Any, headers: CommandHeaders) -> Evaluation:
    found: Evaluation = service.bus.run(command, scope, headers)
    return found


@router.post("/evaluations", status_code=201, response_model=ScheduledOut)
def schedule(county: CountyCode, body: ScheduleIn, scope: Purchaser, service: Service, headers: CommandHeaders) -> ScheduledOut:
    """Schedule an evaluation of a contract at a stage (R-EVAL-1 timing windows) by an accredited,
    independent evaluator organisation (R-EVAL-7). It is bound to the rubric version in force now —
    the county's own rubric if it has one, else the province's — or, if the contract already has an
    evaluation, to that one's version, so mid-term and final use the same standard (R-EVAL-2).
    It gets its R-EVAL-3 deadlines in working days. Publishes `EvaluationScheduled`."""
    evaluation = _run(service, ScheduleEvaluation(county=county, **body.model_dump()), scope, headers)
    steps = evaluation_view(service.store, evaluation, today_if_none(None))["steps"]
    return ScheduledOut(
        evaluation_id=str(evaluation.id), rubric_id=evaluation.rubric_id, rubric_version=evaluation.rubric_version, steps=steps
    )


@router.get("/evaluations", response_model=list[EvaluationSummary])
def evaluations(
    request: Request,
    response: Response,
    county: CountyCode,
    scope: Reader,
    service: Service,
    contract_id: Annotated[str | None, Query(max_length=64)] = None,
    as_of: AsOf = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> list[EvaluationSummary]:
    """The county's evaluations in the order they were scheduled, each with its overdue steps on
    `as_of` (a provider sees its own, an evaluator those assigned to its organisation); paged
    (`limit`, `cursor`, `X-Next-Cursor`)."""
    # A cursor is bound to whose list it pages (the viewer's narrowing), as to the filter.
    provider, org = narrowing(Viewer.of(scope.principal))
    query = {"county": county, "contract_id": contract_id, "provider_id": provider, "evaluator_org": org}
    after = decode_cursor("evaluation.evaluations", query, cursor)
    found = service.reads.ask(
        CountyEvaluations(county=county, contract_id=contract_id, as_of=as_of, limit=limit, after=after), scope
    )
    respond(request, response, "evaluation.evaluations", query, found.page)
    return [EvaluationSummary(**row) for row in found.rows]


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
def evaluation(
    county: CountyCode, evaluation_id: EvaluationId, scope: EvaluationReader, service: Service, as_of: AsOf = None
) -> EvaluationOut:
    """The evaluation with each R-EVAL-3 step's due date and status (`done`, `pending`, `overdue`
    on `as_of`), visits per station (R-EVAL-10), survey, scores, deductions, conclusion and appeal."""
    return EvaluationOut(**service.reads.ask(EvaluationDetail(county=county, evaluation_id=evaluation_id, as_of=as_of), scope))


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def contract(
    county: CountyCode, contract_id: Annotated[str, Path(min_length=1, max_length=64)], scope: ContractReader,
    service: Service, as_of: AsOf = None,
) -> ContractOut:
    """A contract as evaluation sees it: service year, stage windows (R-EVAL-1), outcome figures
    from services-log (R-LOG-8) and its evaluations with their overdue steps (an evaluator sees
    only those assigned to its organisation)."""
    return ContractOut(**service.reads.ask(ContractEvaluations(county=county, contract_id=contract_id, as_of=as_of), scope))


# The evaluation id is part of each command below: a key reused on another evaluation is a
# different request (its fingerprinted fields are the evaluation id and the body's fields).


@router.post("/evaluations/{evaluation_id}/self-evaluation", response_model=EvaluationOut)
def submit_self_evaluation(
    county: CountyCode, evaluation_id: EvaluationId, body: SelfEvaluationIn, scope: ProviderSide, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The provider submits its self-evaluation report (自评报告), due 10 working days before the
    on-site evaluation (R-EVAL-3; a late one is recorded as late). Publishes `SelfEvaluationSubmitted`."""
    command = SubmitSelfEvaluation(
        county=county, evaluation_id=evaluation_id, **body.model_dump(), by_provider=provider_of(scope)
    )
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/review", response_model=EvaluationOut)
def review(
    county: CountyCode, evaluation_id: EvaluationId, body: ReviewIn, scope: EvaluatorSide, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The evaluator reviews the self-evaluation report, due 5 working days before (R-EVAL-3)."""
    command = ReviewSelfEvaluation(county=county, evaluation_id=evaluation_id, **body.model_dump(), by_org=evaluator_of(scope))
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/visits", status_code=201, response_model=VisitOut)
def record_visit(
    county: CountyCode, evaluation_id: EvaluationId, body: VisitIn, scope: EvaluatorSide, service: Service, headers: CommandHeaders
) -> VisitOut:
    """Record an unannounced process visit (R-EVAL-1): the member's credential shown and the
    record signed by the centre's staff on site (R-EVAL-10). Publishes `ProcessVisitRecorded`
    with the station's count of visits done against the rubric's requirement (default 4 a year).
    The requirement is also the limit: a visit to a station that already received the rubric's
    number of visits in this (process) evaluation of the service year is refused (422, R-EVAL-1,
    field `station_id`) and records nothing."""
    visit_id = new_id(county, headers)
    command = RecordVisit(
        county=county, evaluation_id=evaluation_id, **body.model_dump(), visit_id=visit_id, by_org=evaluator_of(scope)
    )
    found = _run(service, command, scope, headers)
    return VisitOut(
        visit_id=visit_id, evaluation_id=evaluation_id, station_id=body.station_id,
        visits_done=found.visits_done(body.station_id, through=visit_id), visits_required=found.policy.process_visits_per_station,
    )


@router.post("/evaluations/{evaluation_id}/surveys", response_model=EvaluationOut)
def record_survey(
    county: CountyCode, evaluation_id: EvaluationId, body: SurveyIn, scope: EvaluatorSide, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """Record the satisfaction survey (公众评议), scored per R-EVAL-4: 满意 5, 基本满意 3, 不满意 0,
    不了解 the mean of the other answers to the question; question = sum / respondents, group =
    mean of its questions, total = mean of the groups. Publishes `SurveyRecorded`."""
    command = RecordSurvey(county=county, evaluation_id=evaluation_id, **body.model_dump(), by_org=evaluator_of(scope))
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/scores", response_model=EvaluationOut)
def score_items(
    county: CountyCode, evaluation_id: EvaluationId, body: ScoresIn, scope: EvaluatorSide, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The evaluator scores rubric items of the pinned version (0 to each item's maximum). Items
    scored by the survey or by services-log's indicator figures are computed, never typed in.
    Publishes `ItemScored` per item."""
    command = ScoreItems(county=county, evaluation_id=evaluation_id, **body.model_dump(), by_org=evaluator_of(scope))
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/deductions", response_model=EvaluationOut)
def deduct(
    county: CountyCode, evaluation_id: EvaluationId, body: DeductionIn, scope: EvaluatorSide, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """A spot-check (察访核验) finding: its points are subtracted from the total (R-EVAL-5)."""
    command = Deduct(county=county, evaluation_id=evaluation_id, **body.model_dump(), by_org=evaluator_of(scope))
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/conclusion", response_model=ConclusionOut)
def conclude(
    county: CountyCode, evaluation_id: EvaluationId, body: ConclusionIn, scope: EvaluatorSide, service: Service, headers: CommandHeaders
) -> ConclusionOut:
    """Conclude: the total score (weighted dimensions, survey, services-log outcome figures, minus
    deductions), the grade by the pinned rubric's thresholds (R-EVAL-6) and whether it passed.
    A fraud (弄虚作假, `fraud_found`) or serious-breach (严重违约, `serious_breach_found`) finding fails
    it and needs its details (R-EVAL-9); registry then terminates the contract (kind `fraud` or
    `serious_breach`) and bans the provider for the county's `ban_years`. Publishes
    `EvaluationConcluded` (with `fraud_found` and `serious_breach_found`), which finance (tranches)
    and registry (renewal, bans) react to (R-EVAL-8)."""
    command = Conclude(county=county, evaluation_id=evaluation_id, **body.model_dump(), by_org=evaluator_of(scope))
    found = _run(service, command, scope, headers)
    c = found.conclusion
    assert c is not None
    return ConclusionOut(
        evaluation_id=str(found.id), contract_id=found.contract_id, stage=found.stage.value, score=c.score, grade=c.grade.value,
        passed=c.passed, fraud_found=c.fraud_found, serious_breach_found=c.serious_breach_found,
        concluded_on=c.concluded_on, rubric_id=found.rubric_id,
        rubric_version=found.rubric_version, breakdown=dict(c.breakdown), appeal_due_on=c.appeal_due_on,
    )


@router.post("/evaluations/{evaluation_id}/feedback", response_model=EvaluationOut)
def feedback(
    county: CountyCode, evaluation_id: EvaluationId, body: FeedbackIn, scope: FeedbackParty, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """Feedback and consensus on the report, due 5 working days after it (R-EVAL-3)."""
    party = "provider" if scope.principal.role == Role.PROVIDER else "evaluator"
    command = RecordFeedback(
        county=county, evaluation_id=evaluation_id, **body.model_dump(), party=party,
        by_provider=provider_of(scope), by_org=evaluator_of(scope),
    )
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/appeal", response_model=EvaluationOut)
def appeal(
    county: CountyCode, evaluation_id: EvaluationId, body: AppealIn, scope: ProviderSide, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The provider appeals a failed evaluation — once, within the rubric's appeal window
    (default 10 working days after the conclusion). Publishes `EvaluationAppealed`."""
    command = Appeal(county=county, evaluation_id=evaluation_id, **body.model_dump(), by_provider=provider_of(scope))
    return _view(service, _run(service, command, scope, headers))


@router.post("/evaluations/{evaluation_id}/appeal/decision", response_model=EvaluationOut)
def decide_appeal(
    county: CountyCode, evaluation_id: EvaluationId, body: AppealDecisionIn, scope: Purchaser, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The purchaser decides the appeal; an upheld one states the revised score, graded by the
    pinned rubric's thresholds. Publishes `AppealDecided`."""
    command = DecideAppeal(county=county, evaluation_id=evaluation_id, **body.model_dump())
    return _view(service, _run(service, command, scope, headers))
