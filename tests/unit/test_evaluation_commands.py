"""The evaluation service's commands on its CommandBus (issue 15 item 1): every command type has a
handler; a command runs only in its caller's county (R-AUD-6); the evaluator's and provider's
steps are theirs only (R-EVAL-7, R-AUD-6); an Idempotency-Key is replayed through the bus, and a
key recorded by the untyped pipeline (the route's body as JSON) still replays the typed command."""

from __future__ import annotations

import inspect
from datetime import date
from decimal import Decimal

import pytest
from evaluation import commands as cmds
from evaluation.api.bodies import (
    AppealDecisionIn,
    AppealIn,
    ConclusionIn,
    DeductionIn,
    FeedbackIn,
    ReviewIn,
    ScheduleIn,
    ScoresIn,
    SelfEvaluationIn,
    SurveyIn,
    VisitIn,
)
from evaluation.api.evaluators import EvaluatorIn, LinkIn, MemberIn
from evaluation.api.rubrics import RubricIn
from evaluation.application import compose
from evaluation.domainmodel import PROVINCE, ContractView, ProviderView
from evaluation.lookups import EvaluationApplication

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.commands import Command
from shared.infra.service import CommandRequest, run_command
from shared.infra.store import CommandContext, fingerprint
from shared.rules import Conflict, Forbidden, RuleViolation

COUNTY, OTHER = "640402", "640522"
START, END = date(2026, 1, 1), date(2026, 12, 31)


def scope(role: Role = Role.PURCHASER, county: str = COUNTY, **claims: str) -> CountyScope:
    return CountyScope(county=county, principal=Principal(sub="u", role=role, counties=frozenset({county}), **claims))


def keyed(key: str | None, route: str = "/v1/counties/{county}/evaluations", **params: str) -> CommandRequest:
    return CommandRequest(key, None, {"method": "POST", "route": route, "params": {"county": COUNTY, **params}})


@pytest.fixture
def service():
    store = EvaluationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with store.command(CommandContext(county=COUNTY, actor="registry", correlation_id="")):
        store.save(
            ProviderView(provider_id="p1", county=COUNTY, name="甲社工中心"),
            ProviderView(provider_id="p2", county=COUNTY, name="乙社工中心"),
            ContractView(
                contract_id="c1", county=COUNTY, provider_id="p1", station_ids=["s1"], period_start=START,
                period_end=END, indicators=[], year_index=1,
            ),
        )
    composed = compose(store)
    admin = CountyScope(county=PROVINCE, principal=Principal(sub="a", role=Role.PROVINCE_ADMIN, counties=frozenset({"*"})))
    composed.bus.run(cmds.PublishRubric(county=PROVINCE, name="统一评估标准"), admin, (None, None))
    yield composed
    store.close()


def accredit(service, name: str = "评估中心") -> str:
    command = cmds.AccreditEvaluator(county=COUNTY, name=name, certificate_no="EV-1", accredited_until=date(2030, 1, 1))
    return service.bus.run(command, scope(), (None, None))


def schedule(service, org: str, key: str | None = None, stage: str = "midterm", on: date = date(2026, 7, 1)):
    command = cmds.ScheduleEvaluation(county=COUNTY, contract_id="c1", stage=stage, evaluator_org=org, scheduled_on=on)
    return service.bus.run(command, scope(), keyed(key))


def recorded(service) -> int:
    return service.store.process_recorder.max_notification_id() or 0


def test_every_command_type_of_the_service_has_a_handler(service):
    declared = {
        c for _, c in inspect.getmembers(cmds, inspect.isclass)
        if issubclass(c, Command) and c is not Command and c.__module__ == cmds.__name__
    }
    assert len(declared) == 15
    assert set(service.bus.command_types) == declared


def test_a_command_for_another_county_is_refused_and_records_nothing(service):
    org = accredit(service)
    before = recorded(service)
    command = cmds.ScheduleEvaluation(county=COUNTY, contract_id="c1", stage="midterm", evaluator_org=org, scheduled_on=date(2026, 7, 1))
    with pytest.raises(Forbidden) as refused:
        service.bus.run(command, scope(county=OTHER), (None, None))
    assert refused.value.rule == "R-AUD-6"
    assert recorded(service) == before


def test_only_the_assigned_organisation_records_and_only_the_evaluated_provider_submits(service):
    e1, e2 = accredit(service, "甲评估"), accredit(service, "乙评估")
    evaluation = schedule(service, e1)
    eid = str(evaluation.id)
    review = cmds.ReviewSelfEvaluation(county=COUNTY, evaluation_id=eid, reviewed_on=date(2026, 6, 1), by_org=e2)
    with pytest.raises(Forbidden) as refused:
        service.bus.run(review, scope(Role.EVALUATOR, evaluator_org=e2), (None, None))
    assert refused.value.rule == "R-EVAL-7"
    submit = cmds.SubmitSelfEvaluation(county=COUNTY, evaluation_id=eid, summary="自评", submitted_on=date(2026, 6, 1), by_provider="p2")
    with pytest.raises(Forbidden) as refused:
        service.bus.run(submit, scope(Role.PROVIDER, provider_id="p2"), (None, None))
    assert refused.value.rule == "R-AUD-6"
    # The evaluated provider and the assigned organisation do record; each answer is the evaluation.
    own = cmds.SubmitSelfEvaluation(county=COUNTY, evaluation_id=eid, summary="自评", submitted_on=date(2026, 6, 1), by_provider="p1")
    assert service.bus.run(own, scope(Role.PROVIDER, provider_id="p1"), (None, None)).self_evaluation is not None
    mine = cmds.ReviewSelfEvaluation(county=COUNTY, evaluation_id=eid, reviewed_on=date(2026, 6, 1), by_org=e1)
    assert service.bus.run(mine, scope(Role.EVALUATOR, evaluator_org=e1), (None, None)).review is not None


def test_a_repeated_key_replays_through_the_bus_and_another_request_under_it_is_refused(service):
    org = accredit(service)
    first = schedule(service, org, key="k-schedule")
    before = recorded(service)
    again = schedule(service, org, key="k-schedule")
    assert again.id == first.id and recorded(service) == before  # nothing new recorded
    with pytest.raises(Conflict):
        schedule(service, org, key="k-schedule", stage="final", on=date(2026, 12, 15))


def test_a_repeated_visit_names_the_same_visit_and_records_it_once(service):
    org = accredit(service)
    service.bus.run(
        cmds.AccreditMember(county=COUNTY, evaluator_org=org, name="王评估", credential_no="C-1",
                            valid_until=date(2030, 1, 1), member_id="m1"),
        scope(), (None, None),
    )
    eid = str(schedule(service, org, stage="process", on=date(2026, 3, 1)).id)
    evaluator = scope(Role.EVALUATOR, evaluator_org=org)
    route = "/v1/counties/{county}/evaluations/{evaluation_id}/visits"

    def visit(visit_id: str):
        command = cmds.RecordVisit(
            county=COUNTY, evaluation_id=eid, station_id="s1", visited_on=date(2026, 4, 1), member_id="m1",
            credential_shown=True, signed_by={"name": "李主任", "role": "中心主任"}, findings="台账齐全",
            visit_id=visit_id, by_org=org,
        )
        return service.bus.run(command, evaluator, keyed("k-visit", route, evaluation_id=eid))

    assert visit("v1").visits_done("s1") == 1
    # The visit id derives from the key, not from what was asked: a repeat is the same request.
    again = visit("v1")
    assert again.visits_done("s1") == 1 and [v.visit_id for v in again.visits] == ["v1"]


# Each route's body, as sent, and the typed command the route now builds from it: the command's
# fingerprinted fields are exactly the body's (plus the path's evaluation or organisation), so an
# Idempotency-Key recorded before commands were typed still answers its repeat.
EID = "0f4b8d7e-1111-4222-8333-944455566677"
BODIES = [
    (cmds.PublishRubric, {}, RubricIn(name="县评估标准", thresholds={"优秀": 91, "良好": 81, "合格": 61},
                                      policy={"appeal_working_days": 12})),
    (cmds.AccreditEvaluator, {}, EvaluatorIn(name="评估中心", certificate_no="EV-1", accredited_until=date(2030, 1, 1),
                                             linked_provider_ids=["p2"])),
    (cmds.AccreditMember, {"evaluator_org": "o1", "member_id": "m"}, MemberIn(name="王", credential_no="C", valid_until=date(2030, 1, 1))),
    (cmds.DeclareLink, {"evaluator_org": "o1"}, LinkIn(provider_id="p1", relation="同一法定代表人")),
    (cmds.ScheduleEvaluation, {}, ScheduleIn(contract_id="c1", stage="midterm", evaluator_org="o1", scheduled_on=date(2026, 7, 1))),
    (cmds.SubmitSelfEvaluation, {"evaluation_id": EID, "by_provider": "p1"},
     SelfEvaluationIn(summary="自评", self_scores={"setup.venue": Decimal("4.50")})),
    (cmds.ReviewSelfEvaluation, {"evaluation_id": EID, "by_org": "o1"}, ReviewIn(notes="")),
    (cmds.RecordVisit, {"evaluation_id": EID, "visit_id": "v", "by_org": "o1"},
     VisitIn(station_id="s1", member_id="m", credential_shown=True, signed_by={"name": "李", "role": "主任"}, findings="f")),
    (cmds.RecordSurvey, {"evaluation_id": EID, "by_org": "o1"},
     SurveyIn(responses=[{"group": "beneficiaries", "answers": {"overall": "满意"}}])),
    (cmds.ScoreItems, {"evaluation_id": EID, "by_org": "o1"},
     ScoresIn(scored_on=date(2026, 7, 1), scores=[{"item_code": "setup.venue", "score": "4.5"}])),
    (cmds.Deduct, {"evaluation_id": EID, "by_org": "o1"}, DeductionIn(points=Decimal("1.5"), reason="台账不全")),
    (cmds.Conclude, {"evaluation_id": EID, "by_org": "o1"}, ConclusionIn(fraud_found=True, fraud_details="虚报")),
    (cmds.RecordFeedback, {"evaluation_id": EID, "party": "provider", "by_provider": "p1"}, FeedbackIn(notes="同意")),
    (cmds.Appeal, {"evaluation_id": EID, "by_provider": "p1"}, AppealIn(reason="评分有误")),
    (cmds.DecideAppeal, {"evaluation_id": EID}, AppealDecisionIn(upheld=True, revised_score=Decimal("75"), reason="复核")),
]


@pytest.mark.parametrize(("kind", "path", "body"), BODIES, ids=[k.__name__ for k, _, _ in BODIES])
def test_a_commands_fingerprint_is_its_routes_request_as_before(kind, path, body):
    command = kind(county=COUNTY, **path, **body.model_dump())
    asked = {k: v for k, v in path.items() if k in ("evaluation_id", "evaluator_org")}
    assert fingerprint(command.fingerprint_payload()) == fingerprint({**asked, **body.model_dump(mode="json")})


def test_every_command_type_is_in_the_fingerprint_table():
    assert {k for k, _, _ in BODIES} == {
        c for _, c in inspect.getmembers(cmds, inspect.isclass) if issubclass(c, Command) and c is not Command
    }


def test_a_key_recorded_by_the_untyped_pipeline_replays_the_typed_command(service):
    org = accredit(service)
    body = ScheduleIn(contract_id="c1", stage="midterm", evaluator_org=org, scheduled_on=date(2026, 7, 1))
    headers = keyed("k-old")
    # What the route ran before commands were typed: its body as JSON, its own lambdas.
    old = run_command(
        service.store, scope(), headers, body.model_dump(mode="json"),
        lambda: service.bus._handlers[cmds.ScheduleEvaluation].handle(cmds.ScheduleEvaluation(county=COUNTY, **body.model_dump())),
        lambda ids: None,
    )
    before = recorded(service)
    again = service.bus.run(cmds.ScheduleEvaluation(county=COUNTY, **body.model_dump()), scope(), headers)
    assert again.id == old.id and recorded(service) == before


def test_stages_are_taken_as_domain_md_and_the_seeds_name_them(service):
    # R-EVAL-1: DOMAIN.md writes "mid-term", the seeds 中期评估 / 末期评估 / 过程评估; each is recorded by its code.
    org = accredit(service)
    assert schedule(service, org, stage="mid-term").stage == "midterm"
    assert schedule(service, org, stage="末期评估", on=date(2026, 12, 15)).stage == "final"
    assert schedule(service, org, stage="过程评估", on=date(2026, 3, 1)).stage == "process"
    assert schedule(service, org, stage="Annual", on=date(2026, 12, 20)).stage == "annual"
    # The same stage twice, however written, is one evaluation too many.
    with pytest.raises(RuleViolation) as twice:
        schedule(service, org, stage="中期评估")
    assert (twice.value.rule, twice.value.field) == ("R-EVAL-1", "stage")
