"""The production NATS topology (deploy/nats/): three JetStream nodes on loopback from the shipped
configuration, stream SWP with three replicas, each service logged in as its own user.

A node crashes (SIGKILL) while a county signs contracts: every contract the registry
acknowledged reaches finance exactly once, and the stream holds each ContractSigned once
(R-AUD-5). County subscribers read their own county and nothing else (R-AUD-6).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import finance.main
import nats
import nats.js.errors
import pytest
import registry.main
from nats.js.api import ConsumerConfig

from examples import subscriber
from shared.infra.auth import Role
from shared.infra.nats import ensure_stream
from shared.testing.fixtures import Tokens, client_for, make_settings, running
from tests.deploy.cluster import Cluster
from tests.deploy.topology import Routed
from tests.integration.slice import COUNTY, OTHER, setup_county, sign, wait_for_tranches

CONTRACTS = 30
CRASH_AFTER = 10  # acknowledged contracts before the stream leader's machine dies


def scheduled_tranches(finance_app: Any) -> Counter[tuple[str, int]]:
    """(contract, seq) of every TrancheScheduled event in finance's own store."""
    store = finance_app.state.store
    counts: Counter[tuple[str, int]] = Counter()
    for n in store.process_recorder.select_notifications(1, 100_000):
        if n.topic.endswith("TrancheSchedule.TrancheScheduled"):
            e = store.mapper.to_domain_event(n)
            counts[(e.contract_id, e.seq)] += 1
    return counts


async def connect(cluster: Cluster, user: str, **options: Any) -> nats.NATS:
    """A client of the test itself, given all three servers (nats-py takes a list)."""
    servers = [cluster.url(user, node=i) for i in (1, 2, 3)]
    return await nats.connect(servers, connect_timeout=2, max_reconnect_attempts=3, tls=cluster.tls.client_context(), **options)


async def create_stream(js: Any) -> None:
    """Stream SWP with 3 replicas, once it has elected a leader (publishes before that find no
    responder)."""
    await ensure_stream(js, 3)
    for _ in range(100):
        info = await js.stream_info("SWP")
        if info.cluster and info.cluster.leader and len(info.cluster.replicas or []) == 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("stream SWP never elected a leader with two current replicas")


async def stream_leader(cluster: Cluster) -> str:
    nc = await connect(cluster, "admin")
    try:
        info = await nc.jetstream().stream_info("SWP")
        assert info.config.num_replicas == 3
        return str(info.cluster.leader)
    finally:
        await nc.close()


async def move_leader_to(cluster: Cluster, node_name: str) -> None:
    """Make ``node_name`` the leader of stream SWP (step the leader down until it is elected)."""
    nc = await connect(cluster, "admin")
    try:
        js = nc.jetstream()
        for _ in range(30):
            if (await js.stream_info("SWP")).cluster.leader == node_name:
                return
            await nc.request("$JS.API.STREAM.LEADER.STEPDOWN.SWP", b"", timeout=5)
            await asyncio.sleep(0.5)
        raise AssertionError(f"stream SWP's leadership never reached {node_name}")
    finally:
        await nc.close()


def service_settings(cluster: Cluster, user: str, var: Any) -> Any:
    """As deploy/ configures a service: every node in SWP_NATS_URL, its own user apart, TLS."""
    servers = ",".join(node.url() for node in cluster.nodes)
    return make_settings(
        "sqlite", servers, var, stream_replicas=3, nats_user=user, nats_password=cluster.password(user), **cluster.tls.settings()
    )


async def contracts_on_stream(cluster: Cluster) -> Counter[str]:
    """contract_id of every ContractSigned held by stream SWP, read back message by message from
    the stream leader (no consumer to place on the surviving nodes)."""
    nc = await connect(cluster, "admin")
    try:
        js = nc.jetstream(timeout=10)
        seen: Counter[str] = Counter()
        seq = 0
        while True:
            try:
                msg = await js.get_msg("SWP", seq=seq + 1, subject=f"swp.{COUNTY}.registry.ContractSigned", next=True)
            except nats.js.errors.NotFoundError:
                return seen
            seen[json.loads(msg.data)["data"]["contract_id"]] += 1
            seq = int(msg.seq)
    finally:
        await nc.close()


async def test_a_node_crashes_mid_load_and_every_acknowledged_contract_reaches_finance_once(cluster, tmp_path):
    # Every node fsyncs each write (sync_interval: always), not every two minutes.
    assert all(node.monitor("varz")["jetstream"]["config"]["sync_always"] for node in cluster.nodes)
    # Each service is its own NATS user (accounts.conf) and creates stream SWP with 3 replicas.
    var = tmp_path / "var"
    reg_settings = service_settings(cluster, "registry", var)
    fin_settings = service_settings(cluster, "finance", var)
    tokens = Tokens(reg_settings)
    reg, fin = registry.main.create_app(reg_settings), finance.main.create_app(fin_settings)

    async with running(reg, fin), client_for(reg) as reg_client, client_for(fin) as fin_client:
        platform = Routed({"registry": reg_client, "finance": fin_client})
        assert (await reg_client.get("/health")).json()["nats"]["ok"] is True
        # The node that dies is the one registry's relay is connected to, and the stream leader:
        # the client must fail over to another node with its credentials (SWP_NATS_USER/PASSWORD).
        connected = reg.state.runtime.nc.connected_url.port
        victim = next(node for node in cluster.nodes if node.client_port == connected)
        await move_leader_to(cluster, victim.name)

        setup = await setup_county(platform, tokens)
        acknowledged: list[str] = []
        for n in range(CONTRACTS):
            if n == CRASH_AFTER:
                victim.kill()  # the stream leader's machine dies; events are in flight
            r = await sign(platform, COUNTY, setup, justification="并行合同（测试）")  # same stations: R-REG-7
            assert r.status_code == 201, r.text  # the store, not NATS, acknowledges the command
            acknowledged.append(r.json()["contract_id"])
            await asyncio.sleep(0.02)  # a steady stream rather than one burst

        # The two surviving nodes elect a new leader; the outbox re-publishes what was not
        # acknowledged and the stream's duplicate window drops what had been stored already.
        finance_headers = tokens(Role.FINANCE, COUNTY)
        for cid in acknowledged:
            tranches = await wait_for_tranches(platform, COUNTY, cid, finance_headers, timeout=90)
            assert tranches[0]["seq"] == 1 and tranches[0]["due_on"] == "2026-10-19"

        counts = scheduled_tranches(fin)
        assert {cid: counts[(cid, 1)] for cid in acknowledged} == dict.fromkeys(acknowledged, 1)
        assert {cid for cid, _ in counts} == set(acknowledged)
        assert await contracts_on_stream(cluster) == Counter(dict.fromkeys(acknowledged, 1))

        assert reg.state.runtime.nc.connected_url.port != victim.client_port  # it failed over, logged in
        new_leader = await stream_leader(cluster)
        assert new_leader != victim.name and new_leader in {"nats-1", "nats-2", "nats-3"}
        assert (await reg_client.get("/health")).json()["outbox"]["pending"] == 0
        assert (await fin_client.get("/health")).json()["consumers"]["registry"]["handled"] == CONTRACTS


async def test_a_county_subscriber_reads_its_own_county_and_nothing_else(cluster):
    # The platform (as registry) has published one event for each county.
    nc = await connect(cluster, "registry")
    js = nc.jetstream()
    await create_stream(js)
    for county in (COUNTY, OTHER):
        await js.publish(f"swp.{county}.registry.ContractSigned", json.dumps({"county": county}).encode())
    refused: list[str] = []

    async def collect(err: Exception) -> None:
        refused.append(str(err))

    # A service may publish only its own events and never delete the stream.
    with pytest.raises(TimeoutError):
        await js.publish(f"swp.{COUNTY}.finance.TrancheScheduled", b"{}", timeout=0.5)
    await nc.close()

    # The subscriber of 640402 names its consumer (so the filter is part of the API subject its
    # permissions check) and receives on its own inbox prefix.
    sub_nc = await connect(cluster, f"sub-{COUNTY}", inbox_prefix=f"_INBOX_{COUNTY}", error_cb=collect)
    sjs = sub_nc.jetstream()
    sub = await sjs.subscribe(f"swp.{COUNTY}.>", ordered_consumer=True, config=ConsumerConfig(name=f"board-{COUNTY}"))
    msg = await sub.next_msg(timeout=5)
    assert json.loads(msg.data) == {"county": COUNTY}
    with pytest.raises(TimeoutError):
        await sub.next_msg(timeout=0.5)  # nothing of 130731
    await sub.unsubscribe()

    sjs = sub_nc.jetstream(timeout=0.5)  # a refused request is never answered: it times out
    for attempt in (
        sjs.subscribe(f"swp.{OTHER}.>", ordered_consumer=True, config=ConsumerConfig(name="peek")),  # another county
        sjs.subscribe("swp.>", ordered_consumer=True, config=ConsumerConfig(name="peek")),  # the whole province
        sjs.subscribe(f"swp.{COUNTY}.>", ordered_consumer=True),  # unnamed: filter not in the subject
        sjs.add_consumer("SWP", ConsumerConfig(name="finance--registry", filter_subject=f"swp.{COUNTY}.>")),
        sjs.publish(f"swp.{COUNTY}.registry.ContractSigned", b"{}", timeout=0.5),  # forging an event
    ):
        with pytest.raises(TimeoutError):
            await attempt
    # A filter in the request body that differs from the permitted one in the subject is refused
    # by the server itself.
    body = {"stream_name": "SWP", "config": {"name": "peek", "filter_subject": "swp.>", "deliver_subject": f"_INBOX_{COUNTY}.x"}}
    reply = await sub_nc.request(f"$JS.API.CONSUMER.CREATE.SWP.peek.swp.{COUNTY}.>", json.dumps(body).encode(), timeout=3)
    assert json.loads(reply.data)["error"]["err_code"] == 10131
    body["config"] = {"name": "peek", "filter_subjects": ["swp.>"], "deliver_subject": f"_INBOX_{COUNTY}.x"}
    reply = await sub_nc.request(f"$JS.API.CONSUMER.CREATE.SWP.peek.swp.{COUNTY}.>", json.dumps(body).encode(), timeout=3)
    assert json.loads(reply.data)["error"]["err_code"] == 10137
    await sub_nc.flush()
    await sub_nc.close()
    assert any("swp.130731" in e for e in refused) and any("finance--registry" in e for e in refused), refused


async def test_the_example_subscriber_replays_its_county_under_the_production_permissions(cluster):
    """examples/subscriber.py as a county's system runs it: every node listed, the county's
    subscriber user, a named consumer and the county's inbox prefix (deploy/nats/accounts.conf)."""
    nc = await connect(cluster, "finance")
    js = nc.jetstream()
    await create_stream(js)
    for county, contract in ((COUNTY, "c-ours"), (OTHER, "c-theirs")):
        envelope = {
            "event_id": f"e-{contract}", "event_type": "TrancheScheduled", "county": county,
            "data": {"contract_id": contract, "seq": 1, "amount_fen": 18_000_000, "due_on": "2026-10-19", "provisional": False},
        }
        await js.publish(f"swp.{county}.finance.TrancheScheduled", json.dumps(envelope).encode(), stream="SWP")
    await nc.close()

    servers = ",".join(node.url() for node in cluster.nodes)
    user = f"sub-{COUNTY}"
    tls = cluster.tls.client_context()
    board = await subscriber.replay(servers, COUNTY, user=user, password=cluster.password(user), idle_seconds=2, tls=tls)
    assert board.contracts == {"c-ours": {1: {"status": "scheduled", "amount_fen": 18_000_000, "due_on": "2026-10-19", "provisional": False}}}
    # The same credentials cannot replay another county: the server refuses the consumer.
    with pytest.raises(Exception):  # noqa: B017 - nats-py raises a timeout or a permissions error
        await asyncio.wait_for(subscriber.replay(servers, OTHER, user=user, password=cluster.password(user), tls=tls), timeout=10)
