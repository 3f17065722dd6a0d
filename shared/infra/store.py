"""The event store every service builds on: an eventsourcing ``Application`` whose
``save()`` is the unit of work and whose notification log is the outbox.

What this adds to the library, and why:
- every stored event carries the R-AUD-1 metadata (actor, command, correlation,
  causation, county, recorded-at) taken from the :class:`CommandContext` in force,
  so the envelope can be rebuilt from the store alone;
- a process recorder, so reactions to upstream events are recorded atomically with
  their ``Tracking`` position (idempotent consumers) and the outbox relay can keep
  its own position in the same store;
- ``Idempotency-Key`` support: the key's record is saved in the same transaction as
  the command's events.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import Aggregate, BaseAggregate, event
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.utils import get_topic

from shared import audit_chain, clock
from shared.envelope import event_id_for
from shared.infra import freshness, published, telemetry
from shared.infra.leader import StoreLocks
from shared.rules import Conflict, NotFound

IDEMPOTENCY_NAMESPACE = uuid.UUID("0b7f3a52-8e1c-5b9e-a2d4-6c3f0e9d8b71")


@dataclass
class CommandContext:
    """Who asked for the change and why (R-AUD-1). Set for the duration of one command."""

    county: str
    actor: str
    command_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    correlation_id: str = ""
    causation_id: str | None = None
    idempotency: tuple[str, str] | None = None  # (key, request fingerprint)
    _idempotency_saved: bool = False
    _idempotency_record: IdempotencyRecord | None = None  # once saved: marked again by later saves
    saves: int = 0  # successful saves so far: a command that already wrote is never re-run
    # Recording a reaction's events (an operator's retry of a parked one, shared/infra/parking.py):
    # like every reaction, not refused by the publish check — the outbox parks what it cannot publish.
    reaction: bool = False
    # W3C trace context in force when the command began (an HTTP request's, a consumer span's);
    # recorded with its events so the outbox relay carries it across NATS. None: not traced.
    traceparent: str | None = field(default_factory=telemetry.current_traceparent)

    def __post_init__(self) -> None:
        if not self.correlation_id:
            self.correlation_id = self.command_id

    def meta(self, recorded_at: datetime) -> dict[str, Any]:
        meta = {
            "county": self.county,
            "actor": self.actor,
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "recorded_at": recorded_at.isoformat(),
        }
        if self.traceparent:
            meta[telemetry.META_KEY] = self.traceparent
        return meta


_current: contextvars.ContextVar[CommandContext | None] = contextvars.ContextVar(
    "swp_command", default=None
)
# Store locks a running reaction holds until its save (SwpApplication.hold_until_saved): takes keys.
_held: contextvars.ContextVar[Callable[[tuple[str, ...]], None] | None] = contextvars.ContextVar(
    "swp_reaction_locks", default=None
)
# The batch of reactions running in this thread (SwpApplication.reaction_batch), if any.
_unit: contextvars.ContextVar[ReactionBatch | None] = contextvars.ContextVar("swp_reaction_batch", default=None)


_UNREAD = object()


class LockBusy(Exception):
    """A batch of reactions needs a store lock another holder has: the batch gives up (its work is
    discarded, nothing was saved) rather than wait while holding others (no deadlock). ``keys``:
    every lock it needed so far, to take all at once (sorted, waiting) when it is run again."""

    def __init__(self, key: str, keys: set[str]) -> None:
        super().__init__(key)
        self.keys = keys


class ReactionBatch:
    """Several reactions, one unit of work (shared/infra/consumer.py, ``SWP_CONSUMER_BATCH``): an
    identity map over the repository, so a reaction sees what the earlier reactions of the batch
    loaded and changed but did not save yet (one load of a county's budget per batch, not one per
    signing), and what each reaction produced, to be saved together with one ``Tracking``. Each
    event keeps the command context of the reaction that produced it (R-AUD-1: its causation is
    its own upstream event, not the batch's)."""

    def __init__(self, locks: StoreLocks) -> None:
        self.objects: dict[uuid.UUID, Any] = {}  # loaded (None: absent) or produced in this batch
        self.produced: dict[uuid.UUID, Aggregate] = {}  # to save, in the order first produced
        self.context_of: dict[int, CommandContext] = {}  # id(event) -> the reaction's context
        self._assigned: dict[uuid.UUID, int] = {}  # pending events already given a context, per aggregate
        self._locks = locks
        self.scratch: dict[Any, Any] = {}  # what the batch's plan-ahead prepared for its reactions
        self._held: set[str] = set()
        self._conn: Any = None
        self.stack = ExitStack()

    def add(self, ctx: CommandContext, produced: Any) -> None:
        for obj in produced or ():
            if obj is None:
                continue
            self.objects[obj.id] = obj
            self.produced.setdefault(obj.id, obj)
            pending = obj.pending_events
            # Only the events added since the last reaction that returned it (a county's budget
            # gathers one per signing of the batch: walking them all each time is quadratic).
            for domain_event in pending[self._assigned.get(obj.id, 0):]:
                self.context_of.setdefault(id(domain_event), ctx)
            self._assigned[obj.id] = len(pending)

    def take_locks(self, keys: tuple[str, ...]) -> None:
        """The batch's store locks, all on one connection and transaction (held until the batch is
        saved or given up). The first keys are waited for, as a single reaction would; a key
        needed later while others are held is only tried: :class:`LockBusy` if taken elsewhere."""
        new = sorted(set(keys) - self._held)
        if not new:
            return
        if self._locks.enabled:
            from shared.infra.leader import lock_key

            waiting = not self._held
            if self._conn is None:
                self._conn = self.stack.enter_context(self._locks.connection())
            for key in new:
                lock = lock_key(self._locks.schema, "write", key)
                if waiting:
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
                elif not self._conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (lock,)).fetchone()[0]:
                    raise LockBusy(key, self._held | {key})
                self._held.add(key)
        else:
            self._held.update(new)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyRecord(Aggregate):
    """Remembers which aggregates a keyed command touched, so a repeat returns the same result
    (API.md: "repeating it returns the first result"): recorded with the command's first save, and
    marked again by each later save of the same command (``SavedAgain``), so its last event is
    stamped with the command's last save and a repeat is answered as recorded then (R-AUD-3), not
    from what later commands changed."""

    class Recorded(Aggregate.Created):
        # v2: ``as_saved`` — the record's last event marks the command's last save. A v1 record
        # (before SavedAgain existed) marks only its first, so its repeat is answered live, as it was.
        class_version = 2
        scope: str
        key: str
        request_fingerprint: str
        aggregate_ids: list[str]
        as_saved: bool

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["as_saved"] = False

    @staticmethod
    def create_id(scope: str, key: str, request_fingerprint: str, aggregate_ids: list[str], as_saved: bool = True) -> uuid.UUID:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}:{key}")

    @event(Recorded)
    def __init__(self, scope: str, key: str, request_fingerprint: str, aggregate_ids: list[str], as_saved: bool = True) -> None:
        self.scope = scope
        self.key = key
        self.request_fingerprint = request_fingerprint
        self.aggregate_ids = aggregate_ids
        self.as_saved = as_saved

    @event("SavedAgain")
    def saved_again(self, aggregate_ids: list[str]) -> None:
        """A later save of the same command (an import's next batch): what it touched, too."""
        known = set(self.aggregate_ids)
        self.aggregate_ids = [*self.aggregate_ids, *(i for i in aggregate_ids if i not in known)]


class Repeat(NamedTuple):
    """A repeated Idempotency-Key: what the first run touched, and the instant to answer it as of
    (its last save; None: live, for a record made before saves were marked)."""

    aggregate_ids: list[str]
    as_of: datetime | None


WRITER_KEYS_NAMESPACE = uuid.UUID("6a1d2e3f-4b5c-5d6e-8f70-8192a3b4c5d6")


class WriterKeys(Aggregate):
    """The service's writer-key history (R-AUD-4): each rotation is a record in the log, signed by
    the key it retires, naming the new public key and carrying the new key's signature over the
    rotation (:func:`audit_chain.rotation_statement`). Its topic is
    :data:`audit_chain.KEY_ROTATION_TOPIC`, which verifiers follow from the first key."""

    @staticmethod
    def create_id(service: str) -> uuid.UUID:
        return uuid.uuid5(WRITER_KEYS_NAMESPACE, service)

    @event("Started")
    def __init__(self, service: str) -> None:
        self.service = service
        self.key_ids: list[str] = []

    @event("Rotated")
    def rotate(self, service: str, old_key_id: str, new_key_id: str, new_public_key: str, possession: str) -> None:
        self.key_ids.append(new_key_id)


class SigningGate:
    """Saves share the gate; a key rotation takes it alone, so no record signed by the old key
    can land after the rotation record (a readers-writer lock; a waiting rotation holds off new
    saves so it is not starved)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None
        self._writer_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._writer == me:  # the rotation's own save
            yield
            return
        with self._cond:
            while self._writer is not None or self._writer_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writer_waiting += 1
            while self._writer is not None or self._readers:
                self._cond.wait()
            self._writer_waiting -= 1
            self._writer = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()


class DateAsISO(Transcoding):
    """Calendar dates (contract periods, due dates) stored as ISO strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


# A dict key that JSON-encodes like a key that was not a string (int, float, bool, None): where
# the sorted encoder below may order keys differently from the canonical form (it sorts 10 before
# 9 as ints; the canonical form, decoded, sorts "10" before "9"). A real string key that looks
# like one only costs the slower path. In the compact encoding a key follows "{" or ",", and a
# quote inside a string is escaped, so a string value cannot match.
_NUMERIC_LIKE_KEY = re.compile(r'[{,]"(?:-?[0-9][^"]*|NaN|-?Infinity|true|false|null)":')


class SigningMapper(Mapper[uuid.UUID]):
    """The library's mapper, signing each recorded event (R-AUD-4) while it encodes it: the state
    is encoded once, directly in its canonical form (what is signed,
    :func:`audit_chain.canonical_content`: the library's transcoder with sorted keys), that is what
    is stored, and the signature is spliced into its ``meta`` — instead of encoding the event once
    to sign it and again to store it, or encoding, decoding and re-encoding it canonically (the
    bytes are the same: ``tests/unit/test_signing_one_pass.py``)."""

    signing_key: Ed25519PrivateKey | None = None
    _canonical: json.JSONEncoder | None = None

    def _canonical_encoder(self) -> json.JSONEncoder | None:
        """The transcoder's own JSON encoder (its transcodings of UUIDs, dates, decimals…) with
        sorted keys; None for a transcoder that is not the library's JSON one."""
        if self._canonical is None:
            encoder = getattr(self.transcoder, "encoder", None)
            if not isinstance(self.transcoder, JSONTranscoder) or not isinstance(encoder, json.JSONEncoder):
                return None
            self._canonical = json.JSONEncoder(default=encoder.default, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        return self._canonical

    def canonical_state(self, state: dict[str, Any]) -> bytes:
        """``audit_chain.canonical_json`` of the state as the transcoder encodes it, in one pass
        where it can (every dict key a string), else by encoding, decoding and re-encoding."""
        encoder = self._canonical_encoder()
        if encoder is not None:
            try:
                text = encoder.encode(state)
            except TypeError:  # keys of mixed types do not sort; an unregistered type fails below too
                text = None
            if text is not None and _NUMERIC_LIKE_KEY.search(text) is None:
                return text.encode()
        return audit_chain.canonical_json(json.loads(self.transcoder.encode(state)))

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        meta = getattr(domain_event, "meta", None)
        if self.signing_key is None or not isinstance(meta, dict) or self.compressor or self.cipher:
            return super().to_stored_event(domain_event)  # snapshots carry no meta: not signed
        topic = get_topic(type(domain_event))
        state = dict(vars(domain_event))
        aggregate_id = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        unsigned = {k: v for k, v in meta.items() if k != audit_chain.SIG_FIELD}
        state["meta"] = unsigned
        body = self.canonical_state(state)
        content = f"{aggregate_id}\n{version}\n{topic}\n".encode() + body
        sig = self.signing_key.sign(content).hex()
        meta.clear()
        meta.update(unsigned)
        meta[audit_chain.SIG_FIELD] = sig  # the event in memory as stored
        # "sig" sorts after every other meta key, so the canonical meta object ends where it goes.
        old_meta = b'"meta":' + self.canonical_state(unsigned)
        if body.count(old_meta) == 1 and all(k < audit_chain.SIG_FIELD for k in unsigned):
            signed_meta = old_meta[:-1] + (b"," if unsigned else b"") + b'"sig":"' + sig.encode() + b'"}'
            stored = body.replace(old_meta, signed_meta)
        else:  # cannot happen with CommandContext.meta; stay correct if it ever does
            raw = json.loads(body)
            raw["meta"][audit_chain.SIG_FIELD] = sig
            stored = audit_chain.canonical_json(raw)
        return StoredEvent(originator_id=aggregate_id, originator_version=version, topic=topic, state=stored)


class StampOrder:
    """A store's saves commit in the order of their stamps (``recorded_at``), in this process
    (R-AUD-3).

    An event is stamped before its save commits, and a busy store (a writer waiting for the
    store's write lock, a batch of reactions signing its events) can take a while between the
    two. A live read naming "now" while a save was in that gap would not show it, yet a read as
    of that instant would (stamped before it); and two saves committing out of stamp order would
    leave no instant at all whose history a read between them shows. So stamps are handed out in
    order, each later than every earlier stamp and every instant a read named; saves still map
    and sign their events side by side, but each commits only once every save stamped before it
    has finished (committed or failed); and :meth:`settled` names the instant a read starting now
    shows everything recorded by, and nothing recorded after: now, or just before the earliest
    stamp still in flight. (Several processes on one PostgreSQL store order their own saves only.)"""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._in_flight: list[datetime] = []  # stamps of the saves not finished, in order
        self._floor = datetime.min.replace(tzinfo=UTC)  # the latest stamp or instant named so far

    @contextmanager
    def stamping(self) -> Iterator[datetime]:
        """The save's ``recorded_at``; the save is in flight until the block ends."""
        with self._turns:
            stamp = self._floor = max(datetime.now(UTC), self._floor + _TICK)
            self._in_flight.append(stamp)
        try:
            yield stamp
        finally:
            with self._turns:
                self._in_flight.remove(stamp)
                self._turns.notify_all()

    def wait_turn(self, stamp: datetime) -> None:
        """Until every save stamped before ``stamp`` has finished: then this one may commit."""
        with self._turns:
            while self._in_flight[0] != stamp:
                self._turns.wait()

    def settled(self) -> datetime:
        with self._turns:
            now = datetime.now(UTC)
            instant = min(now, self._in_flight[0] - _TICK) if self._in_flight else now
            self._floor = max(self._floor, instant)
            return instant


_TICK = timedelta(microseconds=1)  # recorded_at's resolution


class PinnedRepository(Repository[uuid.UUID]):
    """The library's repository, except that while the clock is pinned to an instant
    (:func:`shared.clock.pinned_at`) every aggregate is loaded at the version it had then —
    an aggregate created later is "not found". Lists built from index aggregates follow."""

    def __init__(self, version_at: Callable[[uuid.UUID, datetime], int | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._version_at = version_at

    def get(self, aggregate_id: uuid.UUID, *, version: int | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        instant = clock.pinned()
        unit = _unit.get()
        if unit is not None and instant is None and version is None and not kwargs:
            # A batch of reactions: what an earlier reaction of it loaded or changed (unsaved).
            # Absent ones too (a schedule not planned yet, no calendar loaded): read once per batch;
            # one a reaction of the batch creates replaces its absence here (ReactionBatch.add).
            found = unit.objects.get(aggregate_id, _UNREAD)
            if found is _UNREAD:
                try:
                    found = super().get(aggregate_id)
                except AggregateNotFoundError:
                    found = None
                unit.objects[aggregate_id] = found
            if found is None:
                raise AggregateNotFoundError(aggregate_id)
            return found
        fresh = freshness.active()
        if (
            fresh is not None and unit is None and instant is None and version is None and self.cache is not None
            and not set(kwargs) - {"deepcopy_from_cache"}
        ):
            # A command in a fresh-reads scope (shared/infra/freshness.py): no fast-forward select
            # for an aggregate cached at the version known current.
            found = fresh.cached(self.cache, aggregate_id)
            if found is not None:
                return deepcopy(found) if kwargs.get("deepcopy_from_cache", True) and self.deepcopy_from_cache else found
            epoch = fresh.epoch_now()
            found = super().get(aggregate_id, **kwargs)
            fresh.trust([(aggregate_id, found.version)], epoch)
            return found
        if instant is not None and version is None:
            version = self._version_at(aggregate_id, instant)
            if version is None:
                raise AggregateNotFoundError(f"{aggregate_id!r} did not exist at {instant.isoformat()}")
        return super().get(aggregate_id, version=version, **kwargs)


def _public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def event_meta(domain_event: Any) -> dict[str, Any]:
    return dict(getattr(domain_event, "meta", None) or {})


class _Collecting(ProcessingEvent[uuid.UUID]):
    """The library's ``ProcessingEvent``, except that an aggregate (the library's class) is
    collected without ``isinstance`` checks against its runtime-checkable protocols, which walk
    every protocol attribute each time (a bulk import's batch of 500: ~4 % of its samples); the
    same events and aggregates are collected, anything else as the library does."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class SwpApplication(Application[uuid.UUID]):
    """Base application: one per service, persistence chosen by the env it is given."""

    service: ClassVar[str] = ""
    OUTBOX = "outbox:SWP"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = dict(env or {})
        # The recorder that stores each event's published bytes with it (shared/infra/published.py).
        topic = published.recorder_topic(env.get("PERSISTENCE_MODULE"))
        if topic and "PROCESS_RECORDER_TOPIC" not in env:
            env["PROCESS_RECORDER_TOPIC"] = topic
        # Maps each event to its stored public bytes as it is saved (set by the service
        # composition with the service's ``to_integration``); None: rows are written lazily.
        self.public_mapper: published.PublicMapper | None = None
        super().__init__(env=env)
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._signing_key: Ed25519PrivateKey | None = None
        # Refuses (raises) a domain event a command is about to record that could never be
        # published (issue 15), given the event and its public body (None: private); set by the
        # service composition. Reactions are not checked here: the outbox parks what they record
        # instead of failing the upstream message for ever.
        self.publish_check: Callable[..., None] | None = None
        self._first_public_key: str | None = None
        self._signing_gate = SigningGate()
        self._rotations: list[dict[str, Any]] | None = None
        self.stamp_order = StampOrder()
        # Write locks that hold across processes sharing this store (PostgreSQL; see leader.py).
        self.store_locks = StoreLocks(dict(env or {}))
        self.command_retries = 0  # commands re-run after losing an optimistic-concurrency race
        # Each consumer's parking of reactions that keep failing (shared/infra/parking.py), by
        # upstream service; and how many deliveries a reaction may fail before it is parked.
        self.reaction_parkers: dict[str, Any] = {}
        self.reaction_max_attempts = 5
        # Commands that opt in load cached aggregates without a fast-forward select each
        # (shared/infra/freshness.py); None without a fast-forwarding cache.
        repository = self.repository
        self.fresh_reads = (
            freshness.FreshReads(self._log_positions, self.recorder.max_notification_id)
            if repository.cache is not None and repository.fastforward
            else None
        )

    def close(self) -> None:
        self.store_locks.close()
        super().close()

    def _log_positions(self, after: int, limit: int) -> Sequence[tuple[int, uuid.UUID, int]]:
        select = getattr(self.recorder, "select_positions", None)
        if select is not None:
            return select(after, limit)  # type: ignore[no-any-return]
        return [
            (n.id, n.originator_id if isinstance(n.originator_id, uuid.UUID) else uuid.UUID(str(n.originator_id)), n.originator_version)
            for n in self.recorder.select_notifications(after + 1, limit)
        ]

    @contextmanager
    def fresh(self) -> Iterator[None]:
        """Run a command's loads and its one save in a fresh-reads scope (freshness.py): the log is
        read once for what changed, cached aggregates known current are loaded without a select.
        For commands that do not touch their aggregates after saving them."""
        if self.fresh_reads is None:
            yield
            return
        with self.fresh_reads.scope():
            yield

    # --- infrastructure -------------------------------------------------------------
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_mapper(self) -> Mapper[uuid.UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=SigningMapper)

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        if type(self.factory).__module__ == "eventsourcing.popo":
            return published.POPOPublishedRecorder()
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called (from the saving thread) after every successful save: wakes the relay."""
        self._listeners.append(callback)

    # --- command context ------------------------------------------------------------
    @contextmanager
    def command(self, ctx: CommandContext) -> Iterator[CommandContext]:
        token = _current.set(ctx)
        try:
            yield ctx
        finally:
            _current.reset(token)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[uuid.UUID]]:
        """The library's ``save``, collecting with :class:`_Collecting` (aggregates without the
        runtime protocol checks)."""
        return self.record_collected(self.collect(*objs, **kwargs))

    @staticmethod
    def collect(*objs: Any, **kwargs: Any) -> ProcessingEvent[uuid.UUID]:
        """The first half of :meth:`save`: the objects' pending events taken out of them."""
        processing_event: ProcessingEvent[uuid.UUID] = _Collecting()
        processing_event.collect_events(*objs, **kwargs)
        return processing_event

    def record_collected(self, processing_event: ProcessingEvent[uuid.UUID]) -> list[Recording[uuid.UUID]]:
        """The second half of :meth:`save`: the collected events recorded (signed, in one
        transaction), then snapshots and listeners, as the library's ``save`` does."""
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, as its save calls it
        return recordings

    def _record(self, processing_event: ProcessingEvent[uuid.UUID]) -> list[Recording[uuid.UUID]]:
        # Committed in stamp order (R-AUD-3, StampOrder); the signing gate first, as a key
        # rotation's own save takes it before its stamp.
        with self._signing_gate.shared(), self.stamp_order.stamping() as now:
            return self._stamp_and_record(processing_event, now)

    def _stamp_and_record(self, processing_event: ProcessingEvent[uuid.UUID], now: datetime) -> list[Recording[uuid.UUID]]:
        ctx = _current.get()
        if ctx is None:
            raise RuntimeError("events must be recorded inside app.command(ctx) (R-AUD-1)")
        saving_key = False
        if ctx.idempotency and processing_event.events:
            ids = [str(i) for i in processing_event.aggregates]
            if not ctx._idempotency_saved:
                key, fp = ctx.idempotency
                record = IdempotencyRecord(self._idem_scope(ctx.county), key, fp, ids)
                processing_event.collect_events(record)
                saving_key = True
            elif ctx._idempotency_record is not None:  # a later save of the same command
                ctx._idempotency_record.saved_again(ids)
                processing_event.collect_events(ctx._idempotency_record)
        # A person's command (a reaction recorded outside a consumer's transaction is not one).
        command = processing_event.tracking is None and not ctx.reaction
        mapper = self.public_mapper
        rows = []
        unit = _unit.get()
        contexts = unit.context_of if unit is not None and processing_event.tracking is not None else {}
        for domain_event in processing_event.events:  # signed as they are encoded (SigningMapper)
            object.__setattr__(domain_event, "meta", contexts.get(id(domain_event), ctx).meta(now))
            if mapper is not None:
                # Mapped and serialised once, before the save: a command whose event cannot be
                # published is refused (422), a reaction's is stored for the relay to park.
                body, row = mapper.prepare(domain_event, strict=command)
                rows.append(row)
                if self.publish_check is not None and command:
                    self.publish_check(domain_event, body)
            elif self.publish_check is not None and command:
                self.publish_check(domain_event)
        if rows:
            # The recorder stores each event's public bytes in the save's own transaction.
            processing_event.saved_kwargs["published"] = mapper.renderer(rows)  # type: ignore[union-attr]
        fresh = freshness.active()
        epoch = fresh.epoch_now() if fresh is not None else 0
        self.stamp_order.wait_turn(now)
        try:
            recordings = super()._record(processing_event)
        except Exception:
            if fresh is not None:  # lost a race (or failed): its aggregates are read afresh on a re-run
                fresh.distrust(processing_event.aggregates)
            raise
        if fresh is not None and self.repository.cache is not None:
            # As the library does when it does not fast-forward: the saved aggregates are what the
            # cache holds next (the scope's commands do not touch them after the save).
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
            fresh.trust(((i, a.version) for i, a in processing_event.aggregates.items()), epoch)
        ctx.saves += 1
        if saving_key:  # only once the save succeeded: a retried command still records its key
            ctx._idempotency_saved = True
            ctx._idempotency_record = record
        return recordings

    # --- writer signatures (R-AUD-4) --------------------------------------------------
    def use_signing_key(self, seed: bytes, *, key_ring: Callable[[str], bytes | None] | None = None) -> None:
        """Sign every record this application writes (Ed25519; the seed is the private key).

        ``seed`` is the service's FIRST key (the verifiers' trust anchor). If the log records key
        rotations, the key in force is the last one named, and its seed comes from ``key_ring``
        (key id → seed); a missing or mismatching seed refuses to start rather than sign with a
        retired key."""
        first = Ed25519PrivateKey.from_private_bytes(seed)
        self._first_public_key = _public_hex(first)
        current = first
        self._rotations = None  # read afresh from the log
        rotations = self.key_rotations()
        if rotations:
            wanted = rotations[-1]["new_public_key"]
            key_id = audit_chain.key_id(bytes.fromhex(wanted))
            found = key_ring(key_id) if key_ring else None
            if found is None or _public_hex(current := Ed25519PrivateKey.from_private_bytes(found)) != wanted:
                raise RuntimeError(f"{self.service}: the log's current writer key {key_id} is not in the key store")
        self._set_signing_key(current)

    def _set_signing_key(self, key: Ed25519PrivateKey) -> None:
        self._signing_key = key
        assert isinstance(self.mapper, SigningMapper)
        self.mapper.signing_key = key

    @property
    def audit_public_key_hex(self) -> str | None:
        """The writer key in force (it signs new records and tree heads)."""
        return _public_hex(self._signing_key) if self._signing_key else None

    @property
    def audit_first_public_key_hex(self) -> str | None:
        """The service's first writer key: verification starts from it and follows the rotations."""
        return self._first_public_key

    @property
    def audit_key_id(self) -> str | None:
        key = self.audit_public_key_hex
        return audit_chain.key_id(bytes.fromhex(key)) if key else None

    def key_rotations(self) -> list[dict[str, Any]]:
        """The rotation records, oldest first: position, key ids, new public key, and the raw
        record (what a proof carries). Read from the log once, when the writer key is set (a
        select of the rotation topic), then kept up to date by :meth:`rotate_signing_key`."""
        if self._rotations is None:
            self._rotations = self._read_rotations()
        return list(self._rotations)

    @staticmethod
    def _rotation_entry(n: Notification) -> dict[str, Any]:
        state, _ = audit_chain.unsigned_state(n.state)
        return {
            "position": n.id,
            "old_key_id": state.get("old_key_id"),
            "new_key_id": state.get("new_key_id"),
            "new_public_key": state.get("new_public_key"),
            "record": n,
        }

    def _read_rotations(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 1
        while True:
            page = self.process_recorder.select_notifications(start, 100, topics=[audit_chain.KEY_ROTATION_TOPIC])
            out += [self._rotation_entry(n) for n in page]
            if len(page) < 100:
                return out
            start = page[-1].id + 1

    def sign_current(self, data: bytes) -> tuple[str, list[dict[str, Any]]]:
        """Sign ``data`` with the key in force; with the rotations that lead to that key from the
        first one (taken together: no rotation can slip in between)."""
        with self._signing_gate.shared():
            if self._signing_key is None:
                raise RuntimeError("no writer key in force")
            return self._signing_key.sign(data).hex(), self.key_rotations()

    def rotate_signing_key(self, new_seed: bytes, ctx: CommandContext) -> dict[str, Any]:
        """Record a rotation (signed by the key in force, naming the new key and signed by it too),
        then sign with the new key. Saves wait meanwhile, so nothing signed by the old key is
        recorded after the rotation. The caller stores ``new_seed`` durably first."""
        if self._signing_key is None:
            raise RuntimeError("no writer key in force")
        new = Ed25519PrivateKey.from_private_bytes(new_seed)
        new_public = _public_hex(new)
        old_id, new_id = self.audit_key_id or "", audit_chain.key_id(bytes.fromhex(new_public))
        if new_id == old_id:
            raise Conflict("the new writer key is the key in force", rule="R-AUD-4")
        possession = new.sign(audit_chain.rotation_statement(self.service, old_id, new_public)).hex()
        with self._signing_gate.exclusive(), self.command(ctx):
            keys_id = WriterKeys.create_id(self.service)
            try:
                keys: WriterKeys = self.repository.get(keys_id)
            except AggregateNotFoundError:
                keys = WriterKeys(self.service)
            keys.rotate(self.service, old_id, new_id, new_public, possession)
            recordings = self.save(keys)
            self._set_signing_key(new)
            rotation = next(r.notification for r in recordings if r.notification.topic == audit_chain.KEY_ROTATION_TOPIC)
            self._rotations = [*self.key_rotations(), self._rotation_entry(rotation)]
        return {"old_key_id": old_id, "key_id": new_id, "public_key": new_public, "position": rotation.id}

    def _notify(self, recordings: list[Recording[uuid.UUID]]) -> None:
        super()._notify(recordings)
        for callback in self._listeners:
            callback()

    # --- idempotency ----------------------------------------------------------------
    def _idem_scope(self, county: str) -> str:
        return f"{self.service}:{county}"

    def replay_of(self, county: str, key: str, request_fingerprint: str) -> Repeat | None:
        """What a previous command with this key touched and when it last saved, or None if new."""
        record_id = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{self._idem_scope(county)}:{key}")
        try:
            record: IdempotencyRecord = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        if record.request_fingerprint != request_fingerprint:
            raise Conflict("Idempotency-Key was already used with a different request", facts={"code": "idempotency_key_reused"})
        as_of = None
        if record.as_saved:
            last = self.process_recorder.select_events(record_id, desc=True, limit=1)
            as_of = self._recorded_at(last[0]) if last else None
        return Repeat(list(record.aggregate_ids), as_of)

    # --- reactions to upstream events (idempotent consumers) ------------------------
    @contextmanager
    def reaction_scope(self, *, locking: bool = True) -> Iterator[None]:
        """One run of a reaction and the save of what it produced: store locks a reaction takes
        (:meth:`hold_until_saved`) are released when the block ends, after the save. ``locking``
        False: no other reaction runs at once (one partition), the locks would only cost time."""
        unit = _unit.get()
        if unit is not None:  # a batch: its locks, on one connection, until the batch ends
            token = _held.set(unit.take_locks if locking else None)
            try:
                yield
            finally:
                _held.reset(token)
            return
        stack = ExitStack()

        def take(keys: tuple[str, ...]) -> None:
            stack.enter_context(self.store_locks.holding(*keys))

        token = _held.set(take if locking else None)
        try:
            with stack:
                yield
        finally:
            _held.reset(token)

    @contextmanager
    def reaction_batch(self) -> Iterator[ReactionBatch]:
        """Reactions run in this block form one unit of work (:class:`ReactionBatch`): loads see
        what the batch changed, :meth:`record_reaction` keeps what each produced, and
        :meth:`record_batch` saves it all with one ``Tracking``. Leaving the block without that
        save discards the batch (nothing was written; its store locks are released)."""
        unit = ReactionBatch(self.store_locks)
        token = _unit.set(unit)
        try:
            with unit.stack:
                yield unit
        finally:
            _unit.reset(token)

    def record_batch(self, tracking: Tracking) -> None:
        """Save what the batch's reactions produced and the batch's highest upstream position in
        one transaction (the positions are high-water marks: every earlier one is covered)."""
        unit = _unit.get()
        assert unit is not None, "record_batch outside reaction_batch"
        processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*unit.produced.values())
        recordings = self._record(processing_event)
        cache = self.repository.cache
        if cache is not None and self.repository.fastforward:
            # Saved, so each is its latest stored version: cached as they are, the next batch's load
            # (a county's budget: every batch) need not fast-forward the cached copy over the events
            # this batch just saved — up to one per message — read back and decoded (the library caches
            # a saved aggregate only without fast-forward; a later load still fast-forwards over what
            # others saved since).
            for aggregate in unit.produced.values():
                cache.put(aggregate.id, aggregate)
        unit.produced.clear()
        self._notify(recordings)

    def batch_scratch(self) -> dict[Any, Any] | None:
        """Inside :meth:`reaction_batch`: a dict that lives as long as the batch (what a consumer's
        ``plan_ahead`` prepared for the batch's reactions); None outside a batch."""
        unit = _unit.get()
        return unit.scratch if unit is not None else None

    def read_ahead(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        """Inside :meth:`reaction_batch`: find out in one query which of these aggregates (those the
        batch's reactions will look up first) have no events yet, so their lookups in the batch
        answer "absent" without a read each — the one store read per signing of a burst (a new
        contract's schedule). The others are loaded as usual when looked up. Absent stays absent for
        the batch, as any absence the batch reads does (:class:`PinnedRepository`): only the batch's
        own reactions create what it looks up."""
        unit = _unit.get()
        select = getattr(self.process_recorder, "select_existing", None)
        if unit is None or select is None or clock.pinned() is not None:
            return
        todo = [i for i in dict.fromkeys(aggregate_ids) if i not in unit.objects]
        if todo:
            existing = select(todo)
            for aggregate_id in todo:
                if aggregate_id not in existing:
                    unit.objects[aggregate_id] = None

    def hold_until_saved(self, *keys: str) -> None:
        """Inside a reaction: take these store-wide write locks now and keep them until the
        reaction's events are saved, so reactions running at once in other partitions or processes
        that would save the same aggregate (a county's budget) wait instead of racing and re-running.
        Call it once per reaction, before loading what it guards (one call, one lock order: no
        deadlock). Outside a reaction, or on SQLite (one process per store), it does nothing."""
        take = _held.get()
        if take is not None:
            take(keys)

    def is_processed(self, upstream: str, position: int) -> bool:
        return self.process_recorder.has_tracking_id(upstream, position)

    def record_reaction(self, tracking: Tracking, *objs: Aggregate | None) -> None:
        """Save the reaction's events and the upstream position in one transaction. Inside
        :meth:`reaction_batch`, keep them for the batch's save instead."""
        unit = _unit.get()
        if unit is not None:
            ctx = _current.get()
            assert ctx is not None
            unit.add(ctx, objs)
            return
        processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*objs)
        recordings = self._record(processing_event)
        self._notify(recordings)

    # --- as of an instant (R-AUD-3) ---------------------------------------------------
    def construct_repository(self) -> Repository[uuid.UUID]:
        base = super().construct_repository()
        repository = PinnedRepository(
            self.version_as_of,
            event_store=base.event_store,
            snapshot_store=base.snapshot_store,
            fastforward=base.fastforward,
            fastforward_skipping=base.fastforward_skipping,
            deepcopy_from_cache=base.deepcopy_from_cache,
        )
        # Counted (hits/misses on /metrics); None stays None (no cache configured).
        repository.cache = telemetry.CountingCache(base.cache) if base.cache is not None else None
        return repository

    def _recorded_at(self, stored: StoredEvent) -> datetime:
        domain_event = self.mapper.to_domain_event(stored)
        at = event_meta(domain_event).get("recorded_at")
        return datetime.fromisoformat(at) if at else domain_event.timestamp

    def version_as_of(self, aggregate_id: uuid.UUID, as_of: datetime | None) -> int | None:
        """The aggregate's version recorded at or before ``as_of`` (None: it did not exist yet).

        Versions are recorded in order, so this bisects with one-row queries: ~log2(n) rows read
        and decoded, never the whole history."""
        select = self.process_recorder.select_events
        last = select(aggregate_id, desc=True, limit=1)
        if not last:
            return None
        if as_of is None:
            return last[0].originator_version
        limit = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        if self._recorded_at(last[0]) <= limit:
            return last[0].originator_version
        first = select(aggregate_id, limit=1)
        if self._recorded_at(first[0]) > limit:
            return None
        lo, hi = first[0].originator_version, last[0].originator_version  # recorded by then / after
        while hi - lo > 1:
            mid = (lo + hi) // 2
            row = select(aggregate_id, gt=mid - 1, limit=1)
            version = row[0].originator_version
            if version >= hi:  # no version in [mid, hi)
                hi = mid
            elif self._recorded_at(row[0]) <= limit:
                lo = version
            else:
                hi = version
        return lo

    def history(self, aggregate_id: uuid.UUID) -> list[Any]:
        """The aggregate's domain events in order — up to the version it had at the pinned
        instant while reads are pinned (R-AUD-3). Read models folded from events use this."""
        instant = clock.pinned()
        version = None
        if instant is not None:
            version = self.version_as_of(aggregate_id, instant)
            if version is None:
                return []
        return list(self.repository.event_store.get(aggregate_id, lte=version))

    def verify_snapshots(self) -> dict[str, Any]:
        """Snapshots are a derived cache and carry no signature, yet loads and as-of reads start
        from them: check that each equals the replay of the signed events up to its version
        (R-AUD-4), one forward pass per snapshotted aggregate."""
        if self.snapshots is None:
            return {"checked": 0, "mismatched": []}
        prefixes = tuple(f"{get_topic(cls)}." for cls in (getattr(self, "snapshotting_intervals", None) or {}))
        ids: list[uuid.UUID] = []
        position = 0
        while prefixes:
            page = self.process_recorder.select_notifications(position + 1, 1000)
            ids += [n.originator_id for n in page if n.originator_version == 1 and n.topic.startswith(prefixes)]
            if len(page) < 1000:
                break
            position = page[-1].id
        checked, mismatched = 0, []
        for aggregate_id in ids:
            aggregate, version = None, 0
            for snapshot in self.snapshots.get(aggregate_id):
                events = self.events.get(aggregate_id, gt=version or None, lte=snapshot.originator_version)
                aggregate = project_aggregate(aggregate, events)
                version = snapshot.originator_version
                checked += 1
                if _state(snapshot.mutate(None)) != _state(aggregate):
                    mismatched.append({"aggregate_id": str(aggregate_id), "version": version})
        return {"checked": checked, "mismatched": mismatched}

    def get_as_of(self, aggregate_id: uuid.UUID, as_of: datetime | None) -> Any:
        """The aggregate as it was at ``as_of`` (now when None); AggregateNotFoundError if it did not exist."""
        with clock.pinned_at(as_of):
            return self.repository.get(aggregate_id)

    # --- helpers for subclasses -----------------------------------------------------
    def get(self, aggregate_id: uuid.UUID | str, kind: str = "record") -> Any:
        try:
            return self.repository.get(uuid.UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise NotFound(f"unknown {kind} {aggregate_id}", facts={"code": "unknown_reference", "kind": kind}) from exc

    def event_id(self, domain_event: Any) -> uuid.UUID:
        return event_id_for(self.service, domain_event.originator_id, domain_event.originator_version)


__all__ = [
    "CommandContext",
    "IdempotencyRecord",
    "IntegrityError",
    "SwpApplication",
    "WriterKeys",
    "event_meta",
    "fingerprint",
]
