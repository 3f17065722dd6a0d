"""``run_command`` re-runs a command that lost an optimistic-concurrency race to another
process on the same store (BENCHMARKS.md §2), and only a command that has not written yet."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from eventsourcing.domain import Aggregate, event

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.service import COMMAND_RETRIES, run_command
from shared.infra.store import IntegrityError, SwpApplication


class Counter(Aggregate):
    @event("Created")
    def __init__(self) -> None:
        self.value = 0

    @event("Added")
    def add(self, n: int) -> None:
        self.value += n


class CounterApp(SwpApplication):
    service = "test"


SCOPE = CountyScope(county="640402", principal=Principal(sub="u1", role=Role.PURCHASER, counties=frozenset({"640402"})))


@pytest.fixture
def two_processes(tmp_path: Path):
    """Two applications on one SQLite store, as two processes of one service would be."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "store.db")}
    first, second = CounterApp(env), CounterApp(env)
    yield first, second
    first.close()
    second.close()


def seeded(app: SwpApplication) -> uuid.UUID:
    counter = Counter()
    run_command(app, SCOPE, (None, None), {}, lambda: app.save(counter), lambda _: None)
    return counter.id


def add_elsewhere(other: SwpApplication, counter_id: uuid.UUID, n: int = 10) -> None:
    """The other process adds ``n`` to the counter (a command of its own), winning the race."""
    theirs = other.repository.get(counter_id)
    theirs.add(n)
    run_command(other, SCOPE, (None, None), {}, lambda: other.save(theirs), lambda _: None)


def test_a_command_that_lost_a_race_is_run_again_on_the_new_state(two_processes):
    mine, other = two_processes
    counter_id = seeded(mine)
    runs = []

    def add_one() -> int:
        counter = mine.repository.get(counter_id)  # the action reads its aggregate itself
        if not runs:  # meanwhile the other process adds 10 to the same counter
            add_elsewhere(other, counter_id)
        runs.append(counter.version)
        counter.add(1)
        mine.save(counter)
        return counter.value

    assert run_command(mine, SCOPE, (None, None), {}, add_one, lambda _: None) == 11
    assert runs == [1, 2]  # the second run read the other process's change
    assert mine.repository.get(counter_id).value == 11


def test_a_command_losing_every_race_is_a_conflict_after_the_retries(two_processes):
    mine, other = two_processes
    counter_id = seeded(mine)
    runs = 0

    def always_late() -> None:
        nonlocal runs
        runs += 1
        counter = mine.repository.get(counter_id)
        add_elsewhere(other, counter_id)
        counter.add(1)
        mine.save(counter)

    with pytest.raises(IntegrityError):
        run_command(mine, SCOPE, (None, None), {}, always_late, lambda _: None)
    assert runs == COMMAND_RETRIES + 1


def test_a_command_that_already_wrote_is_not_run_again(two_processes):
    mine, other = two_processes
    counter_id = seeded(mine)
    runs = 0

    def two_saves() -> None:
        nonlocal runs
        runs += 1
        mine.save(Counter())  # written: running the command again would write it twice
        counter = mine.repository.get(counter_id)
        add_elsewhere(other, counter_id)
        counter.add(1)
        mine.save(counter)

    with pytest.raises(IntegrityError):
        run_command(mine, SCOPE, (None, None), {}, two_saves, lambda _: None)
    assert runs == 1


def test_a_keyed_repeat_that_lost_the_race_to_its_twin_returns_the_first_result(two_processes):
    mine, other = two_processes
    counter_id = seeded(mine)
    headers = ("key-1", None)
    results = []

    def add(app: SwpApplication, n: int, twin: bool) -> int:
        counter = app.repository.get(counter_id)
        if twin:  # the same keyed request, answered first by the other process
            theirs = other.repository.get(counter_id)
            theirs.add(n)
            results.append(run_command(other, SCOPE, headers, {"n": n}, lambda: other.save(theirs) and theirs.value, lambda _: -1))
        counter.add(n)
        app.save(counter)
        return counter.value

    replayed = run_command(mine, SCOPE, headers, {"n": 5}, lambda: add(mine, 5, twin=not results), lambda ids: ("replay", ids))
    assert replayed == ("replay", [str(counter_id)])
    assert mine.repository.get(counter_id).value == 5  # added once
