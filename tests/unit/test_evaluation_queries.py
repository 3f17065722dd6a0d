"""The evaluation service's reads on its QueryBus (issue 15 item 1): every query type has a
handler; a query reads only its caller's county (R-AUD-6); the handler narrows by the Viewer — an
evaluator sees only its organisation's evaluations (in the county's list, one evaluation and a
contract's view, where another organisation's evaluation of the same contract is left out), a
provider only its own contracts' (R-AUD-6, R-EVAL-7)."""

from __future__ import annotations

import inspect
from datetime import date

import pytest
from evaluation import commands as cmds
from evaluation import reads
from evaluation.application import compose
from evaluation.domainmodel import PROVINCE, ContractView, ProviderView
from evaluation.lookups import EvaluationApplication

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.queries import Query
from shared.infra.store import CommandContext
from shared.rules import Forbidden, NotFound

COUNTY, OTHER = "640402", "640522"
START, END = date(2026, 1, 1), date(2026, 12, 31)


def principal(role: Role, counties: frozenset[str] = frozenset({COUNTY}), **claims: str) -> Principal:
    return Principal(sub="u", role=role, counties=counties, **claims)


def scope(role: Role = Role.PURCHASER, county: str = COUNTY, **claims: str) -> CountyScope:
    return CountyScope(county=county, principal=principal(role, frozenset({county}), **claims))


@pytest.fixture
def place():
    """County COUNTY: contract c1 of provider p1 evaluated mid-term by E1 and at its end by E2,
    contract c2 of provider p2 evaluated mid-term by E2."""
    store = EvaluationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with store.command(CommandContext(county=COUNTY, actor="registry", correlation_id="")):
        store.save(
            ProviderView(provider_id="p1", county=COUNTY, name="甲社工中心"),
            ProviderView(provider_id="p2", county=COUNTY, name="乙社工中心"),
            *[
                ContractView(contract_id=c, county=COUNTY, provider_id=p, station_ids=["s1"], period_start=START,
                             period_end=END, indicators=[], year_index=1)
                for c, p in (("c1", "p1"), ("c2", "p2"))
            ],
        )
    service = compose(store)
    admin = CountyScope(county=PROVINCE, principal=principal(Role.PROVINCE_ADMIN, frozenset({"*"})))
    service.bus.run(cmds.PublishRubric(county=PROVINCE, name="统一评估标准"), admin, (None, None))
    orgs = [
        service.bus.run(
            cmds.AccreditEvaluator(county=COUNTY, name=n, certificate_no=n, accredited_until=date(2030, 1, 1)), scope(), (None, None)
        )
        for n in ("E1", "E2")
    ]
    evaluations = {}
    for contract, stage, on, org in (("c1", "midterm", date(2026, 7, 1), orgs[0]), ("c1", "final", date(2026, 12, 15), orgs[1]),
                                     ("c2", "midterm", date(2026, 7, 1), orgs[1])):
        command = cmds.ScheduleEvaluation(county=COUNTY, contract_id=contract, stage=stage, evaluator_org=org, scheduled_on=on)
        evaluations[contract, stage] = str(service.bus.run(command, scope(), (None, None)).id)
    yield service, orgs, evaluations
    store.close()


def listed(service, as_scope: CountyScope, contract_id: str | None = None) -> set[str]:
    query = reads.CountyEvaluations(county=COUNTY, contract_id=contract_id, as_of=date(2026, 6, 1), limit=50)
    return {row["evaluation_id"] for row in service.reads.ask(query, as_scope).rows}


def test_every_query_type_of_the_service_has_a_handler(place):
    service, _, _ = place
    declared = {
        q for _, q in inspect.getmembers(reads, inspect.isclass)
        if issubclass(q, Query) and q is not Query and q.__module__ == reads.__name__
    }
    assert len(declared) == 7
    assert set(service.reads.query_types) == declared


def test_a_query_of_another_county_is_refused(place):
    service, _, _ = place
    for query in (reads.CountyEvaluations(county=COUNTY, contract_id=None, as_of=None, limit=10),
                  reads.Evaluators(county=COUNTY), reads.RubricInForce(county=COUNTY)):
        with pytest.raises(Forbidden) as refused:
            service.reads.ask(query, scope(county=OTHER))
        assert refused.value.rule == "R-AUD-6"


def test_an_evaluator_lists_only_its_organisations_evaluations_and_a_provider_only_its_own(place):
    service, (e1, e2), ev = place
    everything = set(ev.values())
    assert listed(service, scope()) == everything
    assert listed(service, scope(Role.AUDITOR)) == everything
    assert listed(service, scope(Role.EVALUATOR, evaluator_org=e1)) == {ev["c1", "midterm"]}
    assert listed(service, scope(Role.EVALUATOR, evaluator_org=e2)) == {ev["c1", "final"], ev["c2", "midterm"]}
    assert listed(service, scope(Role.EVALUATOR, evaluator_org=e2), contract_id="c1") == {ev["c1", "final"]}
    assert listed(service, scope(Role.PROVIDER, provider_id="p1")) == {ev["c1", "midterm"], ev["c1", "final"]}
    # An evaluator's token naming a provider is not limited (nor widened) by it.
    assert listed(service, scope(Role.EVALUATOR, evaluator_org=e1, provider_id="p2")) == {ev["c1", "midterm"]}


def test_a_token_without_its_organisation_or_provider_reads_nothing(place):
    service, _, ev = place
    for as_scope in (scope(Role.EVALUATOR), scope(Role.EVALUATOR, evaluator_org="")):
        with pytest.raises(Forbidden) as refused:
            listed(service, as_scope)
        assert refused.value.rule == "R-AUD-6"
        with pytest.raises(Forbidden):
            service.reads.ask(reads.EvaluationDetail(county=COUNTY, evaluation_id=ev["c1", "midterm"]), as_scope)


def test_an_evaluator_reads_its_own_evaluation_and_not_another_organisations(place):
    service, (e1, _), ev = place
    mine = service.reads.ask(reads.EvaluationDetail(county=COUNTY, evaluation_id=ev["c1", "midterm"]), scope(Role.EVALUATOR, evaluator_org=e1))
    assert mine["evaluator_org"] == e1 and mine["contract_id"] == "c1"
    with pytest.raises(Forbidden) as refused:
        service.reads.ask(reads.EvaluationDetail(county=COUNTY, evaluation_id=ev["c1", "final"]), scope(Role.EVALUATOR, evaluator_org=e1))
    assert refused.value.rule == "R-AUD-6"
    with pytest.raises(Forbidden):
        service.reads.ask(reads.EvaluationDetail(county=COUNTY, evaluation_id=ev["c2", "midterm"]), scope(Role.PROVIDER, provider_id="p1"))


def test_a_contracts_view_shows_an_evaluator_only_its_organisations_evaluations_of_it(place):
    service, (e1, e2), ev = place

    def shown(as_scope: CountyScope) -> set[str]:
        view = service.reads.ask(reads.ContractEvaluations(county=COUNTY, contract_id="c1"), as_scope)
        assert view["contract_id"] == "c1" and view["provider_id"] == "p1"
        return {e["evaluation_id"] for e in view["evaluations"]}

    both = {ev["c1", "midterm"], ev["c1", "final"]}
    assert shown(scope()) == both
    assert shown(scope(Role.PROVIDER, provider_id="p1")) == both
    assert shown(scope(Role.EVALUATOR, evaluator_org=e1)) == {ev["c1", "midterm"]}  # not E2's final evaluation
    assert shown(scope(Role.EVALUATOR, evaluator_org=e2)) == {ev["c1", "final"]}
    with pytest.raises(Forbidden) as refused:
        shown(scope(Role.PROVIDER, provider_id="p2"))
    assert refused.value.rule == "R-AUD-6"


def test_a_county_rubric_version_is_read_only_with_that_county_granted(place):
    service, _, _ = place
    rubric = service.bus.run(cmds.PublishRubric(county=COUNTY, name="县评估标准"), scope(), (None, None))
    query = reads.RubricVersion(rubric_id=str(rubric.id), version=1)
    assert service.reads.ask(query, principal(Role.PROVIDER, provider_id="p1"))["scope"] == COUNTY
    assert service.reads.ask(query, principal(Role.AUDITOR, frozenset({"*"})))["name"] == "县评估标准"
    for outsider in (principal(Role.PURCHASER, frozenset({OTHER})), principal(Role.PURCHASER, frozenset({"*"}))):
        with pytest.raises(NotFound):
            service.reads.ask(query, outsider)
    with pytest.raises(NotFound):
        service.reads.ask(reads.RubricVersion(rubric_id=str(rubric.id), version=2), principal(Role.PURCHASER))
    # The county's own rubric is now the one in force there.
    assert service.reads.ask(reads.RubricInForce(county=COUNTY), scope())["rubric_id"] == str(rubric.id)
