"""Evaluation routes (paths of API.md): scheduling, the provider's and the evaluator's steps,
the conclusion, feedback and appeal, and the county's and contract's views."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from evaluation import lists
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
    Store,
    check_may_read,
    evaluator_of,
    new_id,
    provider_of,
    today_if_none,
)
from evaluation.domainmodel import Evaluation
from evaluation.views import contract_view, evaluation_summary, evaluation_view
from shared.infra.auth import Role
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, decode_cursor, respond
from shared.infra.service import CommandHeaders, run_command
from shared.rules import Forbidden

router = APIRouter(prefix="/v1/counties/{county}", tags=["evaluations"])


def _view(store: Store, evaluation: Evaluation, as_of: date | None = None) -> EvaluationOut:
    return EvaluationOut(**evaluation_view(store, evaluation, today_if_none(as_of)))


@router.post("/evaluations", status_code=201, response_model=ScheduledOut)
def schedule(county: CountyCode, body: ScheduleIn, scope: Purchaser, store: Store, service: Service, headers: CommandHeaders) -> ScheduledOut:
    """Schedule an evaluation of a contract at a stage (R-EVAL-1 timing windows) by an accredited,
    independent evaluator organisation (R-EVAL-7). It is bound to the rubric version in force now —
    the county's own rubric if it has one, else the province's — or, if the contract already has an
    evaluation, to that one's version, so mid-term and final use the same standard (R-EVAL-2).
    It gets its R-EVAL-3 deadlines in working days. Publishes `EvaluationScheduled`."""
    evaluation = run_command(
        store, scope, headers, body.model_dump(mode="json"),
        lambda: service.commands.schedule(county, body.contract_id, body.stage, body.evaluator_org, body.scheduled_on),
        lambda ids: store.evaluation(county, ids[0]),
    )
    steps = evaluation_view(store, evaluation, today_if_none(None))["steps"]
    return ScheduledOut(
        evaluation_id=str(evaluation.id), rubric_id=evaluation.rubric_id, rubric_version=evaluation.rubric_version, steps=steps
    )


@router.get("/evaluations", response_model=list[EvaluationSummary])
def evaluations(
    request: Request,
    response: Response,
    county: CountyCode,
    scope: Reader,
    store: Store,
    contract_id: Annotated[str | None, Query(max_length=64)] = None,
    as_of: AsOf = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> list[EvaluationSummary]:
    """The county's evaluations in the order they were scheduled, each with its overdue steps on
    `as_of` (a provider sees its own, an evaluator those assigned to its organisation); paged
    (`limit`, `cursor`, `X-Next-Cursor`)."""
    provider, org = provider_of(scope), evaluator_of(scope)
    today, calendar = today_if_none(as_of), store.calendar
    query = {"county": county, "contract_id": contract_id, "provider_id": provider, "evaluator_org": org}
    found = lists.evaluations(
        store, county, limit, decode_cursor("evaluation.evaluations", query, cursor),
        provider_id=provider, evaluator_org=org, contract_id=contract_id,
    )
    respond(request, response, "evaluation.evaluations", query, found)
    return [EvaluationSummary(**evaluation_summary(e, today, calendar)) for e in found.items]


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationOut)
def evaluation(county: CountyCode, evaluation_id: EvaluationId, scope: EvaluationReader, store: Store, as_of: AsOf = None) -> EvaluationOut:
    """The evaluation with each R-EVAL-3 step's due date and status (`done`, `pending`, `overdue`
    on `as_of`), visits per station (R-EVAL-10), survey, scores, deductions, conclusion and appeal."""
    found = store.evaluation(county, evaluation_id)
    check_may_read(scope, found)
    return _view(store, found, as_of)


@router.get("/contracts/{contract_id}", response_model=ContractOut)
def contract(
    county: CountyCode, contract_id: Annotated[str, Path(min_length=1, max_length=64)], scope: ContractReader, store: Store,
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
    # The evaluation id is part of the request: a key reused on another evaluation is a different request.
    payload = {"evaluation_id": evaluation_id, **body.model_dump(mode="json")}
    return run_command(store, scope, headers, payload, action, lambda ids: store.evaluation(county, evaluation_id))


@router.post("/evaluations/{evaluation_id}/self-evaluation", response_model=EvaluationOut)
def submit_self_evaluation(
    county: CountyCode, evaluation_id: EvaluationId, body: SelfEvaluationIn, scope: ProviderSide, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The provider submits its self-evaluation report (自评报告), due 10 working days before the
    on-site evaluation (R-EVAL-3; a late one is recorded as late). Publishes `SelfEvaluationSubmitted`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.submit_self_evaluation(
        county, evaluation_id, provider_of(scope), today_if_none(body.submitted_on), body.summary, body.self_scores,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/review", response_model=EvaluationOut)
def review(
    county: CountyCode, evaluation_id: EvaluationId, body: ReviewIn, scope: EvaluatorSide, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The evaluator reviews the self-evaluation report, due 5 working days before (R-EVAL-3)."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.review(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.reviewed_on), body.notes,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/visits", status_code=201, response_model=VisitOut)
def record_visit(
    county: CountyCode, evaluation_id: EvaluationId, body: VisitIn, scope: EvaluatorSide, store: Store, service: Service, headers: CommandHeaders
) -> VisitOut:
    """Record an unannounced process visit (R-EVAL-1): the member's credential shown and the
    record signed by the centre's staff on site (R-EVAL-10). Publishes `ProcessVisitRecorded`
    with the station's count of visits done against the rubric's requirement (default 4 a year).
    The requirement is also the limit: a visit to a station that already received the rubric's
    number of visits in this (process) evaluation of the service year is refused (422, R-EVAL-1,
    field `station_id`) and records nothing."""
    visit_id = new_id(county, headers)
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.record_visit(
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
    county: CountyCode, evaluation_id: EvaluationId, body: SurveyIn, scope: EvaluatorSide, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """Record the satisfaction survey (公众评议), scored per R-EVAL-4: 满意 5, 基本满意 3, 不满意 0,
    不了解 the mean of the other answers to the question; question = sum / respondents, group =
    mean of its questions, total = mean of the groups. Publishes `SurveyRecorded`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.record_survey(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.surveyed_on),
        [r.model_dump() for r in body.responses],
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/scores", response_model=EvaluationOut)
def score_items(
    county: CountyCode, evaluation_id: EvaluationId, body: ScoresIn, scope: EvaluatorSide, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The evaluator scores rubric items of the pinned version (0 to each item's maximum). Items
    scored by the survey or by services-log's indicator figures are computed, never typed in.
    Publishes `ItemScored` per item."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.score_items(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.scored_on), [s.model_dump() for s in body.scores],
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/deductions", response_model=EvaluationOut)
def deduct(
    county: CountyCode, evaluation_id: EvaluationId, body: DeductionIn, scope: EvaluatorSide, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """A spot-check (察访核验) finding: its points are subtracted from the total (R-EVAL-5)."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.deduct(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.found_on), body.points, body.reason,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/conclusion", response_model=ConclusionOut)
def conclude(
    county: CountyCode, evaluation_id: EvaluationId, body: ConclusionIn, scope: EvaluatorSide, store: Store, service: Service, headers: CommandHeaders
) -> ConclusionOut:
    """Conclude: the total score (weighted dimensions, survey, services-log outcome figures, minus
    deductions), the grade by the pinned rubric's thresholds (R-EVAL-6) and whether it passed.
    A fraud (弄虚作假, `fraud_found`) or serious-breach (严重违约, `serious_breach_found`) finding fails
    it and needs its details (R-EVAL-9); registry then terminates the contract (kind `fraud` or
    `serious_breach`) and bans the provider for the county's `ban_years`. Publishes
    `EvaluationConcluded` (with `fraud_found` and `serious_breach_found`), which finance (tranches)
    and registry (renewal, bans) react to (R-EVAL-8)."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.conclude(
        county, evaluation_id, evaluator_of(scope), today_if_none(body.concluded_on), body.fraud_found, body.fraud_details,
        body.serious_breach_found, body.serious_breach_details,
    ))
    c = found.conclusion
    assert c is not None
    return ConclusionOut(
        evaluation_id=str(found.id), contract_id=found.contract_id, stage=found.stage, score=c["score"], grade=c["grade"],
        passed=c["passed"], fraud_found=c["fraud_found"], serious_breach_found=c.get("serious_breach_found", False),
        concluded_on=c["concluded_on"], rubric_id=found.rubric_id,
        rubric_version=found.rubric_version, breakdown=c["breakdown"], appeal_due_on=c["appeal_due_on"],
    )


@router.post("/evaluations/{evaluation_id}/feedback", response_model=EvaluationOut)
def feedback(
    county: CountyCode, evaluation_id: EvaluationId, body: FeedbackIn, scope: FeedbackParty, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """Feedback and consensus on the report, due 5 working days after it (R-EVAL-3)."""
    party = "provider" if scope.principal.role == Role.PROVIDER else "evaluator"
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.record_feedback(
        county, evaluation_id, provider_of(scope), evaluator_of(scope), today_if_none(body.agreed_on), body.notes, party,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/appeal", response_model=EvaluationOut)
def appeal(
    county: CountyCode, evaluation_id: EvaluationId, body: AppealIn, scope: ProviderSide, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The provider appeals a failed evaluation — once, within the rubric's appeal window
    (default 10 working days after the conclusion). Publishes `EvaluationAppealed`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.appeal(
        county, evaluation_id, provider_of(scope), today_if_none(body.appealed_on), body.reason,
    ))
    return _view(store, found)


@router.post("/evaluations/{evaluation_id}/appeal/decision", response_model=EvaluationOut)
def decide_appeal(
    county: CountyCode, evaluation_id: EvaluationId, body: AppealDecisionIn, scope: Purchaser, store: Store, service: Service, headers: CommandHeaders
) -> EvaluationOut:
    """The purchaser decides the appeal; an upheld one states the revised score, graded by the
    pinned rubric's thresholds. Publishes `AppealDecided`."""
    found = _command(store, scope, headers, county, evaluation_id, body, lambda: service.commands.decide_appeal(
        county, evaluation_id, body.upheld, body.revised_score, today_if_none(body.decided_on), body.reason,
    ))
    return _view(store, found)
