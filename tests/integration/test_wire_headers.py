"""Correlation and causation on the wire (R-AUD-1): every event message in stream SWP carries the
headers each service's AsyncAPI documents — Nats-Msg-Id (the event id), X-Correlation-Id and
X-Causation-Id — so a subscriber can follow a business process without parsing bodies. Read raw
with nats-py over a whole flow: a county, a contract, finance's reaction."""

from __future__ import annotations

import json

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, setup_county, sign, wait_for_tranches


async def test_every_published_event_carries_correlation_and_causation_headers(gateway, tokens, settings):
    setup = await setup_county(gateway, tokens)
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]
    await wait_for_tranches(gateway, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY))

    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe("swp.>", ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        messages = []
        # Until finance's relay has published the schedule (the flow's last step).
        while not any(m.subject.endswith(".finance.TrancheScheduled") for m in messages):
            messages.append(await sub.next_msg(timeout=30))
    finally:
        await nc.close()
    events = [(m, json.loads(m.data)) for m in messages if not m.subject.startswith("swp.audit.")]
    assert len(events) >= 7 and {env["service"] for _, env in events} >= {"registry", "finance"}
    for msg, env in events:
        headers = msg.headers or {}
        assert headers.get("Nats-Msg-Id") == env["event_id"], msg.subject
        assert headers.get("X-Correlation-Id") == env["correlation_id"] != "", msg.subject
        assert headers.get("X-Causation-Id") == (env["causation_id"] or env["command_id"]), msg.subject
    signed = next(env for _, env in events if env["event_type"] == "ContractSigned")
    scheduled = [(m, env) for m, env in events if env["event_type"] == "TrancheScheduled"]
    assert scheduled
    for msg, _ in scheduled:  # finance's reaction: caused by the signing, in its process
        assert msg.headers["X-Causation-Id"] == signed["event_id"]
        assert msg.headers["X-Correlation-Id"] == signed["correlation_id"]


async def test_the_asyncapi_documents_the_headers_on_the_wire(gateway):
    for service in ("registry", "services-log", "evaluation", "finance"):
        doc = (await gateway.get(f"/{service}/asyncapi.json")).json()
        events = [
            doc["components"]["messages"][next(iter(c["messages"].values()))["$ref"].rsplit("/", 1)[-1]]
            for c in doc["channels"].values()
            if c["address"].startswith(f"swp.{{county}}.{service}.")
        ]
        assert events, service
        for message in events:
            assert set(message["headers"]["required"]) == {"Nats-Msg-Id", "X-Correlation-Id", "X-Causation-Id"}
            assert message["correlationId"]["location"] == "$message.header#/X-Correlation-Id"
