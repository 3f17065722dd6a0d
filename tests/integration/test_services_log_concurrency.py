"""Concurrent commands on one contract: queued per contract inside the service instead of
racing to a 409 (BENCHMARKS.md §2). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from tests.integration.test_services_log_support import COUNTY, LOG, check, open_county


async def test_concurrent_deliveries_of_one_contract_are_all_recorded(gateway, tokens):
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    deliveries = f"{LOG}/{COUNTY}/deliveries"
    workers = [place.workers["李娜"], place.workers["王静"]]
    bodies = [place.delivery(worker_ids=[workers[i % 2]], date=f"2026-10-{1 + i // 2:02d}") for i in range(8)]

    answers = await asyncio.gather(*(gateway.post(deliveries, json=b, headers=provider) for b in bodies))

    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
    progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert (progress["deliveries"], progress["person_times"]) == (8, 80)
    page = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200)
    assert page["total"] == 8

    # Correcting and voiding concurrently, on the same contract, also all succeed; the totals follow.
    ids = [a.json()["delivery_id"] for a in answers]
    changes = [
        gateway.post(f"{deliveries}/{ids[0]}/corrections", json={"person_times": 5, "reason": "重复计数"}, headers=provider),
        gateway.post(f"{deliveries}/{ids[1]}/voiding", json={"reason": "录入错误"}, headers=provider),
        gateway.post(f"{deliveries}/{ids[2]}/voiding", json={"reason": "录入错误"}, headers=provider),
    ]
    assert [a.status_code for a in await asyncio.gather(*changes)] == [200, 200, 200]
    progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert (progress["deliveries"], progress["person_times"]) == (6, 55)
