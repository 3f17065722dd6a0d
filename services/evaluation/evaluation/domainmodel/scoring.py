"""Scoring rules (R-EVAL-2, R-EVAL-4, R-EVAL-5, R-EVAL-6) as pure functions.

Arithmetic is exact: means are kept as ``Fraction`` (a mean of 5s and 3s over 7 respondents is
not a finite decimal) and rounded once, half up, to the two decimals that are recorded and
published as ``Decimal``. Floats never appear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from shared.rules import RuleViolation

# R-EVAL-4 公众评议: 满意 5, 基本满意 3, 不满意 0; 不了解 counts as the mean of the other answers.
ANSWER_POINTS: dict[str, int] = {"满意": 5, "基本满意": 3, "不满意": 0}
UNKNOWN = "不了解"
ANSWERS = (*ANSWER_POINTS, UNKNOWN)
SURVEY_MAX = 5



class Grade(StrEnum):
    """R-EVAL-6 grades, best first; the three thresholds are part of each rubric version."""

    EXCELLENT = "优秀"
    GOOD = "良好"
    PASSED = "合格"
    FAILED = "不合格"


GRADES: tuple[str, ...] = tuple(g.value for g in Grade)
FAILED = Grade.FAILED
DEFAULT_THRESHOLDS: dict[str, Decimal] = {"优秀": Decimal(90), "良好": Decimal(80), "合格": Decimal(60)}


def rounded(value: Fraction | Decimal | int, places: int = 2) -> Decimal:
    """``value`` rounded half up (四舍五入) to ``places`` decimals, exactly."""
    x = Fraction(value) * 10**places
    sign = -1 if x < 0 else 1
    whole = (abs(x) + Fraction(1, 2)).__floor__()
    return Decimal(sign * whole).scaleb(-places)


def grade_for(score: Decimal, thresholds: Mapping[str, Decimal]) -> tuple[Grade, bool]:
    """R-EVAL-6: the grade of a (published, rounded) score; passed = 合格 or better."""
    for grade in GRADES[:-1]:
        if score >= Decimal(thresholds[grade]):
            return Grade(grade), True
    return FAILED, False


def check_thresholds(thresholds: Mapping[str, Any]) -> dict[str, Decimal]:
    """Three thresholds, strictly descending, within 0–100."""
    if set(thresholds) != set(GRADES[:-1]):
        raise RuleViolation(f"thresholds name exactly {list(GRADES[:-1])}", rule="R-EVAL-6", field="thresholds", facts={"code": "thresholds_grades", "grades": list(GRADES[:-1])})
    values = {g: Decimal(str(thresholds[g])) for g in GRADES[:-1]}
    above: Decimal | None = None
    for grade in GRADES[:-1]:
        value = values[grade]
        if not Decimal(0) < value <= Decimal(100) or (above is not None and value >= above):
            raise RuleViolation(
                "thresholds must descend 优秀 > 良好 > 合格 > 0, at most 100", rule="R-EVAL-6", field=f"thresholds.{grade}",
                facts={"code": "thresholds_order", "grade": grade, "value": str(value)},
            )
        above = value
    return values


# --- satisfaction surveys (R-EVAL-4) ----------------------------------------------------
def question_score(answers: Sequence[str]) -> Fraction | None:
    """Sum of the points over the number of respondents, 不了解 scored as the mean of the
    other answers to the question. None when every answer is 不了解 (no mean to take)."""
    informed = [ANSWER_POINTS[a] for a in answers if a != UNKNOWN]
    if not informed:
        return None
    mean_of_others = Fraction(sum(informed), len(informed))
    total = sum(informed) + mean_of_others * (len(answers) - len(informed))
    return total / len(answers)


def mean(values: Sequence[Fraction]) -> Fraction:
    return sum(values, Fraction(0)) / len(values)


@dataclass(frozen=True)
class SurveyScore:
    respondents: int
    questions: dict[str, dict[str, Fraction | None]]  # group -> question -> score
    groups: dict[str, Fraction]  # groups with at least one informed answer
    total: Fraction


def score_survey(groups: Mapping[str, Sequence[str]], responses: Sequence[Mapping[str, Any]]) -> SurveyScore:
    """Score a survey: question = sum / respondents; group = mean of its questions; total =
    arithmetic mean of the groups (R-EVAL-4).

    ``groups`` maps each group code (a category of respondents, 各类代表) to its question codes;
    each response is one completed questionnaire ``{"group": code, "answers": {question: answer}}``.
    A question answered only 不了解 has no score and is left out of its group's mean; so is a group
    without any scored question.
    """
    if not responses:
        raise RuleViolation("a survey has at least one respondent", rule="R-EVAL-4", field="responses", facts={"code": "survey_no_respondents"})
    collected: dict[str, dict[str, list[str]]] = {g: {q: [] for q in qs} for g, qs in groups.items()}
    for i, response in enumerate(responses):
        group = response["group"]
        if group not in collected:
            raise RuleViolation(
                f"group {group!r} is not in the rubric's survey {sorted(collected)}", rule="R-EVAL-4", field=f"responses.{i}.group",
                facts={"code": "survey_group_unknown", "group": group, "groups": sorted(collected)},
            )
        answers = response["answers"]
        for question in answers:
            if question not in collected[group]:
                raise RuleViolation(
                    f"question {question!r} is not asked of group {group!r}", rule="R-EVAL-4", field=f"responses.{i}.answers.{question}",
                    facts={"code": "survey_question_unknown", "group": group, "question": question},
                )
        for question in groups[group]:
            answer = answers.get(question)
            if answer not in ANSWERS:
                raise RuleViolation(
                    f"each question is answered with one of {list(ANSWERS)}", rule="R-EVAL-4", field=f"responses.{i}.answers.{question}",
                    facts={"code": "survey_answer_invalid", "group": group, "question": question, "answers": list(ANSWERS)},
                )
            collected[group][question].append(answer)
    questions = {g: {q: question_score(a) for q, a in qs.items() if a} for g, qs in collected.items()}
    group_scores = {
        g: mean(scored)
        for g, qs in questions.items()
        if (scored := [s for s in qs.values() if s is not None])
    }
    if not group_scores:
        raise RuleViolation("every answer is 不了解: the survey has nothing to score", rule="R-EVAL-4", field="responses", facts={"code": "survey_nothing_scored"})
    return SurveyScore(
        respondents=len(responses),
        questions={g: qs for g, qs in questions.items() if qs},
        groups=group_scores,
        total=mean(list(group_scores.values())),
    )


# --- the total (R-EVAL-2, R-EVAL-5) ------------------------------------------------------
def indicator_completion(indicators: Sequence[Mapping[str, Any]]) -> Fraction:
    """Outcome figure from services-log: the mean completion of the contract's indicator
    targets, each capped at 100%. A contract without targets owes nothing: complete."""
    ratios = [min(Fraction(int(i["actual"]), int(i["target"])), Fraction(1)) for i in indicators if int(i["target"]) > 0]
    return mean(ratios) if ratios else Fraction(1)


@dataclass(frozen=True)
class ScoreSheet:
    items: dict[str, Fraction]
    dimensions: dict[str, Fraction]
    deductions: Decimal
    total: Fraction

    @property
    def score(self) -> Decimal:
        return rounded(self.total)


def score_sheet(
    dimensions: Sequence[Mapping[str, Any]],
    evaluator_scores: Mapping[str, Decimal],
    survey_total: Fraction | None,
    completion: Fraction,
    deductions: Sequence[Decimal],
) -> ScoreSheet:
    """Every item scored by its source, each dimension weighted, spot-check deductions subtracted.

    Item sources: ``evaluator`` (scored on site), ``survey`` (the R-EVAL-4 total out of 5) and
    ``indicators`` (completion from services-log). A dimension contributes ``weight × scored /
    maximum``; the weights add up to 100. Deductions (察访核验, R-EVAL-5) come off the total,
    which does not go below zero.
    """
    missing = [
        item["code"]
        for dim in dimensions
        for item in dim["items"]
        if item.get("source", "evaluator") == "evaluator" and item["code"] not in evaluator_scores
    ]
    if missing:
        raise RuleViolation(f"items not scored yet: {missing}", rule="R-EVAL-2", field="scores", facts={"code": "items_not_scored", "items": missing})
    items: dict[str, Fraction] = {}
    dims: dict[str, Fraction] = {}
    for dim in dimensions:
        got, top = Fraction(0), Fraction(0)
        for item in dim["items"]:
            code, maximum = item["code"], Fraction(Decimal(item["max_score"]))
            source = item.get("source", "evaluator")
            if source == "survey":
                if survey_total is None:
                    raise RuleViolation(
                        f"item {code} is scored by the satisfaction survey: record it first", rule="R-EVAL-4", field="surveys",
                        facts={"code": "survey_missing", "item": code},
                    )
                value = survey_total / SURVEY_MAX * maximum
            elif source == "indicators":
                value = completion * maximum
            else:
                value = Fraction(Decimal(evaluator_scores[code]))
            items[code] = value
            got, top = got + value, top + maximum
        dims[dim["code"]] = Fraction(Decimal(dim["weight"])) * got / top if top else Fraction(0)
    deducted = sum((Decimal(d) for d in deductions), Decimal(0))
    total = max(sum(dims.values(), Fraction(0)) - Fraction(deducted), Fraction(0))
    return ScoreSheet(items=items, dimensions=dims, deductions=deducted, total=total)
