"""R-AUD-3 for read models and reports, not only aggregates: every read route answers
`?recorded_as_of=<instant>` with what the live route showed at that instant — contract progress
and the delivery list (services-log), the tranche schedule and the reconciliation (finance),
the county's contracts (registry), a contract's evaluations (evaluation) — on randomized
histories. Every live read names the instant it reflects (`SWP-Recorded-As-Of`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, wait_for_tranches
from tests.integration.test_services_log_support import LOG, open_county

DELIVER = st.tuples(st.just("deliver"), st.integers(min_value=1, max_value=28), st.integers(min_value=1, max_value=20))
CORRECT = st.tuples(st.just("correct"), st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=20))
VOID = st.tuples(st.just("void"), st.integers(min_value=0, max_value=9), st.just(0))
EXPENSE = st.tuples(st.just("expense"), st.integers(min_value=1, max_value=3_000_000), st.sampled_from([0, 1]))
PAY = st.tuples(st.just("pay"), st.just(1), st.just(0))
HISTORY = st.lists(st.one_of(DELIVER, DELIVER, CORRECT, VOID, EXPENSE, PAY), min_size=1, max_size=6)


async def test_every_read_model_as_of_an_instant_equals_what_was_live_then(gateway, tokens):
    place = await open_county(gateway, tokens)
    county, contract = place.county, place.contract_id
    provider, auditor = place.headers["provider"], tokens(Role.AUDITOR, county)
    finance = tokens(Role.FINANCE, county)
    await wait_for_tranches(gateway, county, contract, finance)
    reads = [
        (f"{LOG}/{county}/contracts/{contract}/progress", auditor),
        (f"{LOG}/{county}/contracts/{contract}/deliveries", auditor),
        (f"/finance/v1/counties/{county}/contracts/{contract}/tranches", auditor),
        (f"/finance/v1/counties/{county}/contracts/{contract}/reconciliation", auditor),
        (f"/finance/v1/counties/{county}/contracts/{contract}/expenses", auditor),
        (f"/finance/v1/counties/{county}/findings", auditor),
        (f"/registry/v1/counties/{county}/contracts", auditor),
        (f"/evaluation/v1/counties/{county}/contracts/{contract}", auditor),
        (f"/evaluation/v1/counties/{county}/evaluations", auditor),
    ]
    loop = asyncio.get_running_loop()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    deliveries: list[str] = []
    voucher = iter(range(1, 10_000))
    seen: list[tuple[str, dict[str, str], str, Any]] = []

    def observe() -> None:
        # Consumers (evaluation hearing of deliveries, …) write in the background. A read is kept
        # only when the next read shows the same: no write landed during the later one, so what
        # it showed is exactly what was recorded by the instant it names.
        for path, headers in reads:
            before = run(gateway.get(path, headers=headers))
            while True:
                r = run(gateway.get(path, headers=headers))
                assert r.status_code == 200, (path, r.text)
                if r.json() == before.json():
                    break
                before = r
            seen.append((path, headers, r.headers["SWP-Recorded-As-Of"], r.json()))

    def apply(op: str, a: int, b: int) -> None:
        if op == "deliver":
            body = place.delivery(date=f"2026-10-{a:02d}", person_times=b, hours_direct="1", hours_other="0")
            r = run(gateway.post(f"{LOG}/{county}/deliveries", json=body, headers=provider))
            if r.status_code == 201:
                deliveries.append(r.json()["delivery_id"])
        elif op in ("correct", "void") and deliveries:
            target = deliveries[a % len(deliveries)]
            body = {"reason": "核对台账", **({"person_times": b} if op == "correct" else {})}
            run(gateway.post(f"{LOG}/{county}/deliveries/{target}/{'corrections' if op == 'correct' else 'voiding'}", json=body, headers=provider))
        elif op == "expense":
            body = {"category": ("personnel", "operations")[b], "amount_fen": a, "spent_on": "2026-10-20", "voucher": f"PZ-{next(voucher)}"}
            run(gateway.post(f"/finance/v1/counties/{county}/contracts/{contract}/expenses", json=body, headers=provider))
        elif op == "pay":
            body = {"paid_on": "2026-10-16", "voucher": f"BF-{next(voucher)}"}
            run(gateway.post(f"/finance/v1/counties/{county}/contracts/{contract}/tranches/{a}/payment", json=body, headers=finance))

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(history=HISTORY)
    def property_holds(history: list[tuple[str, int, int]]) -> None:
        for step in history:
            apply(*step)
            # What derived read models show settles once services-log's own consumers caught up;
            # the property compares the same instant either way.
            observe()

    await asyncio.to_thread(observe)  # before any of the history
    await asyncio.to_thread(property_holds)
    assert deliveries, "the randomized histories recorded no delivery at all"

    for path, headers, instant, live in seen:
        r = await gateway.get(path, params={"recorded_as_of": instant}, headers=headers)
        assert r.status_code == 200, (path, instant, r.text)
        assert r.headers["SWP-Recorded-As-Of"] == instant
        assert r.json() == live, (path, instant)


async def test_a_read_before_the_contract_existed_does_not_find_it_and_writes_refuse_the_parameter(gateway, tokens):
    before = datetime.now(UTC)
    place = await open_county(gateway, tokens)
    auditor = tokens(Role.AUDITOR, place.county)
    path = f"{LOG}/{place.county}/contracts/{place.contract_id}/progress"
    assert (await gateway.get(path, headers=auditor)).status_code == 200
    r = await gateway.get(path, params={"recorded_as_of": before.isoformat()}, headers=auditor)
    assert r.status_code == 404, r.text
    contracts = await gateway.get(f"/registry/v1/counties/{place.county}/contracts", params={"recorded_as_of": before.isoformat()}, headers=auditor)
    assert contracts.status_code == 404 and "not registered" in contracts.json()["detail"]  # nor was the county

    for bad, why in (("2026-10-19T08:00:00", "offset"), ("yesterday", "RFC 3339"), ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "future")):
        r = await gateway.get(path, params={"recorded_as_of": bad}, headers=auditor)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        assert (r.json()["rule"], r.json()["field"]) == ("R-AUD-3", "recorded_as_of") and why in r.json()["detail"]

    head = (await gateway.get("/services-log/v1/audit/events", params={"limit": 1000}, headers=auditor)).json()["events"][-1]["position"]
    r = await gateway.post(f"{LOG}/{place.county}/deliveries", params={"recorded_as_of": before.isoformat()},
                           json=place.delivery(), headers=place.headers["provider"])
    assert r.status_code == 422 and r.json()["field"] == "recorded_as_of"
    after = (await gateway.get("/services-log/v1/audit/events", params={"after": head}, headers=auditor)).json()["events"]
    assert after == [], "a refused write recorded something"
    # Pinned reads stay county-checked (R-AUD-6).
    r = await gateway.get(path, params={"recorded_as_of": datetime.now(UTC).isoformat()}, headers=tokens(Role.AUDITOR, "650102"))
    assert r.status_code == 403


async def test_a_live_read_during_a_save_names_an_instant_before_that_save(settings, tokens):
    """A save stamps its events (recorded_at) before it commits, and a busy store — a writer
    waiting for the write lock, a batch of reactions — can take a while between the two. A live
    read in that gap does not show the save, so the instant it names must come before the save's
    stamp: read as of that instant it answers the same, not the save's outcome (R-AUD-3)."""
    import threading

    import registry.main

    from shared.testing.fixtures import client_for, running

    app = registry.main.create_app(settings)
    admin, purchaser = tokens(Role.PROVINCE_ADMIN, "*"), tokens(Role.PURCHASER, COUNTY)
    path = f"/v1/counties/{COUNTY}"
    async with running(app), client_for(app) as client:
        assert (await client.put(path, json={"name": "测试县"}, headers=admin)).status_code == 200
        recorder = app.state.store.process_recorder
        insert, stamped, release = recorder.insert_events, threading.Event(), threading.Event()

        def held_insert(*args: Any, **kwargs: Any) -> Any:  # the save, its events stamped, not committed
            stamped.set()
            assert release.wait(timeout=60)
            return insert(*args, **kwargs)

        recorder.insert_events = held_insert
        renaming = asyncio.create_task(client.put(path, json={"name": "更名县"}, headers=admin))
        try:
            assert await asyncio.to_thread(stamped.wait, 60)
            live = await client.get(path, headers=purchaser)
            assert live.json()["name"] == "测试县"  # the rename is not committed yet
        finally:
            release.set()
            renamed = await renaming
            del recorder.insert_events
        assert renamed.status_code == 200, renamed.text
        instant = live.headers["SWP-Recorded-As-Of"]
        assert (await client.get(path, params={"recorded_as_of": instant}, headers=purchaser)).json() == live.json()
        # Once committed, the rename shows live, and as of the instant that read names.
        after = await client.get(path, headers=purchaser)
        assert after.json()["name"] == "更名县"
        pinned = await client.get(path, params={"recorded_as_of": after.headers["SWP-Recorded-As-Of"]}, headers=purchaser)
        assert pinned.json() == after.json()
