"""Read-side shapes of this service's records (what the routes return), rebuilt from its own events."""

from __future__ import annotations

from datetime import date
from typing import Any

from evaluation.domainmodel import STAGE_NAMES, STEP_ORDER, Evaluation, EvaluatorOrg, Rubric, stage_window, step_status
from evaluation.lookups import EvaluationApplication
from shared.workdays import WorkdayCalendar


def steps_view(evaluation: Evaluation, today: date, calendar: WorkdayCalendar | None = None) -> list[dict[str, Any]]:
    """Each deadline of R-EVAL-3 with its status on ``today``: done, pending or overdue; counted with
    ``calendar`` (the official years known now, R-FIN-6), so a loaded year moves provisional ones.
    Listed in the order the steps run (``STEP_ORDER``), however the record was loaded."""
    steps = evaluation.current_steps(calendar)
    return [
        {
            "step": name,
            "due_on": step.due_on,
            "provisional": step.provisional,
            "done_on": step.done_on,
            "status": step_status(step, today).value,
            "late": step.late,
        }
        for name, step in sorted(steps.items(), key=lambda item: STEP_ORDER.index(item[0]) if item[0] in STEP_ORDER else len(STEP_ORDER))
    ]


def visits_view(evaluation: Evaluation) -> dict[str, Any] | None:
    if "visits" not in evaluation.steps:
        return None
    required = evaluation.policy.process_visits_per_station
    return {
        "required_per_station": required,
        "stations": [
            {"station_id": s, "done": evaluation.visits_done(s), "required": required} for s in evaluation.station_ids
        ],
        "records": [v.as_dict() for v in evaluation.visits],
    }


def evaluation_view(app: EvaluationApplication, evaluation: Evaluation, today: date) -> dict[str, Any]:
    contract = app.contract(evaluation.county, evaluation.contract_id)
    earliest, latest = stage_window(evaluation.stage, contract.period_start, contract.period_end)
    calendar = app.calendar
    steps = steps_view(evaluation, today, calendar)
    conclusion = None if evaluation.conclusion is None else evaluation.conclusion.as_dict()
    if conclusion is not None:  # the appeal window counted with the official calendar known now (R-EVAL-6)
        conclusion["breakdown"] = dict(conclusion["breakdown"])
        conclusion["appeal_due_on"] = evaluation.appeal_due(calendar)
    return {
        "evaluation_id": str(evaluation.id),
        "county": evaluation.county,
        "contract_id": evaluation.contract_id,
        "provider_id": evaluation.provider_id,
        "stage": evaluation.stage.value,
        "stage_name": STAGE_NAMES[evaluation.stage],
        "evaluator_org": evaluation.evaluator_org,
        "scheduled_on": evaluation.scheduled_on,
        "window": {"earliest": earliest, "latest": latest},
        "rubric_id": evaluation.rubric_id,
        "rubric_version": evaluation.rubric_version,
        "status": evaluation.status.value,
        "as_of": today,
        "steps": steps,
        "overdue": [s["step"] for s in steps if s["status"] == "overdue"],
        "self_evaluation": _shown(evaluation.self_evaluation),
        "review": _shown(evaluation.review),
        "visits": visits_view(evaluation),
        "survey": _shown(evaluation.survey),
        "scores": [{"item_code": code, **s.as_dict()} for code, s in evaluation.scores.items()],
        "deductions": [d.as_dict() for d in evaluation.deductions],
        "conclusion": conclusion,
        "feedback": _shown(evaluation.feedback),
        "appeal": _shown(evaluation.appeal),
        "result": _result(evaluation),
        "version": evaluation.version,
    }


def _shown(record: Any) -> dict[str, Any] | None:
    """A record of the evaluation as the routes answer it (``None`` until it exists)."""
    return None if record is None else record.as_dict()


def _result(evaluation: Evaluation) -> dict[str, Any] | None:
    return _shown(evaluation.result)


def evaluation_summary(evaluation: Evaluation, today: date, calendar: WorkdayCalendar | None = None) -> dict[str, Any]:
    return {
        "evaluation_id": str(evaluation.id),
        "contract_id": evaluation.contract_id,
        "provider_id": evaluation.provider_id,
        "stage": evaluation.stage.value,
        "evaluator_org": evaluation.evaluator_org,
        "scheduled_on": evaluation.scheduled_on,
        "rubric_version": evaluation.rubric_version,
        "status": evaluation.status.value,
        "overdue": [s["step"] for s in steps_view(evaluation, today, calendar) if s["status"] == "overdue"],
        "result": _result(evaluation),
    }


def evaluations_of(app: EvaluationApplication, county: str, contract_id: str | None = None) -> list[Evaluation]:
    listed = app.directory(county).evaluations
    return [
        app.evaluation(county, e.evaluation_id) for e in listed if contract_id is None or e.contract_id == contract_id
    ]


def contract_view(app: EvaluationApplication, county: str, contract_id: str, today: date) -> dict[str, Any]:
    """What evaluation knows of a contract: its year, stations, outcome figures and evaluations."""
    contract, calendar = app.contract(county, contract_id), app.calendar
    return {
        "contract_id": contract.contract_id,
        "provider_id": contract.provider_id,
        "station_ids": list(contract.station_ids),
        "period_start": contract.period_start,
        "period_end": contract.period_end,
        "terminated_on": contract.terminated_on,
        "windows": {
            stage: dict(zip(("earliest", "latest"), stage_window(stage, contract.period_start, contract.period_end), strict=True))
            for stage in STAGE_NAMES
        },
        "outcomes": app.outcome_figures(county, contract_id),
        "evaluations": [evaluation_summary(e, today, calendar) for e in evaluations_of(app, county, contract_id)],
    }


def evaluator_view(org: EvaluatorOrg) -> dict[str, Any]:
    return {
        "evaluator_org": str(org.id),
        "county": org.county,
        "name": org.name,
        "certificate_no": org.certificate_no,
        "accredited_until": org.accredited_until,
        "linked_provider_ids": list(org.linked_provider_ids),
        "members": [
            {"member_id": mid, "name": m.name, "credential_no": m.credential_no, "valid_until": m.valid_until}
            for mid, m in org.members.items()
        ],
    }


def rubric_view(rubric: Rubric, version: int) -> dict[str, Any]:
    return {
        "rubric_id": str(rubric.id), "scope": rubric.scope, "latest_version": rubric.current_version,
        **rubric.version_content(version).as_dict(),
    }


def public_results(app: EvaluationApplication, county: str) -> list[dict[str, Any]]:
    """R-EVAL-8: concluded evaluations, with organisations' names only — no person, no survey answer,
    no finding text."""
    results = []
    for evaluation in evaluations_of(app, county):
        result = evaluation.result
        if result is None:
            continue
        provider = app.known_provider(evaluation.provider_id)
        appeal = evaluation.appeal
        results.append({
            "evaluation_id": str(evaluation.id),
            "contract_id": evaluation.contract_id,
            "provider_id": evaluation.provider_id,
            "provider_name": provider.name if provider else None,
            "stage": evaluation.stage.value,
            "stage_name": STAGE_NAMES[evaluation.stage],
            "concluded_on": result.concluded_on,
            "score": result.score,
            "grade": result.grade.value,
            "passed": result.passed,
            "fraud_found": result.fraud_found,
            "serious_breach_found": result.serious_breach_found,
            "rubric_id": evaluation.rubric_id,
            "rubric_version": evaluation.rubric_version,
            "appeal": None if appeal is None else ("upheld" if appeal.upheld else "dismissed" if appeal.decided else "pending"),
        })
    return results
