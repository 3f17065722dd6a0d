"""Batched consumers (``SWP_CONSUMER_BATCH`` > 1, shared/infra/consumer.py "Batches"), on real NATS
and stores: a partition's messages are applied several per store transaction, yet each contract's
events still apply in stream order and exactly once — across two finance processes sharing the
durable consumers and the death of the one pulling — and a reaction that keeps failing inside a
batch is parked while the rest of the batch is applied and the later messages of its contract are
held behind it."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from datetime import date

import httpx
import nats
import nats.js.errors
import pytest
from finance.domainmodel import schedule_id

from shared.events import registry as reg
from shared.infra.auth import Role
from shared.infra.nats import ensure_stream
from shared.testing.fixtures import Tokens, make_settings, running
from shared.testing.upstream import publish_as_upstream
from tests.integration.test_finance_support import COUNTY, contract_signed
from tests.integration.test_scale_out import check_applied_once, contract_ids, health, service_process, wait_until

PARTITIONS = 4
BATCH = 16


async def publish_contracts(url: str, ids: list[str], terminated: set[str]) -> None:
    """Each contract's signing, then (every other contract) its termination right behind it."""
    for cid in ids:
        await publish_as_upstream(url, COUNTY, contract_signed(cid, effective_on="2026-10-08"), cid, aggregate_type="Contract")
        if cid in terminated:
            await publish_as_upstream(url, COUNTY, reg.ContractTerminated(
                contract_id=cid, county=COUNTY, terminated_on=date(2026, 11, 2), kind="breach", reason="服务未达标",
            ), cid, aggregate_type="Contract", version=2)


@pytest.mark.postgres
async def test_batches_keep_each_contracts_order_and_apply_once_when_the_puller_dies(postgres, nats_server, tmp_path):
    """Two finance processes, four partitions, batches of 16: one process owns each partition and
    pulls it; it is killed while a burst is being applied (a batch saved but not acked, or not
    saved at all), the other takes its partitions over. Every contract's termination still applies
    after its signing (never retried for want of the schedule), every event exactly once."""
    settings = make_settings("postgres", nats_server.url, tmp_path / "var", postgres, leader_retry_seconds=0.5)
    tokens = Tokens(settings)
    procs = [service_process(settings, tmp_path, i, module="finance") for i in (1, 2)]
    for p in procs:
        p.env.update(SWP_CONSUMER_PARTITIONS=str(PARTITIONS), SWP_CONSUMER_BATCH=str(BATCH), SWP_LEADER_RETRY_SECONDS="0.5")
    ids = contract_ids(60)
    terminated = set(ids[::2])
    first, later = ids[:40], ids[40:]
    try:
        for p in procs:
            p.start()
        for p in procs:
            await asyncio.to_thread(p.wait_healthy, time.monotonic() + 90)
        async with httpx.AsyncClient(base_url=procs[0].url, timeout=60) as a, httpx.AsyncClient(base_url=procs[1].url, timeout=60) as b:
            async def owners() -> list[list[str]] | None:
                owned = [(await health(c))["consumers"]["registry"]["owned"] for c in (a, b)]
                return owned if sum(len(o) for o in owned) == PARTITIONS else None

            owned = await wait_until(owners, what="every partition owned by one process")
            assert sorted(owned[0] + owned[1]) == [f"finance--registry--p{i}of{PARTITIONS}" for i in range(PARTITIONS)]
            await publish_contracts(nats_server.url, first, terminated)

            async def some_handled() -> bool:
                return sum([(await health(c))["consumers"]["registry"]["handled"] for c in (a, b)]) > 0

            await wait_until(some_handled, what="the burst being applied")
            victim = 0 if owned[0] else 1  # a process that pulls, killed mid-burst
            procs[victim].proc.send_signal(signal.SIGKILL)
            procs[victim].proc.wait(timeout=10)
            survivor = (a, b)[1 - victim]
            await publish_contracts(nats_server.url, later, terminated)

            async def taken_over() -> dict | None:
                stats = (await health(survivor))["consumers"]["registry"]
                return stats if len(stats["owned"]) == PARTITIONS else None

            await wait_until(taken_over, timeout=60, what="the survivor owns every partition")
            nc = await nats.connect(nats_server.url)
            try:
                js = nc.jetstream()

                async def drained() -> bool:
                    infos = [await js.consumer_info("SWP", f"finance--registry--p{i}of{PARTITIONS}") for i in range(PARTITIONS)]
                    return all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)

                await wait_until(drained, timeout=120, what="every registry event reacted to")
            finally:
                await nc.close()
            stats = (await health(survivor))["consumers"]["registry"]
            # In order per contract: no termination met a contract not planned yet (it would fail
            # with RetryLater), and several messages were applied per transaction.
            assert stats["failures"] == 0 and stats["parked"] == 0, stats
            assert stats["batches"] > 0 and stats["handled"] > 0, stats
            # Exactly once: one tranche 1 scheduled per contract, three cancellations per termination.
            await check_applied_once(survivor, tokens(Role.FINANCE, COUNTY), nats_server.url, ids, terminated)
    finally:
        for p in procs:
            p.stop()


async def test_each_partition_applies_its_batches_in_stream_order(persistence, nats_server, tmp_path, request):
    """The order property itself, deterministically: one finance process (no ownership to wait
    for or lose), four partitions, batches of 16, and a burst already on the stream when finance
    starts, so each fetch brings a full batch. Every signing commits to the one county budget,
    which keeps its commitments in the order they were applied: each partition's contracts must
    appear there in stream order — a batch applied in any other order breaks that, and nothing
    else fails first (signings only: none of them depends on another, so a misordered batch still
    applies together and the test reaches the order assertion). Contracts whose later events
    depend on the earlier ones (a termination behind its signing) are the test above's."""
    from finance.domainmodel import budget_id
    from finance.main import create_app

    from shared.infra.consumer import partition_of

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg, consumer_partitions=PARTITIONS,
                             consumer_batch=BATCH, leader_retry_seconds=0.2, reaction_max_attempts=2)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"batch-order-test-{i}")) for i in range(48)]
    nc = await nats.connect(settings.nats_url)
    try:
        await ensure_stream(nc.jetstream())  # the burst is on the stream before finance starts
    finally:
        await nc.close()
    await publish_contracts(settings.nats_url, ids, set())
    in_partition = {i: [c for c in ids if partition_of(c, PARTITIONS) == i] for i in range(PARTITIONS)}
    assert all(len(cs) >= 4 for cs in in_partition.values()), in_partition  # order within each is observable

    app = create_app(settings)
    async with running(app):
        runtime = app.state.runtime
        stats = runtime.consumers["registry"]
        nc = await nats.connect(settings.nats_url)
        try:
            js = nc.jetstream()

            async def drained() -> bool:
                try:
                    infos = [await js.consumer_info("SWP", d) for d in stats.durables]
                except nats.js.errors.NotFoundError:  # a partition not pulled yet
                    return False
                return all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos)

            await wait_until(drained, timeout=90, what="every registry event reacted to")
        finally:
            await nc.close()
        budget = await asyncio.to_thread(runtime.store._find, budget_id(COUNTY, 2026))
        applied = [c for c, _ in budget.line("福彩公益金").commitments]
        for index, expected in in_partition.items():
            # THE order assertion (first, so a misordering fails here): each partition applied all its
            # contracts, in stream order.
            assert [c for c in applied if partition_of(c, PARTITIONS) == index] == expected, f"partition {index} out of order"
        assert sorted(applied) == sorted(ids)  # each contract once
        assert stats.handled == len(ids) and stats.batches * 2 <= stats.handled, stats  # several per batch
        assert stats.failures == 0 and stats.parked == 0 and stats.batches_one_by_one == 0, stats


POISON = "p-坏数据"  # the provider whose contracts the broken code cannot handle


async def test_a_poison_message_in_a_batch_is_parked_and_the_rest_of_the_batch_applied(
    persistence, nats_server, tmp_path, request, monkeypatch
):
    """A batch (one partition, finance started after the burst is on the stream) holding a signing
    whose reaction always fails: the batch cannot be saved together, so it is applied one message
    at a time: the poison is retried here and parked after SWP_REACTION_MAX_ATTEMPTS, the other
    contracts are applied, and the poisoned contract's later termination is held behind it."""
    from finance.main import create_app
    from finance.reactions import FinanceReactions

    calls = {"poison": 0}
    original = FinanceReactions.on_contract_signed

    def on_contract_signed(self, e):
        if e.provider_id == POISON:
            calls["poison"] += 1
            raise ValueError("test double: this provider breaks the reaction")
        return original(self, e)

    monkeypatch.setattr(FinanceReactions, "on_contract_signed", on_contract_signed)
    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg, reaction_max_attempts=2, consumer_batch=BATCH)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"batch-poison-test-{i}")) for i in range(8)]
    ids, later = ids[:6], ids[6:]
    bad, good = ids[1], [c for c in ids if c != ids[1]]
    nc = await nats.connect(settings.nats_url)
    try:
        await ensure_stream(nc.jetstream())  # the burst is on the stream before finance starts
    finally:
        await nc.close()
    for cid in ids:
        extra = {"provider_id": POISON} if cid == bad else {}
        await publish_as_upstream(settings.nats_url, COUNTY, contract_signed(cid, effective_on="2026-10-08", **extra), cid,
                                  aggregate_type="Contract")
    for cid in (bad, good[0]):
        await publish_as_upstream(settings.nats_url, COUNTY, reg.ContractTerminated(
            contract_id=cid, county=COUNTY, terminated_on=date(2026, 11, 2), kind="breach", reason="服务未达标",
        ), cid, aggregate_type="Contract", version=2)

    app = create_app(settings)
    async with running(app):
        runtime = app.state.runtime
        stats = runtime.consumers["registry"]
        parker = runtime.store.reaction_parkers["registry"]

        async def settled() -> list[dict] | None:
            entries = await asyncio.to_thread(lambda: parker.current().entries)
            return entries if len(entries) == 2 and stats.handled >= len(good) + 1 else None

        entries = await wait_until(settled, timeout=60, what="the poison parked, its termination held, the rest applied")
        by_status = {e["status"]: e for e in entries}
        assert by_status["parked"]["aggregate_id"] == bad and by_status["parked"]["event_type"] == "ContractSigned"
        # Tried once within the batch, then SWP_REACTION_MAX_ATTEMPTS times alone.
        assert by_status["parked"]["attempts"] == 2 and calls["poison"] == 1 + 2
        assert by_status["held"]["aggregate_id"] == bad and by_status["held"]["event_type"] == "ContractTerminated"
        assert by_status["held"]["seq"] > by_status["parked"]["seq"]
        assert stats.batches_one_by_one >= 1 and stats.parked == 1 and stats.held == 1, stats
        store = runtime.store
        assert await asyncio.to_thread(store._find, schedule_id(bad)) is None
        for cid in good:
            schedule = await asyncio.to_thread(store._find, schedule_id(cid))
            assert schedule is not None, cid
        cancelled = await asyncio.to_thread(store._find, schedule_id(good[0]))
        assert {t.status for t in cancelled.tranches} == {"cancelled"}

        # Later messages of healthy contracts go on in batches again.
        for cid in later:
            await publish_as_upstream(settings.nats_url, COUNTY, contract_signed(cid, effective_on="2026-10-08"), cid,
                                      aggregate_type="Contract")

        async def applied() -> bool:
            return all([await asyncio.to_thread(store._find, schedule_id(c)) is not None for c in later])

        await wait_until(applied, timeout=60, what="later contracts applied")
        assert stats.batches >= 1


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_a_batch_is_one_unit_of_work_each_event_keeping_its_own_cause(persistence, request, tmp_path):
    """Within ``reaction_batch`` a reaction sees what the earlier ones produced and have not saved
    (the second signing commits to the budget the first one changed: one budget, two commitments);
    the batch is saved with one Tracking, the highest position, which covers the earlier ones; and
    each recorded event names its own upstream event as its cause (R-AUD-1)."""
    from eventsourcing.persistence import Tracking
    from finance.application import FinanceApplication
    from finance.composition import compose
    from finance.domainmodel import budget_id

    from shared.infra.service import prepare_store
    from shared.infra.store import CommandContext, event_meta

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, "nats://127.0.0.1:1", tmp_path / "var", pg)
    prepare_store(settings, "finance")
    app = FinanceApplication(settings.eventsourcing_env("finance"))
    try:
        reactions = compose(app).reactions
        react = reactions.on_contract_signed
        ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"batch-unit-test-{i}")) for i in range(2)]
        signings = [contract_signed(cid, effective_on="2026-01-05") for cid in ids]
        with app.reaction_batch() as unit, app.reaction_scope(locking=True):
            reactions.plan_ahead(signings)  # the schedules planned before any lock, taken up by the reactions
            assert len(unit.scratch) == 2
            for seq, (cid, signing) in enumerate(zip(ids, signings, strict=True), start=7):
                with app.command(CommandContext(county=COUNTY, actor="service:finance", causation_id=f"cause-{cid}")):
                    app.record_reaction(Tracking("SWP:registry", seq), *react(signing))
            assert unit.scratch == {}
            assert app.process_recorder.max_tracking_id("SWP:registry") is None  # nothing saved yet
            with app.command(CommandContext(county=COUNTY, actor="service:finance")):
                app.record_batch(Tracking("SWP:registry", 8))
        assert app.is_processed("SWP:registry", 7) and app.is_processed("SWP:registry", 8)
        budget = app.repository.get(budget_id(COUNTY, 2026))
        assert [c for c, _ in budget.line("福彩公益金").commitments] == ids
        # What the reactions would have produced without planning ahead: the same events, the same state.
        alone = reactions._plan(contract_signed("alone", effective_on="2026-01-05"))
        kinds = [type(e).__name__ for e in alone.collect_events()]
        for cid in ids:
            schedule = app.repository.get(schedule_id(cid))
            assert [type(e).__name__ for e in app.history(schedule_id(cid))] == kinds
            assert (schedule.tranches, schedule.amount_fen, schedule.findings) == (alone.tranches, alone.amount_fen, alone.findings)
            for domain_event in app.history(schedule_id(cid)):
                assert event_meta(domain_event)["causation_id"] == f"cause-{cid}"
        causes = [event_meta(e)["causation_id"] for e in app.history(budget_id(COUNTY, 2026))[1:]]
        assert causes == [f"cause-{cid}" for cid in ids]
    finally:
        app.close()


@pytest.mark.postgres
def test_a_batch_never_waits_for_a_lock_while_holding_another(postgres, tmp_path):
    """Two batches each hold one county's budget lock and then need the other's: the second
    request is only tried (LockBusy, naming every key, to take them all at once next time) —
    neither waits holding a lock, so they cannot deadlock."""
    from finance.application import FinanceApplication

    from shared.infra.service import prepare_store

    settings = make_settings("postgres", "nats://127.0.0.1:1", tmp_path / "var", postgres)
    prepare_store(settings, "finance")
    app = FinanceApplication(settings.eventsourcing_env("finance"))
    outcome: dict = {}
    try:
        with app.reaction_batch(), app.reaction_scope():
            app.hold_until_saved("budgets:A")
            other = threading.Thread(target=holding_then, args=(app, "budgets:B", "budgets:A", outcome))
            other.start()
            other.join(timeout=30)
            assert outcome.get("busy") == {"budgets:A", "budgets:B"}, outcome
            app.hold_until_saved("budgets:A")  # held already: nothing to take
    finally:
        app.close()


def holding_then(app, first: str, second: str, outcome: dict) -> None:
    from shared.infra.store import LockBusy

    try:
        with app.reaction_batch(), app.reaction_scope():
            app.hold_until_saved(first)
            app.hold_until_saved(second)
            outcome["took"] = True
    except LockBusy as busy:
        outcome["busy"] = busy.keys
