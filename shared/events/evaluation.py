"""Events published by the evaluation service (rubrics, evaluators, evaluations, results)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from shared.events import IntegrationEvent, integration_event

SERVICE = "evaluation"
STAGES = ("process", "midterm", "final", "annual")
GRADES = ("优秀", "良好", "合格", "不合格")


@integration_event(SERVICE)
class RubricPublished(IntegrationEvent):
    """A rubric version (统一评估标准, R-EVAL-2) was published, province-wide or for one county."""

    rubric_id: str
    version: int
    scope: str  # 'province' or a county code
    name: str
    dimensions: list[dict[str, Any]]
    thresholds: dict[str, Decimal]
    survey: dict[str, Any] = {}
    # Policy parameters of the version: process_visits_per_station, appeal_working_days.
    policy: dict[str, Any] = {}


@integration_event(SERVICE)
class EvaluatorAccredited(IntegrationEvent):
    """A third-party evaluator organisation was accredited (持证上岗, R-EVAL-7)."""

    evaluator_org: str
    county: str
    name: str
    linked_provider_ids: list[str] = []


@integration_event(SERVICE)
class EvaluationScheduled(IntegrationEvent):
    """An evaluation of a contract was scheduled, bound to the rubric version then in force."""

    evaluation_id: str
    county: str
    contract_id: str
    stage: str
    evaluator_org: str
    scheduled_on: date
    rubric_id: str
    rubric_version: int


@integration_event(SERVICE)
class SelfEvaluationSubmitted(IntegrationEvent):
    """The provider's self-evaluation report (自评报告) was submitted (R-EVAL-3)."""

    evaluation_id: str
    county: str
    contract_id: str
    submitted_on: date
    late: bool


@integration_event(SERVICE)
class ProcessVisitRecorded(IntegrationEvent):
    """An unannounced process visit was recorded and signed on site (R-EVAL-1, R-EVAL-10)."""

    visit_id: str
    county: str
    contract_id: str
    station_id: str
    visited_on: date
    evaluator_org: str
    visits_done: int
    visits_required: int


@integration_event(SERVICE)
class SurveyRecorded(IntegrationEvent):
    """A satisfaction survey (公众评议) was scored per R-EVAL-4."""

    evaluation_id: str
    county: str
    contract_id: str
    respondents: int
    score: Decimal


@integration_event(SERVICE)
class ItemScored(IntegrationEvent):
    """The evaluator scored one rubric item."""

    evaluation_id: str
    county: str
    contract_id: str
    item_code: str
    score: Decimal
    max_score: Decimal


@integration_event(SERVICE)
class EvaluationConcluded(IntegrationEvent):
    """An evaluation concluded (R-EVAL-6/8): feeds finance (tranches) and registry (renewal, bans)."""

    evaluation_id: str
    county: str
    contract_id: str
    provider_id: str
    stage: str
    score: Decimal
    grade: str
    passed: bool
    rubric_id: str
    rubric_version: int
    concluded_on: date
    fraud_found: bool = False
    # Added within v1 (optional, additive): 严重违约 found (R-EVAL-9); registry terminates and bans as for fraud.
    serious_breach_found: bool = False


@integration_event(SERVICE)
class EvaluationAppealed(IntegrationEvent):
    """The provider appealed a failed evaluation (once, within the policy window)."""

    evaluation_id: str
    county: str
    contract_id: str
    appealed_on: date
    reason: str


@integration_event(SERVICE)
class AppealDecided(IntegrationEvent):
    """The appeal was decided; when ``upheld`` the evaluation now passes with the new grade."""

    evaluation_id: str
    county: str
    contract_id: str
    provider_id: str
    stage: str
    upheld: bool
    score: Decimal
    grade: str
    passed: bool
    decided_on: date
