"""A contract log recorded by the earlier shape (version 1: every delivery id in a list and a set,
snapshots of it) still loads, reads and lists its deliveries; the first write indexes it once.
The store is written as version 1 wrote it: its ``Opened`` without ``indexed``, a snapshot with
``delivery_ids`` and ``_known`` and without month totals. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Snapshot
from services_log.application import ServicesLogApplication
from services_log.composition import compose
from services_log.domainmodel import (
    Contract,
    ContractLog,
    DeliveryFacts,
    DeliveryIndexPage,
    ServiceDelivery,
    contribution,
)

from shared.infra.store import CommandContext
from tests.integration.services_log_store import store_app, store_env  # noqa: F401 (fixtures app, env)

COUNTY = "640402"


class WithoutSnapshots(ServicesLogApplication):
    name = ServicesLogApplication.name  # the same tables
    snapshotting_intervals = {}


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def facts(contract: Contract, day: int, person_times: int) -> DeliveryFacts:
    return DeliveryFacts(
        contract_id=contract.contract_id, station_id=contract.station_ids[0], worker_ids=("w-1",), kind="帮扶救助",
        area="社会救助", date=date(2026, 10, day), hours_direct=Decimal("1.5"), hours_other=Decimal("0"),
        person_times=person_times, indicator_code="assist",
    )


def write_version_1_log(app: ServicesLogApplication, contract: Contract, deliveries: list[tuple[str, DeliveryFacts]]) -> uuid.UUID:
    """Opened (v1: no ``indexed``), one Tallied per delivery, and a v1 snapshot after the second."""
    log = ContractLog(contract_id=contract.contract_id, county=COUNTY)
    for delivery_id, f in deliveries:
        log.tally_changes(new_delivery_ids=[delivery_id], delta=contribution(f, contract))
    stored = [app.mapper.to_stored_event(e) for e in log.collect_events()]
    opened = json.loads(stored[0].state)
    assert opened.pop("class_version") == 2 and opened.pop("indexed") is True  # the Opened event's own version
    stored[0] = type(stored[0])(stored[0].originator_id, 1, stored[0].topic, json.dumps(opened).encode())
    app.recorder.insert_events(stored)

    at_two = WithoutSnapshots(app.env)
    try:
        snapshot = Snapshot.take(at_two.repository.get(log.id, version=3))
    finally:
        at_two.close()
    v1 = dict(snapshot.state)
    assert v1.pop("class_version") == 3
    v1.pop("deliveries_logged"), v1.pop("indexed")
    ids = [d for d, _ in deliveries[:2]]
    v1["delivery_ids"], v1["_known"] = ids, set(ids)
    tally = v1["tally"].as_dict()  # version 1 held it as dicts, without month totals
    v1["tally"] = tally | {"months": {m: {k: v for k, v in counted.items() if k != "totals"} for m, counted in tally["months"].items()}}
    assert app.snapshots is not None
    app.snapshots.put([Snapshot(originator_id=log.id, originator_version=3, timestamp=snapshot.timestamp, topic=snapshot.topic, state=v1)])
    return log.id


def test_a_version_1_log_loads_reads_and_is_indexed_by_its_first_write(app, env):
    contract = Contract(
        contract_id=str(uuid.uuid4()), county=COUNTY, provider_id="p-1", station_ids=["s-1"],
        period_start=date(2026, 9, 21), period_end=date(2027, 9, 20), service_areas=["社会救助"],
        indicators=[{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}], policy={},
    )
    deliveries = [(str(uuid.uuid4()), facts(contract, day, pt)) for day, pt in ((5, 10), (6, 20), (20, 30))]
    with app.command(CommandContext(county=COUNTY, actor="tester")):
        app.save(contract, *(ServiceDelivery(delivery_id=d, county=COUNTY, **f.as_args(), source="api") for d, f in deliveries))
    log_id = write_version_1_log(app, contract, deliveries)

    # Loads from the v1 snapshot (upcast) equal the replay of every event, now and as of then.
    replay = WithoutSnapshots(env)
    try:
        for version in (3, 4):
            assert state(app.repository.get(log_id, version=version)) == state(replay.repository.get(log_id, version=version))
        log = app.repository.get(log_id)
        assert state(log) == state(replay.repository.get(log_id))
    finally:
        replay.close()
    assert (log.deliveries_logged, log.indexed, hasattr(log, "delivery_ids")) == (3, False, False)
    assert log.tally.months["2026-10"].totals.person_times == 60
    assert app.verify_snapshots() == {"checked": 1, "mismatched": []}

    svc = compose(app)
    # Reads before any write: the deliveries from its events, progress from its tally.
    total, listed = svc.queries.deliveries_of(COUNTY, contract.contract_id, 1, 5)
    assert (total, [str(d.id) for d in listed]) == (3, [d for d, _ in deliveries[1:]])
    progress = svc.queries.progress(COUNTY, contract.contract_id, date(2026, 10, 10))
    assert (progress["deliveries"], progress["person_times"]) == (2, 30)

    # The first write puts its deliveries into index pages, once, with the new one after them.
    new_id, new = str(uuid.uuid4()), facts(contract, 21, 40)
    with app.command(CommandContext(county=COUNTY, actor="tester")):
        log, pages = svc.lookups.contract_log(contract), dict[int, DeliveryIndexPage]()
        persons = svc.recording.migrate_log(contract, log, pages)
        svc.recording.index_deliveries(log, [new_id], pages)
        log.tally_changes(new_delivery_ids=[new_id], delta=contribution(new, contract))
        delivery = ServiceDelivery(delivery_id=new_id, county=COUNTY, **new.as_args(), source="api")
        app.save(delivery, log, *pages.values(), *svc.recording.count_served(contract, persons))
    assert persons == {"year": []}  # none cited a beneficiary: the year's count is opened, empty
    log = svc.lookups.contract_log(contract, read_only=True)
    assert (log.indexed, log.deliveries_logged) == (True, 4)
    assert list(pages) == [0] and pages[0].ids == [*(d for d, _ in deliveries), new_id]
    total, listed = svc.queries.deliveries_of(COUNTY, contract.contract_id, 0, 10)
    assert (total, [str(d.id) for d in listed]) == (4, [*(d for d, _ in deliveries), new_id])
    assert svc.recording.migrate_log(contract, svc.lookups.contract_log(contract), {}) == {}  # never again
