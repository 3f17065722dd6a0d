"""The registry's commands are typed and run on its CommandBus (issue 15 item 1): every command
type has its handler, a command runs only in the county of the caller's scope (R-AUD-6), an
Idempotency-Key repeat answers with the first run's result and records nothing, and an
Idempotency-Key recorded by the untyped routes (``run_command`` with the request body, procurement's
record of the path as ``"id"``) still replays."""

from __future__ import annotations

import inspect
from dataclasses import fields
from datetime import date

import pytest
from registry import commands as rc
from registry.api.contracts import (
    ContractIn,
    ExpiryIn,
    FilingIn,
    RenewalIn,
    ScopeChangeIn,
    ScopeDecisionIn,
    TerminationIn,
)
from registry.api.counties import CountyIn
from registry.api.providers import BanIn, DisclosureIn, ProfileIn, ProviderIn
from registry.api.staffing import LeavingIn, MoveIn, QualificationIn, StationIn, WorkerIn
from registry.application import Registry, RegistryApplication, compose
from registry.procurement.schemas import (
    ApplicationIn,
    AwardIn,
    BidIn,
    DecisionIn,
    MilestoneIn,
    ProcurementIn,
    ProgrammeIn,
)

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.commands import Command
from shared.infra.service import run_command
from shared.infra.store import fingerprint
from shared.rules import Conflict, Forbidden, RuleViolation
from shared.subjects import PROVINCE

A, B = "640402", "640522"
USCC = "52640402MJY1000012"

# Each command and the body its route receives; the path's record is fingerprinted as "id" where
# the untyped route bound it so (procurement), plus any other path parameter it bound.
BODIES: dict[type[Command], tuple[type, set[str]]] = {
    rc.PutCounty: (CountyIn, set()),
    rc.RegisterProvider: (ProviderIn, set()),
    rc.UpdateProviderProfile: (ProfileIn, set()),
    rc.BanProvider: (BanIn, set()),
    rc.PublishDisclosure: (DisclosureIn, set()),
    rc.EstablishStation: (StationIn, set()),
    rc.HireWorker: (WorkerIn, set()),
    rc.MoveWorker: (MoveIn, set()),
    rc.QualifyWorker: (QualificationIn, set()),
    rc.RecordWorkerLeaving: (LeavingIn, set()),
    rc.SignContract: (ContractIn, set()),
    rc.ExpireContracts: (ExpiryIn, set()),
    rc.FileContract: (FilingIn, set()),
    rc.RequestScopeChange: (ScopeChangeIn, set()),
    rc.DecideScopeChange: (ScopeDecisionIn, set()),
    rc.RenewContract: (RenewalIn, set()),
    rc.TerminateContract: (TerminationIn, set()),
    rc.LaunchProgramme: (ProgrammeIn, set()),
    rc.ReachMilestone: (MilestoneIn, {"id", "kind"}),
    rc.ApplyForProject: (ApplicationIn, set()),
    rc.DecideProject: (DecisionIn, {"id"}),
    rc.OpenProcurement: (ProcurementIn, {"id"}),
    rc.SubmitBid: (BidIn, {"id"}),
    rc.AwardPackage: (AwardIn, {"id"}),
}


def scope(county: str = A, role: Role = Role.PURCHASER) -> CountyScope:
    return CountyScope(county=county, principal=Principal(sub="u1", role=role, counties=frozenset({county})))


def province() -> CountyScope:
    return CountyScope(
        county=PROVINCE, principal=Principal(sub="admin", role=Role.PROVINCE_ADMIN, counties=frozenset({"*"}))
    )


@pytest.fixture
def registry():
    app = RegistryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield compose(app)
    app.close()


def recorded(registry: Registry) -> int:
    return registry.store.process_recorder.max_notification_id() or 0


def county(registry: Registry, code: str = A) -> None:
    registry.bus.run(rc.PutCounty(county=code, name="原州区"), scope(code, Role.PROVINCE_ADMIN), (None, None))


def provider(registry: Registry, headers=(None, None)) -> str:
    command = rc.RegisterProvider(county=A, name="明德社会工作服务中心", uscc=USCC, rating="4A", has_party_org=True)
    return str(registry.bus.run(command, scope(), headers))


# --- every command typed, every type handled ----------------------------------------------------


def test_every_command_type_of_the_registry_has_a_handler(registry):
    declared = {c for _, c in inspect.getmembers(rc, inspect.isclass) if issubclass(c, Command) and c is not Command}
    assert declared == set(BODIES)
    assert set(registry.bus.command_types) == declared


@pytest.mark.parametrize("command_type", list(BODIES), ids=lambda c: c.__name__)
def test_a_command_fingerprints_exactly_what_its_route_fingerprinted_before(command_type):
    # The keys an untyped route fingerprinted (its body, procurement's path record as "id"): the
    # same request keeps its Idempotency-Key across the change. What the command derives (the
    # path's records the route's target names, ids from the key, the caller) is not among them.
    body, path_keys = BODIES[command_type]
    named = {
        (f.name if f.metadata.get("fingerprint", True) is True else f.metadata["fingerprint"])
        for f in fields(command_type)
        if f.metadata.get("fingerprint", True) is not False
    }
    assert named == set(body.model_fields) | path_keys


def test_a_contract_signing_fingerprints_as_its_untyped_route_did():
    body = ContractIn(
        provider_id="p",
        station_ids=["s"],
        purchaser="原州区民政局",
        signed_on=date(2026, 9, 10),
        effective_on=date(2026, 9, 21),
        period_start=date(2026, 9, 21),
        period_end=date(2027, 9, 20),
        amount_fen=100,
        funding=[{"source": "福彩公益金", "amount_fen": 100}],
        service_areas=["社会救助"],
        indicators=[
            {"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500, "monthly_plan": {"2026-10": 40}}
        ],
        tranche_plan=[{"seq": 1, "percent": 100, "trigger": "contract_effective"}],
    )
    command = rc.SignContract(county=A, **body.model_dump())
    assert fingerprint(command.fingerprint_payload()) == fingerprint(body.model_dump(mode="json"))
    bid = BidIn(
        provider_id="p",
        submitted_on=date(2026, 12, 1),
        annual_price_fen=1,
        items=[{"code": "c", "planned": 3}],
        staffing={"professionals": 2},
    )
    submit = rc.SubmitBid(county=A, procurement_id="proc-1", **bid.model_dump())
    assert fingerprint(submit.fingerprint_payload()) == fingerprint({"id": "proc-1", **bid.model_dump(mode="json")})


# --- the county of the scope (R-AUD-6) ----------------------------------------------------------


def test_a_command_for_another_county_is_refused_and_records_nothing(registry):
    county(registry, A)
    county(registry, B)
    before = recorded(registry)
    station = rc.EstablishStation(county=B, name="南关街道社工站", township="南关街道", kind="street_station")
    with pytest.raises(Forbidden) as refused:
        registry.bus.run(station, scope(A), (None, None))
    assert refused.value.rule == "R-AUD-6"
    # …nor a programme milestone outside the province scope.
    with pytest.raises(Forbidden):
        registry.bus.run(
            rc.ReachMilestone(county=A, programme_id="x", kind="service", reached_on=date(2026, 1, 1)),
            province(),
            (None, None),
        )
    assert recorded(registry) == before


def test_a_policy_with_a_bad_name_is_refused_when_the_command_is_stated():
    with pytest.raises(RuleViolation) as refused:
        rc.PutCounty(county=A, name="原州区", policy={"funding_sources": ["福彩\u200b公益金"]})
    assert (refused.value.rule, refused.value.field) == ("R-FIN-2", "policy.funding_sources.0")


# --- Idempotency-Key through the bus ------------------------------------------------------------


def test_a_repeated_key_answers_with_the_first_result_and_records_nothing(registry):
    county(registry)
    first = provider(registry, ("reg-1", None))
    after_first = recorded(registry)
    assert provider(registry, ("reg-1", None)) == first
    assert recorded(registry) == after_first
    # The same key for another request is refused, not answered with the first provider.
    other = rc.RegisterProvider(county=A, name="仁爱", uscc="52640402MJY100002X", has_party_org=False)
    with pytest.raises(Conflict):
        registry.bus.run(other, scope(), ("reg-1", None))

    # A command on an existing record replays the record (the ban the first run imposed: one ban).
    ban = rc.BanProvider(county=A, provider_id=first, banned_on=date(2026, 3, 1), reason="弄虚作假")
    banned = registry.bus.run(ban, scope(), ("ban-1", None))
    again = registry.bus.run(ban, scope(), ("ban-1", None))
    assert again.id == banned.id and len(again.bans) == 1 == len(registry.store.provider(A, first).bans)


def test_a_key_recorded_by_the_untyped_routes_still_replays(registry):
    county(registry)
    # POST …/providers before commands were typed: the body (python dump) was the fingerprint.
    body = ProviderIn(name="明德社会工作服务中心", uscc=USCC, rating="4A", has_party_org=True)
    recorded_id = run_command(
        registry.store,
        scope(),
        ("old-1", None),
        body.model_dump(),
        lambda: registry.counties.register_provider(A, body.name, body.uscc, body.rating, body.has_party_org, []),
        lambda ids: ids[0],
    )
    before = recorded(registry)
    assert provider(registry, ("old-1", None)) == str(recorded_id)
    assert recorded(registry) == before

    # POST /v1/programmes/{id}/milestones/{kind}: the path's programme was fingerprinted as "id".
    programme = ProgrammeIn(
        issuer="宁夏回族自治区民政厅",
        level="province",
        title="社工站建设",
        issued_on=date(2026, 1, 5),
        budget_fen=1_000,
        allocations=[{"county": A, "amount_fen": 1_000}],
        milestones=[{"kind": "mobilisation", "due_on": date(2026, 3, 1)}],
    )
    pid = str(registry.bus.run(rc.LaunchProgramme(county=PROVINCE, **programme.model_dump()), province(), (None, None)))
    reached = MilestoneIn(reached_on=date(2026, 2, 1))
    run_command(
        registry.store,
        province(),
        ("old-2", None),
        {"id": pid, "kind": "mobilisation", **reached.model_dump(mode="json")},
        lambda: registry.procurement.reach_milestone(pid, "mobilisation", reached.reached_on),
        lambda _ids: None,
    )
    before = recorded(registry)
    command = rc.ReachMilestone(county=PROVINCE, programme_id=pid, kind="mobilisation", reached_on=reached.reached_on)
    replayed = registry.bus.run(
        command, province(), ("old-2", None)
    )  # a re-run would refuse: reached already (R-PRJ-1)
    assert str(replayed.id) == pid and replayed.reached == {"mobilisation": date(2026, 2, 1)}
    assert recorded(registry) == before
    with pytest.raises(RuleViolation) as refused:
        registry.bus.run(command, province(), ("new-key", None))
    assert refused.value.rule == "R-PRJ-1"
