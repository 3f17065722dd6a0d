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
