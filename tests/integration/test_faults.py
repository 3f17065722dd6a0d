"""Fault tests on real servers: the event store is the source of truth, NATS may come and go,
consumers may crash — nothing is lost and nothing is applied twice (issue 2, R-AUD-5)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import finance.main
import nats
import pytest
import registry.main

import shared.infra.consumer as consumer
from shared.infra.auth import Role
from shared.testing.fixtures import client_for, running
from tests.integration.slice import COUNTY, setup_county, sign, wait_for_tranches


def scheduled_tranches(finance_app) -> Counter[tuple[str, int]]:
    """(contract, seq) of every TrancheScheduled event in finance's own store."""
    store = finance_app.state.store
    counts: Counter[tuple[str, int]] = Counter()
    for n in store.process_recorder.select_notifications(1, 100_000):
        if n.topic.endswith("TrancheSchedule.TrancheScheduled"):
            e = store.mapper.to_domain_event(n)
            counts[(e.contract_id, e.seq)] += 1
    return counts


async def jetstream_count(url: str, subject: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("SWP", subjects_filter=subject)
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def test_nats_down_after_command_accepted_then_back(gateway, tokens, nats_server):
    setup = await setup_county(gateway, tokens)
    nats_server.kill()

    # The command is accepted: the store is the source of truth, NATS is not needed to record it.
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]
    health = (await gateway.get("/registry/health")).json()
    assert health["nats"]["ok"] is False and health["outbox"]["pending"] >= 1
    assert (await gateway.get("/registry/health")).status_code == 503
    finance_headers = tokens(Role.FINANCE, COUNTY)
    r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract_id}/tranches", headers=finance_headers)
    assert r.status_code == 404  # finance has not heard of it: NATS is down

    nats_server.start()  # same JetStream store directory
    tranches = await wait_for_tranches(gateway, COUNTY, contract_id, finance_headers, timeout=60)
    assert tranches[0]["due_on"] == "2026-10-19"

    # Exactly once: one ContractSigned on the stream, one tranche-1 scheduling in finance.
    assert await jetstream_count(nats_server.url, f"swp.{COUNTY}.registry.ContractSigned") == 1
    finance_app = gateway.app.state.services["finance"]
    assert scheduled_tranches(finance_app)[(contract_id, 1)] == 1
    health = (await gateway.get("/registry/health")).json()
    assert health["nats"]["ok"] is True and health["outbox"]["pending"] == 0


async def test_finance_consumer_crashes_and_restarts_without_double_scheduling(settings, tokens, monkeypatch):
    reg = registry.main.create_app(settings)
    real_react = consumer.react
    crashes: list[int] = []

    def react_then_crash_before_ack(app, envelope, body, reaction, tracking, stats, *rest):
        # The reaction is saved, then the process "dies" before acknowledging: NATS redelivers.
        real_react(app, envelope, body, reaction, tracking, stats, *rest)
        if len(crashes) < 2:
            crashes.append(tracking.notification_id)
            raise RuntimeError("simulated crash between save and ack")

    monkeypatch.setattr(consumer, "react", react_then_crash_before_ack)
    contract_ids: list[str] = []
    async with running(reg), client_for(reg) as client:
        fin1 = finance.main.create_app(settings)
        async with running(fin1), client_for(fin1) as fin_client:
            setup = await setup_county(_Routed(client, fin_client), tokens)
            for _ in range(3):
                r = await sign(_Routed(client, fin_client), COUNTY, setup, justification="并行的服务协议（故障测试）")
                contract_ids.append(r.json()["contract_id"])
            for cid in contract_ids:
                await wait_for_tranches(_Routed(client, fin_client), COUNTY, cid, tokens(Role.FINANCE, COUNTY))
            assert len(crashes) == 2
            # Stop finance mid-stream: it is down while more contracts are signed.
        monkeypatch.setattr(consumer, "react", real_react)
        for _ in range(3):
            r = await sign(_Routed(client, None), COUNTY, setup, justification="并行的服务协议（故障测试）")
            contract_ids.append(r.json()["contract_id"])
        await asyncio.sleep(0.3)

        fin2 = finance.main.create_app(settings)  # same store, same durable consumer
        async with running(fin2), client_for(fin2) as fin_client:
            for cid in contract_ids:
                await wait_for_tranches(_Routed(client, fin_client), COUNTY, cid, tokens(Role.FINANCE, COUNTY))
            counts = scheduled_tranches(fin2)
            assert {cid: counts[(cid, 1)] for cid in contract_ids} == dict.fromkeys(contract_ids, 1)
            assert all(seq == 1 for (_, seq) in counts)

            nc = await nats.connect(settings.nats_url)
            try:
                js = nc.jetstream()
                # The relay publishes after the store answered (and the new process first takes the
                # store's leadership): wait until it has, then there must be exactly one per contract.
                for _ in range(100):
                    info = await js.stream_info("SWP", subjects_filter=f"swp.{COUNTY}.finance.TrancheScheduled")
                    if sum((info.state.subjects or {}).values()) >= len(contract_ids):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)  # a duplicate, if any, would follow its original
                info = await js.stream_info("SWP", subjects_filter=f"swp.{COUNTY}.finance.TrancheScheduled")
                assert sum((info.state.subjects or {}).values()) == len(contract_ids)
                last = await js.get_last_msg("SWP", f"swp.{COUNTY}.finance.TrancheScheduled")
                assert json.loads(last.data)["data"]["contract_id"] in contract_ids
            finally:
                await nc.close()


class _Routed:
    """Sends /registry/… to the registry app and /finance/… to the finance app (no gateway here)."""

    def __init__(self, registry_client, finance_client):
        self.registry, self.finance = registry_client, finance_client

    def _route(self, path: str):
        svc, _, rest = path.lstrip("/").partition("/")
        client = self.registry if svc == "registry" else self.finance
        if client is None:
            pytest.fail(f"{svc} is not running")
        return client, "/" + rest

    async def get(self, path, **kw):
        client, p = self._route(path)
        return await client.get(p, **kw)

    async def post(self, path, **kw):
        client, p = self._route(path)
        return await client.post(p, **kw)

    async def put(self, path, **kw):
        client, p = self._route(path)
        return await client.put(p, **kw)
