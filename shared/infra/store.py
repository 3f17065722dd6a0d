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
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Recording,
    Tracking,
    Transcoding,
)
from eventsourcing.utils import get_topic

from shared import audit_chain
from shared.envelope import event_id_for
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

    def __post_init__(self) -> None:
        if not self.correlation_id:
            self.correlation_id = self.command_id

    def meta(self, recorded_at: datetime) -> dict[str, Any]:
        return {
            "county": self.county,
            "actor": self.actor,
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "recorded_at": recorded_at.isoformat(),
        }


_current: contextvars.ContextVar[CommandContext | None] = contextvars.ContextVar(
    "swp_command", default=None
)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyRecord(Aggregate):
    """Remembers which aggregates a keyed command touched, so a repeat returns the same result."""

    @staticmethod
    def create_id(scope: str, key: str, request_fingerprint: str, aggregate_ids: list[str]) -> uuid.UUID:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}:{key}")

    @event("Recorded")
    def __init__(self, scope: str, key: str, request_fingerprint: str, aggregate_ids: list[str]) -> None:
        self.scope = scope
        self.key = key
        self.request_fingerprint = request_fingerprint
        self.aggregate_ids = aggregate_ids


class DateAsISO(Transcoding):
    """Calendar dates (contract periods, due dates) stored as ISO strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def event_meta(domain_event: Any) -> dict[str, Any]:
    return dict(getattr(domain_event, "meta", None) or {})


class SwpApplication(Application[uuid.UUID]):
    """Base application: one per service, persistence chosen by the env it is given."""

    service: ClassVar[str] = ""
    OUTBOX = "outbox:SWP"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env=dict(env or {}))
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._signing_key: Ed25519PrivateKey | None = None

    # --- infrastructure -------------------------------------------------------------
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
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

    def _record(self, processing_event: ProcessingEvent[uuid.UUID]) -> list[Recording[uuid.UUID]]:
        ctx = _current.get()
        if ctx is None:
            raise RuntimeError("events must be recorded inside app.command(ctx) (R-AUD-1)")
        if ctx.idempotency and not ctx._idempotency_saved and processing_event.events:
            key, fp = ctx.idempotency
            ids = [str(i) for i in processing_event.aggregates]
            record = IdempotencyRecord(self._idem_scope(ctx.county), key, fp, ids)
            processing_event.collect_events(record)
            saving_key = True
        else:
            saving_key = False
        now = datetime.now(UTC)
        for domain_event in processing_event.events:
            meta = ctx.meta(now)
            object.__setattr__(domain_event, "meta", meta)
            if self._signing_key is not None:
                meta[audit_chain.SIG_FIELD] = self._sign(domain_event)
        recordings = super()._record(processing_event)
        if saving_key:  # only once the save succeeded: a retried command still records its key
            ctx._idempotency_saved = True
        return recordings

    # --- writer signatures (R-AUD-4) --------------------------------------------------
    def use_signing_key(self, seed: bytes) -> None:
        """Sign every record this application writes (Ed25519; the seed is the private key)."""
        self._signing_key = Ed25519PrivateKey.from_private_bytes(seed)

    @property
    def audit_public_key_hex(self) -> str | None:
        if self._signing_key is None:
            return None
        return self._signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def _sign(self, domain_event: Any) -> str:
        # Exactly what the mapper will store, minus the signature (see Mapper.to_stored_event).
        state = dict(vars(domain_event))
        aggregate_id = state.pop("originator_id")
        version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        raw = json.loads(self.mapper.transcoder.encode(state))
        content = audit_chain.canonical_content(str(aggregate_id), version, get_topic(type(domain_event)), raw)
        assert self._signing_key is not None
        return self._signing_key.sign(content).hex()

    def _notify(self, recordings: list[Recording[uuid.UUID]]) -> None:
        super()._notify(recordings)
        for callback in self._listeners:
            callback()

    # --- idempotency ----------------------------------------------------------------
    def _idem_scope(self, county: str) -> str:
        return f"{self.service}:{county}"

    def replay_of(self, county: str, key: str, request_fingerprint: str) -> list[str] | None:
        """The aggregate ids a previous command with this key touched, or None if new."""
        record_id = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{self._idem_scope(county)}:{key}")
        try:
            record: IdempotencyRecord = self.repository.get(record_id)
        except AggregateNotFoundError:
            return None
        if record.request_fingerprint != request_fingerprint:
            raise Conflict("Idempotency-Key was already used with a different request")
        return list(record.aggregate_ids)

    # --- reactions to upstream events (idempotent consumers) ------------------------
    def is_processed(self, upstream: str, position: int) -> bool:
        return self.process_recorder.has_tracking_id(upstream, position)

    def record_reaction(self, tracking: Tracking, *objs: Aggregate | None) -> None:
        """Save the reaction's events and the upstream position in one transaction."""
        processing_event: ProcessingEvent[uuid.UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*objs)
        recordings = self._record(processing_event)
        self._notify(recordings)

    # --- as of an instant (R-AUD-3) ---------------------------------------------------
    def version_as_of(self, aggregate_id: uuid.UUID, as_of: datetime | None) -> int | None:
        """The aggregate's version recorded at or before ``as_of`` (None: it did not exist yet)."""
        stored = self.process_recorder.select_events(aggregate_id)
        if as_of is None:
            return stored[-1].originator_version if stored else None
        limit = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)

        def recorded(i: int) -> datetime:
            e = self.mapper.to_domain_event(stored[i])
            at = event_meta(e).get("recorded_at")
            return datetime.fromisoformat(at) if at else e.timestamp

        # Versions are recorded in order, so bisect: decode ~log2(n) events, not all of them.
        lo, hi = 0, len(stored)
        while lo < hi:
            mid = (lo + hi) // 2
            if recorded(mid) <= limit:
                lo = mid + 1
            else:
                hi = mid
        return stored[lo - 1].originator_version if lo else None

    def get_as_of(self, aggregate_id: uuid.UUID, as_of: datetime | None) -> Any:
        """The aggregate as it was at ``as_of`` (now when None); AggregateNotFoundError if it did not exist."""
        if as_of is None:
            return self.repository.get(aggregate_id)
        version = self.version_as_of(aggregate_id, as_of)
        if version is None:
            raise AggregateNotFoundError(aggregate_id)
        return self.repository.get(aggregate_id, version=version)

    # --- helpers for subclasses -----------------------------------------------------
    def get(self, aggregate_id: uuid.UUID | str, kind: str = "record") -> Any:
        try:
            return self.repository.get(uuid.UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise NotFound(f"unknown {kind} {aggregate_id}") from exc

    def event_id(self, domain_event: Any) -> uuid.UUID:
        return event_id_for(self.service, domain_event.originator_id, domain_event.originator_version)


__all__ = [
    "CommandContext",
    "IdempotencyRecord",
    "IntegrityError",
    "SwpApplication",
    "event_meta",
    "fingerprint",
]
