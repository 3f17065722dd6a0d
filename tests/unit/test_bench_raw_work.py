"""bench/raw_work.py: the lower bound's derived ratios, where its HTTP floor comes from, and that the
raw work is the platform's work (the bytes it signs and chains pass the auditor's verifier). No timings."""

from __future__ import annotations

import json

from bench import raw_work
from bench.report import floor_of_runs, required_work_metrics
from shared import audit_chain


def test_the_lowest_post_ratio_adds_the_floor_to_the_raw_work() -> None:
    assert raw_work.lowest_post_ratio(3.0, 0.5) == 7.0
    assert raw_work.lowest_post_ratio(0.0, 0.4) == 1.0
    assert raw_work.lowest_post_ratio(3.0, None) is None
    assert raw_work.lowest_post_ratio(None, 0.5) is None


def test_the_highest_bulk_ratio_is_the_raw_rate_over_batched_append() -> None:
    assert raw_work.highest_bulk_ratio(2_500, 10_000) == 0.25
    assert raw_work.highest_bulk_ratio(2_500, 0) is None


def test_each_bulk_spell_is_divided_by_the_appends_around_it() -> None:
    assert raw_work.round_ratios([1_000, 3_000], [1_000, 3_000, 5_000]) == [0.5, 0.75]
    assert raw_work.round_ratios([], [2_000]) == []


def _work() -> dict[str, object]:
    return {"delivery": {"units": 100, "cpu_ms_per_unit": 1.2, "wall_ms_per_unit": 3.0},
            "bulk_row": {"units": 5_000, "per_second": 2_500.0, "cpu_ms_per_unit": 0.2},
            "append_batched": {"per_second": 10_000.0, "rounds": [8_000.0, 12_000.0], "cpu_ms_per_event": 0.05}, "bulk_rounds": [2_500.0], "bytes": {"ServiceDelivery.Logged": 1086}}


def test_the_metrics_carry_the_implied_ratios_as_diagnostics() -> None:
    m = required_work_metrics("sqlite", _work(), (0.4, "server CPU per GET / of this run"))
    post = m["raw.sqlite.required.delivery_vs_http_floor"]
    assert post["ratio"] == 4.0 and post["value"] == 1.6 and post["baseline"] == 0.4
    assert post["baseline_of"] == "server CPU per GET / of this run"
    bulk = m["raw.sqlite.required.bulk_rows"]
    assert bulk["ratio"] == 0.25 and bulk["baseline"] == 10_000 and "spells ×0.25–×0.25" in bulk["note"]
    assert m["raw.sqlite.required.delivery_cpu"]["value"] == 1.2
    assert m["raw.sqlite.required.bulk_rows_per_cpu_second"]["ratio"] == 0.25  # 0.05 ms per event / 0.2 ms per row
    assert all(x["target"] is None and x["met"] is None for x in m.values())


def test_without_a_floor_there_is_no_post_ratio() -> None:
    m = required_work_metrics("postgres", _work(), None)
    assert "raw.postgres.required.delivery_vs_http_floor" not in m
    assert m["raw.postgres.required.bulk_rows"]["ratio"] == 0.25


def test_the_floor_comes_from_the_latest_run_that_measured_it() -> None:
    old = {"machine": {"date": "2026-12-01T10:00:00+00:00"}, "platform": {"sqlite": {"http_floor_server_cpu_ms": 0.9}}}
    new = {"machine": {"date": "2026-12-03T10:00:00+00:00"}, "platform": {"sqlite": {"http_floor_server_cpu_ms": 0.36}}}
    other = {"machine": {"date": "2026-12-04T10:00:00+00:00"}, "platform": {"postgres": {"finance_lag": {}}}}
    found = floor_of_runs([("run.json", old), ("run-post-load.json", new), ("run-finance-lag.json", other)], "sqlite")
    assert found is not None and found[0] == 0.36 and "run-post-load.json" in found[1] and "not this one" in found[1]
    assert floor_of_runs([("run.json", old)], "postgres") is None


def test_the_raw_work_signs_and_chains_as_the_platform_does() -> None:
    log, contract = raw_work.Log(), raw_work.new_contract()
    rows = log.rows(raw_work.delivery_events(contract, 0))
    public_key = log.key.public_key().public_bytes_raw().hex()
    prev = audit_chain.GENESIS
    for row in rows:
        record = audit_chain.Record(row.position, row.event.aggregate_id, row.event.version, row.event.topic, row.stored)
        assert audit_chain.signature_ok(record, public_key), row.event.topic
        link = audit_chain.link(prev, record)
        assert link.hash == row.link.hex() and link.digest == row.digest.hex()
        prev = link.hash
        assert json.loads(row.body)["position"] == row.position
    # the five events of a delivery, about the sizes the platform stores (1,086, 1,084, 1,093, 487, 606 bytes)
    sizes = [len(r.stored) for r in rows]
    for size, real in zip(sizes, (1086, 1084, 1093, 487, 606), strict=True):
        assert abs(size - real) <= 0.1 * real, sizes
    assert [r.event.subject is not None for r in rows] == [True, False, True, False, False]
