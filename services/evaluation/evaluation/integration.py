"""evaluation's side of the integration contract: what it publishes and what it consumes."""

from __future__ import annotations

from typing import Any

from faststream.nats import JStream, NatsBroker

from evaluation.application import EvaluationService
from evaluation.domainmodel import Evaluation, EvaluatorOrg, Rubric
from shared.events import IntegrationEvent
from shared.events import evaluation as ev
from shared.infra.consumer import ConsumerStats, subscribe_upstream

PUBLISHED: list[type[IntegrationEvent]] = [
    ev.RubricPublished,
    ev.EvaluatorAccredited,
    ev.EvaluationScheduled,
    ev.SelfEvaluationSubmitted,
    ev.ProcessVisitRecorded,
    ev.SurveyRecorded,
    ev.ItemScored,
    ev.EvaluationConcluded,
    ev.EvaluationAppealed,
    ev.AppealDecided,
]


def to_integration(e: Any) -> IntegrationEvent | None:
    oid = str(e.originator_id)
    county = e.meta.get("county", "") if getattr(e, "meta", None) else ""
    if isinstance(e, Rubric.VersionPublished):
        return ev.RubricPublished(
            rubric_id=oid, version=e.version, scope=county, name=e.name, dimensions=e.dimensions,
            thresholds=e.thresholds, survey=e.survey, policy=e.policy,
        )
    if isinstance(e, EvaluatorOrg.Accredited):
        return ev.EvaluatorAccredited(evaluator_org=oid, county=e.county, name=e.name, linked_provider_ids=e.linked_provider_ids)
    if isinstance(e, Evaluation.Scheduled):
        return ev.EvaluationScheduled(
            evaluation_id=oid, county=e.county, contract_id=e.contract_id, stage=e.stage, evaluator_org=e.evaluator_org,
            scheduled_on=e.scheduled_on, rubric_id=e.rubric_id, rubric_version=e.rubric_version,
        )
    if isinstance(e, Evaluation.SelfEvaluationSubmitted):
        return ev.SelfEvaluationSubmitted(
            evaluation_id=oid, county=county, contract_id=e.contract_id, submitted_on=e.submitted_on, late=e.late
        )
    if isinstance(e, Evaluation.ProcessVisitRecorded):
        return ev.ProcessVisitRecorded(
            visit_id=e.visit_id, county=county, contract_id=e.contract_id, station_id=e.station_id, visited_on=e.visited_on,
            evaluator_org=e.evaluator_org, visits_done=e.visits_done, visits_required=e.visits_required,
        )
    if isinstance(e, Evaluation.SurveyRecorded):
        return ev.SurveyRecorded(
            evaluation_id=oid, county=county, contract_id=e.contract_id, respondents=e.respondents, score=e.score
        )
    if isinstance(e, Evaluation.ItemScored):
        return ev.ItemScored(
            evaluation_id=oid, county=county, contract_id=e.contract_id, item_code=e.item_code, score=e.score,
            max_score=e.max_score,
        )
    if isinstance(e, Evaluation.Concluded):
        return ev.EvaluationConcluded(
            evaluation_id=oid, county=county, contract_id=e.contract_id, provider_id=e.provider_id, stage=e.stage,
            score=e.score, grade=e.grade, passed=e.passed, rubric_id=e.rubric_id, rubric_version=e.rubric_version,
            concluded_on=e.concluded_on, fraud_found=e.fraud_found, serious_breach_found=e.serious_breach_found,
        )
    if isinstance(e, Evaluation.Appealed):
        return ev.EvaluationAppealed(
            evaluation_id=oid, county=county, contract_id=e.contract_id, appealed_on=e.appealed_on, reason=e.reason
        )
    if isinstance(e, Evaluation.AppealDecided):
        return ev.AppealDecided(
            evaluation_id=oid, county=county, contract_id=e.contract_id, provider_id=e.provider_id, stage=e.stage,
            upheld=e.upheld, score=e.score, grade=e.grade, passed=e.passed, decided_on=e.decided_on,
        )
    return None


def wire_consumers(broker: NatsBroker, evaluation: EvaluationService, stream: JStream) -> dict[str, ConsumerStats]:
    app, react = evaluation.store, evaluation.reactions
    registry = subscribe_upstream(
        broker,
        app,
        stream,
        "registry",
        {
            "ProviderRegistered": react.on_provider_registered,
            "ContractSigned": react.on_contract_signed,
            "ContractTerminated": react.on_contract_terminated,
        },
        description=(
            "evaluation keeps its own read model of registry — contracts (provider, stations, service year, "
            "indicator targets) and providers' names — to place evaluations in their R-EVAL-1 windows, refuse "
            "evaluators linked to the provider (R-EVAL-7) and publish results with the provider's name (R-EVAL-8)."
        ),
    )
    services_log = subscribe_upstream(
        broker,
        app,
        stream,
        "services-log",
        {"IndicatorProgressed": react.on_indicator_progressed},
        description=(
            "evaluation takes a contract's outcome figures (indicator completion, hours, person-times) from "
            "services-log's progress events: an evaluator never types them in (R-LOG-8, R-EVAL-2)."
        ),
    )
    finance = subscribe_upstream(
        broker,
        app,
        stream,
        "finance",
        {"CalendarLoaded": react.on_calendar_loaded},
        description=(
            "evaluation keeps every official year calendar finance loads (swp.province.finance.CalendarLoaded): "
            "the self-evaluation, review, report and feedback deadlines (R-EVAL-3) are counted with it and stop "
            "being provisional once their years are official (R-FIN-6)."
        ),
    )
    return {"registry": registry, "services-log": services_log, "finance": finance}
