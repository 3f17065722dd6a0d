"""services-log composed (issue 15 item 1): its commands are typed objects run on one CommandBus,
each with a handler; the bus refuses another county's command (R-AUD-6); an Idempotency-Key
recorded while the routes built their fingerprints by hand still answers the typed command. Its
reads are typed queries whose handlers narrow by the viewer: a worker sees only its own deliveries."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from services_log import commands as commands_module
from services_log import reads as reads_module
from services_log.api.deliveries import CorrectionIn, DeliveryIn
from services_log.application import ServicesLogApplication
from services_log.commands import CorrectDelivery, LogDelivery, RegisterBeneficiary, VoidDelivery
from services_log.composition import ServicesLog, compose
from services_log.domainmodel import Contract, Worker
from services_log.reads import ContractDeliveries, ContractProgress, DeliveryOf, WorkerOf

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.commands import Command
from shared.infra.queries import Query
from shared.infra.store import CommandContext, fingerprint
from shared.rules import Conflict, Forbidden, NotFound

COUNTY, OTHER = "640402", "640522"
PROVIDER, STATION = "p-1", "s-1"


def scope(county: str = COUNTY, role: Role = Role.PROVIDER, **claims: Any) -> CountyScope:
    claims.setdefault("provider_id", PROVIDER)
    return CountyScope(county=county, principal=Principal(sub="u1", role=role, counties=frozenset({county}), **claims))


@pytest.fixture
def service() -> Iterator[ServicesLog]:
    store = ServicesLogApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    contract = Contract(
        contract_id="c-1", county=COUNTY, provider_id=PROVIDER, station_ids=[STATION],
        period_start=date(2026, 9, 21), period_end=date(2027, 9, 20), service_areas=["社会救助"],
        indicators=[{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}], policy={},
    )
    workers = [
        Worker(worker_id=w, county=COUNTY, provider_id=PROVIDER, station_id=STATION, role="social_worker",
               hired_on=date(2026, 1, 1))
        for w in ("w-1", "w-2")
    ]
    with store.command(CommandContext(county=COUNTY, actor="registry")):
        store.save(contract, *workers)
    yield compose(store)
    store.close()


def body(**changes: Any) -> DeliveryIn:
    fields: dict[str, Any] = {
        "contract_id": "c-1", "station_id": STATION, "worker_ids": ["w-1"], "kind": "走访", "area": "社会救助",
        "date": "2026-10-05", "hours_direct": "1.50", "person_times": 2, "indicator_code": "assist",
    }
    return DeliveryIn.model_validate({**fields, **changes})


def log_command(service: ServicesLog, given: DeliveryIn, county: str = COUNTY, provider: str | None = PROVIDER) -> LogDelivery:
    """As ``POST …/deliveries`` states it."""
    return LogDelivery(
        county=county, **given.model_dump(exclude={"worker_ids", "beneficiary_refs"}), worker_ids=tuple(given.worker_ids),
        beneficiary_refs=tuple(given.beneficiary_refs), provider_id=provider,
        content_digest=service.lookups.content_digest(given.beneficiary_refs, given.content),
    )


def test_every_command_type_has_a_handler(service):
    declared = {
        c for _, c in inspect.getmembers(commands_module, inspect.isclass)
        if issubclass(c, Command) and c is not Command and c.__module__ == commands_module.__name__
    }
    assert len(declared) == 8
    assert set(service.bus.command_types) == declared


def test_a_command_of_another_county_is_refused_before_it_reads_anything(service):
    before = service.store.process_recorder.max_notification_id()
    with pytest.raises(Forbidden) as refused:
        service.bus.run(log_command(service, body()), scope(OTHER), ("k-1", None))
    assert refused.value.rule == "R-AUD-6"
    assert service.store.process_recorder.max_notification_id() == before


def test_another_providers_delivery_is_refused(service):
    with pytest.raises(Forbidden) as refused:
        service.bus.run(log_command(service, body(), provider="p-2"), scope(provider_id="p-2"), (None, None))
    assert refused.value.rule == "R-REG-8"


def test_a_delivery_is_logged_once_per_key_and_a_changed_request_is_refused(service):
    first = service.bus.run(log_command(service, body()), scope(), ("k-1", None))
    assert first.facts.kind == "探访" and first.facts.worker_ids == ("w-1",)  # 走访 = 探访 (R-LOG-1)
    again = service.bus.run(log_command(service, body()), scope(), ("k-1", None))
    assert again.id == first.id
    assert service.lookups.contract_log(service.lookups.contract(COUNTY, "c-1")).deliveries_logged == 1
    with pytest.raises(Conflict):
        service.bus.run(log_command(service, body(person_times=3)), scope(), ("k-1", None))
    voided = service.bus.run(VoidDelivery(county=COUNTY, delivery_id=str(first.id), reason="重复"), scope(), (None, None))
    assert voided.status == "voided"


def test_fingerprints_are_those_the_routes_built_by_hand(service):
    # An Idempotency-Key recorded before commands were typed must answer its repeat: the typed
    # command's fingerprint is the old route's payload (content citing someone only as its digest).
    ref = str(service.bus.run(
        RegisterBeneficiary(county=COUNTY, personal_data_hmac="h", personal_data={"name": "马奶奶"}, provider_id=PROVIDER),
        scope(), (None, None),
    ).id)
    plain = body(content="入户走访")
    assert fingerprint(log_command(service, plain).fingerprint_payload()) == fingerprint(plain.model_dump(mode="json"))
    cited = body(content="入户走访", beneficiary_refs=[ref])
    old = {k: v for k, v in cited.model_dump(mode="json").items() if k != "content"}
    old["content_digest"] = service.lookups.content_digest([ref], "入户走访")
    payload = log_command(service, cited).fingerprint_payload()
    assert "入户走访" not in str(payload) and fingerprint(payload) == fingerprint(old)

    correction = CorrectionIn.model_validate({"reason": "更正", "hours_direct": "2", "content": None, "kind": "走访"})
    changes = correction.model_dump(exclude_unset=True, exclude={"reason"})
    command = CorrectDelivery(county=COUNTY, delivery_id="d-1", reason="更正", changes=changes, provider_id=PROVIDER)
    old = {"delivery_id": "d-1", **correction.model_dump(mode="json", exclude_unset=True)}
    assert fingerprint(command.fingerprint_payload()) == fingerprint(old)
    # …and the changes applied: kinds canonical, a null content clears it, null elsewhere is "unchanged".
    assert command.fact_changes() == {"hours_direct": Decimal("2"), "content": None, "kind": "探访"}


def test_a_correction_keeps_the_delivery_history(service):
    first = service.bus.run(log_command(service, body()), scope(), (None, None))
    command = CorrectDelivery(
        county=COUNTY, delivery_id=str(first.id), reason="人次有误", changes={"person_times": 3}, provider_id=PROVIDER
    )
    corrected = service.bus.run(command, scope(), (None, None))
    assert corrected.facts.person_times == 3 and corrected.status == "corrected"
    assert str(uuid.UUID(str(corrected.id))) == str(first.id)


def test_a_repeated_key_answers_the_first_result_not_what_later_commands_changed(service):
    # API.md: "repeating it returns the first result". A correction keyed k-5 to 5 person-times,
    # then another (unkeyed) to 9: repeating k-5 answers the delivery as k-5 left it, and records nothing.
    first = service.bus.run(log_command(service, body()), scope(), (None, None))

    def correct(person_times: int, key: str | None) -> Any:
        command = CorrectDelivery(
            county=COUNTY, delivery_id=str(first.id), reason="人次有误", changes={"person_times": person_times}, provider_id=PROVIDER
        )
        return service.bus.run(command, scope(), (key, None))

    answered = correct(5, "k-5")
    correct(9, None)
    before = service.store.process_recorder.max_notification_id()
    again = correct(5, "k-5")
    assert (again.facts.person_times, again.version) == (5, answered.version)
    assert service.store.process_recorder.max_notification_id() == before
    assert service.store.repository.get(first.id).facts.person_times == 9  # live: the later correction


# --- typed queries: narrowed by the viewer in the handler (R-AUD-6) ----------------------------
def test_a_worker_viewer_sees_only_its_own_deliveries(service):
    mine = service.bus.run(log_command(service, body()), scope(), (None, None))
    theirs = service.bus.run(log_command(service, body(worker_ids=["w-2"])), scope(), (None, None))
    query = ContractDeliveries(county=COUNTY, contract_id="c-1", offset=0, limit=10)

    as_provider = service.reads.ask(query, scope())
    assert [d["delivery_id"] for d in as_provider.items] == [str(mine.id), str(theirs.id)]
    as_worker = service.reads.ask(query, scope(role=Role.WORKER, worker_id="w-1"))
    assert [d["delivery_id"] for d in as_worker.items] == [str(mine.id)]
    assert as_worker.total == 2  # paging still counts the contract's deliveries
    with pytest.raises(NotFound):
        service.reads.ask(DeliveryOf(county=COUNTY, delivery_id=str(theirs.id)), scope(role=Role.WORKER, worker_id="w-1"))
    assert service.reads.ask(DeliveryOf(county=COUNTY, delivery_id=str(mine.id)), scope(role=Role.WORKER, worker_id="w-1"))
    with pytest.raises(NotFound):  # a worker reads only its own worker record
        service.reads.ask(WorkerOf(county=COUNTY, worker_id="w-2"), scope(role=Role.WORKER, worker_id="w-1"))


def test_another_providers_contract_and_another_county_are_refused(service):
    with pytest.raises(Forbidden) as refused:
        service.reads.ask(ContractProgress(county=COUNTY, contract_id="c-1"), scope(provider_id="p-2"))
    assert refused.value.rule == "R-AUD-6"
    with pytest.raises(Forbidden) as refused:
        service.reads.ask(ContractProgress(county=COUNTY, contract_id="c-1"), scope(OTHER))
    assert refused.value.rule == "R-AUD-6"
    evaluator = CountyScope(county=COUNTY, principal=Principal(sub="e", role=Role.EVALUATOR, counties=frozenset({COUNTY})))
    assert service.reads.ask(ContractProgress(county=COUNTY, contract_id="c-1"), evaluator)["deliveries"] == 0


def test_casework_content_is_withheld_from_an_evaluator(service):
    delivery = service.bus.run(log_command(service, body(kind="个案", content="家庭矛盾调解")), scope(), (None, None))
    evaluator = CountyScope(county=COUNTY, principal=Principal(sub="e", role=Role.EVALUATOR, counties=frozenset({COUNTY})))
    seen = service.reads.ask(DeliveryOf(county=COUNTY, delivery_id=str(delivery.id)), evaluator)
    assert (seen["content"], seen["content_withheld"]) == (None, True)  # R-LOG-5
    own = service.reads.ask(DeliveryOf(county=COUNTY, delivery_id=str(delivery.id)), scope())
    assert (own["content"], own["content_withheld"]) == ("家庭矛盾调解", False)


def test_every_query_type_has_a_handler(service):
    declared = {
        c for _, c in inspect.getmembers(reads_module, inspect.isclass)
        if issubclass(c, Query) and c is not Query and c.__module__ == reads_module.__name__
    }
    assert declared and set(service.reads.query_types) == declared
