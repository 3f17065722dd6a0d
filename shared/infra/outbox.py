"""Outbox relay: publishes a service's stored events from its notification log to JetStream.

The store is the source of truth. The relay reads notifications after its recorded
position, maps each to an integration event (or skips a private one), publishes with
``Nats-Msg-Id`` = the event id and waits for the PubAck; only then does it record the
new position (an eventsourcing ``Tracking`` row in the service's own store). A crash
or NATS outage anywhere in between loses nothing: on restart it resumes from the
position, and a re-sent event is dropped by JetStream's duplicate window.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Notification, Tracking
from nats.js.client import JetStreamContext

from shared.envelope import Envelope
from shared.events import IntegrationEvent
from shared.infra import telemetry
from shared.infra.store import SwpApplication, event_meta
from shared.subjects import STREAM_NAME, subject

log = logging.getLogger("swp.outbox")

ToIntegration = Callable[[Any], IntegrationEvent | None]


def aggregate_type_of(domain_event: Any) -> str:
    return type(domain_event).__qualname__.split(".")[0]


def envelope_for(
    app: SwpApplication, notification_id: int, domain_event: Any, body: IntegrationEvent
) -> Envelope:
    meta = event_meta(domain_event)
    return Envelope(
        event_id=app.event_id(domain_event),
        event_type=body.event_type,
        schema_version=body.schema_version,
        service=app.service,
        aggregate_type=aggregate_type_of(domain_event),
        aggregate_id=domain_event.originator_id,
        version=domain_event.originator_version,
        county=meta.get("county", "province"),
        actor=meta.get("actor", "unknown"),
        command_id=meta.get("command_id", ""),
        correlation_id=meta.get("correlation_id", ""),
        causation_id=meta.get("causation_id"),
        occurred_at=domain_event.timestamp,
        recorded_at=datetime.fromisoformat(meta["recorded_at"]) if "recorded_at" in meta else domain_event.timestamp,
        position=notification_id,
        data=body.model_dump(mode="json"),
    )


CORRELATION_HEADER = "X-Correlation-Id"
CAUSATION_HEADER = "X-Causation-Id"


def message_headers(env: Envelope) -> dict[str, str]:
    """The NATS headers of every published event (documented in each service's AsyncAPI):
    ``Nats-Msg-Id`` the event id (JetStream drops a re-sent one), ``X-Correlation-Id`` the business
    process it belongs to, ``X-Causation-Id`` the event that caused it, or the command that
    recorded it when a person's request did (R-AUD-1)."""
    return {
        "Nats-Msg-Id": str(env.event_id),
        "Content-Type": "application/json",
        CORRELATION_HEADER: env.correlation_id or env.command_id or str(env.event_id),
        CAUSATION_HEADER: env.causation_id or env.command_id or str(env.event_id),
    }


class OutboxRelay:
    """One per store: run by the process that leads (shared/infra/leader.py), ``start()`` when it
    becomes leader, ``stop()`` when it steps down. ``js`` is a nats-py JetStream context."""

    def __init__(
        self,
        app: SwpApplication,
        js: JetStreamContext,
        to_integration: ToIntegration,
        *,
        batch: int = 256,
        poll_seconds: float = 0.5,
        ack_timeout: float = 10.0,
        coalesce_seconds: float = 0.005,
    ) -> None:
        self.app = app
        self.js = js
        self.to_integration = to_integration
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.ack_timeout = ack_timeout
        # After a wake-up, wait this long so the saves of concurrent commands share one batch
        # (one read, one position update) instead of one round each under load.
        self.coalesce_seconds = coalesce_seconds
        self.published = 0
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # Held around every store access made from a worker thread, so shutdown can wait for
        # it before the store is closed (closing SQLite under a running query crashes).
        self.db_lock = threading.Lock()
        # Trace context recorded with each event of the batch in flight (event id → traceparent).
        self._traceparents: dict[Any, str] = {}

    def poke(self) -> None:
        """Called from whichever thread saved events: publish now rather than at the next poll."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def position(self) -> int:
        return self.app.process_recorder.max_tracking_id(SwpApplication.OUTBOX) or 0

    def envelopes(self, notifications: list[Notification]) -> list[tuple[int, Envelope | None]]:
        out: list[tuple[int, Envelope | None]] = []
        for n in notifications:
            domain_event = self.app.mapper.to_domain_event(n)
            body = self.to_integration(domain_event)
            env = None if body is None else envelope_for(self.app, n.id, domain_event, body)
            traceparent = event_meta(domain_event).get(telemetry.META_KEY)
            if env is not None and traceparent:
                self._traceparents[env.event_id] = traceparent
            out.append((n.id, env))
        return out

    def _read_batch(self) -> list[tuple[int, Envelope | None]]:
        with self.db_lock:
            position = self.position()
            notifications = self.app.process_recorder.select_notifications(position + 1, self.batch)
            return self.envelopes(list(notifications)) if notifications else []

    def _record_position(self, last: int) -> None:
        with self.db_lock:
            self.app.process_recorder.insert_tracking(Tracking(SwpApplication.OUTBOX, last))

    async def publish_pending(self) -> int:
        """Publish one batch after the recorded position; returns how many notifications it covered."""
        self._traceparents.clear()
        items = await asyncio.to_thread(self._read_batch)
        if not items:
            return 0
        futures = []
        try:
            # Sent in log order on one connection, so the stream keeps the log's order.
            for _, env in items:
                if env is None:
                    continue
                futures.append(
                    await self.js.publish_async(
                        subject(env.county, env.service, env.event_type),
                        env.model_dump_json().encode(),
                        stream=STREAM_NAME,
                        headers={
                            **message_headers(env),
                            **telemetry.publish_headers(self._traceparents.get(env.event_id), f"publish {env.event_type}"),
                        },
                    )
                )
            # Every PubAck before the position moves; a failure leaves it where it was.
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self.ack_timeout)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        last = items[-1][0]
        await asyncio.to_thread(self._record_position, last)
        self.published += len(futures)
        return len(items)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                sent = await self.publish_pending()
                self.last_error = None
                backoff = 0.2
                if sent:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, store busy: keep the position, retry later
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay of %s paused: %s", self.app.service, self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                await asyncio.sleep(self.coalesce_seconds)
            except TimeoutError:
                pass

    def start(self) -> None:
        if self._loop is None:  # again after a new term as leader: one listener is enough
            self.app.add_listener(self.poke)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self.run(), name=f"outbox-{self.app.service}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
