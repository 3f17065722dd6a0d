"""Where a county subscriber's consumers may deliver (issue #15 item 5), under the shipped
permissions (deploy/nats/accounts.conf) on the TLS cluster.

A push consumer's deliver subject is in the body of the create request, which subject
permissions cannot see; what the server does enforce, and what this test holds it to: a
subscriber's own inbox prefix works; a deliver subject inside the stream (its own county, another
county, the tree heads) is refused, so nothing can be re-published into SWP; a consumer aimed at
a platform consumer's acknowledgement subject or at the JetStream API delivers nothing, so it
cannot acknowledge events for a service or administer the stream. (Any other subject is
accepted by the server: deploy/README.md, "Accounts and permissions", says what that allows.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig

from shared.infra.nats import ensure_stream
from tests.deploy.cluster import Cluster
from tests.integration.slice import COUNTY, OTHER


async def connect(cluster: Cluster, user: str, **options: Any) -> nats.NATS:
    return await nats.connect(cluster.url(user), tls=cluster.tls.client_context(), connect_timeout=2, **options)


async def create(nc: nats.NATS, name: str, deliver: str, filter_subject: str = f"swp.{COUNTY}.>") -> dict[str, Any]:
    body = {"stream_name": "SWP", "config": {"name": name, "filter_subject": filter_subject, "deliver_subject": deliver}}
    reply = await nc.request(f"$JS.API.CONSUMER.CREATE.SWP.{name}.{filter_subject}", json.dumps(body).encode(), timeout=5)
    return dict(json.loads(reply.data))


async def test_a_subscriber_delivers_to_its_own_inbox_and_cannot_deliver_into_the_stream_or_the_platform(cluster: Cluster):
    admin = await connect(cluster, "admin")
    js = admin.jetstream()
    await ensure_stream(js, 3)
    for _ in range(100):
        if (await js.stream_info("SWP")).cluster.leader:
            break
        await asyncio.sleep(0.1)
    await js.publish(f"swp.{COUNTY}.registry.ContractSigned", b'{"n": 1}')
    # A platform consumer with an event delivered and not yet acknowledged (as finance's would be).
    platform = await js.pull_subscribe(
        "swp.*.registry.>", durable="finance--registry", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=600)
    )
    [pending] = await platform.fetch(1, timeout=5)
    assert pending.reply.startswith("$JS.ACK.SWP.finance--registry.")

    sub = await connect(cluster, f"sub-{COUNTY}", inbox_prefix=f"_INBOX_{COUNTY}")
    try:
        # Its own inbox prefix: created, and the county's event arrives there.
        inbox = f"_INBOX_{COUNTY}.board"
        received = await sub.subscribe(inbox)
        assert "error" not in await create(sub, "own", inbox)
        assert json.loads((await received.next_msg(timeout=5)).data) == {"n": 1}

        # Into the stream — its county, another county, the tree heads: refused (a cycle), so a
        # subscriber cannot make the server re-publish events as if a service had.
        for deliver in (f"swp.{COUNTY}.registry.ContractSigned", f"swp.{OTHER}.finance.TranchePaid", "swp.audit.registry.TreeHeadSigned"):
            answer = await create(sub, "loop", deliver)
            assert answer["error"]["err_code"] == 10081, (deliver, answer)

        # At finance's acknowledgement subject, or the JetStream API: nothing is delivered.
        assert "error" not in await create(sub, "ack", pending.reply)
        assert "error" not in await create(sub, "api", "$JS.API.STREAM.DELETE.SWP")
        await asyncio.sleep(3)
        for name in ("ack", "api"):
            assert (await js.consumer_info("SWP", name)).delivered.stream_seq == 0, name
        info = await js.consumer_info("SWP", "finance--registry")
        assert info.num_ack_pending == 1 and info.ack_floor.stream_seq == 0  # finance's event is still unacknowledged
        assert (await js.stream_info("SWP")).state.messages == 1
    finally:
        await sub.close()
        await admin.close()
