"""Memory held to a byte budget (issue 16): over ``SWP_MEMORY_BUDGET_MB`` the process's guard
evicts the least recently used aggregates of every service's cache; a service whose cache was
emptied still answers from its store. Real NATS; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.application import LRUCache
from prometheus_client.parser import text_string_to_metric_families

from shared.infra import memory, telemetry
from shared.infra.auth import Role
from tests.integration.slice import COUNTY, setup_county, sign, wait_for_tranches


@pytest.fixture(autouse=True)
def no_guard_left() -> Iterator[None]:
    memory.stop_guard()
    yield
    memory.stop_guard()


def filled(n: int) -> telemetry.CountingCache:
    cache = telemetry.CountingCache(LRUCache(maxsize=1000))
    for i in range(n):
        cache.put(i, object())
    return cache


def test_over_budget_the_least_recently_used_quarter_goes():
    cache = filled(100)
    cache.get(0)  # used last: the most recent now
    guard = memory.MemoryGuard(budget=1)  # every process is over one byte
    assert guard.check() >= 25
    kept = set(cache._inner.cache)
    assert 0 in kept  # recently used stays
    assert not kept & set(range(1, 26))  # the 25 oldest are gone
    assert set(range(26, 100)) <= kept
    assert guard.rounds == 1 and guard.evictions >= 25


def test_under_budget_nothing_is_evicted():
    cache = filled(100)
    guard = memory.MemoryGuard(budget=1 << 50)
    assert guard.check() == 0
    assert len(cache._inner.cache) == 100 and guard.evictions == 0


def values(text: str) -> dict[str, float]:
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


async def test_a_service_over_its_budget_sheds_its_cache_and_still_answers(settings, tokens):
    from gateway.app import create_app

    from shared.testing.fixtures import client_for, running

    app = create_app(settings.model_copy(update={"memory_budget_mb": 1}))  # always over: evicts each second
    async with running(app), client_for(app) as gateway:
        setup = await setup_county(gateway, tokens)
        r = await sign(gateway, COUNTY, setup)
        assert r.status_code == 201, r.text
        contract = r.json()["contract_id"]
        finance = tokens(Role.FINANCE, COUNTY)
        await wait_for_tranches(gateway, COUNTY, contract, finance)
        guard = memory.guard()
        assert guard is not None and guard.budget == 1 << 20
        for _ in range(50):  # the guard looks once a second
            if guard.evictions:
                break
            await __import__("asyncio").sleep(0.1)
        metrics = values((await gateway.get("/registry/metrics", headers=tokens(Role.PROVINCE_ADMIN, "*"))).text)
        assert metrics["swp_memory_budget_bytes"] == 1 << 20
        assert metrics["swp_process_resident_bytes"] > 1 << 20
        assert metrics["swp_memory_evictions_total"] >= 1
        # Read back after eviction: the contract and its tranches load from the store again.
        again = await gateway.get(f"/registry/v1/counties/{COUNTY}/contracts/{contract}", headers=tokens(Role.PURCHASER, COUNTY))
        assert again.status_code == 200 and again.json()["contract_id"] == contract
        await wait_for_tranches(gateway, COUNTY, contract, finance)


async def test_without_a_budget_no_guard_runs(gateway, tokens):
    metrics = values((await gateway.get("/registry/metrics", headers=tokens(Role.PROVINCE_ADMIN, "*"))).text)
    assert memory.guard() is None
    assert "swp_memory_budget_bytes" not in metrics and metrics["swp_process_resident_bytes"] > 0
