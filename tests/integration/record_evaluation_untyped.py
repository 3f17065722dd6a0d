"""Records ``data/evaluation_untyped.json``: a store written by evaluation's aggregates while they held
their state as dicts (before typed state, #16 item 1), for ``test_evaluation_old_records``.

Run from the repository root with the code of the commit named in that test (the untyped aggregates):
``.venv/bin/python tests/integration/record_evaluation_untyped.py``. It drives the aggregates directly
(no HTTP, no clock): a county rubric (two versions), an evaluator organisation with a member and a
declared link, a contract and its outcome figures, a provider, the county directory, a process evaluation with
visits, and a mid-term evaluation taken through self-evaluation, review, survey, scores, a spot-check
deduction, a failed conclusion, feedback, an appeal and its (upheld) decision. Also records
``data/evaluation_untyped_views.json``: what the read-side shapes (``evaluation.views``) answered on
that store, so the typed state can be checked to answer the same."""

from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from evaluation import views
from evaluation.domainmodel import (
    DEFAULTS,
    ContractOutcomes,
    ContractView,
    CountyDirectory,
    Evaluation,
    EvaluatorOrg,
    ProviderView,
    Rubric,
    check_rubric,
    plan_steps,
)
from evaluation.lookups import EvaluationApplication

from shared.infra.store import CommandContext
from shared.workdays import WorkdayCalendar

COUNTY = "640402"
CONTRACT = "k-eval-old"
OUT = Path(__file__).parent / "data" / "evaluation_untyped.json"
VIEWS = Path(__file__).parent / "data" / "evaluation_untyped_views.json"
AS_OF = date(2026, 8, 10)


def as_json(value: object) -> object:
    """What a read answers, as plain JSON (days and Decimals as their strings)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def read_views(app: EvaluationApplication) -> dict[str, object]:
    """The read-side shapes (what the routes return) the store answers on ``AS_OF``."""
    directory = app.directory(COUNTY)
    evaluations = [app.evaluation(COUNTY, e["evaluation_id"]) for e in directory.evaluations]
    org = app.evaluator(COUNTY, directory.evaluator_orgs[0])
    rubric = app.rubric_in_force(COUNTY)
    assert rubric is not None
    return as_json(
        {
            "evaluations": [views.evaluation_view(app, e, AS_OF) for e in evaluations],
            "summaries": [views.evaluation_summary(e, AS_OF, app.calendar) for e in evaluations],
            "contract": views.contract_view(app, COUNTY, CONTRACT, AS_OF),
            "evaluator": views.evaluator_view(org),
            "rubric": [views.rubric_view(rubric, v) for v in (1, 2)],
            "public": views.public_results(app, COUNTY),
        }
    )


def record_setting(app: EvaluationApplication) -> tuple[Rubric, ProviderView, ContractView, ContractOutcomes, EvaluatorOrg, CountyDirectory]:
    """The county's rubric (two versions), a provider, the contract and its outcome figures, an
    evaluator organisation and the county directory, saved in ``app`` (inside a command context).
    Writes nothing that depends on how the aggregates hold their state, so the typed aggregates'
    test records the same setting with it."""
    rubric = Rubric(scope=COUNTY)
    rubric.publish(
        "县级评估标准 2026", check_rubric(DEFAULTS["dimensions"], DEFAULTS["survey"], DEFAULTS["thresholds"], {})
    )
    rubric.publish(
        "县级评估标准 2026 修订",
        check_rubric(
            DEFAULTS["dimensions"],
            DEFAULTS["survey"],
            {"优秀": 95, "良好": 85, "合格": 70},
            {"appeal_working_days": 15},
        ),
    )
    provider = ProviderView(provider_id="p-old", county=COUNTY, name="利民社工服务中心")
    contract = ContractView(
        contract_id=CONTRACT,
        county=COUNTY,
        provider_id="p-old",
        station_ids=["s-1", "s-2"],
        period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31),
        indicators=[
            {"code": "visits", "name": "入户探访", "unit": "次", "target": 100},
            {"code": "groups", "name": "小组活动", "unit": "次", "target": 10},
        ],
        year_index=1,
    )
    outcomes = ContractOutcomes(contract_id=CONTRACT, county=COUNTY)
    outcomes.progress(
        as_of=date(2026, 6, 30),
        indicators=[{"code": "visits", "target": 100, "actual": 80}],
        hours_direct=Decimal("120.5"),
        hours_other=Decimal("30"),
        person_times=300,
        deliveries=40,
    )
    org = EvaluatorOrg(
        county=COUNTY,
        name="宁夏评估所",
        certificate_no="PG-1",
        accredited_until=date(2027, 12, 31),
        linked_provider_ids=["p-other"],
    )
    org.accredit_member(member_id="m-1", name="张评", credential_no="ZP-1", valid_until=date(2027, 6, 30))
    org.accredit_member(member_id="m-2", name="李评", credential_no="ZP-2", valid_until=date(2026, 5, 31))
    org.declare_link(provider_id="p-far", relation="理事交叉")
    directory = CountyDirectory(county=COUNTY)
    directory.list_evaluator(evaluator_org=str(org.id))
    app.save(rubric, provider, contract, outcomes, org, directory)
    return rubric, provider, contract, outcomes, org, directory


def record_midterm(
    app: EvaluationApplication,
    midterm: Evaluation,
    outcomes: ContractOutcomes,
    contract: ContractView,
    thresholds: Any,
    calendar: WorkdayCalendar,
) -> None:
    """The mid-term's walk after its scheduling: self-evaluation, review, survey, scores, a spot-check
    deduction, a failed conclusion, feedback, an appeal and its upheld decision, saved step by step.
    ``thresholds``: the rubric version's, as the aggregates of the code running hold them."""
    midterm.submit_self_evaluation(
        submitted_on=date(2026, 6, 19),
        summary="自评良好",
        self_scores={"setup.venue": Decimal("4.5")},
        calendar=calendar,
    )
    midterm.review_self_evaluation(reviewed_on=date(2026, 6, 24), notes="已审阅", calendar=calendar)
    midterm.record_survey(
        surveyed_on=date(2026, 7, 1),
        respondents=12,
        score=Decimal("3.67"),
        group_scores={"beneficiaries": Decimal("4.00"), "community": Decimal("3.33")},
    )
    for code, score in (("setup.venue", "3"), ("setup.staffing", "2.5"), ("operations.rules", "4")):
        midterm.score_item(
            item_code=code,
            score=Decimal(score),
            max_score=Decimal(5 if code.startswith("setup") else 8),
            scored_on=date(2026, 7, 1),
            note=f"{code} 评分",
        )
    midterm.score_item(
        item_code="setup.venue", score=Decimal("3.5"), max_score=Decimal(5), scored_on=date(2026, 7, 2), note="复核"
    )
    midterm.deduct(found_on=date(2026, 7, 1), points=Decimal("2.5"), reason="台账不实")
    app.save(midterm)
    breakdown = {
        "dimensions": {"setup": Decimal("10.00")},
        "items": {"setup.venue": Decimal("3.50")},
        "survey_score": Decimal("3.67"),
        "deductions": Decimal("2.5"),
        "outcomes": outcomes.figures(contract.indicators),
    }
    midterm.conclude(
        concluded_on=date(2026, 7, 20),
        score=Decimal("58.25"),
        thresholds=thresholds,
        breakdown=breakdown,
        fraud_found=False,
        fraud_details=None,
        calendar=calendar,
    )
    midterm.record_feedback(agreed_on=date(2026, 7, 24), notes="已沟通", party="provider", calendar=calendar)
    app.save(midterm)
    midterm.lodge_appeal(appealed_on=date(2026, 7, 28), reason="满意度样本不足", calendar=calendar)
    app.save(midterm)
    midterm.decide_appeal(
        upheld=True,
        revised_score=Decimal("72.00"),
        decided_on=date(2026, 8, 5),
        reason="复核后改判",
        thresholds=thresholds,
    )
    app.save(midterm)


def record() -> tuple[list[dict[str, object]], dict[str, object]]:
    app = EvaluationApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    calendar = WorkdayCalendar()
    with app.command(CommandContext(county=COUNTY, actor="recorder")):
        rubric, _provider, contract, outcomes, org, directory = record_setting(app)

        version = rubric.version_content(2)
        process = Evaluation(
            county=COUNTY,
            contract_id=CONTRACT,
            provider_id="p-old",
            station_ids=["s-1", "s-2"],
            stage="process",
            evaluator_org=str(org.id),
            scheduled_on=date(2026, 3, 2),
            rubric_id=str(rubric.id),
            rubric_version=2,
            policy=dict(version["policy"]),
            steps=plan_steps("process", date(2026, 3, 2), date(2026, 12, 31), calendar),
        )
        directory.list_evaluation(evaluation_id=str(process.id), contract_id=CONTRACT, stage="process")
        app.save(process, directory)
        for n, (station, day) in enumerate(
            [("s-1", date(2026, 3, 10)), ("s-2", date(2026, 4, 8)), ("s-1", date(2026, 5, 12))]
        ):
            process.record_visit(
                visit_id=f"v-{n + 1}",
                station_id=station,
                visited_on=day,
                member_id="m-1",
                credential_no="ZP-1",
                signed_by={"name": "王站长", "role": "站长"},
                findings=f"走访 {n + 1}",
            )
        app.save(process)

        midterm = Evaluation(
            county=COUNTY,
            contract_id=CONTRACT,
            provider_id="p-old",
            station_ids=["s-1", "s-2"],
            stage="midterm",
            evaluator_org=str(org.id),
            scheduled_on=date(2026, 7, 1),
            rubric_id=str(rubric.id),
            rubric_version=2,
            policy=dict(version["policy"]),
            steps=plan_steps("midterm", date(2026, 7, 1), date(2026, 12, 31), calendar),
        )
        directory.list_evaluation(evaluation_id=str(midterm.id), contract_id=CONTRACT, stage="midterm")
        app.save(midterm, directory)
        record_midterm(app, midterm, outcomes, contract, version["thresholds"], calendar)
    recorded = [
        {
            "originator_id": str(n.originator_id),
            "originator_version": n.originator_version,
            "topic": n.topic,
            "state": n.state.decode(),
        }
        for n in app.recorder.select_notifications(1, 1000)
    ]
    shown = read_views(app)
    app.close()
    return recorded, shown


if __name__ == "__main__":
    records, shown = record()
    OUT.write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n")
    VIEWS.write_text(json.dumps(shown, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(records)} events -> {OUT}", file=sys.stderr)
