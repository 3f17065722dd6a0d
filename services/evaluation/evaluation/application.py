"""The evaluation service composed (issue 15 item 1): its persistence Application
(:mod:`evaluation.lookups`: the store and its read-only lookups) plus the command object here and
the reactions of :mod:`evaluation.feed`, each holding the store — no mixin chain. Built once per
process by ``evaluation.main`` (``ServiceSpec.compose``); routes reach it as
``request.app.state.service``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from evaluation.domainmodel import (
    DEFAULTS,
    Evaluation,
    EvaluatorOrg,
    Rubric,
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
from evaluation.domainmodel.rubric import item as rubric_item
from evaluation.feed import UpstreamReactions
from evaluation.lookups import EvaluationApplication
from shared.clock import china_today
from shared.infra.store import SwpApplication
from shared.rules import Forbidden, RuleViolation, UnknownReference


def happened(day: date, rule: str, field: str) -> date:
    """A record of something done on site cannot be dated in the future."""
    if day > china_today():
        raise RuleViolation(f"{day} is in the future", rule=rule, field=field)
    return day


class EvaluationCommands:
    """The evaluation service's commands: rubrics, evaluators, scheduling, the provider's side, the
    evaluator's records, conclusions and appeals. Holds the store (its lookups and ``save``)."""

    def __init__(self, store: EvaluationApplication) -> None:
        self.store = store

    # --- rubrics (R-EVAL-2) -------------------------------------------------------------
    def publish_rubric(
        self,
        scope: str,
        name: str,
        dimensions: Sequence[Mapping[str, Any]] | None,
        survey: Mapping[str, Any] | None,
        thresholds: Mapping[str, Any] | None,
        policy: Mapping[str, int] | None,
    ) -> Rubric:
        """The next version of the scope's rubric; what is left out takes DOMAIN.md's defaults."""
        content = check_rubric(
            DEFAULTS["dimensions"] if dimensions is None else dimensions,
            DEFAULTS["survey"] if survey is None else survey,
            DEFAULTS["thresholds"] if thresholds is None else thresholds,
            policy or {},
        )
        rubric: Rubric = self.store._find(rubric_id(scope)) or Rubric(scope=scope)
        rubric.publish(name, content)
        self.store.save(rubric)
        return rubric

    # --- evaluators (R-EVAL-7) -----------------------------------------------------------
    def accredit_evaluator(
        self, county: str, name: str, certificate_no: str, accredited_until: date, linked_provider_ids: list[str]
    ) -> EvaluatorOrg:
        for i, provider_id in enumerate(linked_provider_ids):
            self.store.provider(county, provider_id, field=f"linked_provider_ids.{i}")
        org = EvaluatorOrg(
            county=county, name=name, certificate_no=certificate_no,
            accredited_until=accredited_until, linked_provider_ids=linked_provider_ids,
        )
        directory = self.store.directory(county)
        directory.list_evaluator(evaluator_org=str(org.id))
        self.store.save(org, directory)
        return org

    def accredit_member(
        self, county: str, org_id: str, member_id: str, name: str, credential_no: str, valid_until: date
    ) -> EvaluatorOrg:
        org = self.store.evaluator(county, org_id)
        org.accredit_member(member_id=member_id, name=name, credential_no=credential_no, valid_until=valid_until)
        self.store.save(org)
        return org

    def declare_link(self, county: str, org_id: str, provider_id: str, relation: str) -> EvaluatorOrg:
        org = self.store.evaluator(county, org_id)
        self.store.provider(county, provider_id, field="provider_id")
        org.declare_link(provider_id=provider_id, relation=relation)
        self.store.save(org)
        return org

    # --- scheduling (R-EVAL-1/2/3/7) --------------------------------------------------------
    def schedule(self, county: str, contract_id: str, stage: str, evaluator_org: str, scheduled_on: date) -> Evaluation:
        contract = self.store.contract(county, contract_id, field="contract_id")
        if contract.terminated_on is not None:
            raise RuleViolation(f"the contract was terminated on {contract.terminated_on}", rule="R-EVAL-9", field="contract_id")
        org = self.store.evaluator(county, evaluator_org, field="evaluator_org")
        org.check_may_evaluate(contract.provider_id, scheduled_on)
        check_timing(stage, scheduled_on, contract.period_start, contract.period_end)
        directory = self.store.directory(county)
        if any(e["stage"] == stage for e in directory.evaluations_of(contract_id)):
            raise RuleViolation(f"this contract already has a {stage} evaluation", rule="R-EVAL-1", field="stage")
        rid, version = self.rubric_for(county, directory.evaluations_of(contract_id))
        pinned = self.store.rubric(rid).version_content(version)
        evaluation = Evaluation(
            county=county,
            contract_id=contract_id,
            provider_id=contract.provider_id,
            station_ids=list(contract.station_ids),
            stage=stage,
            evaluator_org=evaluator_org,
            scheduled_on=scheduled_on,
            rubric_id=rid,
            rubric_version=version,
            policy=dict(pinned["policy"]),
            steps=plan_steps(stage, scheduled_on, contract.period_end, self.store.calendar),
        )
        directory.list_evaluation(evaluation_id=str(evaluation.id), contract_id=contract_id, stage=stage)
        self.store.save(evaluation, directory)
        return evaluation

    def rubric_for(self, county: str, earlier: list[dict[str, str]]) -> tuple[str, int]:
        """R-EVAL-2: the rubric version in force when the contract's first evaluation was scheduled.
        Later evaluations of the contract keep it, so its mid-term and final use the same standard."""
        if earlier:
            first = self.store.evaluation(county, earlier[0]["evaluation_id"])
            return first.rubric_id, first.rubric_version
        rubric = self.store.rubric_in_force(county)
        if rubric is None:
            raise RuleViolation("no rubric is published for this county or the province", rule="R-EVAL-2", field="rubric")
        return str(rubric.id), rubric.current_version

    # --- the provider's side ------------------------------------------------------------------
    def submit_self_evaluation(
        self, county: str, evaluation_id: str, provider_id: str | None,
        submitted_on: date, summary: str, self_scores: Mapping[str, Decimal],
    ) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_provider(evaluation, provider_id)
        happened(submitted_on, "R-EVAL-3", "submitted_on")
        content = self.store.pinned(evaluation)
        for code, score in self_scores.items():
            self._check_item_score(content, code, score, f"self_scores.{code}", f"self_scores.{code}")
        evaluation.submit_self_evaluation(
            submitted_on=submitted_on, summary=summary, self_scores=dict(self_scores), calendar=self.store.calendar
        )
        self.store.save(evaluation)
        return evaluation

    def appeal(self, county: str, evaluation_id: str, provider_id: str | None, appealed_on: date, reason: str) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_provider(evaluation, provider_id)
        happened(appealed_on, "R-EVAL-6", "appealed_on")
        evaluation.lodge_appeal(appealed_on=appealed_on, reason=reason, calendar=self.store.calendar)
        self.store.save(evaluation)
        return evaluation

    # --- the evaluator's side -------------------------------------------------------------------
    def review(self, county: str, evaluation_id: str, org_id: str | None, reviewed_on: date, notes: str) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_evaluator(evaluation, org_id)
        happened(reviewed_on, "R-EVAL-3", "reviewed_on")
        evaluation.review_self_evaluation(reviewed_on=reviewed_on, notes=notes, calendar=self.store.calendar)
        self.store.save(evaluation)
        return evaluation

    def record_visit(
        self, county: str, evaluation_id: str, org_id: str | None, *, visit_id: str, station_id: str,
        visited_on: date, member_id: str, credential_shown: bool, signed_by: dict[str, str], findings: str,
    ) -> Evaluation:
        """R-EVAL-10: an unannounced visit, the member's credential shown, signed by the centre's staff."""
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_evaluator(evaluation, org_id)
        if station_id not in evaluation.station_ids:
            raise UnknownReference(f"station {station_id} is not a station of the contract", field="station_id")
        contract = self.store.contract(county, evaluation.contract_id)
        if not contract.period_start <= visited_on <= contract.period_end:
            raise RuleViolation("process visits fall within the service year", rule="R-EVAL-1", field="visited_on")
        happened(visited_on, "R-EVAL-10", "visited_on")
        if not credential_shown:
            raise RuleViolation("the evaluator shows their credential on site", rule="R-EVAL-10", field="credential_shown")
        org = self.store.evaluator(county, evaluation.evaluator_org)
        org.check_may_evaluate(evaluation.provider_id, visited_on)
        credential_no = org.credential_on(member_id, visited_on, field="member_id")
        evaluation.record_visit(
            visit_id=visit_id, station_id=station_id, visited_on=visited_on, member_id=member_id,
            credential_no=credential_no, signed_by=signed_by, findings=findings,
        )
        self.store.save(evaluation)
        return evaluation

    def record_survey(
        self, county: str, evaluation_id: str, org_id: str | None, surveyed_on: date, responses: Sequence[Mapping[str, Any]]
    ) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_evaluator(evaluation, org_id)
        happened(surveyed_on, "R-EVAL-4", "surveyed_on")
        groups = survey_groups(self.store.pinned(evaluation))
        if not groups:
            raise RuleViolation("the pinned rubric version has no survey", rule="R-EVAL-4", field="responses")
        result = score_survey(groups, responses)
        evaluation.record_survey(
            surveyed_on=surveyed_on,
            respondents=result.respondents,
            score=rounded(result.total),
            group_scores={g: rounded(s) for g, s in result.groups.items()},
        )
        self.store.save(evaluation)
        return evaluation

    def score_items(
        self, county: str, evaluation_id: str, org_id: str | None, scored_on: date, scores: Sequence[Mapping[str, Any]]
    ) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_evaluator(evaluation, org_id)
        happened(scored_on, "R-EVAL-2", "scored_on")
        content = self.store.pinned(evaluation)
        seen: set[str] = set()
        for i, entry in enumerate(scores):
            code = entry["item_code"]
            if code in seen:
                raise RuleViolation(f"item {code} is scored twice in one request", rule="R-EVAL-2", field=f"scores.{i}.item_code")
            seen.add(code)
            item = self._check_item_score(content, code, entry["score"], f"scores.{i}.item_code", f"scores.{i}.score")
            if item["source"] != "evaluator":
                rule = "R-EVAL-4" if item["source"] == "survey" else "R-EVAL-2"
                raise RuleViolation(
                    f"item {code} is computed from the {item['source']}, not typed in", rule=rule, field=f"scores.{i}.item_code"
                )
            evaluation.score_item(
                item_code=code, score=Decimal(entry["score"]), max_score=item["max_score"],
                scored_on=scored_on, note=entry.get("note") or "",
            )
        self.store.save(evaluation)
        return evaluation

    def deduct(
        self, county: str, evaluation_id: str, org_id: str | None, found_on: date, points: Decimal, reason: str
    ) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_evaluator(evaluation, org_id)
        happened(found_on, "R-EVAL-5", "found_on")
        if points <= 0:
            raise RuleViolation("a deduction takes off a positive number of points", rule="R-EVAL-5", field="points")
        evaluation.deduct(found_on=found_on, points=points, reason=reason)
        self.store.save(evaluation)
        return evaluation

    def conclude(
        self, county: str, evaluation_id: str, org_id: str | None, concluded_on: date,
        fraud_found: bool, fraud_details: str | None,
        serious_breach_found: bool = False, serious_breach_details: str | None = None,
    ) -> Evaluation:
        """Total score, grade and pass (R-EVAL-2/4/5/6) from the recorded scores, the survey,
        services-log's outcome figures and the spot-check deductions."""
        evaluation = self.store.evaluation(county, evaluation_id)
        self.check_evaluator(evaluation, org_id)
        happened(concluded_on, "R-EVAL-6", "concluded_on")
        self.store.evaluator(county, evaluation.evaluator_org).check_may_evaluate(evaluation.provider_id, concluded_on)
        content = self.store.pinned(evaluation)
        figures = self.store.outcome_figures(county, evaluation.contract_id)
        survey_total = Decimal(evaluation.survey["score"]) if evaluation.survey else None
        sheet = score_sheet(
            content["dimensions"],
            {code: s["score"] for code, s in evaluation.scores.items()},
            None if survey_total is None else Fraction(survey_total),  # the published (rounded) survey score
            indicator_completion(figures["indicators"]),
            [d["points"] for d in evaluation.deductions],
        )
        breakdown = {
            "dimensions": {code: rounded(v) for code, v in sheet.dimensions.items()},
            "items": {code: rounded(v) for code, v in sheet.items.items()},
            "survey_score": survey_total,
            "deductions": sheet.deductions,
            "outcomes": figures,
        }
        evaluation.conclude(
            concluded_on=concluded_on, score=sheet.score, thresholds=content["thresholds"], breakdown=breakdown,
            fraud_found=fraud_found, fraud_details=fraud_details, calendar=self.store.calendar,
            serious_breach_found=serious_breach_found, serious_breach_details=serious_breach_details,
        )
        self.store.save(evaluation)
        return evaluation

    # --- feedback and the purchaser's decision on an appeal ------------------------------------
    def record_feedback(
        self, county: str, evaluation_id: str, provider_id: str | None, org_id: str | None,
        agreed_on: date, notes: str, party: str,
    ) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        if party == "provider":
            self.check_provider(evaluation, provider_id)
        else:
            self.check_evaluator(evaluation, org_id)
        happened(agreed_on, "R-EVAL-3", "agreed_on")
        evaluation.record_feedback(agreed_on=agreed_on, notes=notes, party=party, calendar=self.store.calendar)
        self.store.save(evaluation)
        return evaluation

    def decide_appeal(
        self, county: str, evaluation_id: str, upheld: bool, revised_score: Decimal | None, decided_on: date, reason: str
    ) -> Evaluation:
        evaluation = self.store.evaluation(county, evaluation_id)
        happened(decided_on, "R-EVAL-6", "decided_on")
        thresholds = self.store.pinned(evaluation)["thresholds"]
        evaluation.decide_appeal(
            upheld=upheld, revised_score=revised_score, decided_on=decided_on, reason=reason, thresholds=thresholds
        )
        self.store.save(evaluation)
        return evaluation

    # --- checks ---------------------------------------------------------------------------------
    @staticmethod
    def check_provider(evaluation: Evaluation, provider_id: str | None) -> None:
        """A provider acts on evaluations of its own contracts only (None: the purchaser's side)."""
        if provider_id is not None and provider_id != evaluation.provider_id:
            raise Forbidden("this is another provider's evaluation", rule="R-AUD-6")

    @staticmethod
    def check_evaluator(evaluation: Evaluation, org_id: str | None) -> None:
        """Only the evaluator organisation the evaluation was assigned to records it (R-EVAL-7)."""
        if org_id != evaluation.evaluator_org:
            raise Forbidden("this evaluation is assigned to another evaluator organisation", rule="R-EVAL-7")

    @staticmethod
    def _check_item_score(content: Mapping[str, Any], code: str, score: Any, code_field: str, score_field: str) -> dict[str, Any]:
        item = rubric_item(content, code)
        if item is None:
            raise RuleViolation(f"{code} is not an item of the pinned rubric version", rule="R-EVAL-2", field=code_field)
        if not Decimal(0) <= Decimal(score) <= Decimal(item["max_score"]):
            raise RuleViolation(f"{code} is scored 0 to {item['max_score']}", rule="R-EVAL-2", field=score_field)
        return item


@dataclass(frozen=True)
class EvaluationService:
    store: EvaluationApplication
    commands: EvaluationCommands
    reactions: UpstreamReactions


def compose(store: SwpApplication) -> EvaluationService:
    assert isinstance(store, EvaluationApplication)
    return EvaluationService(store=store, commands=EvaluationCommands(store), reactions=UpstreamReactions(store))


__all__ = ["EvaluationApplication", "EvaluationCommands", "EvaluationService", "compose", "happened"]
