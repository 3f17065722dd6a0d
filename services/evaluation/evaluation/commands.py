"""The evaluation service's commands as typed objects, and the handlers the composition root
registers on the service's :class:`~shared.infra.commands.CommandBus` (which owns the R-AUD-1
context, the ``Idempotency-Key`` fingerprint and replay, and the concurrency retry for all of them).

Each command's fingerprinted fields are exactly what its route asked for — the request body's
fields as sent (an omitted day stays ``None``: "today" is decided when the command runs), plus the
evaluation or organisation of the path — so an ``Idempotency-Key`` recorded before commands were
typed still answers its repeat. What the caller's token says (the provider or evaluator
organisation acting) and what derives from the key (a new visit's or member's id) is carried
unfingerprinted (``NOT_FINGERPRINTED``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from evaluation.domainmodel import (
    DEFAULTS,
    Evaluation,
    EvaluatorOrg,
    Rubric,
    canonical_stage,
    check_rubric,
    check_timing,
    indicator_completion,
    plan_steps,
    rounded,
    rubric_id,
    score_sheet,
    score_survey,
    survey_groups,
)
from evaluation.domainmodel.registry_view import ListedEvaluation
from evaluation.domainmodel.rubric import ItemSource, RubricItem, RubricVersion
from evaluation.lookups import EvaluationApplication
from shared.clock import china_today
from shared.infra.commands import NOT_FINGERPRINTED, Command, CommandBus
from shared.rules import Forbidden, RuleViolation, UnknownReference

# Derived from the caller's token, not asked: who acts (None: not that party).
ACTOR = NOT_FINGERPRINTED


# --- the commands --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PublishRubric(Command):
    """County ``province`` (``PROVINCE``): the province's unified rubric; else the county's own.
    A part left out (``None``) takes DOMAIN.md's defaults."""

    name: str
    dimensions: list[dict[str, Any]] | None = None
    survey: dict[str, Any] | None = None
    thresholds: dict[str, Decimal] | None = None
    policy: dict[str, int | None] | None = None


@dataclass(frozen=True, kw_only=True)
class AccreditEvaluator(Command):
    name: str
    certificate_no: str
    accredited_until: date
    linked_provider_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class AccreditMember(Command):
    evaluator_org: str
    name: str
    credential_no: str
    valid_until: date
    member_id: str = field(metadata=NOT_FINGERPRINTED)  # from the Idempotency-Key


@dataclass(frozen=True, kw_only=True)
class DeclareLink(Command):
    evaluator_org: str
    provider_id: str
    relation: str


@dataclass(frozen=True, kw_only=True)
class ScheduleEvaluation(Command):
    contract_id: str
    stage: str
    evaluator_org: str
    scheduled_on: date


@dataclass(frozen=True, kw_only=True)
class SubmitSelfEvaluation(Command):
    evaluation_id: str
    summary: str
    submitted_on: date | None = None
    self_scores: dict[str, Decimal] = field(default_factory=dict)
    by_provider: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class ReviewSelfEvaluation(Command):
    evaluation_id: str
    reviewed_on: date | None = None
    notes: str = ""
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class RecordVisit(Command):
    evaluation_id: str
    station_id: str
    member_id: str
    credential_shown: bool
    signed_by: dict[str, str]
    findings: str
    visited_on: date | None = None
    visit_id: str = field(metadata=NOT_FINGERPRINTED)  # from the Idempotency-Key
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class RecordSurvey(Command):
    evaluation_id: str
    responses: list[dict[str, Any]]
    surveyed_on: date | None = None
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class ScoreItems(Command):
    evaluation_id: str
    scores: list[dict[str, Any]]
    scored_on: date | None = None
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class Deduct(Command):
    evaluation_id: str
    points: Decimal
    reason: str
    found_on: date | None = None
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class Conclude(Command):
    evaluation_id: str
    concluded_on: date | None = None
    fraud_found: bool = False
    fraud_details: str | None = None
    serious_breach_found: bool = False
    serious_breach_details: str | None = None
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class RecordFeedback(Command):
    """``party`` is the caller's role: ``provider`` or ``evaluator``."""

    evaluation_id: str
    agreed_on: date | None = None
    notes: str = ""
    party: str = field(metadata=ACTOR)
    by_provider: str | None = field(default=None, metadata=ACTOR)
    by_org: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class Appeal(Command):
    evaluation_id: str
    reason: str
    appealed_on: date | None = None
    by_provider: str | None = field(default=None, metadata=ACTOR)


@dataclass(frozen=True, kw_only=True)
class DecideAppeal(Command):
    evaluation_id: str
    upheld: bool
    reason: str
    revised_score: Decimal | None = None
    decided_on: date | None = None


def happened(day: date | None, rule: str, field: str) -> date:
    """A record of something done on site cannot be dated in the future; no day: today (China)."""
    today = china_today()
    if day is None:
        return today
    if day > today:
        raise RuleViolation(f"{day} is in the future", rule=rule, field=field, facts={"code": "date_in_future", "date": day.isoformat()})
    return day


# --- the handlers ----------------------------------------------------------------------------
class EvaluationCommands:
    """Decides each command on the aggregates it loads and saves them together: rubrics,
    evaluators, scheduling, the provider's side, the evaluator's records, conclusions and appeals.
    Holds the store (its lookups and ``save``)."""

    def __init__(self, store: EvaluationApplication) -> None:
        self.store = store

    def register(self, bus: CommandBus) -> None:
        store = self.store

        def the_evaluation(c: Any, _ids: list[str]) -> Evaluation:
            return store.evaluation(c.county, c.evaluation_id)

        def the_org(c: Any, _ids: list[str]) -> EvaluatorOrg:
            return store.evaluator(c.county, c.evaluator_org)

        bus.register(PublishRubric, self.publish_rubric, lambda _c, ids: store.rubric(ids[0]))
        bus.register(AccreditEvaluator, self.accredit_evaluator, lambda _c, ids: ids[0])
        bus.register(AccreditMember, self.accredit_member, the_org)
        bus.register(DeclareLink, self.declare_link, the_org)
        bus.register(ScheduleEvaluation, self.schedule, lambda c, ids: store.evaluation(c.county, ids[0]))
        bus.register(SubmitSelfEvaluation, self.submit_self_evaluation, the_evaluation)
        bus.register(ReviewSelfEvaluation, self.review, the_evaluation)
        bus.register(RecordVisit, self.record_visit, the_evaluation)
        bus.register(RecordSurvey, self.record_survey, the_evaluation)
        bus.register(ScoreItems, self.score_items, the_evaluation)
        bus.register(Deduct, self.deduct, the_evaluation)
        bus.register(Conclude, self.conclude, the_evaluation)
        bus.register(RecordFeedback, self.record_feedback, the_evaluation)
        bus.register(Appeal, self.appeal, the_evaluation)
        bus.register(DecideAppeal, self.decide_appeal, the_evaluation)

    # --- rubrics (R-EVAL-2) -------------------------------------------------------------
    def publish_rubric(self, c: PublishRubric) -> Rubric:
        """The next version of the scope's rubric; what is left out takes DOMAIN.md's defaults."""
        policy = {k: v for k, v in (c.policy or {}).items() if v is not None}
        content = check_rubric(
            DEFAULTS["dimensions"] if c.dimensions is None else c.dimensions,
            DEFAULTS["survey"] if c.survey is None else c.survey,
            DEFAULTS["thresholds"] if c.thresholds is None else c.thresholds,
            policy,
        )
        rubric: Rubric = self.store._find(rubric_id(c.county)) or Rubric(scope=c.county)
        rubric.publish(c.name, content)
        self.store.save(rubric)
        return rubric

    # --- evaluators (R-EVAL-7) -----------------------------------------------------------
    def accredit_evaluator(self, c: AccreditEvaluator) -> str:
        """The new organisation's id (the ``evaluator_org`` claim of its evaluators' tokens)."""
        for i, provider_id in enumerate(c.linked_provider_ids):
            self.store.provider(c.county, provider_id, field=f"linked_provider_ids.{i}")
        org = EvaluatorOrg(
            county=c.county, name=c.name, certificate_no=c.certificate_no,
            accredited_until=c.accredited_until, linked_provider_ids=list(c.linked_provider_ids),
        )
        directory = self.store.directory(c.county)
        directory.list_evaluator(evaluator_org=str(org.id))
        self.store.save(org, directory)
        return str(org.id)

    def accredit_member(self, c: AccreditMember) -> EvaluatorOrg:
        org = self.store.evaluator(c.county, c.evaluator_org)
        org.accredit_member(member_id=c.member_id, name=c.name, credential_no=c.credential_no, valid_until=c.valid_until)
        self.store.save(org)
        return org

    def declare_link(self, c: DeclareLink) -> EvaluatorOrg:
        org = self.store.evaluator(c.county, c.evaluator_org)
        self.store.provider(c.county, c.provider_id, field="provider_id")
        org.declare_link(provider_id=c.provider_id, relation=c.relation)
        self.store.save(org)
        return org

    # --- scheduling (R-EVAL-1/2/3/7) --------------------------------------------------------
    def schedule(self, c: ScheduleEvaluation) -> Evaluation:
        county, contract_id, stage = c.county, c.contract_id, canonical_stage(c.stage)
        contract = self.store.contract(county, contract_id, field="contract_id")
        if contract.terminated_on is not None:
            raise RuleViolation(f"the contract was terminated on {contract.terminated_on}", rule="R-EVAL-9", field="contract_id", facts={"code": "contract_terminated", "date": contract.terminated_on.isoformat()})
        org = self.store.evaluator(county, c.evaluator_org, field="evaluator_org")
        org.check_may_evaluate(contract.provider_id, c.scheduled_on)
        check_timing(stage, c.scheduled_on, contract.period_start, contract.period_end)
        directory = self.store.directory(county)
        if any(e.stage == stage for e in directory.evaluations_of(contract_id)):
            raise RuleViolation(f"this contract already has a {stage} evaluation", rule="R-EVAL-1", field="stage", facts={"code": "stage_already_scheduled", "stage": stage})
        rid, version = self.rubric_for(county, directory.evaluations_of(contract_id))
        pinned = self.store.rubric(rid).version_content(version)
        evaluation = Evaluation(
            county=county,
            contract_id=contract_id,
            provider_id=contract.provider_id,
            station_ids=list(contract.station_ids),
            stage=stage,
            evaluator_org=c.evaluator_org,
            scheduled_on=c.scheduled_on,
            rubric_id=rid,
            rubric_version=version,
            policy=pinned.policy.as_dict(),
            steps=plan_steps(stage, c.scheduled_on, contract.period_end, self.store.calendar),
        )
        directory.list_evaluation(evaluation_id=str(evaluation.id), contract_id=contract_id, stage=stage)
        self.store.save(evaluation, directory)
        return evaluation

    def rubric_for(self, county: str, earlier: list[ListedEvaluation]) -> tuple[str, int]:
        """R-EVAL-2: the rubric version in force when the contract's first evaluation was scheduled.
        Later evaluations of the contract keep it, so its mid-term and final use the same standard."""
        if earlier:
            first = self.store.evaluation(county, earlier[0].evaluation_id)
            return first.rubric_id, first.rubric_version
        rubric = self.store.rubric_in_force(county)
        if rubric is None:
            raise RuleViolation("no rubric is published for this county or the province", rule="R-EVAL-2", field="rubric", facts={"code": "no_rubric"})
        return str(rubric.id), rubric.current_version

    # --- the provider's side ------------------------------------------------------------------
    def submit_self_evaluation(self, c: SubmitSelfEvaluation) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_provider(evaluation, c.by_provider)
        submitted_on = happened(c.submitted_on, "R-EVAL-3", "submitted_on")
        content = self.store.pinned(evaluation)
        for code, score in c.self_scores.items():
            self._check_item_score(content, code, score, f"self_scores.{code}", f"self_scores.{code}")
        evaluation.submit_self_evaluation(
            submitted_on=submitted_on, summary=c.summary, self_scores=dict(c.self_scores), calendar=self.store.calendar
        )
        self.store.save(evaluation)
        return evaluation

    def appeal(self, c: Appeal) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_provider(evaluation, c.by_provider)
        appealed_on = happened(c.appealed_on, "R-EVAL-6", "appealed_on")
        evaluation.lodge_appeal(appealed_on=appealed_on, reason=c.reason, calendar=self.store.calendar)
        self.store.save(evaluation)
        return evaluation

    # --- the evaluator's side -------------------------------------------------------------------
    def review(self, c: ReviewSelfEvaluation) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_evaluator(evaluation, c.by_org)
        reviewed_on = happened(c.reviewed_on, "R-EVAL-3", "reviewed_on")
        evaluation.review_self_evaluation(reviewed_on=reviewed_on, notes=c.notes, calendar=self.store.calendar)
        self.store.save(evaluation)
        return evaluation

    def record_visit(self, c: RecordVisit) -> Evaluation:
        """R-EVAL-10: an unannounced visit, the member's credential shown, signed by the centre's staff."""
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_evaluator(evaluation, c.by_org)
        if c.station_id not in evaluation.station_ids:
            raise UnknownReference(f"station {c.station_id} is not a station of the contract", field="station_id", facts={"code": "station_not_in_contract", "station_id": c.station_id})
        visited_on = c.visited_on or china_today()
        contract = self.store.contract(c.county, evaluation.contract_id)
        if not contract.period_start <= visited_on <= contract.period_end:
            raise RuleViolation("process visits fall within the service year", rule="R-EVAL-1", field="visited_on", facts={"code": "visit_outside_year", "date": visited_on.isoformat(), "period_start": contract.period_start.isoformat(), "period_end": contract.period_end.isoformat()})
        happened(visited_on, "R-EVAL-10", "visited_on")
        if not c.credential_shown:
            raise RuleViolation("the evaluator shows their credential on site", rule="R-EVAL-10", field="credential_shown", facts={"code": "credential_not_shown"})
        org = self.store.evaluator(c.county, evaluation.evaluator_org)
        org.check_may_evaluate(evaluation.provider_id, visited_on)
        credential_no = org.credential_on(c.member_id, visited_on, field="member_id")
        evaluation.record_visit(
            visit_id=c.visit_id, station_id=c.station_id, visited_on=visited_on, member_id=c.member_id,
            credential_no=credential_no, signed_by=dict(c.signed_by), findings=c.findings,
        )
        self.store.save(evaluation)
        return evaluation

    def record_survey(self, c: RecordSurvey) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_evaluator(evaluation, c.by_org)
        surveyed_on = happened(c.surveyed_on, "R-EVAL-4", "surveyed_on")
        groups = survey_groups(self.store.pinned(evaluation))
        if not groups:
            raise RuleViolation("the pinned rubric version has no survey", rule="R-EVAL-4", field="responses", facts={"code": "rubric_has_no_survey"})
        result = score_survey(groups, c.responses)
        evaluation.record_survey(
            surveyed_on=surveyed_on,
            respondents=result.respondents,
            score=rounded(result.total),
            group_scores={g: rounded(s) for g, s in result.groups.items()},
        )
        self.store.save(evaluation)
        return evaluation

    def score_items(self, c: ScoreItems) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_evaluator(evaluation, c.by_org)
        scored_on = happened(c.scored_on, "R-EVAL-2", "scored_on")
        content = self.store.pinned(evaluation)
        seen: set[str] = set()
        for i, entry in enumerate(c.scores):
            code = entry["item_code"]
            if code in seen:
                raise RuleViolation(f"item {code} is scored twice in one request", rule="R-EVAL-2", field=f"scores.{i}.item_code", facts={"code": "item_scored_twice", "item": code})
            seen.add(code)
            item = self._check_item_score(content, code, entry["score"], f"scores.{i}.item_code", f"scores.{i}.score")
            if item.source != ItemSource.EVALUATOR:
                rule = "R-EVAL-4" if item.source == ItemSource.SURVEY else "R-EVAL-2"
                raise RuleViolation(
                    f"item {code} is computed from the {item.source.value}, not typed in", rule=rule, field=f"scores.{i}.item_code",
                    facts={"code": "item_computed", "item": code, "source": item.source.value},
                )
            evaluation.score_item(
                item_code=code, score=Decimal(entry["score"]), max_score=item.max_score,
                scored_on=scored_on, note=entry.get("note") or "",
            )
        self.store.save(evaluation)
        return evaluation

    def deduct(self, c: Deduct) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        self.check_evaluator(evaluation, c.by_org)
        found_on = happened(c.found_on, "R-EVAL-5", "found_on")
        if c.points <= 0:
            raise RuleViolation("a deduction takes off a positive number of points", rule="R-EVAL-5", field="points", facts={"code": "deduction_not_positive"})
        evaluation.deduct(found_on=found_on, points=c.points, reason=c.reason)
        self.store.save(evaluation)
        return evaluation

    def conclude(self, c: Conclude) -> Evaluation:
        """Total score, grade and pass (R-EVAL-2/4/5/6) from the recorded scores, the survey,
        services-log's outcome figures and the spot-check deductions."""
        county = c.county
        evaluation = self.store.evaluation(county, c.evaluation_id)
        self.check_evaluator(evaluation, c.by_org)
        concluded_on = happened(c.concluded_on, "R-EVAL-6", "concluded_on")
        self.store.evaluator(county, evaluation.evaluator_org).check_may_evaluate(evaluation.provider_id, concluded_on)
        content = self.store.pinned(evaluation)
        figures = self.store.outcome_figures(county, evaluation.contract_id)
        survey_total = Decimal(evaluation.survey.score) if evaluation.survey else None
        sheet = score_sheet(
            [d.as_dict() for d in content.dimensions],
            {code: s.score for code, s in evaluation.scores.items()},
            None if survey_total is None else Fraction(survey_total),  # the published (rounded) survey score
            indicator_completion(figures["indicators"]),
            [d.points for d in evaluation.deductions],
        )
        breakdown = {
            "dimensions": {code: rounded(v) for code, v in sheet.dimensions.items()},
            "items": {code: rounded(v) for code, v in sheet.items.items()},
            "survey_score": survey_total,
            "deductions": sheet.deductions,
            "outcomes": figures,
        }
        evaluation.conclude(
            concluded_on=concluded_on, score=sheet.score, thresholds=content.thresholds, breakdown=breakdown,
            fraud_found=c.fraud_found, fraud_details=c.fraud_details, calendar=self.store.calendar,
            serious_breach_found=c.serious_breach_found, serious_breach_details=c.serious_breach_details,
        )
        self.store.save(evaluation)
        return evaluation

    # --- feedback and the purchaser's decision on an appeal ------------------------------------
    def record_feedback(self, c: RecordFeedback) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        if c.party == "provider":
            self.check_provider(evaluation, c.by_provider)
        else:
            self.check_evaluator(evaluation, c.by_org)
        agreed_on = happened(c.agreed_on, "R-EVAL-3", "agreed_on")
        evaluation.record_feedback(agreed_on=agreed_on, notes=c.notes, party=c.party, calendar=self.store.calendar)
        self.store.save(evaluation)
        return evaluation

    def decide_appeal(self, c: DecideAppeal) -> Evaluation:
        evaluation = self.store.evaluation(c.county, c.evaluation_id)
        decided_on = happened(c.decided_on, "R-EVAL-6", "decided_on")
        thresholds = self.store.pinned(evaluation).thresholds
        evaluation.decide_appeal(
            upheld=c.upheld, revised_score=c.revised_score, decided_on=decided_on, reason=c.reason, thresholds=thresholds
        )
        self.store.save(evaluation)
        return evaluation

    # --- checks ---------------------------------------------------------------------------------
    @staticmethod
    def check_provider(evaluation: Evaluation, provider_id: str | None) -> None:
        """A provider acts on evaluations of its own contracts only (None: the purchaser's side)."""
        if provider_id is not None and provider_id != evaluation.provider_id:
            raise Forbidden("this is another provider's evaluation", rule="R-AUD-6", facts={"code": "other_providers_evaluation"})

    @staticmethod
    def check_evaluator(evaluation: Evaluation, org_id: str | None) -> None:
        """Only the evaluator organisation the evaluation was assigned to records it (R-EVAL-7)."""
        if org_id != evaluation.evaluator_org:
            raise Forbidden("this evaluation is assigned to another evaluator organisation", rule="R-EVAL-7", facts={"code": "other_evaluator"})

    @staticmethod
    def _check_item_score(content: RubricVersion, code: str, score: Any, code_field: str, score_field: str) -> RubricItem:
        item = content.item(code)
        if item is None:
            raise RuleViolation(f"{code} is not an item of the pinned rubric version", rule="R-EVAL-2", field=code_field, facts={"code": "item_unknown", "item": code})
        if not Decimal(0) <= Decimal(score) <= item.max_score:
            raise RuleViolation(f"{code} is scored 0 to {item.max_score}", rule="R-EVAL-2", field=score_field, facts={"code": "score_out_of_range", "item": code, "score": str(score), "max_score": str(item.max_score)})
        return item

