"""Fresh reads (shared/infra/freshness.py): a command in the scope loads cached aggregates known
current without a fast-forward select, yet sees whatever another process (or a reaction) recorded
before the scope began, and a save that lost a race leaves nothing trusted. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from services_log.application import ServicesLogApplication
from services_log.domainmodel import Timesheet

from shared.envelope import Envelope
from shared.infra.freshness import FreshReads
from shared.infra.parking import ReactionParker
from shared.infra.store import CommandContext
from tests.integration.services_log_store import store_app, store_env  # noqa: F401 (fixtures app, env)

COUNTY = "640402"


@pytest.fixture
def other(env: dict[str, str]) -> Iterator[ServicesLogApplication]:
    """Another process on the same store."""
    application = ServicesLogApplication(env)
    yield application
    application.close()


def command(app: ServicesLogApplication) -> Any:
    return app.command(CommandContext(county=COUNTY, actor="tester"))


def book(sheet: Timesheet, hours: str, day: int = 5) -> None:
    sheet.book(entries=[{"delivery_id": str(uuid.uuid4()), "date": date(2026, 10, day), "hours": Decimal(hours)}])


class Selects:
    """Counts the per-aggregate selects (fast-forwards and reconstructions) the recorder runs."""

    def __init__(self, app: ServicesLogApplication, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        inner = app.recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return inner(*args, **kwargs)

        monkeypatch.setattr(app.recorder, "select_events", counted)


def test_a_command_reloading_what_it_saved_runs_no_select(app, monkeypatch):
    assert app.fresh_reads is not None
    sheet = Timesheet(worker_id="w-fresh-1", county=COUNTY)
    with command(app):
        app.save(sheet)
    selects = Selects(app, monkeypatch)
    for i in range(3):  # three deliveries, each: load, book, save
        with app.fresh(), command(app):
            mine = app.repository.get(sheet.id)
            book(mine, "1.5", day=5 + i)
            app.save(mine)
    # The first load fast-forwards (nothing trusted yet); every later one is served from the cache.
    assert selects.count == 1
    with app.fresh():
        loaded = app.repository.get(sheet.id)
        cached = app.repository.get(sheet.id, deepcopy_from_cache=False)
    assert loaded is not cached and loaded.version == cached.version == 4
    assert sorted(loaded.days) == ["2026-10-05", "2026-10-06", "2026-10-07"]
    assert selects.count == 1


def test_what_another_process_recorded_before_the_scope_is_seen(app, other):
    sheet = Timesheet(worker_id="w-fresh-2", county=COUNTY)
    with app.fresh(), command(app):
        app.save(sheet)
    with app.fresh():
        assert app.repository.get(sheet.id).version == 1  # trusted, from the cache
    theirs = other.repository.get(sheet.id)
    book(theirs, "2.5")
    with command(other):
        other.save(theirs)
    with app.fresh():
        mine = app.repository.get(sheet.id)
        read_only = app.repository.get(sheet.id, deepcopy_from_cache=False)
    assert mine.version == read_only.version == 2 and mine.days == {"2026-10-05": Decimal("2.5")}


def test_a_save_that_lost_the_race_leaves_nothing_trusted(app, other):
    sheet = Timesheet(worker_id="w-fresh-3", county=COUNTY)
    with app.fresh(), command(app):
        app.save(sheet)
    with app.fresh(), command(app):
        mine = app.repository.get(sheet.id)  # trusted at version 1
        theirs = other.repository.get(sheet.id)  # the other process saves first, after the check
        book(theirs, "1")
        with command(other):
            other.save(theirs)
        book(mine, "2")
        with pytest.raises(IntegrityError):
            app.save(mine)
        assert app.fresh_reads is not None
        assert app.fresh_reads.cached(app.repository.cache, sheet.id) is None
    with app.fresh():  # the re-run reads the other process's booking
        again = app.repository.get(sheet.id)
    assert again.version == 2 and again.days == {"2026-10-05": Decimal("1")}


def test_a_load_racing_a_read_of_the_log_is_not_trusted():
    """A load that read version 1 while the log already showed version 2 (a save committed in
    between) must not be trusted: the next scope would otherwise serve version 1 for ever."""
    x = uuid.uuid4()
    log: list[tuple[int, uuid.UUID, int]] = []
    fresh = FreshReads(
        lambda after, limit: [r for r in log if r[0] > after][:limit], lambda: max((r[0] for r in log), default=None)
    )

    class Cache(dict[uuid.UUID, Any]):
        def get(self, key: Any, *_: Any) -> Any:
            return self[key]

    class Agg:
        def __init__(self, version: int) -> None:
            self.version = version

    cache = Cache()
    fresh.catch_up()  # position 0
    epoch = fresh.epoch_now()
    cache[x] = Agg(1)  # a load read version 1 …
    log.append((1, x, 1))
    log.append((2, x, 2))  # … version 2 was recorded meanwhile, and the log read …
    fresh.catch_up()
    fresh.trust([(x, 1)], epoch)  # … before the load came to trust what it read
    assert fresh.cached(cache, x) is None
    fresh.trust([(x, 2)], fresh.epoch_now())
    cache[x] = Agg(2)
    assert fresh.cached(cache, x) is cache[x]
    log.append((3, x, 3))
    fresh.catch_up()
    assert fresh.cached(cache, x) is None  # a later version in the log ends the trust


def test_a_consumer_in_the_scope_sees_a_message_parked_by_another_process(app, other, monkeypatch):
    """The consumer's parking check (shared/infra/parking.py) in a fresh-reads scope: no read while
    the log shows no change of the parking, yet a message parked meanwhile by another process is
    seen, and a later message of that upstream aggregate is held behind it."""
    upstream, aggregate = "registry", uuid.uuid4()
    mine = ReactionParker(app, upstream, "SWP:registry", {})
    theirs = ReactionParker(other, upstream, "SWP:registry", {})

    def envelope() -> Envelope:
        return Envelope.model_construct(service=upstream, event_type="ContractSigned", event_id=uuid.uuid4(),
                                        aggregate_id=aggregate, county=COUNTY, correlation_id="c", data={})

    with app.fresh():
        assert mine.current().entries == []
    reads = Selects(app, monkeypatch)
    with app.fresh():
        assert mine.current().entries == []
    assert reads.count == 0  # nothing changed since: no read of the parking
    parking = theirs.fresh()
    parking.park({"seq": 7, "subject": "s", "event_id": str(uuid.uuid4()), "event_type": "ContractSigned",
                  "aggregate_id": str(aggregate), "county": COUNTY, "error_kind": "E", "error": "e", "attempts": 5})
    with other.command(CommandContext(county=COUNTY, actor="tester")):
        other.record_reaction(Tracking("SWP:registry", 7), parking)
    with app.fresh():
        assert [e["seq"] for e in mine.current().entries] == [7]
        assert mine.hold_if_blocked(envelope(), "s", 8)
    assert [(e["seq"], e["status"]) for e in mine.current().entries] == [(7, "parked"), (8, "held")]
