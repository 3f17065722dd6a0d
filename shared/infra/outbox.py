"""Outbox relay: publishes a service's stored events from its notification log to JetStream.

The store is the source of truth. Each event's public bytes were fixed when it was saved
(shared/infra/published.py, same transaction): the relay reads the stored rows after its recorded
position, publishes each public one's bytes as stored (no re-mapping, no re-serialising) with
``Nats-Msg-Id`` = the event id and waits for the PubAck; an event recorded before those rows
existed is mapped once when the relay meets it and its row stored; only then does it record the
new position (an eventsourcing ``Tracking`` row in the service's own store). A crash
or NATS outage anywhere in between loses nothing: on restart it resumes from the
position, and a re-sent event is dropped by JetStream's duplicate window.

No poison stalls the stream (issue 15). An event that can never be published — it fails to
map, or its envelope exceeds the server's ``max_payload`` — is **parked**: recorded with its
reason in the service's own store (aggregate :class:`OutboxParking`, event ``Parked``, in the same
transaction as the new position), not retried for ever. Later events of the same aggregate are
parked behind it (``waiting``), so a subscriber never sees an aggregate's history with a hole;
every other aggregate's events carry on. ``/health`` is 503 while anything is parked and names
the positions. Transient failures (NATS down, a PubAck timeout) are still retried, never parked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from nats.errors import MaxPayloadError
from nats.js.client import JetStreamContext

from shared.infra import telemetry
from shared.infra.published import (
    CAUSATION_HEADER,
    CORRELATION_HEADER,
    Published,
    PublishedLog,
    ToIntegration,
    aggregate_type_of,
    envelope_for,
    message_headers,
)
from shared.infra.store import CommandContext, SwpApplication
from shared.subjects import STREAM_NAME

log = logging.getLogger("swp.outbox")

PARKING_NS = uuid.UUID("0b7f3c52-8d7e-5d51-9a4e-2f6c1e8b7a90")
HEADER_ALLOWANCE = 512  # bytes of NATS headers (Nats-Msg-Id, Content-Type) counted against max_payload
PARKED_SHOWN = 20  # parked positions /health lists (their count is always given)


class OutboxParking(Aggregate):
    """The events this service's relay could not publish, in log order (one per service)."""

    @staticmethod
    def create_id(service: str) -> uuid.UUID:
        return uuid.uuid5(PARKING_NS, f"outbox-parking:{service}")

    @event("Opened")
    def __init__(self, service: str) -> None:
        self.service = service
        self.parked: list[dict[str, Any]] = []

    @event("Parked")
    def park(self, position: int, aggregate_id: str, event_type: str, reason: str, detail: str) -> None:
        self.parked.append(
            {"position": position, "aggregate_id": aggregate_id, "event_type": event_type, "reason": reason, "detail": detail}
        )

    # What an operator did (shared/infra/parking.py): each names who and why (R-AUD-1).
    @event("ParkedRetried")
    def retried(self, position: int, by: str, reason: str) -> None:
        self._remove(position)

    @event("ParkedSkipped")
    def skipped(self, position: int, by: str, reason: str) -> None:
        self._remove(position)

    @event("Released")
    def released(self, position: int, by: str, reason: str) -> None:
        self._remove(position)

    @event("RetryFailed")
    def retry_failed(self, position: int, reason: str, detail: str, by: str) -> None:
        for p in self.parked:
            if p["position"] == position:
                p.update(reason=reason, detail=detail)

    def _remove(self, position: int) -> None:
        self.parked = [p for p in self.parked if p["position"] != position]

    @property
    def blocked(self) -> dict[str, int]:
        """Aggregate id → the first parked position of it (its later events wait behind it)."""
        first: dict[str, int] = {}
        for p in self.parked:
            first.setdefault(p["aggregate_id"], p["position"])
        return first


class Unpublishable(Exception):
    """An event that cannot be published now (an operator's retry): why, and the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ParkingChanged(Exception):
    """An operator changed the parking while the relay decided on a batch: the batch is redone."""


@dataclass
class Item:
    position: int
    aggregate_id: str
    event_type: str
    row: Published | None  # None: a private event (nothing to publish)
    problem: tuple[str, str] | None = None  # (reason, detail) when it cannot be mapped


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
        pace_seconds: float = 0.03,
        max_payload: Callable[[], int] | None = None,
    ) -> None:
        self.app = app
        self.js = js
        self.to_integration = to_integration
        self.log = PublishedLog(app, to_integration)
        # The server's max_payload (from its INFO, per connection): a bigger message is refused for ever.
        self.max_payload = max_payload or (lambda: 1024 * 1024)  # NATS's default
        self.parking: OutboxParking | None = None
        self._parking_version = 0  # the store's version of the parking the relay decides with
        self._parking_id = str(OutboxParking.create_id(app.service))
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.ack_timeout = ack_timeout
        # After a wake-up, wait this long so the saves of concurrent commands share one batch
        # (one read, one position update) instead of one round each under load.
        self.coalesce_seconds = coalesce_seconds
        # Under load, a round woken by a save starts at least this long after the previous one
        # began: the saves of the meantime share its read, its publish and its position update
        # (issue 16: at ~90 POSTs/s nearly every save had a round of its own). An idle relay is
        # not held back: a save after a quiet spell is published after ``coalesce_seconds``.
        self.pace_seconds = pace_seconds
        self.published = 0
        self.last_error: str | None = None
        # The position this relay recorded last, kept while each round finds something to send
        # (issue 16's POST CPU: it was read back every round). Dropped on an empty round or a
        # failure, so the next round reads it; recording a position at or below the stored one
        # is refused, so a stale one costs a re-sent batch (deduplicated), never a skipped one.
        self._recorded: int | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # Held around every store access made from a worker thread, so shutdown can wait for
        # it before the store is closed (closing SQLite under a running query crashes).
        self.db_lock = threading.Lock()

    def poke(self) -> None:
        """Called from whichever thread saved events: publish now rather than at the next poll."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def position(self) -> int:
        return self.app.process_recorder.max_tracking_id(SwpApplication.OUTBOX) or 0

    def items(self, rows: list[Published]) -> list[Item]:
        out: list[Item] = []
        for r in rows:
            if r.problem is not None:  # a reaction's event that cannot be mapped: park it
                log.error("outbox of %s cannot map position %s (%s): %s", self.app.service, r.position, r.event_type, r.problem[1])
                out.append(Item(r.position, r.aggregate_id, r.event_type, None, r.problem))
            else:
                out.append(Item(r.position, r.aggregate_id, r.event_type, r if r.public else None))
        return out

    def load_parking(self) -> OutboxParking:
        try:
            found = self.app.repository.get(OutboxParking.create_id(self.app.service))
        except AggregateNotFoundError:
            return OutboxParking(self.app.service)
        assert isinstance(found, OutboxParking)
        return found

    def parked(self, *, from_store: bool = False) -> list[dict[str, Any]]:
        """The parked events. ``from_store``: read them from the store (a process that does not
        lead the relay, whose copy would be stale or never loaded); otherwise the relay's copy."""
        if from_store:
            with self.db_lock:
                return list(self.load_parking().parked)
        return list(self.parking.parked) if self.parking else []

    @staticmethod
    def _version_of(parking: OutboxParking) -> int:
        """The stored version of a loaded parking (0: none stored yet, a new one in memory)."""
        return parking.version if not parking._pending_events else 0

    def parking_fresh(self) -> OutboxParking:
        """The store's parking, to change and save (an operator's retry or skip)."""
        with self.db_lock:
            return self.load_parking()

    def save_parking(self, parking: OutboxParking, ctx: CommandContext) -> None:
        """Save what an operator did (fails on a concurrent change: the caller reads again)."""
        with self.db_lock, self.app.command(ctx):
            self.app.save(parking)
        self.poke()  # the relay reads the parking afresh and publishes what is no longer blocked

    async def republish(self, position: int) -> None:
        """Publish the event at ``position`` now (an operator's retry); Unpublishable if it still
        cannot be (its PubAck awaited; a re-sent event is dropped by JetStream's duplicate window)."""

        def read() -> list[Item]:
            with self.db_lock:
                found = self.log.read(position - 1, 1)
                return self.items([r for r in found if r.position == position])

        items = await asyncio.to_thread(read)
        if not items:
            raise Unpublishable("missing", f"no event at position {position}")
        item = items[0]
        if item.problem is not None:  # mapped again with the relay's mapping (repaired, perhaps)

            def remap() -> list[Item]:
                with self.db_lock:
                    found = self.log.remap(position, self.to_integration)
                    return self.items([found] if found else [])

            item = (await asyncio.to_thread(remap))[0]
            if item.problem is not None:
                raise Unpublishable(*item.problem)
        row = item.row
        if row is None:
            return  # private: nothing to publish
        payload = row.body  # the bytes stored when the event was saved
        limit = self.max_payload()
        if len(payload) + HEADER_ALLOWANCE > limit:
            raise Unpublishable("too_large", f"{len(payload)} bytes; the NATS max_payload is {limit}")
        try:
            await self.js.publish(
                row.subject, payload, stream=STREAM_NAME,
                headers={**row.headers, **telemetry.publish_headers(row.traceparent, f"publish {row.event_type}")},
                timeout=self.ack_timeout,
            )
        except MaxPayloadError as exc:
            raise Unpublishable("too_large", str(exc)) from exc
        self.published += 1

    def _read_batch(self) -> list[Item]:
        with self.db_lock:
            if self.parking is None:
                self._reload_parking()
            known, self._recorded = self._recorded, None  # kept again once this batch is recorded
            position = self.position() if known is None else known
            items = self.items(self.log.read(position, self.batch))
            # The parking changes only by a save to this log (this relay parking, or an operator's
            # retry or skip), so a batch that holds one of its events is when to read it again —
            # not a read of its version every round (issue 16's POST CPU). A change recorded after
            # this batch can only have released something: deciding with the parking as it was
            # parks, and parking re-checks the version first (ParkingChanged).
            if any(item.aggregate_id == self._parking_id for item in items):
                self._reload_parking()
            return items

    def _reload_parking(self) -> None:
        self.parking = self.load_parking()
        self._parking_version = self._version_of(self.parking)

    def _record_position(self, last: int, to_park: list[tuple[Item, str, str]] | None = None) -> None:
        with self.db_lock:
            if not to_park:
                self.log.record_relayed(Tracking(SwpApplication.OUTBOX, last))
                self._recorded = last
                return
            parking = self.load_parking()
            if self._version_of(parking) != self._parking_version:
                self.parking = None
                raise ParkingChanged("an operator changed the parking: the batch is decided again")
            for item, reason, detail in to_park:
                parking.park(item.position, item.aggregate_id, item.event_type, reason, detail)
            # The parked events and the new position in one transaction: a crash parks nothing twice.
            ctx = CommandContext(county="province", actor=f"outbox-relay:{self.app.service}")
            with self.app.command(ctx):
                processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking=Tracking(SwpApplication.OUTBOX, last))
                processing_event.collect_events(parking)
                self.app._notify(self.app._record(processing_event))
            self.log.mark_verified(last)
            self.parking = parking
            self._parking_version = parking.version
            self._recorded = last

    async def publish_pending(self) -> int:
        """Publish one batch after the recorded position; returns how many notifications it covered."""
        items = await asyncio.to_thread(self._read_batch)
        if not items:
            return 0
        assert self.parking is not None
        blocked = self.parking.blocked
        limit = self.max_payload()
        to_park: list[tuple[Item, str, str]] = []
        futures = []
        try:
            # Sent in log order on one connection, so the stream keeps the log's order.
            for item in items:
                if item.aggregate_id in blocked:
                    to_park.append((item, "waiting", f"behind parked position {blocked[item.aggregate_id]} of its aggregate"))
                    continue
                if item.problem is not None:
                    to_park.append((item, *item.problem))
                    blocked[item.aggregate_id] = item.position
                    continue
                row = item.row
                if row is None:
                    continue
                payload = row.body  # the bytes stored when the event was saved
                if len(payload) + HEADER_ALLOWANCE > limit:
                    log.error("outbox of %s parks position %s: %s bytes > max_payload %s",
                              self.app.service, item.position, len(payload), limit)
                    to_park.append((item, "too_large", f"{len(payload)} bytes; the NATS max_payload is {limit}"))
                    blocked[item.aggregate_id] = item.position
                    continue
                try:
                    future = await self.js.publish_async(
                        row.subject,
                        payload,
                        stream=STREAM_NAME,
                        headers={
                            **row.headers,
                            **telemetry.publish_headers(row.traceparent, f"publish {row.event_type}"),
                        },
                    )
                except MaxPayloadError as exc:  # the server's limit is lower than it said
                    to_park.append((item, "too_large", str(exc)))
                    blocked[item.aggregate_id] = item.position
                    continue
                futures.append(future)
            # Every PubAck before the position moves; a failure leaves it where it was.
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self.ack_timeout)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        last = items[-1].position
        await asyncio.to_thread(self._record_position, last, to_park)
        self.published += len(futures)
        return len(items)

    async def run(self) -> None:
        backoff = 0.2
        loop = asyncio.get_running_loop()
        began = -self.pace_seconds
        while True:
            try:
                # Cleared before the read: a save from here on sets it again. So a batch short of
                # full with no save since is all there was, and no second round of reads (parking,
                # position, log) is spent finding nothing (issue 16's POST CPU). Other processes'
                # saves are found at the next poll, as before.
                self._wake.clear()
                began = loop.time()
                sent = await self.publish_pending()
                self.last_error = None
                backoff = 0.2
                if sent >= self.batch:
                    continue
                if sent and self._wake.is_set():  # saved during the round: the next one, paced
                    await asyncio.sleep(max(self.coalesce_seconds, began + self.pace_seconds - loop.time()))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, store busy: keep the position, retry later
                # /health shows this without a token: the kind of failure, never its text.
                self.last_error = type(exc).__name__
                log.warning("outbox relay of %s paused: %s: %s", self.app.service, self.last_error, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                await asyncio.sleep(max(self.coalesce_seconds, began + self.pace_seconds - loop.time()))
            except TimeoutError:
                pass

    def start(self) -> None:
        if self._loop is None:  # again after a new term as leader: one listener is enough
            self.app.add_listener(self.poke)
        self._loop = asyncio.get_running_loop()
        self.parking = None  # a new term: what another leader parked meanwhile is read afresh
        self._recorded = None  # and how far it relayed
        self._task = self._loop.create_task(self.run(), name=f"outbox-{self.app.service}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


__all__ = [
    "CAUSATION_HEADER",
    "CORRELATION_HEADER",
    "OutboxParking",
    "OutboxRelay",
    "ToIntegration",
    "aggregate_type_of",
    "envelope_for",
    "message_headers",
]
