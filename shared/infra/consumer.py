"""Idempotent, retrying consumers of other services' integration events.

One durable JetStream pull consumer per (service, upstream service) — or per partition of it,
see below — filtered on the server to the event types the service reacts to, delivering in
stream order one message at a time (``max_ack_pending=1``) so causal order is kept. A
reaction's events are saved together with a ``Tracking`` record of the message's stream
sequence: a redelivered message is recognised and acked without applying twice. A handler
that raises is negatively acknowledged with a growing delay and redelivered — never dropped
(we choose manual acks deliberately; faststream's default would terminate it) — until it has
failed ``SWP_REACTION_MAX_ATTEMPTS`` deliveries: then it is parked (recorded in the service's
store and acked), and later messages of the same upstream aggregate are held behind it until an
operator retries or skips it (shared/infra/parking.py; one parking per upstream, whichever
partition parked).

**Partitions (``SWP_CONSUMER_PARTITIONS``, issue 16 item 4).** With N > 1 each upstream is read
by N durable consumers ``<service>--<upstream>--p<i>of<N>``, each still one message in flight,
and partition *i* reacts only to the events whose key (the contract the event names, else its
aggregate id: :func:`partition_key`) hashes to *i* (CRC-32 mod N, the same in every process); the
other events it acks unread. So the events of one contract keep their stream order, while
different contracts are reacted to N at a time, by whichever processes of the service are
running: every process subscribes to every partition, and JetStream hands a partition's next
message to one of them only once the previous one is acked. Why hashing in the consumer rather
than JetStream's ``partition(n, …)`` subject transform: that transform hashes subject tokens,
and our subjects (``swp.<county>.<service>.<Type>``, the public contract) do not name the
contract; each partition reading (and skipping) the others' messages costs an ack per message,
far less than a reaction. Each partition tracks its own position (``SWP:<upstream>#p<i>of<N>``:
the store keeps one high-water mark per name, right because a partition is in order); positions
recorded under another partition count (or none, ``SWP:<upstream>``) are honoured, so changing N
applies nothing twice. Change N with every process of the service stopped (two counts running at
once would not keep order). Reactions of different partitions that save the same aggregate (a
county's budget) would race for it: the reaction takes a store lock on it before loading it
(``SwpApplication.hold_until_saved``), held until its save, so only that part is serial; a race
lost all the same (SQLite, an aggregate not locked) re-runs the reaction at once
(``CONFLICT_RETRIES``), it is not redelivered.

**Batches (``SWP_CONSUMER_BATCH``, default 1).** One transaction per message costs most of a
reaction (issue 16: finance's lag after 10,000 signings). With B > 1 a partition's consumer
(:class:`BatchConsumer`, pulled with nats-py on the service's connection instead of a faststream
subscriber) fetches up to B messages, ``max_ack_pending=B``, and applies the ones it reacts to in
stream order in ONE unit of work (``SwpApplication.reaction_batch``: a later reaction sees what
the earlier ones changed, unsaved — one load of a county's budget per batch), saved in one
transaction with one ``Tracking``, the batch's highest sequence (positions are high-water marks:
it covers the earlier ones), then acks them all. Order needs more than ``max_ack_pending`` then:
B messages in flight could be split between two processes, so

- **one puller per partition:** a process pulls a partition only while it holds the partition's
  store lock (leader.py's election, one per durable consumer; PostgreSQL session lock, SQLite
  ``flock``); another process takes over when it dies (``leader_retry_seconds``); a process takes
  an upstream's partitions one at a time (:class:`PartitionShare`), so processes started together
  share them, and the store's leader (relay, sealer) leaves them to another process at first; ``/health`` lists the ones it pulls (``owned``);
- **every unacked message in hand:** before applying a batch the puller asks JetStream how many
  messages await an ack and fetches until it holds them all — the previous owner's unacked batch
  (it died, or stepped down mid-batch) comes back after ``ack_wait``, and is applied, sorted by
  sequence, with what came after it, never after it;
- **no negative acks:** if the batch fails together (a reaction raises, a store lock is busy — a
  batch waits only for its first locks and tries the others, re-running once with all of them
  taken first, so two batches never deadlock —, a concurrent save), nothing of it was saved and it
  is applied one message at a time, in order, each in its own transaction; a failing message is
  retried in the process (growing delay, heartbeat ``in_progress``), then parked after
  ``SWP_REACTION_MAX_ATTEMPTS`` tries, and later messages of its aggregate are held as above. A
  nak would let later messages of the batch's contracts overtake it.

A crash before the batch's commit redelivers the whole batch (nothing of it applied); after it,
the redelivered messages are recognised by the Tracking and acked. Measured in BENCHMARKS.md.

What a batch costs beyond its reactions (finance's lag after a burst of signings): the service
may say which aggregates a reaction to an event looks up first (``reads``: finance, the contract's
schedule) — the batch asks the store which exist in one query, and the absent ones answer
"absent" in the batch without a read each —, and may plan ahead (``plan_ahead``): work of the
reactions that needs no store lock, done for the whole batch before the first reaction takes one
(finance: planning the new schedules; the county budget's lock is then held for the commits and
the save only). What the batch saved is cached as saved, so the next batch's load of the same
aggregate (the county's budget) does not read back its events. Neither changes what is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, NatsMessage, PullSub
from nats.js import api
from opentelemetry.trace import SpanKind

from shared.envelope import Envelope
from shared.events import IntegrationEvent, parse_event
from shared.infra import telemetry
from shared.infra.leader import Election, LeaderLock
from shared.infra.parking import ReactionParker, error_text
from shared.infra.store import CommandContext, LockBusy, SwpApplication
from shared.subjects import STREAM_NAME

log = logging.getLogger("swp.consumer")

Reaction = Callable[[Any], Iterable[Aggregate | None] | None]
# The ids of the aggregates a reaction to this event will look up (see ``subscribe_upstream``).
Reads = Callable[[Envelope], Iterable[uuid.UUID]]
# Work of a batch's reactions done ahead of them, before any store lock (see ``subscribe_upstream``).
PlanAhead = Callable[[list[Any]], None]


@dataclass
class ConsumerStats:
    handled: int = 0
    skipped_duplicates: int = 0
    failures: int = 0
    parked: int = 0  # messages this process parked (issue 15)
    held: int = 0  # messages this process held behind a parked one of their aggregate
    last_error: str | None = None
    conflicts_retried: int = 0  # reactions re-run after losing an optimistic-concurrency race
    durables: list[str] = field(default_factory=list)  # the JetStream consumers (one per partition)
    batches: int = 0  # batches applied in one transaction (SWP_CONSUMER_BATCH > 1)
    batches_one_by_one: int = 0  # batches that failed together and were applied one message at a time
    # Batched consumers (SWP_CONSUMER_BATCH > 1): pulled by Runtime on its own NATS connection.
    pullers: list[BatchConsumer] = field(default_factory=list, repr=False)

    def view(self) -> dict[str, Any]:
        """What /health shows: the counts, and with batches the partitions this process pulls."""
        shown = {k: v for k, v in vars(self).items() if k != "pullers"}
        if self.pullers:
            shown["owned"] = [p.durable for p in self.pullers if p.owned]
        return shown


# The partition counts a service may run with: each partitioned consumer is named, and
# deploy/nats/accounts.py denies county subscribers every platform consumer's name (NATS wildcards
# match whole tokens only, so the names are listed: a few counts keep that list short).
PARTITION_COUNTS = (1, 2, 4, 8)
CONFLICT_RETRIES = 20
_partitions: contextvars.ContextVar[int] = contextvars.ContextVar("swp_consumer_partitions", default=1)
_batch: contextvars.ContextVar[int] = contextvars.ContextVar("swp_consumer_batch", default=1)


@contextmanager
def partitioning(partitions: int, batch: int = 1) -> Iterator[None]:
    """Consumers subscribed inside this block read each upstream in ``partitions`` partitions
    and apply up to ``batch`` messages per transaction (``Settings.consumer_partitions`` and
    ``consumer_batch``; the service's composition root sets them)."""
    if partitions not in PARTITION_COUNTS:
        raise ValueError(f"consumer partitions must be one of {PARTITION_COUNTS}, not {partitions}")
    if batch < 1:
        raise ValueError(f"consumer batch must be at least 1, not {batch}")
    token, batch_token = _partitions.set(partitions), _batch.set(batch)
    try:
        yield
    finally:
        _partitions.reset(token)
        _batch.reset(batch_token)


def partition_key(envelope: Envelope) -> str:
    """What must stay in order: the contract the event names (finance, services-log and
    evaluation react per contract, whichever upstream aggregate the event comes from), else the
    upstream aggregate."""
    contract_id = envelope.data.get("contract_id") if isinstance(envelope.data, dict) else None
    return str(contract_id or envelope.aggregate_id)


def partition_of(key: str, partitions: int) -> int:
    """Deterministic across processes and restarts (``hash()`` is salted per process)."""
    return zlib.crc32(key.encode()) % partitions


def tracking_name(upstream: str, index: int, partitions: int) -> str:
    return f"SWP:{upstream}" if partitions == 1 else f"SWP:{upstream}#p{index}of{partitions}"


class Positions:
    """Whether a message was already reacted to: under the running partition's name, or under
    any other partition count recorded before (each a high-water mark of its partition's keys)."""

    def __init__(self, app: SwpApplication, upstream: str, partitions: int) -> None:
        self.app, self.upstream, self.partitions = app, upstream, partitions
        self._earlier: list[tuple[int, int, int]] | None = None  # (index, count, mark)

    def earlier(self) -> list[tuple[int, int, int]]:
        if self._earlier is None:  # read once: no process runs another count meanwhile
            marks = []
            for count in PARTITION_COUNTS:
                if count == self.partitions:
                    continue
                for index in range(count):
                    mark = self.app.process_recorder.max_tracking_id(tracking_name(self.upstream, index, count))
                    if mark:
                        marks.append((index, count, mark))
            self._earlier = marks
        return self._earlier

    def processed_up_to(self, mark: int, seq: int, key: str) -> bool:
        """:meth:`processed`, given the running partition's mark read once for a whole batch."""
        return seq <= mark or any(
            seq <= earlier and partition_of(key, count) == index for index, count, earlier in self.earlier()
        )

    def processed(self, tracking: Tracking, key: str) -> bool:
        if self.app.is_processed(tracking.application_name, tracking.notification_id):
            return True
        return any(
            tracking.notification_id <= mark and partition_of(key, count) == index
            for index, count, mark in self.earlier()
        )


class RetryLater(Exception):
    """The event depends on another not yet seen (e.g. an evaluation of an unknown contract)."""


def react(
    app: SwpApplication,
    envelope: Envelope,
    body: IntegrationEvent,
    reaction: Reaction,
    tracking: Tracking,
    stats: ConsumerStats,
    positions: Positions | None = None,
) -> None:
    """Apply one upstream event exactly once (runs in a worker thread: eventsourcing is sync)."""
    key = partition_key(envelope)

    def processed() -> bool:
        if positions is None:
            return app.is_processed(tracking.application_name, tracking.notification_id)
        return positions.processed(tracking, key)

    # A redelivery of a message reacted to under this tracking name fails at the save (its
    # position is recorded already: IntegrityError, checked below), so the position is read up
    # front only when a message may have been reacted to under another partition count, which
    # the save would not notice. (One statement less per message: issue 16.)
    # (A legacy multi-row tracking table records each position, not a high-water mark: read it.)
    high_water = getattr(getattr(app.recorder, "datastore", None), "single_row_tracking", True)
    if (not high_water or (positions is not None and positions.earlier())) and processed():
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
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                # Locks the reaction takes are held until its save (needed only while partitions run at once).
                with app.reaction_scope(locking=positions is not None and positions.partitions > 1):
                    produced = reaction(body) or ()
                    app.record_reaction(tracking, *produced)
                break
            except IntegrityError:
                # A concurrent delivery got there first: fine if it recorded this position.
                if processed():
                    stats.skipped_duplicates += 1
                    return
                if attempt == CONFLICT_RETRIES:
                    raise
                # Another partition saved an aggregate this reaction read (e.g. the county's
                # budget): run it again on what is stored now.
                stats.conflicts_retried += 1
            except Exception:
                # A redelivery whose reaction no longer applies to what it already changed.
                if processed():
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
    reads: Reads | None = None,
    plan_ahead: PlanAhead | None = None,
) -> ConsumerStats:
    """Register the durable consumer(s) of ``upstream``'s events for ``app``'s service: one, or
    one per partition (:func:`partitioning`). ``reads``: the aggregates a reaction to an event
    looks up first; a batch asks the store which of them exist for all its events in one query
    (``SwpApplication.read_ahead``). ``plan_ahead``: called with a batch's events (parsed, in
    order) inside its unit of work before its reactions run, so that work of theirs that needs no
    store lock is done before the first reaction takes one (a county budget's, held until the
    batch is saved): what it prepares it keeps in ``SwpApplication.batch_scratch()`` for the
    reactions, which must produce exactly what they would have without it."""
    partitions, batch = _partitions.get(), _batch.get()
    stats = ConsumerStats()
    positions = Positions(app, upstream, partitions)
    for index in range(partitions):
        durable = f"{app.service}--{upstream}" + (f"--p{index}of{partitions}" if partitions > 1 else "")
        stats.durables.append(durable)
        if batch > 1:
            parker = ReactionParker(app, upstream, tracking_name(upstream, index, partitions), reactions)
            if index == 0:
                app.reaction_parkers[upstream] = parker
            stats.pullers.append(BatchConsumer(
                app, upstream, reactions, durable, index, partitions, positions, stats, parker, batch, reads, plan_ahead,
            ))
            continue
        _subscribe_partition(broker, app, stream, upstream, reactions, durable, index, partitions, positions, stats, description)
    return stats


def _subscribe_partition(
    broker: NatsBroker,
    app: SwpApplication,
    stream: JStream,
    upstream: str,
    reactions: dict[str, Reaction],
    durable: str,
    index: int,
    partitions: int,
    positions: Positions,
    stats: ConsumerStats,
    description: str,
) -> None:
    tracking = tracking_name(upstream, index, partitions)
    # One parking per upstream (the operator's routes find it by upstream); each partition's parker
    # records positions under the partition's own tracking name.
    parker = ReactionParker(app, upstream, tracking, reactions)
    if index == 0:
        app.reaction_parkers[upstream] = parker

    async def handle(envelope: Envelope, msg: NatsMessage) -> None:
        reaction = reactions.get(envelope.event_type)
        if reaction is None:  # tolerant reader: not ours to act on
            await msg.ack()
            return
        if partitions > 1 and partition_of(partition_key(envelope), partitions) != index:
            await msg.ack()  # another partition's contract
            return
        seq = msg.raw_message.metadata.sequence.stream
        subject, parent = msg.raw_message.subject, telemetry.extract(msg.headers)

        def hold_or_react() -> bool:
            """In one worker thread (one hand-off per message, issue 16): True when held. With one
            partition (no store locks taken before loads), in a fresh-reads scope: one read of the
            log for what changed, then the parking and the cached aggregates known current are not
            read again (shared/infra/freshness.py; a reaction does not touch what it saved)."""
            with app.fresh() if partitions == 1 else contextlib.nullcontext():
                return _hold_or_react()

        def _hold_or_react() -> bool:
            # Behind a parked message of the same upstream aggregate: recorded as held, acked, applied
            # in order when that one is retried or skipped (issue 15).
            if parker.hold_if_blocked(envelope, subject, seq):
                return True
            body = parse_event(envelope.service, envelope.event_type, envelope.data)
            if body is None:
                raise RetryLater(f"no schema for {envelope.service}.{envelope.event_type}")
            # The publisher's trace context (``traceparent`` header) is the parent of the handling
            # span; the reaction's events record this span's context in turn.
            with telemetry.span(
                f"consume {envelope.event_type}", parent, SpanKind.CONSUMER,
                **{"swp.consumer": durable, "swp.event_id": str(envelope.event_id)},
            ):
                react(app, envelope, body, reaction, Tracking(tracking, seq), stats, positions)
            return False

        heartbeat = asyncio.create_task(_keep_alive(msg))
        try:
            if await asyncio.to_thread(hold_or_react):
                stats.held += 1
                await msg.ack()
                return
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
        # max_ack_pending=1 keeps them processing strictly in stream order (per partition).
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        config=ConsumerConfig(max_ack_pending=1, ack_wait=ACK_WAIT_SECONDS, filter_subjects=subjects),
        ack_policy=AckPolicy.MANUAL,
        title=f"{durable}",
        description=description if partitions == 1 else f"{description} (partition {index} of {partitions})",
    )(handle)


# --- batches (SWP_CONSUMER_BATCH > 1) -------------------------------------------------------------
class PartitionShare:
    """Spreads an upstream's partitions over the processes: a process that owns k of them tries
    for another only ``k * grace`` seconds after it last took one, so a process started at about
    the same time takes its share instead of finding them all taken by the first (the GIL makes a
    process one core: one process pulling every partition would leave the other cores idle). A
    heuristic, not a balance: a dead process's partitions are all taken over, the later ones after
    a few ``grace`` periods.

    ``busy()``: how many other store-wide jobs this process runs (the store's leader runs the
    outbox relay and the audit sealer: 1), counted as partitions owned since the share was made,
    so the leader leaves the first partition to a process started with it — with one partition
    (finance's burst of signings) the reactions and the relay and sealer then run in two
    processes, on two cores, instead of all in the leader while the other process idles."""

    def __init__(self, grace: float, busy: Callable[[], int] | None = None) -> None:
        self.grace = grace
        self.busy = busy or (lambda: 0)
        self._guard = threading.Lock()
        self._owned = 0
        self._last = time.monotonic()

    def wrap(self, lock: LeaderLock) -> LeaderLock:
        return _SharedLock(self, lock)


class _SharedLock:
    def __init__(self, share: PartitionShare, inner: LeaderLock) -> None:
        self.share, self.inner, self.held = share, inner, False

    def try_acquire(self) -> bool:
        share = self.share
        with share._guard:  # one acquisition at a time in the process: each sees the others' count
            owned = share._owned + share.busy()
            if owned and time.monotonic() - share._last < owned * share.grace:
                return False
            if not self.inner.try_acquire():
                return False
            share._owned += 1
            share._last = time.monotonic()
            self.held = True
            return True

    def still_held(self) -> bool:
        return self.inner.still_held()

    def release(self) -> None:
        with self.share._guard:
            if self.held:
                self.share._owned -= 1
                self.held = False
        self.inner.release()


@dataclass
class _Item:
    """One message of a batch that this partition reacts to."""

    seq: int
    subject: str
    delivered: int
    headers: dict[str, str] | None
    envelope: Envelope
    reaction: Reaction


class _Stopped(Exception):
    """The consumer is stopping: its batch is left unacknowledged, for the next owner."""


class BatchConsumer:
    """One partition's durable consumer applying up to ``batch`` messages per store transaction
    (see "Batches" in the module docstring). Pulled on the service's own NATS connection, and only
    by the process that owns the partition (:meth:`run`)."""

    def __init__(
        self, app: SwpApplication, upstream: str, reactions: dict[str, Reaction], durable: str, index: int,
        partitions: int, positions: Positions, stats: ConsumerStats, parker: ReactionParker, batch: int,
        reads: Reads | None = None, plan_ahead: PlanAhead | None = None,
    ) -> None:
        self.app, self.upstream, self.reactions, self.durable = app, upstream, reactions, durable
        self.index, self.partitions, self.positions, self.stats = index, partitions, positions, stats
        self.parker, self.batch, self.reads, self.plan_ahead = parker, batch, reads, plan_ahead
        self.tracking = tracking_name(upstream, index, partitions)
        self.subjects = sorted(f"swp.*.{upstream}.{event_type}" for event_type in reactions)
        self.stream = STREAM_NAME
        self.election: Election | None = None
        self._stopping = threading.Event()

    @property
    def owned(self) -> bool:
        return bool(self.election and self.election.leading)

    def config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            durable_name=self.durable, deliver_policy=api.DeliverPolicy.ALL, ack_policy=api.AckPolicy.EXPLICIT,
            # Up to a batch in flight: safe because only the owner pulls, and it applies a batch only
            # once it holds every unacknowledged message (_handle).
            max_ack_pending=self.batch, ack_wait=ACK_WAIT_SECONDS, filter_subjects=self.subjects,
        )

    async def run(self, js: Any, lock: LeaderLock, retry_seconds: float, share: PartitionShare | None = None) -> None:
        """Pull while this process owns the partition (a store lock, the election of leader.py):
        one puller per partition whatever the number of processes, each taking over when the
        owner dies. ``share``: the process's partitions of this upstream, taken one at a time."""
        if share is not None:
            lock = share.wrap(lock)
        self.election = Election(f"consumer {self.durable}", lock, retry_seconds=retry_seconds, check_seconds=retry_seconds)
        await self.election.run(lambda: self._own(js))

    def stop(self) -> None:
        self._stopping.set()

    async def _own(self, js: Any) -> None:
        self._stopping.clear()
        sub = None
        try:
            while True:
                try:
                    if sub is None:
                        # Creates the durable, or updates its flow settings (a count changed).
                        await js.add_consumer(self.stream, config=self.config())
                        sub = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # NATS unreachable: try again (nothing is in hand)
                    log.warning("%s cannot pull yet: %s", self.durable, exc)
                    await asyncio.sleep(1.0)
                    continue
                try:
                    await self._handle(js, sub, msgs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # NATS lost mid-batch: what is unacked comes back after ack_wait,
                    # and no batch is applied before it is in hand again (_handle)
                    log.warning("%s: batch interrupted: %s", self.durable, exc)
                    await asyncio.sleep(1.0)
        finally:
            self._stopping.set()  # a batch still running in its thread gives up at its next wait
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _handle(self, js: Any, sub: Any, msgs: list[Any]) -> None:
        held = {m.metadata.sequence.stream: m for m in msgs}
        if not held:
            return

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(ACK_WAIT_SECONDS / 2)
                for m in list(held.values()):
                    with contextlib.suppress(Exception):
                        await m.in_progress()

        heartbeat = asyncio.create_task(keep_alive())
        try:
            # Every unacknowledged message of the consumer must be in hand before any is applied: a
            # previous owner's (it died, or stepped down mid-batch) come back once their ack_wait
            # has passed, before any new message; applied in stream order with ours, nothing of
            # a contract overtakes what came before it.
            while True:
                info = await js.consumer_info(self.stream, self.durable)
                if (info.num_ack_pending or 0) <= len(held):
                    break
                try:
                    more = await sub.fetch(max(self.batch - len(held), 1), timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    more = []
                for m in more:
                    held.setdefault(m.metadata.sequence.stream, m)
            ordered = [held[seq] for seq in sorted(held)]
            items = [item for m in ordered if (item := self._item(m)) is not None]
            delay = 0.5
            while True:  # never move on with messages of the batch unacknowledged
                try:
                    await asyncio.to_thread(self.apply, items)
                    break
                except _Stopped:
                    return
                except Exception as exc:  # a bug rather than a reaction's failure: keep the order
                    self.stats.last_error = f"batch: {type(exc).__name__}"
                    log.exception("%s cannot apply its batch; trying again", self.durable)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            heartbeat.cancel()
        for m in ordered[:-1]:
            await m.ack()
        try:  # the last one confirmed: the server has counted the acks before the next batch
            await ordered[-1].ack_sync()
        except Exception as exc:  # redelivered, then recognised by its Tracking
            log.warning("%s: acknowledgement not confirmed: %s", self.durable, exc)

    def _item(self, m: Any) -> _Item | None:
        try:
            envelope = Envelope.model_validate_json(m.data)
        except ValueError as exc:  # not an event of the contract: nothing any reaction could do
            log.error("%s ignores stream message %s: not an envelope (%s)", self.durable, m.metadata.sequence.stream, exc)
            return None
        reaction = self.reactions.get(envelope.event_type)
        if reaction is None:  # tolerant reader: not ours to act on
            return None
        if self.partitions > 1 and partition_of(partition_key(envelope), self.partitions) != self.index:
            return None  # another partition's contract
        return _Item(m.metadata.sequence.stream, m.subject, m.metadata.num_delivered or 1, m.headers, envelope, reaction)

    # --- in a worker thread -----------------------------------------------------------------------
    def apply(self, items: list[_Item]) -> None:
        """The batch in one transaction; if that fails (a reaction raises, a store lock is taken
        elsewhere, a concurrent save), nothing of it was saved: one message at a time instead, in
        order, each retried here until it is applied or parked."""
        if not items:
            return
        if not self._blocked(items):
            try:
                try:
                    self._apply_together(items)
                except LockBusy as busy:  # again, taking every lock it needs first (waiting for them)
                    self._apply_together(items, prelock=busy.keys)
                return
            except Exception as exc:
                log.info("%s applies its batch of %s one at a time: %s", self.durable, len(items), error_text(exc))
        self.stats.batches_one_by_one += 1
        for item in items:
            self._apply_one(item)

    def _blocked(self, items: list[_Item]) -> bool:
        """A message of the batch is behind a parked one of its upstream aggregate (it is held)."""
        entries = self.parker.current().entries
        if not entries:
            return False
        parked = {e["aggregate_id"] for e in entries}
        return any(str(item.envelope.aggregate_id) in parked for item in items)

    def _ctx(self, envelope: Envelope) -> CommandContext:
        return CommandContext(
            county=envelope.county, actor=f"service:{self.app.service}", command_id=str(envelope.event_id),
            correlation_id=envelope.correlation_id, causation_id=str(envelope.event_id),
        )

    def _apply_together(self, items: list[_Item], prelock: set[str] | None = None) -> None:
        mark = self.app.process_recorder.max_tracking_id(self.tracking) or 0
        todo = [i for i in items if not self.positions.processed_up_to(mark, i.seq, partition_key(i.envelope))]
        skipped = len(items) - len(todo)
        if todo:
            # Reactions of other partitions may save the same aggregates: their store locks are held
            # until the batch is saved (a busy one gives the batch up rather than wait holding others).
            with self.app.reaction_batch(), self.app.reaction_scope(locking=self.partitions > 1):
                if prelock:
                    self.app.hold_until_saved(*prelock)
                if self.reads is not None:  # one query for the batch, not one read per message
                    self.app.read_ahead(a for item in todo for a in self.reads(item.envelope))
                bodies = []
                for item in todo:
                    body = parse_event(item.envelope.service, item.envelope.event_type, item.envelope.data)
                    if body is None:
                        raise RetryLater(f"no schema for {item.envelope.service}.{item.envelope.event_type}")
                    bodies.append(body)
                if self.plan_ahead is not None:  # what needs no store lock, before the first is taken
                    self.plan_ahead(bodies)
                ctx = None
                for item, body in zip(todo, bodies, strict=True):
                    ctx = self._ctx(item.envelope)
                    with telemetry.span(
                        f"consume {item.envelope.event_type}", telemetry.extract(item.headers), SpanKind.CONSUMER,
                        **{"swp.consumer": self.durable, "swp.event_id": str(item.envelope.event_id)},
                    ), self.app.command(ctx):
                        self.app.record_reaction(Tracking(self.tracking, item.seq), *(item.reaction(body) or ()))
                assert ctx is not None
                with self.app.command(ctx):
                    self.app.record_batch(Tracking(self.tracking, todo[-1].seq))
            self.stats.batches += 1
        self.stats.handled += len(todo)
        self.stats.skipped_duplicates += skipped

    def _apply_one(self, item: _Item) -> None:
        """As a single consumer does (hold, react, park), except that a failure is retried here
        rather than negatively acknowledged: a redelivery would come after later messages."""
        attempt = item.delivered
        while True:
            try:
                if self.parker.hold_if_blocked(item.envelope, item.subject, item.seq):
                    self.stats.held += 1
                    return
                body = parse_event(item.envelope.service, item.envelope.event_type, item.envelope.data)
                if body is None:
                    raise RetryLater(f"no schema for {item.envelope.service}.{item.envelope.event_type}")
                with telemetry.span(
                    f"consume {item.envelope.event_type}", telemetry.extract(item.headers), SpanKind.CONSUMER,
                    **{"swp.consumer": self.durable, "swp.event_id": str(item.envelope.event_id)},
                ):
                    react(self.app, item.envelope, body, item.reaction, Tracking(self.tracking, item.seq), self.stats, self.positions)
                return
            except Exception as exc:
                self.stats.failures += 1
                self.stats.last_error = f"{item.envelope.event_type} #{item.seq}: {type(exc).__name__}"
                try:
                    if self.parker.park_if_exhausted(item.envelope, item.subject, item.seq, attempt, exc):
                        self.stats.parked += 1
                        return
                except Exception as park_exc:  # the store unreachable: retried like the reaction
                    log.warning("%s cannot park %s #%s yet: %s", self.durable, item.envelope.event_type, item.seq, park_exc)
                delay = min(0.2 * 2 ** min(attempt, 6), 10.0)
                log.warning("%s will retry %s #%s in %.1fs: %s", self.durable, item.envelope.event_type, item.seq, delay, exc)
                if self._stopping.wait(delay):
                    raise _Stopped from exc
                attempt += 1
