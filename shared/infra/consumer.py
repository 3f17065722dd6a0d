"""Idempotent, retrying consumers of other services' integration events.

One durable JetStream pull consumer per (service, upstream service), filtered on the server
to the event types the service reacts to, delivering in stream order one message at a time
(``max_ack_pending=1``) so causal order within the upstream is kept. A reaction's events
are saved together with a ``Tracking`` record of the message's stream sequence: a
redelivered message is recognised and acked
without applying twice. A handler that raises is negatively acknowledged with a
growing delay and redelivered — never dropped (we choose manual acks deliberately;
faststream's default would terminate it) — until it has failed ``SWP_REACTION_MAX_ATTEMPTS``
deliveries: then it is parked (recorded in the service's store and acked), and later messages of
the same upstream aggregate are held behind it until an operator retries or skips it
(shared/infra/parking.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, NatsMessage, PullSub
from opentelemetry.trace import SpanKind

from shared.envelope import Envelope
from shared.events import IntegrationEvent, parse_event
from shared.infra import telemetry
from shared.infra.parking import ReactionParker
from shared.infra.store import CommandContext, SwpApplication

log = logging.getLogger("swp.consumer")

Reaction = Callable[[Any], Iterable[Aggregate | None] | None]


@dataclass
class ConsumerStats:
    handled: int = 0
    skipped_duplicates: int = 0
    failures: int = 0
    parked: int = 0  # messages this process parked (issue 15)
    held: int = 0  # messages this process held behind a parked one of their aggregate
    last_error: str | None = None


class RetryLater(Exception):
    """The event depends on another not yet seen (e.g. an evaluation of an unknown contract)."""


def react(
    app: SwpApplication,
    envelope: Envelope,
    body: IntegrationEvent,
    reaction: Reaction,
    tracking: Tracking,
    stats: ConsumerStats,
) -> None:
    """Apply one upstream event exactly once (runs in a worker thread: eventsourcing is sync)."""
    if app.is_processed(tracking.application_name, tracking.notification_id):
        stats.skipped_duplicates += 1
        return
    ctx = CommandContext(
        county=envelope.county,
        actor=f"service:{app.service}",
        command_id=str(envelope.event_id),
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.event_id),
    )
    with app.command(ctx):
        produced = reaction(body) or ()
        try:
            app.record_reaction(tracking, *produced)
        except IntegrityError:
            # A concurrent delivery got there first: fine if it recorded this position.
            if app.is_processed(tracking.application_name, tracking.notification_id):
                stats.skipped_duplicates += 1
                return
            raise
    stats.handled += 1


ACK_WAIT_SECONDS = 5.0


async def _keep_alive(msg: NatsMessage) -> None:
    """A short ack_wait redelivers quickly after a lost delivery (e.g. across a NATS restart);
    a long-running reaction tells the server it is still working instead."""
    while True:
        await asyncio.sleep(ACK_WAIT_SECONDS / 2)
        await msg.in_progress()


def subscribe_upstream(
    broker: NatsBroker,
    app: SwpApplication,
    stream: JStream,
    upstream: str,
    reactions: dict[str, Reaction],
    *,
    description: str,
) -> ConsumerStats:
    """Register the durable consumer of ``upstream``'s events for ``app``'s service."""
    durable = f"{app.service}--{upstream}"
    tracking_name = f"SWP:{upstream}"
    stats = ConsumerStats()
    parker = ReactionParker(app, upstream, tracking_name, reactions)
    app.reaction_parkers[upstream] = parker

    async def handle(envelope: Envelope, msg: NatsMessage) -> None:
        reaction = reactions.get(envelope.event_type)
        if reaction is None:  # tolerant reader: not ours to act on
            await msg.ack()
            return
        seq = msg.raw_message.metadata.sequence.stream
        heartbeat = asyncio.create_task(_keep_alive(msg))
        try:
            # Behind a parked message of the same upstream aggregate: recorded as held, acked, applied
            # in order when that one is retried or skipped (issue 15).
            if await asyncio.to_thread(parker.hold_if_blocked, envelope, msg.raw_message.subject, seq):
                stats.held += 1
                await msg.ack()
                return
            body = parse_event(envelope.service, envelope.event_type, envelope.data)
            if body is None:
                raise RetryLater(f"no schema for {envelope.service}.{envelope.event_type}")
            # The publisher's trace context (``traceparent`` header) is the parent of the handling
            # span; the reaction's events record this span's context in turn.
            with telemetry.span(
                f"consume {envelope.event_type}", telemetry.extract(msg.headers), SpanKind.CONSUMER,
                **{"swp.consumer": durable, "swp.event_id": str(envelope.event_id)},
            ):
                await asyncio.to_thread(react, app, envelope, body, reaction, Tracking(tracking_name, seq), stats)
        except Exception as exc:
            stats.failures += 1
            # /health shows this without a token: the kind of failure, never its text (logged below).
            stats.last_error = f"{envelope.event_type} #{seq}: {type(exc).__name__}"
            delivered = msg.raw_message.metadata.num_delivered or 1
            try:  # failed its last allowed delivery: parked and acked, the consumer carries on
                if await asyncio.to_thread(parker.park_if_exhausted, envelope, msg.raw_message.subject, seq, delivered, exc):
                    stats.parked += 1
                    await msg.ack()
                    return
            except Exception as park_exc:  # the store unreachable: retried like the reaction
                log.warning("%s cannot park %s #%s yet: %s", durable, envelope.event_type, seq, park_exc)
            delay = min(0.2 * 2 ** min(delivered, 6), 10.0)
            log.warning("%s will retry %s in %.1fs: %s", durable, envelope.event_type, delay, exc)
            await msg.nack(delay=delay)
            return
        finally:
            heartbeat.cancel()
        await msg.ack()

    # Server-side filtering: the consumer only receives the event types it reacts to.
    subjects = sorted(f"swp.*.{upstream}.{event_type}" for event_type in reactions)
    broker.subscriber(
        "",
        stream=stream,
        durable=durable,
        deliver_policy=DeliverPolicy.ALL,
        # A durable pull consumer can be shared by several instances of the service;
        # max_ack_pending=1 keeps them processing strictly in stream order.
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        config=ConsumerConfig(max_ack_pending=1, ack_wait=ACK_WAIT_SECONDS, filter_subjects=subjects),
        ack_policy=AckPolicy.MANUAL,
        title=f"{durable}",
        description=description,
    )(handle)
    return stats
