"""An evaluation (评估) of one contract at one stage (R-EVAL-1), pinned to a rubric version (R-EVAL-2),
with its working-day deadlines (R-EVAL-3), visits, survey, scores, deductions, conclusion and appeal."""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from evaluation.domainmodel.rubric import RubricPolicy
from evaluation.domainmodel.scoring import Grade, grade_for
from shared.rules import RuleViolation
from shared.workdays import DueDate, WorkdayCalendar


class Stage(StrEnum):
    """R-EVAL-1: unannounced process visits, the mid-term, the final and the annual evaluation."""

    PROCESS = "process"
    MIDTERM = "midterm"
    FINAL = "final"
    ANNUAL = "annual"


class EvaluationStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONCLUDED = "concluded"
    APPEALED = "appealed"
    APPEAL_DECIDED = "appeal_decided"


class StepStatus(StrEnum):
    DONE = "done"
    OVERDUE = "overdue"
    PENDING = "pending"


STAGES: tuple[str, ...] = tuple(s.value for s in Stage)
ON_SITE_STAGES: tuple[str, ...] = (Stage.MIDTERM.value, Stage.FINAL.value, Stage.ANNUAL.value)
STAGE_NAMES = {"process": "过程评估", "midterm": "中期评估", "final": "末期评估", "annual": "年度绩效评估"}
# The stages as DOMAIN.md and the seeds write them (mid-term, 中期评估, 终期评估 …), recorded by their code.
STAGE_ALIASES = {
    **{name: code for code, name in STAGE_NAMES.items()},
    **{code: code for code in STAGE_NAMES},
    "mid-term": "midterm", "mid_term": "midterm", "中期": "midterm", "过程": "process", "末期": "final",
    "终期": "final", "终期评估": "final", "年度": "annual", "年度评估": "annual", "年度绩效": "annual",
}


def canonical_stage(value: str) -> str:
    """A stage by its code (an unknown value is returned as given, to be refused)."""
    value = value.strip()
    return STAGE_ALIASES.get(value, STAGE_ALIASES.get(value.lower(), value))

# R-EVAL-3 in working days: (step, counted from, direction, days).
ON_SITE_STEPS = (
    ("self_evaluation", "scheduled_on", -1, 10),  # 自评报告 10 working days before the site visit
    ("review", "scheduled_on", -1, 5),  # the evaluator reviews it 5 working days before
    ("report", "scheduled_on", +1, 20),  # evaluation report 20 working days after
    ("feedback", "report", +1, 5),  # feedback and consensus 5 working days after the report
)
FEEDBACK_WORKING_DAYS = 5
# The order the steps run in, as an evaluation lists them (its stored record keeps them by name only).
STEP_ORDER = (*(name for name, *_ in ON_SITE_STEPS), "visits")


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
        raise RuleViolation(f"stage must be one of {STAGES}", rule="R-EVAL-1", field="stage", facts={"code": "stage_unknown", "stage": stage})
    earliest, latest = stage_window(stage, period_start, period_end)
    if not earliest <= scheduled_on <= latest:
        raise RuleViolation(
            f"a {stage} evaluation ({STAGE_NAMES[stage]}) of this contract falls between {earliest} and {latest}",
            rule="R-EVAL-1",
            field="scheduled_on",
            facts={"code": "outside_stage_window", "stage": stage, "date": scheduled_on.isoformat(), "earliest": earliest.isoformat(), "latest": latest.isoformat()},
        )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


class _Record:
    """A frozen record of the evaluation, shown as the dict the routes answer (its fields in order)."""

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Step(_Record):
    """A deadline of R-EVAL-3 (or the process stage's visits), and the day it was done."""

    due_on: date
    provisional: bool
    done_on: date | None = None

    @classmethod
    def of(cls, step: Mapping[str, Any]) -> Step:
        return cls(step["due_on"], bool(step["provisional"]), step.get("done_on"))

    def status(self, today: date) -> StepStatus:
        if self.done_on is not None:
            return StepStatus.DONE
        return StepStatus.OVERDUE if self.due_on < today else StepStatus.PENDING

    @property
    def late(self) -> bool:
        return self.done_on is not None and self.done_on > self.due_on


@dataclass(frozen=True)
class SelfEvaluation(_Record):
    submitted_on: date
    summary: str
    self_scores: Mapping[str, Decimal]
    late: bool


@dataclass(frozen=True)
class Review(_Record):
    reviewed_on: date
    notes: str
    late: bool


@dataclass(frozen=True)
class Visit(_Record):
    """An unannounced process visit (R-EVAL-1, R-EVAL-10)."""

    visit_id: str
    station_id: str
    visited_on: date
    member_id: str
    credential_no: str
    signed_by: Mapping[str, str]
    findings: str


@dataclass(frozen=True)
class Survey(_Record):
    """The satisfaction survey's published (rounded) scores (R-EVAL-4)."""

    surveyed_on: date
    respondents: int
    score: Decimal
    group_scores: Mapping[str, Decimal]


@dataclass(frozen=True)
class ItemScore(_Record):
    score: Decimal
    max_score: Decimal
    scored_on: date
    note: str


@dataclass(frozen=True)
class Deduction(_Record):
    """A spot-check (察访核验) finding (R-EVAL-5)."""

    found_on: date
    points: Decimal
    reason: str


@dataclass(frozen=True)
class Conclusion(_Record):
    score: Decimal
    grade: Grade
    passed: bool
    concluded_on: date
    fraud_found: bool
    fraud_details: str | None
    serious_breach_found: bool
    serious_breach_details: str | None
    breakdown: Mapping[str, Any]
    report_late: bool
    appeal_due_on: date


@dataclass(frozen=True)
class Feedback(_Record):
    agreed_on: date
    notes: str
    party: str
    late: bool


@dataclass(frozen=True)
class AppealRecord:
    """The appeal (R-EVAL-6) and, once decided, the decision and the result it stands at."""

    appealed_on: date
    reason: str
    decided_on: date | None = None
    upheld: bool | None = None
    score: Decimal | None = None
    grade: Grade | None = None
    passed: bool | None = None
    decision: str | None = None

    @property
    def decided(self) -> bool:
        return self.decided_on is not None

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"appealed_on": self.appealed_on, "reason": self.reason, "decided_on": self.decided_on}
        if self.decided:
            shown.update(upheld=self.upheld, score=self.score, grade=_plain(self.grade), passed=self.passed,
                         decision=self.decision)
        return shown


@dataclass(frozen=True)
class Result(_Record):
    """The standing result: the conclusion, or an upheld appeal's revision of it."""

    score: Decimal
    grade: Grade
    passed: bool
    concluded_on: date
    fraud_found: bool
    serious_breach_found: bool


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


def step_status(step: Step, today: date) -> StepStatus:
    """``done``, ``overdue`` (not done, due date passed) or ``pending``."""
    return step.status(today)


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
        self.station_ids: tuple[str, ...] = tuple(station_ids)
        self.stage = Stage(stage)
        self.evaluator_org = evaluator_org
        self.scheduled_on = scheduled_on
        self.rubric_id = rubric_id
        self.rubric_version = rubric_version
        self.policy = RubricPolicy.of(policy)
        # Each step replaced as it is done; the event keeps the plan.
        self.steps: dict[str, Step] = {name: Step.of(step) for name, step in steps.items()}
        self.self_evaluation: SelfEvaluation | None = None
        self.review: Review | None = None
        self.visits: tuple[Visit, ...] = ()
        self.survey: Survey | None = None
        self.scores: dict[str, ItemScore] = {}
        self.deductions: tuple[Deduction, ...] = ()
        self.conclusion: Conclusion | None = None
        self.feedback: Feedback | None = None
        self.appeal: AppealRecord | None = None

    # --- state ---------------------------------------------------------------------
    @property
    def status(self) -> EvaluationStatus:
        if self.appeal is not None:
            return EvaluationStatus.APPEAL_DECIDED if self.appeal.decided else EvaluationStatus.APPEALED
        return EvaluationStatus.CONCLUDED if self.conclusion is not None else EvaluationStatus.SCHEDULED

    @property
    def result(self) -> Result | None:
        """The standing result: the conclusion, or the appeal's revision of it."""
        c = self.conclusion
        if c is None:
            return None
        score, grade, passed = c.score, c.grade, c.passed
        if self.appeal is not None and self.appeal.upheld:
            assert self.appeal.score is not None and self.appeal.grade is not None and self.appeal.passed is not None
            score, grade, passed = self.appeal.score, self.appeal.grade, self.appeal.passed
        return Result(score, grade, passed, c.concluded_on, c.fraud_found, c.serious_breach_found)

    def visits_done(self, station_id: str, through: str | None = None) -> int:
        """The station's visits recorded; ``through``: up to and including that visit (the count it
        was recorded with, as a repeated Idempotency-Key answers it)."""
        done = 0
        for v in self.visits:
            done += v.station_id == station_id
            if v.visit_id == through:
                break
        return done

    def _done(self, name: str, on: date) -> None:
        self.steps = {**self.steps, name: replace(self.steps[name], done_on=on)}

    def _open(self, field: str) -> None:
        if self.conclusion is not None:
            raise RuleViolation("the evaluation is concluded: its record is closed", rule="R-EVAL-6", field=field, facts={"code": "evaluation_closed"})

    def current_steps(self, calendar: WorkdayCalendar | None) -> dict[str, Step]:
        """The R-EVAL-3 deadlines counted with ``calendar`` (the official years known now, R-FIN-6):
        a deadline planned as provisional moves, and stops being provisional, once its year's calendar
        is loaded. The stored plan keeps what was known at scheduling; ``None`` returns it."""
        if calendar is None or self.stage not in ON_SITE_STAGES:
            return self.steps
        plan = plan_steps(self.stage, self.scheduled_on, self.scheduled_on, calendar)
        if self.conclusion is not None and "feedback" in self.steps:
            # Feedback is due 5 working days after the report actually delivered (R-EVAL-3).
            plan["feedback"] = _due(calendar.add_workdays(self.conclusion.concluded_on, FEEDBACK_WORKING_DAYS))
        return {
            name: replace(Step.of(plan[name]), done_on=step.done_on) if name in plan else step
            for name, step in self.steps.items()
        }

    def _step(self, name: str, field: str, calendar: WorkdayCalendar | None = None) -> Step:
        step = self.current_steps(calendar).get(name)
        if step is None:
            # Unannounced visits belong to the process stage (R-EVAL-1); the other steps to on-site stages (R-EVAL-3).
            rule = "R-EVAL-1" if name == "visits" else "R-EVAL-3"
            raise RuleViolation(f"a {self.stage} evaluation has no {name.replace('_', '-')} step", rule=rule, field=field, facts={"code": "no_such_step", "stage": str(self.stage), "step": name})
        return step

    # --- self-evaluation and its review (R-EVAL-3) ------------------------------------
    def submit_self_evaluation(
        self, submitted_on: date, summary: str, self_scores: dict[str, Decimal], calendar: WorkdayCalendar | None = None
    ) -> None:
        step = self._step("self_evaluation", "stage", calendar)
        self._open("submitted_on")
        if self.self_evaluation is not None:
            raise RuleViolation("the self-evaluation report was already submitted", rule="R-EVAL-3", field="submitted_on", facts={"code": "self_evaluation_submitted"})
        self._self_evaluated(
            contract_id=self.contract_id, submitted_on=submitted_on, summary=summary,
            self_scores=self_scores, late=submitted_on > step.due_on,
        )

    @event("SelfEvaluationSubmitted")
    def _self_evaluated(
        self, contract_id: str, submitted_on: date, summary: str, self_scores: dict[str, Decimal], late: bool
    ) -> None:
        self.self_evaluation = SelfEvaluation(submitted_on, summary, dict(self_scores), late)
        self._done("self_evaluation", submitted_on)

    def review_self_evaluation(self, reviewed_on: date, notes: str, calendar: WorkdayCalendar | None = None) -> None:
        step = self._step("review", "stage", calendar)
        self._open("reviewed_on")
        if self.self_evaluation is None:
            raise RuleViolation("no self-evaluation report to review yet", rule="R-EVAL-3", field="reviewed_on", facts={"code": "no_self_evaluation"})
        if self.review is not None:
            raise RuleViolation("the self-evaluation was already reviewed", rule="R-EVAL-3", field="reviewed_on", facts={"code": "self_evaluation_reviewed"})
        if reviewed_on < self.self_evaluation.submitted_on:
            raise RuleViolation("a review cannot precede the report it reviews", rule="R-EVAL-3", field="reviewed_on", facts={"code": "review_before_report", "date": reviewed_on.isoformat(), "submitted_on": self.self_evaluation.submitted_on.isoformat()})
        self._reviewed(reviewed_on=reviewed_on, notes=notes, late=reviewed_on > step.due_on)

    @event("SelfEvaluationReviewed")
    def _reviewed(self, reviewed_on: date, notes: str, late: bool) -> None:
        self.review = Review(reviewed_on, notes, late)
        self._done("review", reviewed_on)

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
        required = self.policy.process_visits_per_station
        if self.visits_done(station_id) >= required:
            # R-EVAL-1: the rubric fixes the number of unannounced visits a station receives in the
            # service year; a further visit is refused, never recorded as "done 5 of 4".
            raise RuleViolation(
                f"该站点本年度过程评估的 {required} 次不打招呼走访已全部完成 (the rubric requires {required} "
                "unannounced visits per station in the service year; all are recorded, a further one is refused)",
                rule="R-EVAL-1",
                field="station_id",
                facts={"code": "visits_complete", "station_id": station_id, "required": required},
            )
        done = self.visits_done(station_id) + 1
        self._visited(
            visit_id=visit_id, contract_id=self.contract_id, station_id=station_id, visited_on=visited_on,
            evaluator_org=self.evaluator_org, member_id=member_id, credential_no=credential_no,
            signed_by=signed_by, findings=findings, visits_done=done,
            visits_required=self.policy.process_visits_per_station,
        )
        return done

    @event("ProcessVisitRecorded")
    def _visited(
        self, visit_id: str, contract_id: str, station_id: str, visited_on: date, evaluator_org: str, member_id: str,
        credential_no: str, signed_by: dict[str, str], findings: str, visits_done: int, visits_required: int,
    ) -> None:
        self.visits = (
            *self.visits, Visit(visit_id, station_id, visited_on, member_id, credential_no, dict(signed_by), findings),
        )
        if all(self.visits_done(s) >= visits_required for s in self.station_ids):
            self._done("visits", self.steps["visits"].done_on or visited_on)

    # --- survey, item scores, spot-check deductions ------------------------------------
    def record_survey(self, surveyed_on: date, respondents: int, score: Decimal, group_scores: dict[str, Decimal]) -> None:
        self._open("surveyed_on")
        if self.survey is not None:
            raise RuleViolation("this evaluation's satisfaction survey is already recorded", rule="R-EVAL-4", field="surveyed_on", facts={"code": "survey_recorded"})
        self._surveyed(
            contract_id=self.contract_id, surveyed_on=surveyed_on, respondents=respondents, score=score, group_scores=group_scores
        )

    @event("SurveyRecorded")
    def _surveyed(
        self, contract_id: str, surveyed_on: date, respondents: int, score: Decimal, group_scores: dict[str, Decimal]
    ) -> None:
        self.survey = Survey(surveyed_on, respondents, score, dict(group_scores))

    def score_item(self, item_code: str, score: Decimal, max_score: Decimal, scored_on: date, note: str) -> None:
        self._open("scores")
        self._scored(
            contract_id=self.contract_id, item_code=item_code, score=score, max_score=max_score, scored_on=scored_on, note=note
        )

    @event("ItemScored")
    def _scored(self, contract_id: str, item_code: str, score: Decimal, max_score: Decimal, scored_on: date, note: str) -> None:
        self.scores = {**self.scores, item_code: ItemScore(score, max_score, scored_on, note)}

    def deduct(self, found_on: date, points: Decimal, reason: str) -> None:
        """R-EVAL-5: a spot-check (察访核验) finding, subtracted from the total at conclusion."""
        self._open("points")
        self._deducted(found_on=found_on, points=points, reason=reason)

    @event("SpotCheckDeducted")
    def _deducted(self, found_on: date, points: Decimal, reason: str) -> None:
        self.deductions = (*self.deductions, Deduction(found_on, points, reason))

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
        serious_breach_found: bool = False,
        serious_breach_details: str | None = None,
    ) -> None:
        """R-EVAL-9: a fraud (弄虚作假) or serious-breach (严重违约) finding states what was found and
        fails the evaluation whatever the score; registry terminates the contract and bans the provider."""
        self._open("concluded_on")
        if concluded_on < self.scheduled_on:
            raise RuleViolation(
                f"the report cannot precede the evaluation scheduled on {self.scheduled_on}", rule="R-EVAL-3", field="concluded_on",
                facts={"code": "report_before_scheduled", "date": concluded_on.isoformat(), "scheduled_on": self.scheduled_on.isoformat()},
            )
        if fraud_found and not fraud_details:
            raise RuleViolation("a fraud finding states what was found", rule="R-EVAL-9", field="fraud_details", facts={"code": "fraud_details_missing"})
        if serious_breach_found and not serious_breach_details:
            raise RuleViolation(
                "a serious-breach finding (严重违约) states what was found", rule="R-EVAL-9", field="serious_breach_details",
                facts={"code": "breach_details_missing"},
            )
        grade, passed = grade_for(score, thresholds)
        if fraud_found or serious_breach_found:  # 弄虚作假 / 严重违约 fail the evaluation whatever the score
            grade, passed = Grade.FAILED, False
        feedback = calendar.add_workdays(concluded_on, FEEDBACK_WORKING_DAYS)
        appeal = calendar.add_workdays(concluded_on, self.policy.appeal_working_days)
        self._concluded(
            contract_id=self.contract_id, provider_id=self.provider_id, stage=self.stage.value, score=score, grade=grade.value,
            passed=passed, rubric_id=self.rubric_id, rubric_version=self.rubric_version, concluded_on=concluded_on,
            fraud_found=fraud_found, fraud_details=fraud_details, breakdown=breakdown,
            serious_breach_found=serious_breach_found,
            serious_breach_details=serious_breach_details if serious_breach_found else None,
            report_late="report" in self.steps and concluded_on > self.current_steps(calendar)["report"].due_on,
            feedback_due=_due(feedback), appeal_due_on=appeal.on,
        )

    class Concluded(Aggregate.Event):
        """The evaluation concluded. v2 adds the serious-breach finding (R-EVAL-9); a v1 record loads
        with none found (:meth:`upcast_v1_v2`)."""

        class_version = 2
        contract_id: str
        provider_id: str
        stage: str
        score: Decimal
        grade: str
        passed: bool
        rubric_id: str
        rubric_version: int
        concluded_on: date
        fraud_found: bool
        fraud_details: str | None
        breakdown: dict[str, Any]
        serious_breach_found: bool
        serious_breach_details: str | None
        report_late: bool
        feedback_due: dict[str, Any]
        appeal_due_on: date

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("serious_breach_found", False)
            state.setdefault("serious_breach_details", None)

    @event(Concluded)
    def _concluded(
        self, contract_id: str, provider_id: str, stage: str, score: Decimal, grade: str, passed: bool, rubric_id: str,
        rubric_version: int, concluded_on: date, fraud_found: bool, fraud_details: str | None, breakdown: dict[str, Any],
        serious_breach_found: bool, serious_breach_details: str | None,
        report_late: bool, feedback_due: dict[str, Any], appeal_due_on: date,
    ) -> None:
        self.conclusion = Conclusion(
            score=score, grade=Grade(grade), passed=passed, concluded_on=concluded_on, fraud_found=fraud_found,
            fraud_details=fraud_details, serious_breach_found=serious_breach_found,
            serious_breach_details=serious_breach_details, breakdown=breakdown, report_late=report_late,
            appeal_due_on=appeal_due_on,
        )
        if "report" in self.steps:
            self._done("report", concluded_on)
            # Feedback is due 5 working days after the report actually delivered (R-EVAL-3).
            self.steps = {**self.steps, "feedback": Step.of(feedback_due)}

    def record_feedback(self, agreed_on: date, notes: str, party: str, calendar: WorkdayCalendar | None = None) -> None:
        step = self._step("feedback", "stage", calendar)
        if self.conclusion is None:
            raise RuleViolation("feedback follows the evaluation report", rule="R-EVAL-3", field="agreed_on", facts={"code": "feedback_before_report"})
        if self.feedback is not None:
            raise RuleViolation("feedback was already recorded", rule="R-EVAL-3", field="agreed_on", facts={"code": "feedback_recorded"})
        if agreed_on < self.conclusion.concluded_on:
            raise RuleViolation("feedback cannot precede the report", rule="R-EVAL-3", field="agreed_on", facts={"code": "feedback_precedes_report", "date": agreed_on.isoformat(), "concluded_on": self.conclusion.concluded_on.isoformat()})
        self._feedback(agreed_on=agreed_on, notes=notes, party=party, late=agreed_on > step.due_on)

    @event("FeedbackRecorded")
    def _feedback(self, agreed_on: date, notes: str, party: str, late: bool) -> None:
        self.feedback = Feedback(agreed_on, notes, party, late)
        self._done("feedback", agreed_on)

    # --- appeal: once, against a failed result, within the window ------------------------
    def appeal_due(self, calendar: WorkdayCalendar | None) -> date | None:
        """The last day to appeal (R-EVAL-6): the policy's working days after the conclusion, counted
        with ``calendar`` (the official years known now, R-FIN-6); ``None`` gives the date recorded."""
        if self.conclusion is None:
            return None
        if calendar is None:
            return self.conclusion.appeal_due_on
        return calendar.add_workdays(self.conclusion.concluded_on, self.policy.appeal_working_days).on

    def lodge_appeal(self, appealed_on: date, reason: str, calendar: WorkdayCalendar | None = None) -> None:
        if self.conclusion is None:
            raise RuleViolation("only a concluded evaluation can be appealed", rule="R-EVAL-6", field="appealed_on", facts={"code": "appeal_not_concluded"})
        if self.appeal is not None:
            raise RuleViolation("an evaluation can be appealed once", rule="R-EVAL-6", field="appealed_on", facts={"code": "appeal_twice"})
        if self.conclusion.passed:
            raise RuleViolation("only a failed evaluation (不合格) can be appealed", rule="R-EVAL-6", field="appealed_on", facts={"code": "appeal_passed"})
        due = self.appeal_due(calendar)
        assert due is not None
        if not self.conclusion.concluded_on <= appealed_on <= due:
            raise RuleViolation(
                f"the appeal window runs from {self.conclusion.concluded_on} to {due}", rule="R-EVAL-6", field="appealed_on",
                facts={"code": "appeal_window", "date": appealed_on.isoformat(), "earliest": self.conclusion.concluded_on.isoformat(), "latest": due.isoformat()},
            )
        self._appealed(contract_id=self.contract_id, appealed_on=appealed_on, reason=reason)

    @event("Appealed")
    def _appealed(self, contract_id: str, appealed_on: date, reason: str) -> None:
        self.appeal = AppealRecord(appealed_on, reason)

    def decide_appeal(
        self, upheld: bool, revised_score: Decimal | None, decided_on: date, reason: str, thresholds: dict[str, Decimal]
    ) -> None:
        if self.appeal is None:
            raise RuleViolation("there is no appeal to decide", rule="R-EVAL-6", field="upheld", facts={"code": "no_appeal"})
        if self.appeal.decided:
            raise RuleViolation("the appeal was already decided", rule="R-EVAL-6", field="upheld", facts={"code": "appeal_decided"})
        if decided_on < self.appeal.appealed_on:
            raise RuleViolation("a decision cannot precede the appeal", rule="R-EVAL-6", field="decided_on", facts={"code": "decision_before_appeal", "date": decided_on.isoformat(), "appealed_on": self.appeal.appealed_on.isoformat()})
        assert self.conclusion is not None
        score, grade, passed = self.conclusion.score, self.conclusion.grade, self.conclusion.passed
        if upheld:
            if revised_score is None:
                raise RuleViolation("an upheld appeal states the revised score", rule="R-EVAL-6", field="revised_score", facts={"code": "revised_score_missing"})
            score = revised_score
            grade, passed = grade_for(score, thresholds)
        elif revised_score is not None:
            raise RuleViolation("a dismissed appeal keeps the concluded score", rule="R-EVAL-6", field="revised_score", facts={"code": "revised_score_dismissed"})
        self._appeal_decided(
            contract_id=self.contract_id, provider_id=self.provider_id, stage=self.stage.value, upheld=upheld,
            score=score, grade=grade.value, passed=passed, decided_on=decided_on, reason=reason,
        )

    @event("AppealDecided")
    def _appeal_decided(
        self, contract_id: str, provider_id: str, stage: str, upheld: bool, score: Decimal, grade: str, passed: bool,
        decided_on: date, reason: str,
    ) -> None:
        assert self.appeal is not None
        self.appeal = replace(
            self.appeal, upheld=upheld, score=score, grade=Grade(grade), passed=passed, decided_on=decided_on, decision=reason
        )
