"""Test steps that stand in for another service on NATS: publish an integration event exactly as
that service's outbox relay would (R-AUD-1 envelope on ``swp.<county>.<service>.<Type>``,
``Nats-Msg-Id`` = event id), and read back what a service published."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.envelope import Envelope
from shared.events import IntegrationEvent
from shared.subjects import subject


async def publish_as_upstream(
    nats_url: str,
    county: str,
    event: IntegrationEvent,
    aggregate_id: str,
    *,
    aggregate_type: str | None = None,
    version: int = 1,
    actor: str = "service:test-standin",
) -> str:
    """Publish ``event`` as its own service (``event.service``) would; returns the event id."""
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    envelope = Envelope(
        event_id=event_id, event_type=event.event_type, schema_version=event.schema_version, service=event.service,
        aggregate_type=aggregate_type or event.event_type, aggregate_id=aggregate_id, version=version, county=county,
        actor=actor, command_id=str(event_id), correlation_id=str(event_id), occurred_at=now, recorded_at=now,
        position=1, data=event.model_dump(mode="json"),
    )
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(
            subject(county, event.service, event.event_type), envelope.model_dump_json().encode(), stream="SWP",
            headers={"Nats-Msg-Id": str(event_id)},
        )
    finally:
        await nc.close()
    return str(event_id)


async def published(
    nats_url: str,
    county: str,
    service: str,
    event_type: str,
    until: Callable[[list[dict[str, Any]]], bool] = bool,
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    """Every envelope ``service`` published on ``swp.<county>.<service>.<event_type>``, read from
    the start of stream SWP, once ``until`` holds for them (AssertionError after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        while True:
            sub = await js.subscribe(
                subject(county, service, event_type), ordered_consumer=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            )
            envelopes = []
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.3)
                except nats.errors.TimeoutError:
                    break
                envelopes.append(json.loads(msg.data))
            await sub.unsubscribe()
            if until(envelopes):
                return envelopes
            if loop.time() > deadline:
                raise AssertionError(f"{service} never published {event_type} as expected: {envelopes[-3:]}")
            await asyncio.sleep(0.2)
    finally:
        await nc.close()
