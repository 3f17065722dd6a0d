"""Evaluation scoring rules, exactly as DOMAIN.md states them (R-EVAL-2, R-EVAL-4, R-EVAL-5, R-EVAL-6)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from evaluation.domainmodel import DEFAULT_THRESHOLDS, DEFAULTS, grade_for, indicator_completion, rounded, score_sheet
from evaluation.domainmodel.scoring import question_score, score_survey

from shared.rules import RuleViolation

D = Decimal


def respond(group: str, **answers: str) -> dict:
    return {"group": group, "answers": answers}


def test_an_unknown_answer_counts_as_the_mean_of_the_other_answers_to_that_question():
    # 满意 5 + 基本满意 3 + 基本满意 3 = 11 over three informed answers; 不了解 is scored 11/3,
    # so the question scores (11 + 11/3) / 4 respondents = 11/3.
    assert question_score(["满意", "基本满意", "基本满意", "不了解"]) == Fraction(11, 3)
    # Not zero: counting 不了解 as 0 would give 11/4.
    assert question_score(["满意", "不满意", "不了解"]) == Fraction(5, 2)
    # A question nobody could judge has no score at all.
    assert question_score(["不了解", "不了解"]) is None


def test_survey_total_is_the_mean_of_group_means_of_question_scores():
    # Two categories of respondents (各类代表) with different numbers of questions.
    groups = {"residents": ["q1"], "partners": ["q1", "q2"]}
    responses = [
        respond("residents", q1="满意"),
        respond("residents", q1="不了解"),
        respond("residents", q1="不满意"),
        respond("partners", q1="满意", q2="基本满意"),
        respond("partners", q1="满意", q2="不了解"),
    ]
    survey = score_survey(groups, responses)

    assert survey.respondents == 5
    # residents q1: (5 + 2.5 + 0) / 3 = 2.5; partners q1 = 5, q2 = (3 + 3) / 2 = 3 → group 4.
    assert survey.questions == {"residents": {"q1": Fraction(5, 2)}, "partners": {"q1": Fraction(5), "q2": Fraction(3)}}
    assert survey.groups == {"residents": Fraction(5, 2), "partners": Fraction(4)}
    # The total is the mean of the two groups (3.25), not the mean of the three questions (3.5).
    assert survey.total == Fraction(13, 4)
    assert rounded(survey.total) == D("3.25")


def test_a_question_answered_only_unknown_is_left_out_of_its_group():
    survey = score_survey({"g": ["known", "unknown"]}, [respond("g", known="满意", unknown="不了解")] * 3)
    assert survey.groups == {"g": Fraction(5)}
    with pytest.raises(RuleViolation) as refused:
        score_survey({"g": ["q"]}, [respond("g", q="不了解")])
    assert refused.value.rule == "R-EVAL-4"


def test_survey_answers_are_checked_against_the_rubric_questions():
    groups = {"g": ["q1", "q2"]}
    cases = [
        (respond("h", q1="满意", q2="满意"), "responses.0.group"),
        (respond("g", q1="满意", q2="满意", q3="满意"), "responses.0.answers.q3"),
        (respond("g", q1="满意"), "responses.0.answers.q2"),
        (respond("g", q1="非常满意", q2="满意"), "responses.0.answers.q1"),
    ]
    for response, field in cases:
        with pytest.raises(RuleViolation) as refused:
            score_survey(groups, [response])
        assert (refused.value.rule, refused.value.field) == ("R-EVAL-4", field)


@pytest.mark.parametrize(
    ("score", "grade", "passed"),
    [
        ("100", "优秀", True),
        ("90.00", "优秀", True),
        ("89.99", "良好", True),
        ("80", "良好", True),
        ("79.99", "合格", True),
        ("60.00", "合格", True),
        ("59.99", "不合格", False),
        ("0", "不合格", False),
    ],
)
def test_default_grade_thresholds_at_their_boundaries(score, grade, passed):
    assert grade_for(D(score), DEFAULT_THRESHOLDS) == (grade, passed)


def test_a_rubric_version_sets_its_own_thresholds():
    strict = {"优秀": D(95), "良好": D(85), "合格": D(70)}
    assert grade_for(D("94.99"), strict) == ("良好", True)
    assert grade_for(D("69.99"), strict) == ("不合格", False)
    assert grade_for(D("70"), strict) == ("合格", True)


def test_scores_are_rounded_half_up_once_to_two_decimals():
    assert rounded(Fraction(179999, 2000)) == D("90.00")  # 89.9995
    assert rounded(Fraction(2, 3)) == D("0.67")
    assert rounded(Fraction(1, 200)) == D("0.01")


def test_total_weights_dimensions_takes_outcomes_from_figures_and_subtracts_deductions():
    dims = DEFAULTS["dimensions"]
    full_marks = {i["code"]: i["max_score"] for d in dims for i in d["items"] if i.get("source", "evaluator") == "evaluator"}
    # Half the indicator targets reached (one over-achieved, capped at 100%; one at 0).
    completion = indicator_completion([{"target": 500, "actual": 750}, {"target": 10, "actual": 0}])
    assert completion == Fraction(1, 2)

    sheet = score_sheet(dims, full_marks, Fraction(4), completion, [D("1.5"), D("1")])

    # Outcomes (weight 25): indicators 15 × 1/2 = 7.5, satisfaction 10 × 4/5 = 8 → 15.5.
    assert sheet.dimensions["outcomes"] == Fraction(31, 2)
    assert sheet.items["outcomes.satisfaction"] == 8
    # 75 from the four other dimensions at full marks, + 15.5, − 2.5 of spot-check deductions (R-EVAL-5).
    assert sheet.deductions == D("2.5")
    assert sheet.score == D("88.00")


def test_a_dimension_is_weighted_by_its_share_of_its_items_maximum():
    dims = [
        {"code": "a", "weight": D(40), "items": [{"code": "a1", "max_score": D(10)}, {"code": "a2", "max_score": D(30)}]},
        {"code": "b", "weight": D(60), "items": [{"code": "b1", "max_score": D(7)}]},
    ]
    sheet = score_sheet(dims, {"a1": D(10), "a2": D(0), "b1": D("3.5")}, None, Fraction(1), [])
    assert sheet.dimensions == {"a": Fraction(10), "b": Fraction(30)}
    assert sheet.score == D("40.00")


def test_the_total_needs_every_evaluator_item_and_the_survey_and_never_goes_below_zero():
    dims = DEFAULTS["dimensions"]
    with pytest.raises(RuleViolation) as refused:
        score_sheet(dims, {"setup.venue": D(5)}, Fraction(5), Fraction(1), [])
    assert (refused.value.rule, refused.value.field) == ("R-EVAL-2", "scores")
    assert "operations.rules" in refused.value.detail

    every = {i["code"]: D(0) for d in dims for i in d["items"]}
    with pytest.raises(RuleViolation) as refused:
        score_sheet(dims, every, None, Fraction(1), [])
    assert (refused.value.rule, refused.value.field) == ("R-EVAL-4", "surveys")

    assert score_sheet(dims, every, Fraction(0), Fraction(0), [D(5)]).score == D("0.00")
