"""Evaluation domain rules without servers: rubric versions, timing windows, working-day deadlines,
independence, the conclusion and the single appeal (R-EVAL-1 … R-EVAL-9)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from evaluation.domainmodel import (
    DEFAULT_THRESHOLDS,
    DEFAULTS,
    Evaluation,
    EvaluatorOrg,
    Rubric,
    Step,
    check_rubric,
    check_timing,
    plan_steps,
    step_status,
)

from shared.rules import RuleViolation
from shared.workdays import WorkdayCalendar

CAL = WorkdayCalendar()
D = Decimal


def refused(fn, *args, **kwargs) -> tuple[str | None, str | None]:
    with pytest.raises(RuleViolation) as exc:
        fn(*args, **kwargs)
    return exc.value.rule, exc.value.field


def default_content(**overrides):
    parts = {k: overrides.get(k, DEFAULTS[k]) for k in ("dimensions", "survey", "thresholds")}
    return check_rubric(parts["dimensions"], parts["survey"], parts["thresholds"], overrides.get("policy", {}))


def test_the_default_rubric_has_the_five_dimensions_weighted_to_100():
    content = default_content()
    assert [d["name"] for d in content["dimensions"]] == ["中心基本设置", "运营管理能力", "项目运作状况", "项目成效", "经费使用及财务管理"]
    assert sum(d["weight"] for d in content["dimensions"]) == 100
    assert content["thresholds"] == {"优秀": D(90), "良好": D(80), "合格": D(60)}
    assert content["policy"] == {"process_visits_per_station": 4, "appeal_working_days": 10}


def test_rubric_content_is_checked():
    dims = [dict(d) for d in DEFAULTS["dimensions"]]
    dims[0] = {**dims[0], "weight": D(16)}
    assert refused(default_content, dimensions=dims) == ("R-EVAL-2", "dimensions")
    dims[0] = {**DEFAULTS["dimensions"][0], "items": []}
    assert refused(default_content, dimensions=dims) == ("R-EVAL-2", "dimensions.0.items")
    dims[0] = {**DEFAULTS["dimensions"][0], "items": [{"code": "finance.vouchers", "name": "x", "max_score": D(15)}]}
    assert refused(default_content, dimensions=dims) == ("R-EVAL-2", "dimensions.4.items.1.code")
    assert refused(default_content, survey={"groups": []}) == ("R-EVAL-4", "survey.groups")
    assert refused(default_content, thresholds={"优秀": 90, "良好": 90, "合格": 60}) == ("R-EVAL-6", "thresholds.良好")
    assert refused(default_content, thresholds={"优秀": 90, "合格": 60}) == ("R-EVAL-6", "thresholds")
    assert refused(default_content, policy={"visits": 3}) == ("R-EVAL-2", "policy")


def test_versions_are_kept_immutable_side_by_side():
    rubric = Rubric(scope="province")
    assert rubric.publish("2026版", default_content()) == 1
    assert rubric.publish("2027版", default_content(thresholds={"优秀": 95, "良好": 85, "合格": 70})) == 2
    assert rubric.version_content(1).thresholds["合格"] == D(60)
    assert rubric.version_content(2).thresholds["合格"] == D(70)


@pytest.mark.parametrize(
    ("stage", "day", "ok"),
    [
        # Contract 2025-12-01 … 2026-11-30: mid-point 2026-06-01, window 2026-05-01 … 2026-07-01.
        ("midterm", date(2026, 5, 1), True),
        ("midterm", date(2026, 4, 30), False),
        ("midterm", date(2026, 7, 1), True),
        ("midterm", date(2026, 7, 2), False),
        # Final: a month either side of the end.
        ("final", date(2026, 10, 30), True),
        ("final", date(2026, 10, 29), False),
        ("final", date(2026, 12, 30), True),
        ("final", date(2026, 12, 31), False),
        ("process", date(2025, 12, 1), True),
        ("process", date(2026, 12, 1), False),
    ],
)
def test_stage_timing_windows(stage, day, ok):
    start, end = date(2025, 12, 1), date(2026, 11, 30)
    if ok:
        check_timing(stage, day, start, end)
    else:
        assert refused(check_timing, stage, day, start, end) == ("R-EVAL-1", "scheduled_on")


def test_an_unknown_stage_is_refused():
    assert refused(check_timing, "quarterly", date(2026, 6, 1), date(2025, 12, 1), date(2026, 11, 30)) == ("R-EVAL-1", "stage")


def test_deadlines_count_working_days_across_mid_autumn_and_national_day():
    # On-site mid-term on Mon 2026-10-12. Counting back skips 国庆 (Oct 1–7) and 中秋 (Sep 25)
    # and counts Saturday Oct 10, a 调休 working day.
    steps = plan_steps("midterm", date(2026, 10, 12), date(2027, 3, 31), CAL)
    assert {k: s["due_on"] for k, s in steps.items()} == {
        "self_evaluation": date(2026, 9, 21),  # 10 working days before
        "review": date(2026, 9, 29),  # 5 before
        "report": date(2026, 11, 9),  # 20 after
        "feedback": date(2026, 11, 16),  # 5 after the report
    }
    assert not any(s["provisional"] for s in steps.values())
    # A process evaluation has no self-evaluation; its visits are due by the end of the service year.
    assert plan_steps("process", date(2026, 4, 1), date(2027, 3, 31), CAL) == {
        "visits": {"due_on": date(2027, 3, 31), "provisional": False, "done_on": None}
    }


def test_a_year_without_a_published_calendar_gives_provisional_deadlines():
    steps = plan_steps("final", date(2031, 6, 2), date(2031, 6, 30), CAL)
    assert all(s["provisional"] for s in steps.values())


def make_evaluation(stage: str = "midterm", scheduled_on: date = date(2026, 6, 1), **policy: int) -> Evaluation:
    return Evaluation(
        county="640402", contract_id="c-1", provider_id="p-1", station_ids=["s-1", "s-2"], stage=stage,
        evaluator_org="org-1", scheduled_on=scheduled_on, rubric_id="r-1", rubric_version=1,
        policy={"process_visits_per_station": 2, "appeal_working_days": 10, **policy},
        steps=plan_steps(stage, scheduled_on, date(2026, 11, 30), CAL),
    )


def test_steps_become_overdue_and_late_submissions_are_flagged():
    ev = make_evaluation()
    assert step_status(ev.steps["self_evaluation"], date(2026, 5, 18)) == "pending"
    assert step_status(ev.steps["self_evaluation"], date(2026, 5, 19)) == "overdue"
    ev.submit_self_evaluation(submitted_on=date(2026, 5, 20), summary="自评报告", self_scores={})
    assert ev.self_evaluation.late is True
    assert step_status(ev.steps["self_evaluation"], date(2026, 5, 21)) == "done"
    assert refused(ev.submit_self_evaluation, date(2026, 5, 21), "again", {}) == ("R-EVAL-3", "submitted_on")


def test_a_review_needs_the_report_first():
    ev = make_evaluation()
    assert refused(ev.review_self_evaluation, date(2026, 5, 25), "") == ("R-EVAL-3", "reviewed_on")


def test_process_visits_are_counted_per_station_until_the_required_number():
    ev = make_evaluation("process", date(2025, 12, 1))
    sig = {"name": "张主任", "role": "中心主任"}
    for i, station in enumerate(["s-1", "s-1", "s-2"]):
        ev.record_visit(f"v{i}", station, date(2026, 1, 10 + i), "m-1", "PJ-001", sig, "开放正常")
    assert (ev.visits_done("s-1"), ev.visits_done("s-2")) == (2, 1)
    assert ev.steps["visits"].done_on is None
    ev.record_visit("v3", "s-2", date(2026, 2, 1), "m-1", "PJ-001", sig, "开放正常")
    assert ev.steps["visits"].done_on == date(2026, 2, 1)
    # Only the process stage has unannounced visits.
    assert refused(make_evaluation().record_visit, "v", "s-1", date(2026, 5, 1), "m", "c", sig, "x") == ("R-EVAL-1", "stage")
    # …and a process evaluation has no self-evaluation report.
    assert refused(ev.submit_self_evaluation, date(2026, 2, 1), "自评", {}) == ("R-EVAL-3", "stage")


def conclude(ev: Evaluation, score: str, on: date = date(2026, 6, 10), fraud: bool = False) -> None:
    ev.conclude(
        concluded_on=on, score=D(score), thresholds=DEFAULT_THRESHOLDS, breakdown={},
        fraud_found=fraud, fraud_details="虚报服务人次" if fraud else None, calendar=CAL,
    )


def test_conclusion_grades_and_closes_the_record():
    ev = make_evaluation()
    conclude(ev, "80.00")
    assert (ev.conclusion.grade, ev.conclusion.passed) == ("良好", True)
    assert ev.steps["report"].done_on == date(2026, 6, 10)
    # Feedback is due 5 working days after the report actually delivered.
    assert ev.steps["feedback"].due_on == date(2026, 6, 17)
    assert refused(ev.score_item, "setup.venue", D(5), D(5), date(2026, 6, 11), "") == ("R-EVAL-6", "scores")
    assert refused(conclude, ev, "90") == ("R-EVAL-6", "concluded_on")


def test_a_report_cannot_precede_the_site_visit():
    assert refused(conclude, make_evaluation(), "80", date(2026, 5, 29)) == ("R-EVAL-3", "concluded_on")


def test_fraud_fails_the_evaluation_whatever_the_score():
    ev = make_evaluation()
    conclude(ev, "95.00", fraud=True)
    assert (ev.conclusion.grade, ev.conclusion.passed, ev.conclusion.fraud_found) == ("不合格", False, True)
    with pytest.raises(RuleViolation) as exc:
        make_evaluation().conclude(
            concluded_on=date(2026, 6, 10), score=D(95), thresholds=DEFAULT_THRESHOLDS, breakdown={},
            fraud_found=True, fraud_details=None, calendar=CAL,
        )
    assert (exc.value.rule, exc.value.field) == ("R-EVAL-9", "fraud_details")


def test_a_serious_breach_fails_the_evaluation_and_states_what_was_found():
    ev = make_evaluation()
    ev.conclude(
        concluded_on=date(2026, 6, 10), score=D(95), thresholds=DEFAULT_THRESHOLDS, breakdown={},
        fraud_found=False, fraud_details=None, calendar=CAL,
        serious_breach_found=True, serious_breach_details="擅自将服务转包给第三方",
    )
    c = ev.conclusion
    assert (c.grade, c.passed, c.fraud_found, c.serious_breach_found) == ("不合格", False, False, True)
    assert c.serious_breach_details == "擅自将服务转包给第三方"
    with pytest.raises(RuleViolation) as exc:
        make_evaluation().conclude(
            concluded_on=date(2026, 6, 10), score=D(95), thresholds=DEFAULT_THRESHOLDS, breakdown={},
            fraud_found=False, fraud_details=None, calendar=CAL, serious_breach_found=True,
        )
    assert (exc.value.rule, exc.value.field) == ("R-EVAL-9", "serious_breach_details")
    plain = make_evaluation()
    conclude(plain, "95.00")
    assert (plain.conclusion.serious_breach_found, plain.conclusion.serious_breach_details) == (False, None)


def test_only_a_failed_result_is_appealed_once_within_the_window():
    passed = make_evaluation()
    conclude(passed, "60.00")
    assert refused(passed.lodge_appeal, date(2026, 6, 11), "不服") == ("R-EVAL-6", "appealed_on")

    failed = make_evaluation()
    conclude(failed, "59.99")  # concluded Wed 2026-06-10: 10 working days later is 2026-06-25 (端午 on 06-19)
    assert failed.conclusion.appeal_due_on == date(2026, 6, 25)
    assert refused(failed.lodge_appeal, date(2026, 6, 26), "不服") == ("R-EVAL-6", "appealed_on")
    failed.lodge_appeal(appealed_on=date(2026, 6, 25), reason="满意度调查样本不足")
    assert refused(failed.lodge_appeal, date(2026, 6, 25), "再次申诉") == ("R-EVAL-6", "appealed_on")

    assert refused(failed.decide_appeal, True, None, date(2026, 7, 1), "复核", DEFAULT_THRESHOLDS) == ("R-EVAL-6", "revised_score")
    failed.decide_appeal(upheld=True, revised_score=D("61.50"), decided_on=date(2026, 7, 1), reason="复核", thresholds=DEFAULT_THRESHOLDS)
    assert failed.result.score == D("61.50")
    assert (failed.result.grade, failed.result.passed) == ("合格", True)
    assert failed.conclusion.grade == "不合格"  # the original conclusion stays on record
    assert refused(failed.decide_appeal, False, None, date(2026, 7, 2), "x", DEFAULT_THRESHOLDS) == ("R-EVAL-6", "upheld")


def test_an_evaluator_linked_to_the_provider_or_unaccredited_may_not_evaluate():
    org = EvaluatorOrg(
        county="640402", name="汉达评估中心", certificate_no="PG-1", accredited_until=date(2026, 12, 31),
        linked_provider_ids=["p-linked"],
    )
    org.check_may_evaluate("p-1", date(2026, 6, 1))
    assert refused(org.check_may_evaluate, "p-linked", date(2026, 6, 1)) == ("R-EVAL-7", "evaluator_org")
    assert refused(org.check_may_evaluate, "p-1", date(2027, 1, 1)) == ("R-EVAL-7", "evaluator_org")
    org.declare_link(provider_id="p-1", relation="同一法定代表人")
    assert refused(org.check_may_evaluate, "p-1", date(2026, 6, 1)) == ("R-EVAL-7", "evaluator_org")

    org.accredit_member(member_id="m-1", name="王评估", credential_no="PJ-001", valid_until=date(2026, 3, 31))
    assert org.credential_on("m-1", date(2026, 3, 31), field="member_id") == "PJ-001"
    assert refused(org.credential_on, "m-1", date(2026, 4, 1), field="member_id") == ("R-EVAL-10", "member_id")
    assert refused(org.credential_on, "m-2", date(2026, 3, 1), field="member_id") == ("R-EVAL-7", "member_id")


def test_deadlines_follow_a_calendar_loaded_after_scheduling():
    from shared.calendars import OfficialCalendars
    from shared.workdays import YearCalendar

    # Scheduled on Mon 2027-10-11 without a 2027 calendar: Monday–Friday, provisional (R-FIN-6) —
    # 10 working days before are Oct 8–4 and Oct 1–Sep 27 (国庆 not guessed).
    ev = make_evaluation(stage="annual", scheduled_on=date(2027, 10, 11))
    assert (ev.steps["self_evaluation"].due_on, ev.steps["self_evaluation"].provisional) == (date(2027, 9, 27), True)
    # The 2027 notice arrives (as evaluation's consumer keeps it): Oct 1–7 off, Sat Sep 25 and Oct 9 worked.
    book = OfficialCalendars()
    notice = YearCalendar(2027, frozenset(date(2027, 10, d) for d in range(1, 8)), frozenset({date(2027, 9, 25), date(2027, 10, 9)}))
    assert book.receive(notice.year, sorted(notice.holidays), sorted(notice.workdays)) is True
    assert book.receive(notice.year, sorted(notice.holidays), sorted(notice.workdays)) is False  # same notice: nothing
    calendar = book.workdays()
    now = ev.current_steps(calendar)
    assert {k: (s.due_on, s.provisional) for k, s in now.items()} == {
        "self_evaluation": (date(2027, 9, 22), False), "review": (date(2027, 9, 28), False),
        "report": (date(2027, 11, 8), False), "feedback": (date(2027, 11, 15), False),
    }
    assert ev.steps["self_evaluation"].due_on == date(2027, 9, 27)  # the stored plan is not rewritten
    # Lateness is judged against the deadline as the official calendar now counts it.
    ev.submit_self_evaluation(submitted_on=date(2027, 9, 23), summary="自评报告", self_scores={}, calendar=calendar)
    assert ev.self_evaluation.late is True
    assert ev.current_steps(calendar)["self_evaluation"].done_on == date(2027, 9, 23)


def test_after_the_report_feedback_and_the_appeal_window_follow_the_calendar_known_now():
    from shared.workdays import YearCalendar

    # Concluded (failed) on Thu 2027-09-30 without a 2027 calendar: Monday–Friday, so Fri Oct 1 counts
    # — feedback (5) Oct 1, 4–7 → Thu Oct 7; appeals (10) … Oct 8, 11–14 → Thu Oct 14.
    ev = make_evaluation(stage="annual", scheduled_on=date(2027, 9, 20))
    conclude(ev, "50", on=date(2027, 9, 30))
    assert (ev.steps["feedback"].due_on, ev.steps["feedback"].provisional) == (date(2027, 10, 7), True)
    assert ev.appeal_due(None) == ev.conclusion.appeal_due_on == date(2027, 10, 14)
    loaded = CAL.with_year(YearCalendar(2027, frozenset(date(2027, 10, d) for d in range(1, 8)), frozenset({date(2027, 10, 9)})))
    # With the notice: Oct 1–7 off, Fri Oct 8 1, Sat Oct 9 (调休) 2, Oct 11–13 3–5 → feedback due Wed Oct 13.
    assert ev.current_steps(loaded)["feedback"] == Step(date(2027, 10, 13), False, None)
    # Ten working days: … Oct 11–15 3–7, Oct 18–20 8–10 → appeals until Wed Oct 20 (it was Oct 14).
    assert ev.appeal_due(loaded) == date(2027, 10, 20)
    ev.lodge_appeal(date(2027, 10, 19), "评分有误", calendar=loaded)
    assert ev.appeal.appealed_on == date(2027, 10, 19)
