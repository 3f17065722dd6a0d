"""A services-log store recorded while the ledger held its state as dicts (before typed state, #16 item 1)
loads into typed state — the contract log's :class:`Tally`, ``Report``s and ``ScopeComplaint``s, from its
events and from the snapshot the untyped code took (version 2, upcast) — answers every route exactly as
the untyped code answered (``data/services_log_untyped_views.json``, the bytes sent), takes new commands,
and the typed code records what the untyped code recorded (the ``Tallied`` deltas and ``ProgressReported``
rows keep their recorded shape).

``data/services_log_untyped.json`` is the store as services-log wrote it at 502c0f9, recorded by
``record_services_log_untyped.py`` (which also recorded the answers). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from services_log.application import ServicesLogApplication
from services_log.commands import CorrectDelivery, LogDelivery, SubmitReport
from services_log.composition import ServicesLog, compose
from services_log.domainmodel import (
    Contract,
    ContractLog,
    ContractStatus,
    Counted,
    DayCounts,
    DeliveryChange,
    DeliveryStatus,
    Employment,
    Indicator,
    Report,
    ReportKind,
    ScopeChange,
    ScopeComplaint,
    Tally,
    WorkerHours,
)

from shared.infra.store import CommandContext
from tests.integration.record_services_log_untyped import (
    CONTRACT,
    COUNTY,
    answers,
    record_history,
    record_setting,
)
from tests.integration.services_log_store import store_env  # noqa: F401 (fixtures app, env)

DATA = Path(__file__).parent / "data"
RECORDED = json.loads((DATA / "services_log_untyped.json").read_text())
SHOWN = json.loads((DATA / "services_log_untyped_views.json").read_text())
EVENTS = [r for r in RECORDED if not r.get("snapshot")]
SNAPSHOTS = [r for r in RECORDED if r.get("snapshot")]


class WithoutSnapshots(ServicesLogApplication):
    name = ServicesLogApplication.name  # the same tables
    snapshotting_intervals = {}


def stored(records: list[dict[str, Any]]) -> list[StoredEvent]:
    return [StoredEvent(uuid.UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"].encode()) for r in records]


@pytest.fixture
def svc(env: dict[str, str]) -> Iterator[ServicesLog]:
    application = ServicesLogApplication(env)
    application.recorder.insert_events(stored(EVENTS))
    assert application.snapshots is not None
    application.snapshots.recorder.insert_events(stored(SNAPSHOTS))
    yield compose(application)
    application.close()


def content(state: bytes | str) -> dict[str, Any]:
    """What an event says, without when and by whom it was recorded."""
    body = json.loads(state)
    return {k: v for k, v in body.items() if k not in ("timestamp", "meta")}


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_the_untyped_snapshot_was_taken_at_200_and_is_version_2():
    assert [(s["topic"], s["originator_version"], json.loads(s["state"])["state"]["class_version"]) for s in SNAPSHOTS] == [
        ("eventsourcing.domain:Snapshot", 200, 2)
    ]


def test_the_old_log_loads_into_typed_state_from_its_snapshot_as_from_its_events(svc, env):
    log_id = ContractLog.create_id(CONTRACT)
    log: ContractLog = svc.store.repository.get(log_id)
    assert isinstance(log.tally, Tally) and log.version == 259
    replay = WithoutSnapshots(env)
    try:
        for version in (200, 201, 259):  # at the snapshot, after it, now
            assert state(svc.store.repository.get(log_id, version=version)) == state(replay.repository.get(log_id, version=version))
    finally:
        replay.close()
    assert svc.store.verify_snapshots() == {"checked": 1, "mismatched": []}
    november = log.tally.months["2025-11"]
    assert isinstance(november.totals, DayCounts) and all(isinstance(c, Counted) for c in november.kinds.values())
    assert (november.totals.deliveries, november.totals.person_times) == (14, 95)
    assert november.areas["儿童关爱保护"] == Counted(1, 30, Decimal("4.00"))
    assert all(isinstance(w, WorkerHours) for w in log.tally.workers.values()) and set(log.tally.workers) == {"w-1", "w-2", "w-3"}
    assert log.tally.stated["groups"] > 0  # a delivery stated its quantity: the indicator counts "stated"
    assert [(r.report_id, r.kind, r.period) for r in log.reports] == [
        ("r-0", ReportKind.NEEDS_SURVEY, None), ("r-1", ReportKind.MONTHLY_BRIEF, "2025-03"),
        ("r-2", ReportKind.MIDTERM, "2025-06"), ("r-3", ReportKind.MONTHLY_BRIEF, "2025-11"),
    ]
    assert all(isinstance(r, Report) for r in log.reports)
    assert log.complaints == [
        ScopeComplaint("c-1", "s-1", "惠农镇", date(2025, 5, 6), "镇里摊派迎检任务"),
        ScopeComplaint("c-2", None, "红果子镇", date(2025, 9, 9), "抽调社工做普查"),
    ]


def test_registrys_facts_load_into_typed_terms(svc):
    contract: Contract = svc.lookups.contract(COUNTY, CONTRACT)
    assert contract.status == ContractStatus.SIGNED and contract.station_ids == ("s-1", "s-2")
    assert contract.indicators[1:] == (Indicator("hours", 300, "直接服务时长", "小时"), Indicator("groups", 12, "小组活动", "场"))
    assert contract.plan_of("assist")["2025-07"] == 40 and contract.plan_of("groups") == {}
    assert contract.scope_changes == (ScopeChange(("社会救助", "养老服务", "儿童关爱保护"), date(2025, 6, 1)),)
    assert contract.areas_on(date(2025, 5, 31)) == ["社会救助", "养老服务"]
    w3 = svc.lookups.worker(COUNTY, "w-3")
    assert w3 is not None and w3.employments == (
        Employment("p-1", "s-2", date(2025, 2, 1), date(2025, 10, 31)), Employment("p-1", "s-1", date(2025, 11, 15)),
    )
    assert w3.employment_on(date(2025, 11, 1)) is None


def test_old_deliveries_load_with_a_typed_status_and_history(svc):
    deliveries = svc.queries.deliveries_of(COUNTY, CONTRACT, 0, 500)[1]
    assert [d.status for d in deliveries].count(DeliveryStatus.VOIDED) == 2
    twice = deliveries[10]  # corrected, then voided
    assert (twice.status, twice.counts) == (DeliveryStatus.VOIDED, False)
    assert twice.history == (
        DeliveryChange(DeliveryStatus.CORRECTED, "日期与类型录错"), DeliveryChange(DeliveryStatus.VOIDED, "并非本协议服务"),
    )
    assert deliveries[3].status == DeliveryStatus.CORRECTED and deliveries[0].status == DeliveryStatus.RECORDED


def test_routes_answer_exactly_what_the_untyped_code_answered(svc):
    shown = answers(svc)
    assert list(shown) == list(SHOWN)
    for key, expected in SHOWN.items():
        assert shown[key] == expected, key  # the bytes sent (key order, Decimal digits) too


def test_the_old_history_takes_new_commands(svc):
    contract: Contract = svc.lookups.contract(COUNTY, CONTRACT)
    before = svc.queries.progress(COUNTY, CONTRACT, None)
    page = svc.queries.deliveries_of(COUNTY, CONTRACT, 0, 500)[1]
    with svc.store.command(CommandContext(county=COUNTY, actor="provider-1")):
        new = svc.commands.log_delivery(LogDelivery(
            county=COUNTY, contract_id=CONTRACT, station_id="s-1", worker_ids=("w-1",), kind="帮扶救助", area="社会救助",
            date=date(2025, 12, 30), hours_direct=Decimal("2"), person_times=7, indicator_code="assist",
        ))
        svc.commands.correct_delivery(CorrectDelivery(
            county=COUNTY, delivery_id=str(page[0].id), reason="人次录错", changes={"person_times": page[0].facts.person_times + 3},
        ))
        svc.commands.submit_report(SubmitReport(
            county=COUNTY, contract_id=CONTRACT, kind="final", period=None, submitted_on=date(2026, 1, 5), title="末期报告",
            summary=None, report_id="r-final",
        ))
    after = svc.queries.progress(COUNTY, CONTRACT, None)
    assert (after["deliveries"], after["person_times"]) == (before["deliveries"] + 1, before["person_times"] + 10)
    assert after["indicators"][0]["actual"] == before["indicators"][0]["actual"] + 7 + 3  # page[0] counts 人次 for assist
    assert after["hours_direct"] == before["hours_direct"] + 2
    log: ContractLog = svc.lookups.contract_log(contract, read_only=True)
    assert (log.version, log.deliveries_logged) == (259 + 5, 125)
    assert log.reports[-1] == Report("r-final", ReportKind.FINAL, None, date(2026, 1, 5), "末期报告", None)
    listed = svc.queries.deliveries_of(COUNTY, CONTRACT, 124, 5)[1]
    assert [str(d.id) for d in listed] == [str(new.id)]


def test_the_typed_code_records_what_the_untyped_code_recorded():
    fresh = ServicesLogApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with fresh.command(CommandContext(county=COUNTY, actor="recorder")):
        record_setting(fresh)
        record_history(compose(fresh))
    typed = fresh.recorder.select_notifications(1, 10_000)
    assert fresh.snapshots is not None
    log_id = ContractLog.create_id(CONTRACT)
    assert [s.originator_version for s in fresh.snapshots.recorder.select_events(log_id)] == [200]
    assert fresh.verify_snapshots() == {"checked": 1, "mismatched": []}
    fresh.close()
    assert sorted(n.topic for n in typed) == sorted(r["topic"] for r in EVENTS)
    # Deliveries logged one by one have random ids: compare them as the ids they stand for. (A
    # correction naming two workers books their timesheets in either order: compare by aggregate.)
    logged = [(n, r) for n, r in zip(typed, EVENTS, strict=True) if n.topic.endswith("ServiceDelivery.Logged")]
    ids = {str(n.originator_id): r["originator_id"] for n, r in logged}
    assert len(ids) == len(logged) == 124

    def said(events: list[tuple[str, int, str]]) -> dict[tuple[str, int], dict[str, Any]]:
        out = {}
        for originator, version, text in events:
            for new_id, old_id in ids.items():
                text = text.replace(new_id, old_id)
            out[(ids.get(originator, originator), version)] = content(text)
        return out

    new = said([(str(n.originator_id), n.originator_version, n.state.decode()) for n in typed])
    old = said([(r["originator_id"], r["originator_version"], r["state"]) for r in EVENTS])
    assert new.keys() == old.keys()
    for key, body in old.items():
        assert new[key] == body, key
