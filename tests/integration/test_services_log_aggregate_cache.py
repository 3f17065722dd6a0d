"""The aggregate cache and the snapshots of services-log's hot aggregates (BENCHMARKS.md §1) are
invisible: a refused command leaves no trace in the cache, another process's writes are seen,
and as-of reads give the same aggregate with or without snapshots. SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from services_log.application import ServicesLogApplication
from services_log.domainmodel import ContractLog, DayCounts, Tally, Timesheet

from shared.infra.store import CommandContext
from shared.rules import RuleViolation
from tests.integration.services_log_store import store_app, store_env  # noqa: F401 (fixtures app, env)

COUNTY = "640402"


class WithoutSnapshots(ServicesLogApplication):
    """The same store read by replaying every event: what snapshots must not change."""

    name = ServicesLogApplication.name  # the same tables
    snapshotting_intervals = {}


def command(app: ServicesLogApplication) -> Any:
    return app.command(CommandContext(county=COUNTY, actor="tester"))


def delta(n: int) -> Tally:
    """A delivery of ``n`` person-times on one day."""
    return Tally(days={"2026-10-05": DayCounts(deliveries=1, person_times=n)})


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def test_settings_turn_the_cache_on_with_fast_forward(app):
    assert app.repository.cache is not None and app.repository.fastforward
    assert app.repository.deepcopy_from_cache  # a command gets its own copy of a cached aggregate
    assert app.snapshots is not None


def test_a_refused_command_leaves_the_cached_aggregate_as_stored(app):
    log = ContractLog(contract_id="c-1", county=COUNTY)
    log.tally_changes(new_delivery_ids=["d-1"], delta=delta(10))
    with command(app):
        app.save(log)
    app.repository.get(log.id)  # now cached

    with command(app), pytest.raises(RuleViolation):
        loaded = app.repository.get(log.id)
        loaded.tally_changes(new_delivery_ids=["d-2"], delta=delta(5))  # mutated half-way …
        raise RuleViolation("refused after the change", rule="R-LOG-4")  # … then refused, never saved

    again = app.repository.get(log.id)
    assert (again.version, again.deliveries_logged, again.tally) == (log.version, 1, log.tally)
    assert again.tally.days == {"2026-10-05": DayCounts(deliveries=1, person_times=10)}


def test_a_read_only_load_is_the_cached_instance_and_a_command_copy_never_changes_it(app):
    """Reads take the cached aggregate itself (no copy, whatever its size); a command's copy
    shares its values, yet what the command does to it never reaches the cached instance."""
    log = ContractLog(contract_id="c-4", county=COUNTY)
    log.tally_changes(new_delivery_ids=["d-1"], delta=Tally(days={"2026-10-05": DayCounts(deliveries=1, indicators={"a": 2})}))
    with command(app):
        app.save(log)
    cached = app.repository.get(log.id, deepcopy_from_cache=False)
    assert app.repository.get(log.id, deepcopy_from_cache=False) is cached
    before = copy.deepcopy(state(cached)) | {"tally": copy.deepcopy(cached.tally)}
    mine = app.repository.get(log.id)
    assert mine is not cached and mine.tally is cached.tally  # shared until changed
    mine.tally_changes(new_delivery_ids=["d-2"], delta=Tally(days={"2026-10-05": DayCounts(deliveries=1, indicators={"a": 3})}))
    assert cached.tally == before["tally"] and cached.deliveries_logged == 1 and cached.version == before["_version"]
    assert mine.tally.days["2026-10-05"] == DayCounts(deliveries=2, indicators={"a": 5})
    assert mine.tally.months["2026-10"].totals == DayCounts(deliveries=2, indicators={"a": 5})


def test_a_cached_aggregate_sees_what_another_process_wrote(app, env):
    other = ServicesLogApplication(env)
    try:
        sheet = Timesheet(worker_id="w-1", county=COUNTY)
        with command(app):
            app.save(sheet)
        app.repository.get(sheet.id)  # cached in this process
        theirs = other.repository.get(sheet.id)
        theirs.book(entries=[{"delivery_id": "d-1", "date": date(2026, 10, 5), "hours": Decimal("2.5")}])
        with command(other):
            other.save(theirs)
        mine = app.repository.get(sheet.id)
        assert mine.version == theirs.version and mine.days == {"2026-10-05": Decimal("2.5")}
    finally:
        other.close()


def test_snapshots_make_no_difference_to_loads_and_as_of_reads(app, env):
    log = ContractLog(contract_id="c-2", county=COUNTY)
    with command(app):
        app.save(log)
    for i in range(450):  # one event per save, as the API records them: snapshots at 200 and 400
        loaded = app.repository.get(log.id)
        loaded.tally_changes(new_delivery_ids=[f"d-{i}"], delta=delta(i))
        with command(app):
            app.save(loaded)
    assert app.snapshots is not None
    assert [s.originator_version for s in app.snapshots.get(log.id)] == [200, 400]

    replay = WithoutSnapshots(env)
    try:
        assert replay.snapshots is None
        for version in (1, 150, 200, 201, 399, 400, 401, 451):
            assert state(app.repository.get(log.id, version=version)) == state(replay.repository.get(log.id, version=version)), version
        current = app.repository.get(log.id)
        assert state(current) == state(replay.repository.get(log.id))
        assert current.deliveries_logged == 450 and not hasattr(current, "delivery_ids")
        assert state(app.repository.get(log.id, version=451)) == state(current)
    finally:
        replay.close()


def test_verify_checks_every_snapshot_against_the_signed_events_and_names_a_doctored_one(app, env):
    log = ContractLog(contract_id="c-3", county=COUNTY)
    with command(app):
        app.save(log)
    for i in range(420):  # snapshots at 200 and 400
        loaded = app.repository.get(log.id)
        loaded.tally_changes(new_delivery_ids=[f"d-{i}"], delta=delta(1))
        with command(app):
            app.save(loaded)
    assert app.verify_snapshots() == {"checked": 2, "mismatched": []}

    # Someone with write access to the store plants a snapshot of a doctored ledger (snapshots are
    # not signed): loads would start from it. verify names it.
    replay = WithoutSnapshots(env)
    try:
        doctored = replay.repository.get(log.id, version=300)
        doctored.deliveries_logged += 1
        assert app.snapshots is not None
        app.snapshots.put([type(app.snapshots.get(log.id).__next__()).take(doctored)])
    finally:
        replay.close()
    assert app.verify_snapshots() == {"checked": 3, "mismatched": [{"aggregate_id": str(log.id), "version": 300}]}
