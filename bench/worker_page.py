"""A worker's page of a big contract's deliveries, before and after the per-worker list
(``services_log.worker_lists``): one contract with 1,200 deliveries, 1,197 by w-1 and 3 by w-2
(w-3 did none), recorded in-process; a page of 20 read as a worker's token reads it — by the
handler, no HTTP — with the scan it replaced (af2802d: examine the contract's list, up to 1,000
positions) and with the projection. Milliseconds per page: the first read (cold caches; for the
projection, its backfill from the log is timed apart) and the median of 20.

    .venv/bin/python -m bench.worker_page [sqlite|postgres]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

N, LIMIT = 1_200, 20
SPARSE = {7, 640, 1190}  # w-2's positions


def _old_own(reads: Any, q: Any, worker_id: str) -> tuple[int, list[Any], int]:
    """af2802d's scan, verbatim: up to ``limit`` of the worker's, from at most 1,000 positions."""
    own: list[Any] = []
    total, at, bound, size = 0, q.offset, q.offset + 1_000, q.limit
    while len(own) < q.limit and at < bound:
        total, chunk = reads.queries.deliveries_of(q.county, q.contract_id, at, min(size, bound - at))
        if not chunk:
            break
        size = min(size * 2, 500)
        for d in chunk:
            at += 1
            if worker_id in d.facts.worker_ids:
                own.append(d)
                if len(own) == q.limit:
                    break
    return total, own, at


def timed(fn: Any, runs: int = 20) -> tuple[Any, float, float]:
    first = time.perf_counter()
    answer = fn()
    cold = (time.perf_counter() - first) * 1000
    laps = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        laps.append((time.perf_counter() - t) * 1000)
    return answer, round(cold, 1), round(statistics.median(laps), 1)


def run(persistence: str) -> dict[str, Any]:
    from services_log.application import ServicesLogApplication
    from services_log.commands import LogDelivery
    from services_log.composition import compose
    from services_log.reads import ContractDeliveries, ServicesLogReads
    from services_log.worker_lists import worker_deliveries

    from shared.infra.auth import Role
    from shared.infra.queries import Viewer
    from shared.infra.service import prepare_store
    from shared.infra.store import CommandContext
    from shared.testing.fixtures import PostgresInfo, _pg_connect, make_settings
    from tests.integration.record_services_log_untyped import CONTRACT, COUNTY, record_setting

    pg, admin = None, None
    if persistence == "postgres":
        admin = _pg_connect("127.0.0.1", 5432, "postgres", "")
        pg = PostgresInfo("127.0.0.1", 5432, "postgres", "", f"swp_bench_{uuid.uuid4().hex[:8]}")
        admin.execute(f'CREATE DATABASE "{pg.dbname}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(persistence, "nats://127.0.0.1:1", Path(tmp) / "var", pg)
            prepare_store(settings, "services-log")
            env = settings.eventsourcing_env("services-log")
            app = ServicesLogApplication(env)
            svc = compose(app)
            t = time.perf_counter()
            with app.command(CommandContext(county=COUNTY, actor="bench")):
                record_setting(app)
                for i in range(N):
                    worker = "w-2" if i in SPARSE else "w-1"
                    svc.commands.log_delivery(
                        LogDelivery(
                            county=COUNTY,
                            contract_id=CONTRACT,
                            station_id="s-1",
                            worker_ids=(worker,),
                            kind="帮扶救助",
                            area="社会救助",
                            date=date(2025, 1, 2) + timedelta(days=i // 20),
                            hours_direct=Decimal("0.5"),
                            person_times=i % 20 + 1,
                            indicator_code="assist",
                        )
                    )
            recorded = round(time.perf_counter() - t, 1)
            app.close()

            out: dict[str, Any] = {"store": persistence, "deliveries": N, "recorded_s": recorded}
            for label, scan in (("before (scan)", True), ("after (own list)", False)):
                app = ServicesLogApplication(env)  # cold caches for each
                svc = compose(app)
                reads = ServicesLogReads(svc.lookups, svc.queries)
                if not scan:
                    t = time.perf_counter()
                    worker_deliveries(app).catch_up()  # the backfill a store recorded before the list gets
                    out["backfill_ms"] = round((time.perf_counter() - t) * 1000, 1)
                for worker in ("w-2", "w-3", "w-1"):
                    viewer = Viewer(role=Role.WORKER, provider_id="p-1", worker_id=worker)
                    q = ContractDeliveries(county=COUNTY, contract_id=CONTRACT, offset=0, limit=LIMIT)
                    if scan:

                        def page(q: Any = q, worker: str = worker, reads: Any = reads) -> Any:
                            return _old_own(reads, q, worker)

                        (_, items, following), cold, warm = timed(page)
                    else:

                        def page(q: Any = q, viewer: Any = viewer, reads: Any = reads) -> Any:
                            return reads.deliveries(q, viewer)

                        answer, cold, warm = timed(page)
                        items, following = answer.items, answer.following
                    out[f"{label} {worker}"] = {
                        "items": len(items),
                        "next": following < N,
                        "cold_ms": cold,
                        "median_ms": warm,
                    }
                app.close()
            return out
    finally:
        if admin is not None and pg is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{pg.dbname}" WITH (FORCE)')
            admin.close()


if __name__ == "__main__":
    for store in sys.argv[1:] or ["sqlite", "postgres"]:
        result = run(store)
        for key, value in result.items():
            print(f"{key}: {value}")
