"""Several processes of one service on one store (issue 16 item 4): two uvicorn processes of
services-log share a PostgreSQL schema and NATS. Concurrent deliveries at one shared contract
through both: none lost, none duplicated, no 409 surfaced; exactly one process runs the outbox
relay and one the chain sealer, and the survivor takes both over when that process is killed.
Real PostgreSQL and NATS (PostgreSQL only: on SQLite one process per store is the supported mode)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import httpx
import nats
import pytest
import registry.main

from shared.infra.auth import Role
from shared.infra.natsserver import free_port
from shared.testing.fixtures import Tokens, client_for, make_settings, running
from tests.deploy.topology import Routed, ServiceProcess
from tests.integration.slice import setup_county, sign, wait_for_tranches
from tests.integration.test_services_log_support import COUNTY, check, open_county

# The twelve contracts share a provider and stations: overlapping years need a recorded reason (R-REG-7).
PARALLEL = "并行项目（测试）"

pytestmark = pytest.mark.postgres

FIRST, LATER = 40, 10  # deliveries through both processes, then through the survivor


def service_process(settings, directory: Path, index: int, module: str = "services_log") -> ServiceProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWP_", "NATS_"))} | {
        "SWP_ENVIRONMENT": "test",
        "SWP_PERSISTENCE": "postgres",
        "SWP_POSTGRES_HOST": settings.postgres_host,
        "SWP_POSTGRES_PORT": str(settings.postgres_port),
        "SWP_POSTGRES_USER": settings.postgres_user,
        "SWP_POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "SWP_POSTGRES_DBNAME": settings.postgres_dbname,
        "SWP_POSTGRES_SCHEMA_PREFIX": settings.postgres_schema_prefix,
        "SWP_NATS_URL": settings.nats_url,
        "SWP_VAR_DIR": str(directory / f"{module}{index}"),
        "SWP_RELAY_POLL_SECONDS": "0.1",
        "SWP_LEADER_RETRY_SECONDS": "0.5",
        "SWP_METRICS_PUBLIC": "true",
    }
    command = ["uvicorn", f"{module}.main:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    return ServiceProcess(f"{module}-{index}", port, command, env, directory / f"{module}-{index}.log")


async def health(client: httpx.AsyncClient) -> dict:
    return (await client.get("/health")).json()


async def published_delivery_ids(nats_url: str) -> Counter[str]:
    """Every ServiceDelivered message on the stream, counted by its Nats-Msg-Id (= event id)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"swp.{COUNTY}.services-log.ServiceDelivered", durable=None, stream="SWP")
        ids: Counter[str] = Counter()
        while True:
            try:
                msgs = await sub.fetch(100, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for m in msgs:
                ids[m.headers["Nats-Msg-Id"]] += 1
                await m.ack()
        await sub.unsubscribe()
        return ids
    finally:
        await nc.close()


async def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.2)


async def test_two_processes_of_services_log_on_one_shared_contract(postgres, nats_server, tmp_path):
    settings = make_settings("postgres", nats_server.url, tmp_path / "var", postgres)
    tokens = Tokens(settings)
    procs = [service_process(settings, tmp_path, i) for i in (1, 2)]
    reg = registry.main.create_app(settings)
    try:
        for p in procs:
            p.start()
        for p in procs:
            await asyncio.to_thread(p.wait_healthy, time.monotonic() + 90)
        async with running(reg), client_for(reg) as reg_client, httpx.AsyncClient(base_url=procs[0].url, timeout=60) as a, \
                httpx.AsyncClient(base_url=procs[1].url, timeout=60) as b:
            place = await open_county(Routed({"registry": reg_client, "services-log": a}), tokens)
            provider, purchaser = place.headers["provider"], place.headers["purchaser"]
            path = f"/v1/counties/{COUNTY}/deliveries"
            workers = [place.workers["李娜"], place.workers["王静"]]

            # One relay and one sealer for the store, whichever process runs them.
            async def leaders() -> list[dict]:
                return [(await health(c))["leader"] for c in (a, b)]

            roles = await wait_until(
                lambda: _one_each(leaders()), what="one relay and one sealer leader across the two processes"
            )
            assert sum(r["relay"] for r in roles) == 1 and sum(r["sealer"] for r in roles) == 1

            # Concurrent deliveries at the one contract, alternately through each process.
            bodies = [place.delivery(worker_ids=[workers[i % 2]], date=f"2026-10-{1 + i // 2:02d}") for i in range(FIRST)]
            answers = await asyncio.gather(*((a, b)[i % 2].post(path, json=body, headers=provider) for i, body in enumerate(bodies)))
            assert [r.status_code for r in answers] == [201] * FIRST, [r.text for r in answers if r.status_code != 201]
            accepted = {r.json()["delivery_id"] for r in answers}
            assert len(accepted) == FIRST

            # The per-contract lock is held in the store: no command even lost a race and was re-run.
            texts = [(await client.get("/metrics")).text for client in (a, b)]
            assert all("swp_command_retries_total 0.0" in text for text in texts)
            # Only the leader's relay published (after the deliveries' events reached the stream).
            await wait_until(lambda: _published_at_least(settings.nats_url, FIRST), what="first deliveries published")
            texts = [(await client.get("/metrics")).text for client in (a, b)]
            relay_leader = next(i for i, r in enumerate(roles) if r["relay"])
            assert "swp_outbox_published_total 0.0" in texts[1 - relay_leader]
            assert "swp_outbox_published_total 0.0" not in texts[relay_leader]

            # The leader of the relay dies; the other process takes over relay and sealer.
            survivor_client = (a, b)[1 - relay_leader]
            os.killpg(procs[relay_leader].proc.pid, signal.SIGKILL)
            procs[relay_leader].proc.wait(timeout=10)
            leads = await wait_until(
                lambda: _leads_both(survivor_client), timeout=30, what="the survivor leads relay and sealer"
            )
            assert leads == {"relay": True, "sealer": True}
            later = [place.delivery(worker_ids=[workers[i % 2]], date=f"2026-10-{21 + i // 2:02d}") for i in range(LATER)]
            answers = await asyncio.gather(*(survivor_client.post(path, json=body, headers=provider) for body in later))
            assert [r.status_code for r in answers] == [201] * LATER, [r.text for r in answers if r.status_code != 201]
            accepted |= {r.json()["delivery_id"] for r in answers}

            # Store: every accepted delivery counted once.
            progress = await check(survivor_client.get(f"/v1/counties/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
            assert progress["deliveries"] == FIRST + LATER
            # Stream: each delivery's event published exactly once (the duplicate window drops re-sends).
            async def all_published() -> Counter[str] | None:
                ids = await published_delivery_ids(settings.nats_url)
                return ids if len(ids) == FIRST + LATER else None

            ids = await wait_until(all_published, timeout=30, what="every delivery published")
            assert set(ids.values()) == {1}
            # Sealed: the survivor's sealer chained every record, whichever process wrote it.
            async def sealed() -> dict | None:
                body = (await survivor_client.get("/v1/audit/verify", headers=tokens(Role.AUDITOR, "*"))).json()
                return body if body["unsealed"] == 0 else None

            verdict = await wait_until(sealed, timeout=30, what="everything sealed")
            assert verdict["verified"] is True and verdict["problems"] == []
            metrics = (await survivor_client.get("/metrics")).text
            assert 'swp_leader{role="relay"} 1.0' in metrics and 'swp_leader{role="sealer"} 1.0' in metrics
    finally:
        for p in procs:
            p.stop()


async def _published_at_least(nats_url: str, n: int) -> bool:
    return len(await published_delivery_ids(nats_url)) >= n


async def _one_each(pending) -> list[dict] | None:
    roles = await pending
    if sum(r["relay"] for r in roles) == 1 and sum(r["sealer"] for r in roles) == 1:
        return roles
    return None


async def _leads_both(client: httpx.AsyncClient) -> dict | None:
    leads = (await health(client))["leader"]
    return leads if leads["relay"] and leads["sealer"] else None


async def test_two_processes_of_finance_share_its_consumers(postgres, nats_server, tmp_path):
    """Both processes pull from the same durable consumer (one message in flight: the upstream's
    order holds); every signing is reacted to exactly once, also when one process is killed."""
    settings = make_settings("postgres", nats_server.url, tmp_path / "var", postgres)
    tokens = Tokens(settings)
    procs = [service_process(settings, tmp_path, i, module="finance") for i in (1, 2)]
    reg = registry.main.create_app(settings)
    try:
        for p in procs:
            p.start()
        for p in procs:
            await asyncio.to_thread(p.wait_healthy, time.monotonic() + 90)
        async with running(reg), client_for(reg) as reg_client, httpx.AsyncClient(base_url=procs[0].url, timeout=60) as a, \
                httpx.AsyncClient(base_url=procs[1].url, timeout=60) as b:
            platform = Routed({"registry": reg_client, "finance": a})
            setup = await setup_county(platform, tokens)
            contracts = [(await sign(platform, COUNTY, setup, justification=PARALLEL)).json()["contract_id"] for _ in range(6)]
            roles = await wait_until(lambda: _one_each(_leaders(a, b)), what="one leader")
            procs[0].proc.send_signal(signal.SIGKILL)  # one process dies, leader or not
            procs[0].proc.wait(timeout=10)
            contracts += [(await sign(platform, COUNTY, setup, justification=PARALLEL)).json()["contract_id"] for _ in range(6)]
            survivor = Routed({"registry": reg_client, "finance": b})
            for cid in contracts:
                await wait_for_tranches(survivor, COUNTY, cid, tokens(Role.FINANCE, COUNTY))
            assert await wait_until(lambda: _leads_both(b), what="the survivor leads")
            assert sum(r["relay"] for r in roles) == 1

            async def all_scheduled() -> Counter | None:
                counts = await published_counts(settings.nats_url, "TrancheScheduled")
                return counts if len(counts) == len(contracts) else None

            counts = await wait_until(all_scheduled, what="every tranche 1 published")
            assert counts == Counter({(cid, 1): 1 for cid in contracts})
    finally:
        for p in procs:
            p.stop()


async def _leaders(a: httpx.AsyncClient, b: httpx.AsyncClient) -> list[dict]:
    return [(await health(c))["leader"] for c in (a, b)]


PARTITIONS = 4
SIGNED = 24  # contracts; every other one is terminated right after its signing


def contract_ids(n: int) -> list[str]:
    """Contract ids spread over every partition (checked: each partition gets some)."""
    from shared.infra.consumer import partition_of

    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"partition-test-{i}")) for i in range(n)]
    assert {partition_of(c, PARTITIONS) for c in ids} == set(range(PARTITIONS))
    return ids


async def published_counts(nats_url: str, event_type: str) -> Counter[tuple[str, int]]:
    """(contract, seq) of every finance ``event_type`` message on the stream."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(f"swp.{COUNTY}.finance.{event_type}", durable=None, stream="SWP")
        counts: Counter[tuple[str, int]] = Counter()
        while True:
            try:
                msgs = await sub.fetch(100, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for m in msgs:
                data = json.loads(m.data)["data"]
                counts[(data["contract_id"], data["seq"])] += 1
                await m.ack()
        await sub.unsubscribe()
        return counts
    finally:
        await nc.close()

async def check_applied_once(client: httpx.AsyncClient, finance: dict, nats_url: str, ids: list[str], terminated: set[str]) -> None:
    """Each contract's tranches as its signing and termination left them — all three cancelled
    when terminated, else tranche 1 due and the others awaiting their trigger — and, on the
    stream, exactly one tranche 1 scheduled per contract and three cancellations per termination."""
    for cid in ids:
        r = await client.get(f"/v1/counties/{COUNTY}/contracts/{cid}/tranches", headers=finance)
        assert r.status_code == 200, r.text
        statuses = [t["status"] for t in r.json()]
        expected = ["cancelled"] * 3 if cid in terminated else [statuses[0], "awaiting_trigger", "awaiting_trigger"]
        assert statuses == expected and statuses[0] in ("cancelled", "scheduled", "overdue"), (cid, statuses)

    async def all_published() -> tuple[Counter, Counter] | None:
        scheduled = await published_counts(nats_url, "TrancheScheduled")
        cancelled = await published_counts(nats_url, "TrancheCancelled")
        return (scheduled, cancelled) if len(scheduled) == len(ids) and len(cancelled) == 3 * len(terminated) else None

    scheduled, cancelled = await wait_until(all_published, timeout=60, what="every schedule and cancellation published")
    assert scheduled == Counter({(cid, 1): 1 for cid in ids})
    assert cancelled == Counter({(cid, seq): 1 for cid in terminated for seq in (1, 2, 3)})
    # R-FIN-2: each signing committed once to each budget year of its service period, and each
    # termination (nothing paid) released the whole commitment, once: what stays is the others'.
    r = await client.get(f"/v1/counties/{COUNTY}/budgets", headers=finance)
    assert r.status_code == 200, r.text
    for line in r.json():
        committed = {c["contract_id"]: c["amount_fen"] for c in line["contracts"]}
        assert sorted(committed) == sorted(ids) and len(line["contracts"]) == len(ids), line["year"]
        assert sorted(x["contract_id"] for x in line["releases"]) == sorted(terminated), line["year"]
        assert all(x["amount_fen"] == committed[x["contract_id"]] for x in line["releases"]), line["year"]
        assert line["committed_fen"] == sum(fen for cid, fen in committed.items() if cid not in terminated), line["year"]


async def test_partitioned_consumers_keep_each_contracts_order_across_two_finance_processes(postgres, nats_server, tmp_path):
    """SWP_CONSUMER_PARTITIONS=4, two finance processes: registry's events are read by four durable
    consumers shared by both processes. Each contract's ContractTerminated, published right after
    its ContractSigned, is applied after it (never retried for want of the schedule: no failure),
    every event exactly once, none lost; every partition and both processes took part."""
    from shared.events import registry as reg
    from shared.testing.upstream import publish_as_upstream
    from tests.integration.test_finance_support import contract_signed

    settings = make_settings("postgres", nats_server.url, tmp_path / "var", postgres)
    tokens = Tokens(settings)
    procs = [service_process(settings, tmp_path, i, module="finance") for i in (1, 2)]
    for p in procs:
        p.env["SWP_CONSUMER_PARTITIONS"] = str(PARTITIONS)
    ids = contract_ids(SIGNED)
    terminated = set(ids[::2])
    try:
        for p in procs:
            p.start()
        for p in procs:
            await asyncio.to_thread(p.wait_healthy, time.monotonic() + 90)
        for cid in ids:  # each contract's events back to back, contracts one after another
            await publish_as_upstream(nats_server.url, COUNTY, contract_signed(cid, effective_on="2026-10-08"), cid)
            if cid in terminated:
                await publish_as_upstream(nats_server.url, COUNTY, reg.ContractTerminated(
                    contract_id=cid, county=COUNTY, terminated_on=date(2026, 11, 2), kind="breach", reason="服务未达标",
                ), cid)
        async with httpx.AsyncClient(base_url=procs[0].url, timeout=60) as a, httpx.AsyncClient(base_url=procs[1].url, timeout=60) as b:
            finance = tokens(Role.FINANCE, COUNTY)

            async def settled() -> list[dict] | None:
                stats = [(await health(c))["consumers"]["registry"] for c in (a, b)]
                return stats if sum(s["handled"] for s in stats) >= SIGNED + len(terminated) else None

            stats = await wait_until(settled, timeout=120, what="every registry event reacted to")
            # Partitioned: four durable consumers, the same in both processes.
            durables = [f"finance--registry--p{i}of{PARTITIONS}" for i in range(PARTITIONS)]
            assert [s["durables"] for s in stats] == [durables, durables]
            # In order per contract: no termination came before its contract's schedule (it would
            # have failed with RetryLater and been redelivered), and each event applied once.
            assert sum(s["failures"] for s in stats) == 0, stats
            assert sum(s["handled"] for s in stats) == SIGNED + len(terminated)
            assert all(s["handled"] > 0 for s in stats), "both processes reacted"
            nc = await nats.connect(nats_server.url)
            try:
                js = nc.jetstream()
                infos = [await js.consumer_info("SWP", d) for d in durables]
            finally:
                await nc.close()
            assert all(i.num_pending == 0 and i.delivered.stream_seq > 0 for i in infos)
            await check_applied_once(a, finance, nats_server.url, ids, terminated)
            # The county's index (a projection of finance's log) lists every contract once.
            overdue = await a.get(f"/v1/counties/{COUNTY}/tranches/overdue", params={"as_of": "9999-12-31"}, headers=finance)
            assert overdue.status_code == 200, overdue.text
            assert sorted(row["contract_id"] for row in overdue.json()) == sorted(set(ids) - terminated)
    finally:
        for p in procs:
            p.stop()
