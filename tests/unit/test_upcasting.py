"""Stored events are never rewritten (R-AUD-2): when a domain event's shape changes, old records
are upcast as they are read (eventsourcing's class_version / upcast_vN_vN+1)."""

from __future__ import annotations

import json
import uuid

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from shared.infra.store import CommandContext, SwpApplication


class Station(Aggregate):
    class Established(Aggregate.Created):
        # v2 split the free-text address into township + community.
        class_version = 2
        name: str
        township: str
        community: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            township, _, community = state.pop("address").partition("/")
            state["township"], state["community"] = township, community or township

    @event(Established)
    def __init__(self, name: str, township: str, community: str) -> None:
        self.name, self.township, self.community = name, township, community


class App(SwpApplication):
    service = "registry"


def test_a_version_1_record_is_read_as_version_2_without_rewriting_it():
    app = App(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    station_id = uuid.uuid4()
    v1_state = {
        "name": "南关街道社工站",
        "address": "南关街道/南城社区",
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-05T08:00:00+00:00"},
        "originator_topic": get_topic(Station),
    }
    stored = StoredEvent(
        originator_id=station_id, originator_version=1, topic=get_topic(Station.Established), state=json.dumps(v1_state).encode()
    )
    app.recorder.insert_events([stored])

    station = app.repository.get(station_id)
    assert (station.township, station.community) == ("南关街道", "南城社区")
    # The stored record is untouched: history is never edited.
    assert app.recorder.select_events(station_id)[0].state == stored.state

    # New writes are v2 and carry their version.
    with app.command(CommandContext(county="640402", actor="t")):
        fresh = Station(name="三营镇社工站", township="三营镇", community="三营村")
        app.save(fresh)
    assert json.loads(app.recorder.select_events(fresh.id)[0].state)["class_version"] == 2


def test_a_beneficiary_registered_before_providers_were_recorded_loads_without_one():
    from services_log.domainmodel import Beneficiary

    app = App(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ref = uuid.uuid4()
    v1_state = {
        "beneficiary_ref": str(ref), "county": "640402", "sealed_personal_data": "sealed",
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-05T08:00:00+00:00"},
        "originator_topic": get_topic(Beneficiary),
    }
    app.recorder.insert_events([StoredEvent(
        originator_id=ref, originator_version=1, topic=get_topic(Beneficiary.Registered), state=json.dumps(v1_state).encode()
    )])
    old = app.repository.get(ref)
    assert (old.county, old.provider_id, old.erased) == ("640402", None, False)
    with app.command(CommandContext(county="640402", actor="t")):
        fresh = Beneficiary(beneficiary_ref=str(uuid.uuid4()), county="640402", sealed_personal_data="s", provider_id="p-1")
        app.save(fresh)
    assert app.repository.get(fresh.id).provider_id == "p-1"


def test_a_budget_recorded_with_its_own_cap_still_loads_and_the_legacy_cap_is_ignored():
    """Finance's BudgetAllocated v1 carried a per-line cap; caps are now county policy only (R-FIN-2)."""
    from finance.domainmodel import BudgetLine, CountyBudget

    app = App(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    budget_id = CountyBudget.create_id("640402", 2025)
    stamp = {"_type_": "datetime_iso", "_data_": "2025-01-05T08:00:00+00:00"}
    opened = {"county": "640402", "year": 2025, "timestamp": stamp, "originator_topic": get_topic(CountyBudget)}
    v1 = {
        "county": "640402", "year": 2025, "source": "社会救助专项经费", "amount_fen": 12_000_000,
        "cap_kind": "ceiling", "cap_basis_points": 200, "cap_base_fen": 500_000_000, "cap_limit_fen": 10_000_000,
        "timestamp": stamp,
    }
    records = [
        StoredEvent(originator_id=budget_id, originator_version=1, topic=get_topic(CountyBudget.Opened),
                    state=json.dumps(opened).encode()),
        StoredEvent(originator_id=budget_id, originator_version=2, topic=get_topic(CountyBudget.BudgetAllocated),
                    state=json.dumps(v1).encode()),
    ]
    app.recorder.insert_events(records)

    budget = app.repository.get(budget_id)
    assert budget.line("社会救助专项经费") == BudgetLine(source="社会救助专项经费", allocated=True, amount_fen=12_000_000)
    budget.commit("c-1", "社会救助专项经费", 11_000_000)  # over the legacy 100,000 yuan cap: not a breach any more
    assert budget.breaches("社会救助专项经费") == []
    assert budget.status("社会救助专项经费", [], lambda y, s: None) == "within"
    assert app.recorder.select_events(budget_id)[1].state == records[1].state


def test_an_evaluation_concluded_before_serious_breach_findings_loads_with_none_found():
    """Evaluation's Concluded v1 had no serious-breach finding (R-EVAL-9); v2 reads it as none found."""
    from evaluation.domainmodel import Evaluation

    app = App(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    v1 = {
        "contract_id": "c-1", "provider_id": "p-1", "stage": "midterm",
        "score": {"_type_": "decimal_str", "_data_": "82.50"}, "grade": "良好", "passed": True,
        "rubric_id": "r-1", "rubric_version": 1, "concluded_on": {"_type_": "date_iso", "_data_": "2026-06-10"},
        "fraud_found": False, "fraud_details": None, "breakdown": {}, "report_late": False, "feedback_due": {},
        "appeal_due_on": {"_type_": "date_iso", "_data_": "2026-06-24"},
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-06-10T08:00:00+00:00"},
    }
    stored = StoredEvent(
        originator_id=uuid.uuid4(), originator_version=9, topic=get_topic(Evaluation.Concluded), state=json.dumps(v1).encode()
    )
    concluded = app.mapper.to_domain_event(stored)
    assert (concluded.serious_breach_found, concluded.serious_breach_details, concluded.grade) == (False, None, "良好")
