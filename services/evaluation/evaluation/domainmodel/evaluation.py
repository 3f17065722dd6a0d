"""An evaluation (评估) of one contract at one stage (R-EVAL-1), pinned to a rubric version (R-EVAL-2),
with its working-day deadlines (R-EVAL-3), visits, survey, scores, deductions, conclusion and appeal."""

from __future__ import annotations

import calendar as _calendar
from copy import deepcopy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from evaluation.domainmodel.scoring import grade_for
from shared.rules import RuleViolation
from shared.workdays import DueDate, WorkdayCalendar

STAGES = ("process", "midterm", "final", "annual")
ON_SITE_STAGES = ("midterm", "final", "annual")
STAGE_NAMES = {"process": "过程评估", "midterm": "中期评估", "final": "末期评估", "annual": "年度绩效评估"}

# R-EVAL-3 in working days: (step, counted from, direction, days).
ON_SITE_STEPS = (
    ("self_evaluation", "scheduled_on", -1, 10),  # 自评报告 10 working days before the site visit
    ("review", "scheduled_on", -1, 5),  # the evaluator reviews it 5 working days before
    ("report", "scheduled_on", +1, 20),  # evaluation report 20 working days after
    ("feedback", "report", +1, 5),  # feedback and consensus 5 working days after the report
)
FEEDBACK_WORKING_DAYS = 5


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def stage_window(stage: str, period_start: date, period_end: date) -> tuple[date, date]:
    """R-EVAL-1: mid-term within a month either side of the contract's mid-point, final within a
    month either side of its end; process visits fall in the service year; the annual evaluation
    in the service year or the month after it."""
    if stage == "midterm":
        midpoint = period_start + timedelta(days=(period_end - period_start).days // 2)
        return add_months(midpoint, -1), add_months(midpoint, 1)
    if stage == "final":
        return add_months(period_end, -1), add_months(period_end, 1)
    if stage == "annual":
        return period_start, add_months(period_end, 1)
    return period_start, period_end


def check_timing(stage: str, scheduled_on: date, period_start: date, period_end: date) -> None:
    if stage not in STAGES:
        raise RuleViolation(f"stage must be one of {STAGES}", rule="R-EVAL-1", field="stage")
    earliest, latest = stage_window(stage, period_start, period_end)
    if not earliest <= scheduled_on <= latest:
        raise RuleViolation(
            f"a {stage} evaluation ({STAGE_NAMES[stage]}) of this contract falls between {earliest} and {latest}",
            rule="R-EVAL-1",
            field="scheduled_on",
        )


def _due(d: DueDate) -> dict[str, Any]:
    return {"due_on": d.on, "provisional": d.provisional, "done_on": None}


def plan_steps(stage: str, scheduled_on: date, period_end: date, calendar: WorkdayCalendar) -> dict[str, dict[str, Any]]:
    """The deadlines of an evaluation: R-EVAL-3's four steps for an on-site stage; for the
    process stage, its unannounced visits by the end of the service year."""
    if stage not in ON_SITE_STAGES:
        return {"visits": {"due_on": period_end, "provisional": False, "done_on": None}}
    steps: dict[str, dict[str, Any]] = {}
    for name, base, direction, days in ON_SITE_STEPS:
        start = scheduled_on if base == "scheduled_on" else steps[base]["due_on"]
        step = calendar.add_workdays if direction > 0 else calendar.subtract_workdays
        steps[name] = _due(step(start, days))
    return steps


def step_status(step: dict[str, Any], today: date) -> str:
    """``done``, ``overdue`` (not done, due date passed) or ``pending``."""
    if step["done_on"] is not None:
        return "done"
    return "overdue" if step["due_on"] < today else "pending"


class Evaluation(Aggregate):
    """One evaluation of a contract at one stage, scored against the pinned rubric version."""

    @event("Scheduled")
    def __init__(
        self,
        county: str,
        contract_id: str,
        provider_id: str,
        station_ids: list[str],
        stage: str,
        evaluator_org: str,
        scheduled_on: date,
        rubric_id: str,
        rubric_version: int,
        policy: dict[str, int],
        steps: dict[str, dict[str, Any]],
    ) -> None:
        self.county = county
        self.contract_id = contract_id
        self.provider_id = provider_id
        self.station_ids = station_ids
        self.stage = stage
        self.evaluator_org = evaluator_org
        self.scheduled_on = scheduled_on
        self.rubric_id = rubric_id
        self.rubric_version = rubric_version
        self.policy = policy
        self.steps = deepcopy(steps)  # mutated as steps are done; the event keeps the plan
        self.self_evaluation: dict[str, Any] | None = None
        self.review: dict[str, Any] | None = None
        self.visits: list[dict[str, Any]] = []
        self.survey: dict[str, Any] | None = None
        self.scores: dict[str, dict[str, Any]] = {}
        self.deductions: list[dict[str, Any]] = []
        self.conclusion: dict[str, Any] | None = None
        self.feedback: dict[str, Any] | None = None
        self.appeal: dict[str, Any] | None = None

    # --- state ---------------------------------------------------------------------
    @property
    def status(self) -> str:
        if self.appeal is not None:
            return "appeal_decided" if self.appeal.get("decided_on") else "appealed"
        return "concluded" if self.conclusion is not None else "scheduled"

    @property
    def result(self) -> dict[str, Any] | None:
        """The standing result: the conclusion, or the appeal's revision of it."""
        if self.conclusion is None:
            return None
        if self.appeal is not None and self.appeal.get("upheld"):
            return {**self.conclusion, **{k: self.appeal[k] for k in ("score", "grade", "passed")}}
        return self.conclusion

    def visits_done(self, station_id: str) -> int:
        return sum(1 for v in self.visits if v["station_id"] == station_id)

    def _open(self, field: str) -> None:
        if self.conclusion is not None:
            raise RuleViolation("the evaluation is concluded: its record is closed", rule="R-EVAL-6", field=field)

    def current_steps(self, calendar: WorkdayCalendar | None) -> dict[str, dict[str, Any]]:
        """The R-EVAL-3 deadlines counted with ``calendar`` (the official years known now, R-FIN-6):
        a deadline planned as provisional moves, and stops being provisional, once its year's calendar
        is loaded. The stored plan keeps what was known at scheduling; ``None`` returns it."""
        if calendar is None or self.stage not in ON_SITE_STAGES:
            return self.steps
        plan = plan_steps(self.stage, self.scheduled_on, self.scheduled_on, calendar)
        if self.conclusion is not None and "feedback" in self.steps:
            # Feedback is due 5 working days after the report actually delivered (R-EVAL-3).
            plan["feedback"] = _due(calendar.add_workdays(self.conclusion["concluded_on"], FEEDBACK_WORKING_DAYS))
        return {name: {**plan.get(name, step), "done_on": step["done_on"]} for name, step in self.steps.items()}

    def _step(self, name: str, field: str, calendar: WorkdayCalendar | None = None) -> dict[str, Any]:
        step = self.current_steps(calendar).get(name)
        if step is None:
            # Unannounced visits belong to the process stage (R-EVAL-1); the other steps to on-site stages (R-EVAL-3).
            rule = "R-EVAL-1" if name == "visits" else "R-EVAL-3"
            raise RuleViolation(f"a {self.stage} evaluation has no {name.replace('_', '-')} step", rule=rule, field=field)
        return step

    # --- self-evaluation and its review (R-EVAL-3) ------------------------------------
    def submit_self_evaluation(
        self, submitted_on: date, summary: str, self_scores: dict[str, Decimal], calendar: WorkdayCalendar | None = None
    ) -> None:
        step = self._step("self_evaluation", "stage", calendar)
        self._open("submitted_on")
        if self.self_evaluation is not None:
            raise RuleViolation("the self-evaluation report was already submitted", rule="R-EVAL-3", field="submitted_on")
        self._self_evaluated(
            contract_id=self.contract_id, submitted_on=submitted_on, summary=summary,
            self_scores=self_scores, late=submitted_on > step["due_on"],
        )

    @event("SelfEvaluationSubmitted")
    def _self_evaluated(
        self, contract_id: str, submitted_on: date, summary: str, self_scores: dict[str, Decimal], late: bool
    ) -> None:
        self.self_evaluation = {"submitted_on": submitted_on, "summary": summary, "self_scores": self_scores, "late": late}
        self.steps["self_evaluation"]["done_on"] = submitted_on

    def review_self_evaluation(self, reviewed_on: date, notes: str, calendar: WorkdayCalendar | None = None) -> None:
        step = self._step("review", "stage", calendar)
        self._open("reviewed_on")
        if self.self_evaluation is None:
            raise RuleViolation("no self-evaluation report to review yet", rule="R-EVAL-3", field="reviewed_on")
        if self.review is not None:
            raise RuleViolation("the self-evaluation was already reviewed", rule="R-EVAL-3", field="reviewed_on")
        if reviewed_on < self.self_evaluation["submitted_on"]:
            raise RuleViolation("a review cannot precede the report it reviews", rule="R-EVAL-3", field="reviewed_on")
        self._reviewed(reviewed_on=reviewed_on, notes=notes, late=reviewed_on > step["due_on"])

    @event("SelfEvaluationReviewed")
    def _reviewed(self, reviewed_on: date, notes: str, late: bool) -> None:
        self.review = {"reviewed_on": reviewed_on, "notes": notes, "late": late}
        self.steps["review"]["done_on"] = reviewed_on

    # --- process visits (R-EVAL-1, R-EVAL-10) -----------------------------------------
    def record_visit(
        self,
        visit_id: str,
        station_id: str,
        visited_on: date,
        member_id: str,
        credential_no: str,
        signed_by: dict[str, str],
        findings: str,
    ) -> int:
        self._step("visits", "stage")
        self._open("visited_on")
        required = self.policy["process_visits_per_station"]
        if self.visits_done(station_id) >= required:
            # R-EVAL-1: the rubric fixes the number of unannounced visits a station receives in the
            # service year; a further visit is refused, never recorded as "done 5 of 4".
            raise RuleViolation(
                f"该站点本年度过程评估的 {required} 次不打招呼走访已全部完成 (the rubric requires {required} "
                "unannounced visits per station in the service year; all are recorded, a further one is refused)",
                rule="R-EVAL-1",
                field="station_id",
            )
        done = self.visits_done(station_id) + 1
        self._visited(
            visit_id=visit_id, contract_id=self.contract_id, station_id=station_id, visited_on=visited_on,
            evaluator_org=self.evaluator_org, member_id=member_id, credential_no=credential_no,
            signed_by=signed_by, findings=findings, visits_done=done,
            visits_required=self.policy["process_visits_per_station"],
        )
        return done

    @event("ProcessVisitRecorded")
    def _visited(
        self, visit_id: str, contract_id: str, station_id: str, visited_on: date, evaluator_org: str, member_id: str,
        credential_no: str, signed_by: dict[str, str], findings: str, visits_done: int, visits_required: int,
    ) -> None:
        self.visits.append({
            "visit_id": visit_id, "station_id": station_id, "visited_on": visited_on, "member_id": member_id,
            "credential_no": credential_no, "signed_by": signed_by, "findings": findings,
        })
        if all(self.visits_done(s) >= visits_required for s in self.station_ids):
            self.steps["visits"]["done_on"] = self.steps["visits"]["done_on"] or visited_on

    # --- survey, item scores, spot-check deductions ------------------------------------
    def record_survey(self, surveyed_on: date, respondents: int, score: Decimal, group_scores: dict[str, Decimal]) -> None:
        self._open("surveyed_on")
        if self.survey is not None:
            raise RuleViolation("this evaluation's satisfaction survey is already recorded", rule="R-EVAL-4", field="surveyed_on")
        self._surveyed(
            contract_id=self.contract_id, surveyed_on=surveyed_on, respondents=respondents, score=score, group_scores=group_scores
        )

    @event("SurveyRecorded")
    def _surveyed(
        self, contract_id: str, surveyed_on: date, respondents: int, score: Decimal, group_scores: dict[str, Decimal]
    ) -> None:
        self.survey = {"surveyed_on": surveyed_on, "respondents": respondents, "score": score, "group_scores": group_scores}

    def score_item(self, item_code: str, score: Decimal, max_score: Decimal, scored_on: date, note: str) -> None:
        self._open("scores")
        self._scored(
            contract_id=self.contract_id, item_code=item_code, score=score, max_score=max_score, scored_on=scored_on, note=note
        )

    @event("ItemScored")
    def _scored(self, contract_id: str, item_code: str, score: Decimal, max_score: Decimal, scored_on: date, note: str) -> None:
        self.scores[item_code] = {"score": score, "max_score": max_score, "scored_on": scored_on, "note": note}

    def deduct(self, found_on: date, points: Decimal, reason: str) -> None:
        """R-EVAL-5: a spot-check (察访核验) finding, subtracted from the total at conclusion."""
        self._open("points")
        self._deducted(found_on=found_on, points=points, reason=reason)

    @event("SpotCheckDeducted")
    def _deducted(self, found_on: date, points: Decimal, reason: str) -> None:
        self.deductions.append({"found_on": found_on, "points": points, "reason": reason})

    # --- conclusion (R-EVAL-6, R-EVAL-9) -----------------------------------------------
    def conclude(
        self,
        concluded_on: date,
        score: Decimal,
        thresholds: dict[str, Decimal],
        breakdown: dict[str, Any],
        fraud_found: bool,
        fraud_details: str | None,
        calendar: WorkdayCalendar,
    ) -> None:
        self._open("concluded_on")
        if concluded_on < self.scheduled_on:
            raise RuleViolation(
                f"the report cannot precede the evaluation scheduled on {self.scheduled_on}", rule="R-EVAL-3", field="concluded_on"
            )
        if fraud_found and not fraud_details:
            raise RuleViolation("a fraud finding states what was found", rule="R-EVAL-9", field="fraud_details")
        grade, passed = grade_for(score, thresholds)
        if fraud_found:  # 弄虚作假 fails the evaluation whatever the score
            grade, passed = "不合格", False
        feedback = calendar.add_workdays(concluded_on, FEEDBACK_WORKING_DAYS)
        appeal = calendar.add_workdays(concluded_on, self.policy["appeal_working_days"])
        self._concluded(
            contract_id=self.contract_id, provider_id=self.provider_id, stage=self.stage, score=score, grade=grade,
            passed=passed, rubric_id=self.rubric_id, rubric_version=self.rubric_version, concluded_on=concluded_on,
            fraud_found=fraud_found, fraud_details=fraud_details, breakdown=breakdown,
            report_late="report" in self.steps and concluded_on > self.current_steps(calendar)["report"]["due_on"],
            feedback_due=_due(feedback), appeal_due_on=appeal.on,
        )

    @event("Concluded")
    def _concluded(
        self, contract_id: str, provider_id: str, stage: str, score: Decimal, grade: str, passed: bool, rubric_id: str,
        rubric_version: int, concluded_on: date, fraud_found: bool, fraud_details: str | None, breakdown: dict[str, Any],
        report_late: bool, feedback_due: dict[str, Any], appeal_due_on: date,
    ) -> None:
        self.conclusion = {
            "score": score, "grade": grade, "passed": passed, "concluded_on": concluded_on, "fraud_found": fraud_found,
            "fraud_details": fraud_details, "breakdown": breakdown, "report_late": report_late, "appeal_due_on": appeal_due_on,
        }
        if "report" in self.steps:
            self.steps["report"]["done_on"] = concluded_on
            # Feedback is due 5 working days after the report actually delivered (R-EVAL-3).
            self.steps["feedback"] = dict(feedback_due)

    def record_feedback(self, agreed_on: date, notes: str, party: str, calendar: WorkdayCalendar | None = None) -> None:
        step = self._step("feedback", "stage", calendar)
        if self.conclusion is None:
            raise RuleViolation("feedback follows the evaluation report", rule="R-EVAL-3", field="agreed_on")
        if self.feedback is not None:
            raise RuleViolation("feedback was already recorded", rule="R-EVAL-3", field="agreed_on")
        if agreed_on < self.conclusion["concluded_on"]:
            raise RuleViolation("feedback cannot precede the report", rule="R-EVAL-3", field="agreed_on")
        self._feedback(agreed_on=agreed_on, notes=notes, party=party, late=agreed_on > step["due_on"])

    @event("FeedbackRecorded")
    def _feedback(self, agreed_on: date, notes: str, party: str, late: bool) -> None:
        self.feedback = {"agreed_on": agreed_on, "notes": notes, "party": party, "late": late}
        self.steps["feedback"]["done_on"] = agreed_on

    # --- appeal: once, against a failed result, within the window ------------------------
    def appeal_due(self, calendar: WorkdayCalendar | None) -> date | None:
        """The last day to appeal (R-EVAL-6): the policy's working days after the conclusion, counted
        with ``calendar`` (the official years known now, R-FIN-6); ``None`` gives the date recorded."""
        if self.conclusion is None:
            return None
        if calendar is None:
            return self.conclusion["appeal_due_on"]
        return calendar.add_workdays(self.conclusion["concluded_on"], self.policy["appeal_working_days"]).on

    def lodge_appeal(self, appealed_on: date, reason: str, calendar: WorkdayCalendar | None = None) -> None:
        if self.conclusion is None:
            raise RuleViolation("only a concluded evaluation can be appealed", rule="R-EVAL-6", field="appealed_on")
        if self.appeal is not None:
            raise RuleViolation("an evaluation can be appealed once", rule="R-EVAL-6", field="appealed_on")
        if self.conclusion["passed"]:
            raise RuleViolation("only a failed evaluation (不合格) can be appealed", rule="R-EVAL-6", field="appealed_on")
        due = self.appeal_due(calendar)
        if not self.conclusion["concluded_on"] <= appealed_on <= due:
            raise RuleViolation(
                f"the appeal window runs from {self.conclusion['concluded_on']} to {due}", rule="R-EVAL-6", field="appealed_on"
            )
        self._appealed(contract_id=self.contract_id, appealed_on=appealed_on, reason=reason)

    @event("Appealed")
    def _appealed(self, contract_id: str, appealed_on: date, reason: str) -> None:
        self.appeal = {"appealed_on": appealed_on, "reason": reason, "decided_on": None}

    def decide_appeal(
        self, upheld: bool, revised_score: Decimal | None, decided_on: date, reason: str, thresholds: dict[str, Decimal]
    ) -> None:
        if self.appeal is None:
            raise RuleViolation("there is no appeal to decide", rule="R-EVAL-6", field="upheld")
        if self.appeal["decided_on"] is not None:
            raise RuleViolation("the appeal was already decided", rule="R-EVAL-6", field="upheld")
        if decided_on < self.appeal["appealed_on"]:
            raise RuleViolation("a decision cannot precede the appeal", rule="R-EVAL-6", field="decided_on")
        assert self.conclusion is not None
        score, grade, passed = self.conclusion["score"], self.conclusion["grade"], self.conclusion["passed"]
        if upheld:
            if revised_score is None:
                raise RuleViolation("an upheld appeal states the revised score", rule="R-EVAL-6", field="revised_score")
            score = revised_score
            grade, passed = grade_for(score, thresholds)
        elif revised_score is not None:
            raise RuleViolation("a dismissed appeal keeps the concluded score", rule="R-EVAL-6", field="revised_score")
        self._appeal_decided(
            contract_id=self.contract_id, provider_id=self.provider_id, stage=self.stage, upheld=upheld,
            score=score, grade=grade, passed=passed, decided_on=decided_on, reason=reason,
        )

    @event("AppealDecided")
    def _appeal_decided(
        self, contract_id: str, provider_id: str, stage: str, upheld: bool, score: Decimal, grade: str, passed: bool,
        decided_on: date, reason: str,
    ) -> None:
        assert self.appeal is not None
        self.appeal.update(upheld=upheld, score=score, grade=grade, passed=passed, decided_on=decided_on, decision=reason)
