"""Rubrics, evaluator organisations, contracts, directories and evaluations recorded while evaluation
held its state as dicts (before typed state, #16 item 1) still load into typed state — ``Stage``,
``EvaluationStatus``, ``Grade``, ``Step``s, ``Visit``s, a ``Conclusion``, an ``AppealRecord``,
``RubricVersion``s, ``Member``s — answer every read exactly as the untyped aggregates answered
(``data/evaluation_untyped_views.json``), take new commands, and the typed aggregates record what the
untyped ones recorded.

``data/evaluation_untyped.json`` is the store as evaluation wrote it at 08d898a, recorded by
``record_evaluation_untyped.py`` (which also recorded the views). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from evaluation import views
from evaluation.domainmodel import (
    AppealRecord,
    Conclusion,
    Deduction,
    Evaluation,
    EvaluationStatus,
    EvaluatorOrg,
    Grade,
    Indicator,
    ItemScore,
    ItemSource,
    ListedEvaluation,
    Member,
    Rubric,
    RubricPolicy,
    Stage,
    Step,
    StepStatus,
    Visit,
    plan_steps,
)
from evaluation.lookups import EvaluationApplication
from eventsourcing.persistence import StoredEvent

from shared.infra.service import prepare_store
from shared.infra.settings import Settings
from shared.infra.store import CommandContext
from shared.rules import RuleViolation
from shared.workdays import WorkdayCalendar
from tests.integration.record_evaluation_untyped import record_midterm, record_setting

DATA = Path(__file__).parent / "data"
RECORDED = json.loads((DATA / "evaluation_untyped.json").read_text())
SHOWN = json.loads((DATA / "evaluation_untyped_views.json").read_text())
COUNTY, CONTRACT, AS_OF = "640402", "k-eval-old", date(2026, 8, 10)


def as_json(value: object) -> object:
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


@pytest.fixture
def app(settings: Settings) -> Iterator[EvaluationApplication]:
    prepare_store(settings, "evaluation")
    application = EvaluationApplication(settings.eventsourcing_env("evaluation"))
    application.recorder.insert_events(
        [
            StoredEvent(uuid.UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"].encode())
            for r in RECORDED
        ]
    )
    yield application
    application.close()


def content(state: bytes | str) -> dict[str, Any]:
    """What an event says, without when and by whom it was recorded."""
    body = json.loads(state)
    return {k: v for k, v in body.items() if k not in ("timestamp", "meta")}


def evaluations(app: EvaluationApplication) -> tuple[Evaluation, Evaluation]:
    process, midterm = (app.evaluation(COUNTY, e.evaluation_id) for e in app.directory(COUNTY).evaluations)
    return process, midterm


def test_untyped_evaluations_load_into_typed_state(app):
    process, midterm = evaluations(app)
    assert (process.stage, midterm.stage) == (Stage.PROCESS, Stage.MIDTERM)
    assert (process.status, midterm.status) == (EvaluationStatus.SCHEDULED, EvaluationStatus.APPEAL_DECIDED)
    assert process.policy == midterm.policy == RubricPolicy(process_visits_per_station=4, appeal_working_days=15)
    assert all(isinstance(v, Visit) for v in process.visits) and [v.visit_id for v in process.visits] == [
        "v-1",
        "v-2",
        "v-3",
    ]
    assert (process.visits_done("s-1"), process.visits_done("s-2")) == (2, 1)
    assert process.steps == {"visits": Step(date(2026, 12, 31), False, None)}
    assert all(isinstance(s, Step) for s in midterm.steps.values())
    assert midterm.steps["self_evaluation"].late and midterm.steps["self_evaluation"].status(AS_OF) == StepStatus.DONE
    assert midterm.steps["feedback"].done_on == date(2026, 7, 24)
    # The later score of an item replaces the earlier one (R-EVAL-2).
    assert midterm.scores["setup.venue"] == ItemScore(Decimal("3.5"), Decimal(5), date(2026, 7, 2), "复核")
    assert midterm.deductions == (Deduction(date(2026, 7, 1), Decimal("2.5"), "台账不实"),)
    c = midterm.conclusion
    assert isinstance(c, Conclusion)
    assert (c.score, c.grade, c.passed, c.serious_breach_found) == (Decimal("58.25"), Grade.FAILED, False, False)
    assert midterm.appeal == AppealRecord(
        date(2026, 7, 28), "满意度样本不足", date(2026, 8, 5), True, Decimal("72.00"), Grade.PASSED, True, "复核后改判"
    )
    result = midterm.result
    assert result is not None and (result.score, result.grade, result.passed) == (Decimal("72.00"), Grade.PASSED, True)


def test_untyped_rubrics_evaluators_and_contracts_load_into_typed_state(app):
    rubric: Rubric = app.rubric_in_force(COUNTY)
    assert rubric.current_version == 2
    v1, v2 = rubric.version_content(1), rubric.version_content(2)
    assert (v1.thresholds["合格"], v2.thresholds["合格"], v2.policy.appeal_working_days) == (
        Decimal(60),
        Decimal(70),
        15,
    )
    assert v2.item("outcomes.satisfaction").source == ItemSource.SURVEY and v2.item("nope") is None
    assert [g.code for g in v2.survey_groups] == ["beneficiaries", "community"]
    org: EvaluatorOrg = app.evaluator(COUNTY, app.directory(COUNTY).evaluator_orgs[0])
    assert org.members["m-1"] == Member("张评", "ZP-1", date(2027, 6, 30))
    assert org.linked_provider_ids == ("p-other", "p-far")
    with pytest.raises(RuleViolation) as expired:
        org.credential_on("m-2", date(2026, 6, 1), field="member_id")
    assert expired.value.rule == "R-EVAL-10"
    contract = app.contract(COUNTY, CONTRACT)
    assert contract.indicators == (
        Indicator("visits", "入户探访", "次", 100),
        Indicator("groups", "小组活动", "次", 10),
    )
    assert app.outcome_figures(COUNTY, CONTRACT)["indicators"] == [
        {"code": "visits", "target": 100, "actual": 80},
        {"code": "groups", "target": 10, "actual": 0},
    ]
    assert [(e.contract_id, e.stage) for e in app.directory(COUNTY).evaluations] == [
        (CONTRACT, "process"),
        (CONTRACT, "midterm"),
    ]
    assert all(isinstance(e, ListedEvaluation) for e in app.directory(COUNTY).evaluations)


def test_reads_answer_exactly_what_the_untyped_state_answered(app):
    process, midterm = evaluations(app)
    rubric = app.rubric_in_force(COUNTY)
    org = app.evaluator(COUNTY, app.directory(COUNTY).evaluator_orgs[0])
    shown = as_json(
        {
            "evaluations": [views.evaluation_view(app, e, AS_OF) for e in (process, midterm)],
            "summaries": [views.evaluation_summary(e, AS_OF, app.calendar) for e in (process, midterm)],
            "contract": views.contract_view(app, COUNTY, CONTRACT, AS_OF),
            "evaluator": views.evaluator_view(org),
            "rubric": [views.rubric_view(rubric, v) for v in (1, 2)],
            "public": views.public_results(app, COUNTY),
        }
    )
    assert isinstance(shown, dict)
    for part, expected in SHOWN.items():
        assert shown[part] == expected, part
    # Key order too: the JSON bodies are the same bytes.
    assert json.dumps(shown, ensure_ascii=False) == json.dumps(SHOWN, ensure_ascii=False)


def test_old_evaluations_take_new_commands(app):
    process, _ = evaluations(app)
    calendar = WorkdayCalendar()
    with app.command(CommandContext(county=COUNTY, actor="evaluator-1")):
        for station, day in (("s-2", date(2026, 6, 2)), ("s-1", date(2026, 6, 3)), ("s-2", date(2026, 6, 4))):
            process.record_visit(
                visit_id=f"n-{day.day}",
                station_id=station,
                visited_on=day,
                member_id="m-1",
                credential_no="ZP-1",
                signed_by={"name": "王站长"},
                findings="",
            )
        app.save(process)
    again: Evaluation = app.repository.get(process.id)
    assert (again.visits_done("s-1"), again.visits_done("s-2"), again.version) == (3, 3, 7)
    assert again.steps["visits"].done_on is None  # four per station (R-EVAL-1)
    with app.command(CommandContext(county=COUNTY, actor="evaluator-1")):
        again.record_visit(
            visit_id="n-last",
            station_id="s-1",
            visited_on=date(2026, 6, 5),
            member_id="m-1",
            credential_no="ZP-1",
            signed_by={"name": "王站长"},
            findings="",
        )
        again.record_visit(
            visit_id="n-last-2",
            station_id="s-2",
            visited_on=date(2026, 6, 8),
            member_id="m-1",
            credential_no="ZP-1",
            signed_by={"name": "王站长"},
            findings="",
        )
        with pytest.raises(RuleViolation) as refused:
            again.record_visit(
                visit_id="n-5",
                station_id="s-1",
                visited_on=date(2026, 6, 9),
                member_id="m-1",
                credential_no="ZP-1",
                signed_by={"name": "王站长"},
                findings="",
            )
        app.save(again)
    assert refused.value.rule == "R-EVAL-1"
    done: Evaluation = app.repository.get(process.id)
    assert done.steps["visits"] == Step(date(2026, 12, 31), False, date(2026, 6, 8))
    assert done.current_steps(calendar)["visits"].status(AS_OF) == StepStatus.DONE


def test_the_typed_aggregates_record_what_the_untyped_ones_recorded(app):
    # The same history recorded again by the typed aggregates, in a fresh store.
    fresh = EvaluationApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    calendar = WorkdayCalendar()
    with fresh.command(CommandContext(county=COUNTY, actor="recorder")):
        rubric, _provider, contract, outcomes, org, directory = record_setting(fresh)
        version = rubric.version_content(2)
        made = []
        for stage, on in (("process", date(2026, 3, 2)), ("midterm", date(2026, 7, 1))):
            e = Evaluation(
                county=COUNTY,
                contract_id=CONTRACT,
                provider_id="p-old",
                station_ids=["s-1", "s-2"],
                stage=stage,
                evaluator_org=str(org.id),
                scheduled_on=on,
                rubric_id=str(rubric.id),
                rubric_version=2,
                policy=version.policy.as_dict(),
                steps=plan_steps(stage, on, date(2026, 12, 31), calendar),
            )
            directory.list_evaluation(evaluation_id=str(e.id), contract_id=CONTRACT, stage=stage)
            fresh.save(e, directory)
            made.append(e)
            if stage == "process":
                for n, (station, day) in enumerate(
                    [("s-1", date(2026, 3, 10)), ("s-2", date(2026, 4, 8)), ("s-1", date(2026, 5, 12))]
                ):
                    e.record_visit(
                        visit_id=f"v-{n + 1}",
                        station_id=station,
                        visited_on=day,
                        member_id="m-1",
                        credential_no="ZP-1",
                        signed_by={"name": "王站长", "role": "站长"},
                        findings=f"走访 {n + 1}",
                    )
                fresh.save(e)
        midterm = made[1]
        record_midterm(fresh, midterm, outcomes, contract, version.thresholds, calendar)
    typed = fresh.recorder.select_notifications(1, 1000)
    fresh.close()
    assert [n.topic for n in typed] == [r["topic"] for r in RECORDED]
    ids = {str(n.originator_id): r["originator_id"] for n, r in zip(typed, RECORDED, strict=True)}
    for new, old in zip(typed, RECORDED, strict=True):
        new_content, old_content = content(new.state), content(old["state"])
        # Evaluator organisations and evaluations have random ids: compare them as the ids they stand for.
        for key in ("evaluator_org", "evaluation_id"):
            if key in new_content:
                new_content[key] = ids.get(new_content[key], new_content[key])
        assert new_content == old_content, new.topic
