"""The workers' delivery lists (``services_log.worker_lists``) as deployed.

- Two services-log processes on one PostgreSQL store catching the lists up at the same moment take
  turns on the tracking row: while deliveries are recorded through both, each reading its own lists
  over and over, no entry is lost and none is counted twice (positions, counts, rows).
- services-log started over a store recorded before the lists (the old ledger, no tables) fills them
  by its own start-up sweep, before any read; a worker's page through the HTTP app is then right.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from services_log import worker_lists
from services_log.application import ServicesLogApplication
from services_log.composition import compose
from services_log.worker_lists import FINGERPRINT, worker_deliveries

from shared.infra.auth import Role
from shared.infra.service import prepare_store
from shared.infra.settings import Settings
from tests.integration.services_log_store import store_env  # noqa: F401 (fixture env)
from tests.integration.test_services_log_old_ledger import CONTRACT, COUNTY, EVENTS, stored

PROVIDER = "p-1"  # the old ledger's provider


def expected_lists(app: ServicesLogApplication) -> dict[str, list[tuple[int, str]]]:
    """Each worker's deliveries of the contract, as (position in the contract's list, id), from the log itself."""
    total, everything = compose(app).queries.deliveries_of(COUNTY, CONTRACT, 0, 1_000)
    assert total == len(everything) > 100
    workers = sorted({w for d in everything for w in d.facts.worker_ids})
    return {w: [(i, str(d.id)) for i, d in enumerate(everything) if w in d.facts.worker_ids] for w in workers}


@pytest.mark.postgres
@pytest.mark.parametrize("persistence", ["postgres"], indirect=True)
def test_two_processes_catching_up_at_once_lose_and_duplicate_no_entry(env, monkeypatch):
    # Small batches: many turns on the tracking row while the log grows.
    monkeypatch.setattr(worker_lists.WorkerDeliveries, "batch_size", 3)
    apps = [ServicesLogApplication(env), ServicesLogApplication(env)]
    projections = [worker_deliveries(a) for a in apps]
    assert projections[0] is not projections[1]  # two processes: two objects, two connection pools
    turns = {"applied": 0, "found_done": 0}
    count = threading.Lock()
    # Each process's first turn waits for the other's: both read the same start, then both apply,
    # so one of them finds the batch done — the race is run whatever the machine's scheduling (on
    # a loaded machine the two processes' turns could otherwise never overlap).
    meet = threading.Barrier(2, timeout=60)
    for p in projections:
        apply = p._backend.apply
        first = [True]

        def counted(start: int, batch: Any, position: int, apply: Any = apply, first: list[bool] = first) -> int:
            with count:
                meeting, first[0] = first[0], False
            if meeting:
                meet.wait()
            ran: list[bool] = []

            def projected(ops: Any) -> None:  # called only by a turn that applies its batch
                ran.append(True)
                batch(ops)

            got = apply(start, projected, position)
            with count:
                turns["applied" if ran else "found_done"] += 1
            return got

        p._backend.apply = counted  # type: ignore[method-assign]
    chunks = [EVENTS[i : i + 4] for i in range(0, len(EVENTS), 4)]
    writing, errors = threading.Event(), []
    writing.set()

    def write() -> None:  # deliveries recorded through one process then the other, in the log's order
        try:
            for i, chunk in enumerate(chunks):
                apps[i % 2].recorder.insert_events(stored(chunk))
                time.sleep(0.002)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            writing.clear()

    def read(p: Any) -> None:  # each process reads its workers' pages (each read catches up first)
        try:
            while writing.is_set():
                for w in ("w-1", "w-2", "w-3"):
                    p.page(CONTRACT, w, 0, 500)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [
        threading.Thread(target=read, args=(p,)) for p in projections for _ in range(2)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        want = expected_lists(apps[0])
        assert set(want) == {"w-1", "w-2", "w-3"}
        for p in projections:
            for w, rows in want.items():
                assert p.page(CONTRACT, w, 0, 500) == rows
        # Both took turns, and found the other's turn done: the race was run, not avoided.
        assert turns["applied"] > 20 and turns["found_done"] > 0, turns  # many batches, some found applied
        head = apps[0].recorder.max_notification_id()
        assert projections[0]._backend.tracked() == projections[1]._backend.tracked() == (head, FINGERPRINT)
        # In the tables: one open row per (worker, delivery), one item per delivery, the contract counted once.
        sql = projections[0]._backend
        with sql.ds.transaction(commit=False) as c:
            c.execute(f"SELECT worker_id, position, delivery_id FROM {sql.rows_t} WHERE removed_at IS NULL")
            rows = [(r["worker_id"], int(r["position"]), r["delivery_id"]) for r in c.fetchall()]
            c.execute(f"SELECT logged FROM {sql.counts_t}")
            counts = [int(r["logged"]) for r in c.fetchall()]
            c.execute(f"SELECT count(*) AS n, count(DISTINCT delivery_id) AS d FROM {sql.items_t}")
            items = c.fetchone()
        assert sorted(rows) == sorted((w, i, d) for w, got in want.items() for i, d in got)
        total = len({d for got in want.values() for _, d in got})
        assert counts == [total] and (items["n"], items["d"]) == (total, total)
    finally:
        for a in apps:
            a.close()


async def test_services_log_started_over_a_store_without_the_lists_fills_them_by_its_sweep(settings: Settings, tokens):
    from services_log.main import create_app

    from shared.testing.fixtures import client_for, running

    prepare_store(settings, "services-log")
    old = ServicesLogApplication(settings.eventsourcing_env("services-log"))
    old.recorder.insert_events(stored(EVENTS))  # recorded before the lists: no swp_worker_* tables
    want = expected_lists(old)
    old.close()

    # services-log as deployed: its sweeps on (the first at start).
    app = create_app(settings.model_copy(update={"sweep_seconds": 3600}))
    async with running(app), client_for(app) as client:
        store = app.state.service.store
        head = store.recorder.max_notification_id()
        deadline = time.monotonic() + 60
        while True:  # nobody reads: the start-up sweep makes the tables and fills them from the log
            found = store.__dict__.get("_swp_worker_deliveries")
            if found is not None and found._backend.tracked() == (head, FINGERPRINT):
                break
            assert time.monotonic() < deadline, "the start-up sweep did not fill the workers' lists"
            await asyncio.sleep(0.1)
        filled = found._position
        for w, rows in want.items():
            headers = tokens(Role.WORKER, COUNTY, provider_id=PROVIDER, worker_id=w)
            ids, params = [], {"limit": 7}
            while True:
                r = await client.get(
                    f"/v1/counties/{COUNTY}/contracts/{CONTRACT}/deliveries", params=params, headers=headers
                )
                assert r.status_code == 200, r.text
                ids += [d["delivery_id"] for d in r.json()["items"]]
                assert all(w in d["worker_ids"] for d in r.json()["items"])
                if "X-Next-Cursor" not in r.headers:
                    break
                params = {"limit": 7, "cursor": r.headers["X-Next-Cursor"]}
            assert ids == [d for _, d in rows]
        assert found._position == filled == head  # the reads found nothing left to catch up
