"""The workers' lists on the in-memory store (the same projection as on SQLite and PostgreSQL,
tests/integration/test_worker_delivery_lists.py): each worker's list is the contract's list
filtered to the deliveries naming it now, in its order, after the recorded history's two-worker
deliveries, its correction moving a delivery from w-1 to w-2, its voidings and its import."""

from __future__ import annotations

from services_log.application import ServicesLogApplication
from services_log.composition import compose
from services_log.worker_lists import WorkerDeliveries, worker_deliveries

from shared.infra.store import CommandContext
from tests.integration.record_services_log_untyped import CONTRACT, COUNTY, record_history, record_setting


def test_each_workers_list_is_the_contract_list_filtered_to_it_in_memory():
    app = ServicesLogApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        with app.command(CommandContext(county=COUNTY, actor="recorder")):
            record_setting(app)
            svc = compose(app)
            ids = record_history(svc)
        projection = worker_deliveries(app)
        assert isinstance(projection, WorkerDeliveries)
        total, everything = svc.queries.deliveries_of(COUNTY, CONTRACT, 0, 500)
        assert total == len(everything) > 120
        for worker_id in ("w-1", "w-2", "w-3"):
            expected = [(i, str(d.id)) for i, d in enumerate(everything) if worker_id in d.facts.worker_ids]
            assert projection.page(CONTRACT, worker_id, 0, 500) == expected, worker_id
            # From a position, by a few at a time: the same rows.
            assert projection.page(CONTRACT, worker_id, expected[3][0], 2) == expected[3:5]
        moved = ids[41]  # corrected from w-1 to w-2
        assert moved in [d for _, d in projection.page(CONTRACT, "w-2", 0, 500)]
        assert moved not in [d for _, d in projection.page(CONTRACT, "w-1", 0, 500)]
        before = {w: projection.page(CONTRACT, w, 0, 500) for w in ("w-1", "w-2", "w-3")}
        projection.rebuild()
        assert {w: projection.page(CONTRACT, w, 0, 500) for w in ("w-1", "w-2", "w-3")} == before
    finally:
        app.close()
