"""Parked messages and what an operator does with them (issue 15, item 4).

Two things can park, each recorded as events in the service's own store (R-AUD-1), never edited:

- the **outbox relay** (shared/infra/outbox.py): an event that can never be published
  (:class:`~shared.infra.outbox.OutboxParking`);
- a **reaction** to an upstream event that failed ``SWP_REACTION_MAX_ATTEMPTS`` deliveries
  (:class:`ReactionParking`, one per consumer): the message is recorded with its error and acked,
  so the upstream consumer carries on with every other aggregate. Later messages of the same
  upstream aggregate are **held** behind it (recorded, acked, not applied): the aggregate's order
  is kept. A transient failure (the store or NATS unreachable, a concurrency race) never parks; a
  reaction waiting for an event not yet seen (:class:`~shared.infra.consumer.RetryLater`) parks
  only after ``RETRY_LATER_FACTOR`` times as many deliveries.

The operator (a province-wide ``province_admin`` token) lists them, **retries** one (the reaction
runs again, or the event is published again) or **skips** it with a reason; either releases what
was held behind it, in order. Each is an event (``ParkedRetried``, ``ParkedSkipped``,
``Released``, ``RetryFailed``) naming who and why: ``GET /<svc>/v1/ops/parked``,
``POST /<svc>/v1/ops/parked/{id}/retry|skip`` and ``swp ops parked``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, Tracking
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shared.envelope import Envelope
from shared.events import parse_event
from shared.infra import freshness
from shared.infra.auth import Principal, Role, require_roles
from shared.infra.outbox import OutboxParking, Unpublishable
from shared.infra.store import CommandContext, SwpApplication
from shared.rules import Conflict, NotFound
from shared.subjects import STREAM_NAME

log = logging.getLogger("swp.parking")

REACTION_PARKING_NS = uuid.UUID("5d0c1b7e-3a94-5f2e-8c61-7b2d9e4f0a13")
ERROR_TEXT_MAX = 500  # characters of an error's text kept with a parked message (the list route shows it)
RETRY_LATER_FACTOR = 6  # a reaction waiting for another event parks after this many times the attempts
RELEASE_ROUNDS = 1000  # bound on the steps one retry or skip takes (each is one message)
SHOWN = 20  # parked messages /health lists (their count is always given)

try:  # the drivers' own "cannot reach the database" errors, when they are not wrapped
    import psycopg

    _DRIVER_TRANSIENT: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
except ImportError:  # pragma: no cover - psycopg is a dependency
    _DRIVER_TRANSIENT = ()
TRANSIENT: tuple[type[BaseException], ...] = (
    IntegrityError, OperationalError, InterfaceError, sqlite3.OperationalError, ConnectionError, TimeoutError,
    *_DRIVER_TRANSIENT,
)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX]


class ReactionParking(Aggregate):
    """One consumer's parked and held upstream messages (active ones; the history is the events)."""

    @staticmethod
    def create_id(service: str, upstream: str) -> uuid.UUID:
        return uuid.uuid5(REACTION_PARKING_NS, f"reaction-parking:{service}:{upstream}")

    @event("Opened")
    def __init__(self, service: str, upstream: str) -> None:
        self.service = service
        self.upstream = upstream
        self.entries: list[dict[str, Any]] = []

    @event("Parked")
    def park(self, entry: dict[str, Any]) -> None:
        self.entries.append({**entry, "status": "parked"})

    @event("Held")
    def hold(self, entry: dict[str, Any]) -> None:
        self.entries.append({**entry, "status": "held"})

    @event("RetryFailed")
    def retry_failed(self, seq: int, error_kind: str, error: str, by: str) -> None:
        for e in self.entries:
            if e["seq"] == seq:
                e.update(status="parked", error_kind=error_kind, error=error, attempts=e.get("attempts", 0) + 1)

    @event("ParkedRetried")
    def retried(self, seq: int, by: str, reason: str) -> None:
        self._remove(seq)

    @event("ParkedSkipped")
    def skipped(self, seq: int, by: str, reason: str) -> None:
        self._remove(seq)

    @event("Released")
    def released(self, seq: int, by: str, reason: str) -> None:
        self._remove(seq)

    def _remove(self, seq: int) -> None:
        self.entries = [e for e in self.entries if e["seq"] != seq]

    def entry(self, seq: int) -> dict[str, Any] | None:
        return next((e for e in self.entries if e["seq"] == seq), None)

    def of_aggregate(self, aggregate_id: str) -> list[dict[str, Any]]:
        return sorted((e for e in self.entries if e["aggregate_id"] == aggregate_id), key=lambda e: e["seq"])


def apply_reaction(
    app: SwpApplication, envelope: Envelope, reaction: Callable[[Any], Any], ctx: CommandContext, parking: ReactionParking
) -> None:
    """Run ``reaction`` on the upstream event and record its events with the parking's change in
    one transaction: the message leaves the parking exactly when its reaction is recorded. (Its
    upstream position was recorded when it was parked or held, so a redelivery is recognised.)"""
    body = parse_event(envelope.service, envelope.event_type, envelope.data)
    if body is None:
        raise LookupError(f"no schema for {envelope.service}.{envelope.event_type}")
    ctx.reaction = True
    with app.command(ctx):
        produced = [p for p in (reaction(body) or ()) if p is not None]
        app.save(*produced, parking)


class ReactionParker:
    """Parks and holds the messages of one consumer (``<service>--<upstream>``); used by the
    consumer's handler (shared/infra/consumer.py) and by the operator routes."""

    def __init__(self, app: SwpApplication, upstream: str, tracking_name: str, reactions: dict[str, Any]) -> None:
        self.app = app
        self.upstream = upstream
        self.tracking_name = tracking_name
        self.reactions = reactions
        self.id = ReactionParking.create_id(app.service, upstream)
        self._cached: ReactionParking | None = None
        self._cached_version = 0
        self.parked_here = 0  # parked by this process (swp_consumer_parked)

    # --- the store's current parking (one indexed one-row read when nothing changed) ----------
    def current(self) -> ReactionParking:
        """The parking as the store has it now; read-only (shared by threads): change :meth:`fresh`.
        In a fresh-reads scope (shared/infra/freshness.py: the consumer's, one log read per message)
        no read at all while the log shows no change of it since it was last read."""
        fresh = freshness.active()
        cached = self._cached
        if fresh is not None and cached is not None and fresh.current(self.id, self._cached_version):
            return cached
        epoch = fresh.epoch_now() if fresh is not None else 0
        last = self.app.process_recorder.select_events(self.id, desc=True, limit=1)
        version = last[0].originator_version if last else 0
        if cached is None or version != self._cached_version:
            cached = self.fresh()
            self._cached, self._cached_version = cached, cached.version if version else 0
        if fresh is not None and version == self._cached_version:
            fresh.trust([(self.id, version)], epoch)
        return cached

    def fresh(self) -> ReactionParking:
        """A copy of the store's parking to change and save (optimistic concurrency: a save after
        another process changed it fails, and the caller decides again)."""
        try:
            found = self.app.repository.get(self.id)
        except AggregateNotFoundError:
            return ReactionParking(self.app.service, self.upstream)
        assert isinstance(found, ReactionParking)
        return found

    @staticmethod
    def _ctx(app: SwpApplication, envelope: Envelope) -> CommandContext:
        return CommandContext(
            county=envelope.county, actor=f"service:{app.service}", command_id=str(uuid.uuid4()),
            correlation_id=envelope.correlation_id, causation_id=str(envelope.event_id),
        )

    def _entry(self, envelope: Envelope, subject: str, seq: int) -> dict[str, Any]:
        return {
            "seq": seq, "subject": subject, "event_id": str(envelope.event_id), "event_type": envelope.event_type,
            "aggregate_id": str(envelope.aggregate_id), "county": envelope.county,
        }

    # --- the consumer's side (worker threads) ---------------------------------------------------
    def hold_if_blocked(self, envelope: Envelope, subject: str, seq: int) -> bool:
        """True when the message was held (or already was): its upstream aggregate has a parked
        message before it. Its order is kept: it is applied when that one is retried or skipped."""
        parking = self.current()
        aggregate = str(envelope.aggregate_id)
        if not any(e["aggregate_id"] == aggregate for e in parking.entries):
            return False
        if parking.entry(seq) is not None or self.app.is_processed(self.tracking_name, seq):
            return True  # a redelivery of what was held already, or applied
        parking = self.fresh()
        parking.hold(self._entry(envelope, subject, seq))
        # With the upstream position (a redelivery is recognised); a concurrent retry or skip makes
        # this conflict: the message is redelivered and decided again.
        with self.app.command(self._ctx(self.app, envelope)):
            self.app.record_reaction(Tracking(self.tracking_name, seq), parking)
        log.warning("%s--%s holds %s #%s behind a parked message of %s", self.app.service, self.upstream,
                    envelope.event_type, seq, aggregate)
        return True

    def park_if_exhausted(self, envelope: Envelope, subject: str, seq: int, delivered: int, exc: BaseException) -> bool:
        """Park the message if this failure is its last allowed one; True when parked."""
        from shared.infra.consumer import RetryLater

        if isinstance(exc, TRANSIENT):
            return False
        limit = max(int(getattr(self.app, "reaction_max_attempts", 5)), 1)
        if isinstance(exc, RetryLater):
            limit *= RETRY_LATER_FACTOR
        if delivered < limit:
            return False
        parking = self.fresh()
        if parking.entry(seq) is None and not self.app.is_processed(self.tracking_name, seq):
            parking.park({**self._entry(envelope, subject, seq), "error_kind": type(exc).__name__,
                          "error": error_text(exc), "attempts": delivered})
            with self.app.command(self._ctx(self.app, envelope)):
                self.app.record_reaction(Tracking(self.tracking_name, seq), parking)
            self.parked_here += 1
        log.error("%s--%s parked %s #%s after %s attempts: %s", self.app.service, self.upstream,
                  envelope.event_type, seq, delivered, error_text(exc))
        return True


# --- the operator's side --------------------------------------------------------------------------
def reaction_id(upstream: str, seq: int) -> str:
    return f"{upstream}-{seq}"


def outbox_id(position: int) -> str:
    return f"outbox-{position}"


def parse_id(parked_id: str) -> tuple[str, int]:
    source, _, number = parked_id.rpartition("-")
    if not source or not number.isdigit():
        raise NotFound(f"no parked message {parked_id}")
    return source, int(number)


def listing(runtime: Any) -> list[dict[str, Any]]:
    """Every parked or held message of the service: the outbox's, then each consumer's."""
    out: list[dict[str, Any]] = []
    try:  # read from the store: whichever process parked them, connected to NATS or not
        outbox = runtime.store.repository.get(OutboxParking.create_id(runtime.store.service)).parked
    except AggregateNotFoundError:
        outbox = []
    if outbox:
        for p in outbox:
            out.append({
                "id": outbox_id(p["position"]), "source": "outbox", "status": "waiting" if p["reason"] == "waiting" else "parked",
                "position": p["position"], "aggregate_id": p["aggregate_id"], "event_type": p["event_type"],
                "error_kind": p["reason"], "error": p["detail"],
            })
    for upstream, parker in sorted(runtime.store.reaction_parkers.items()):
        parking = parker.current()
        for e in sorted(parking.entries, key=lambda e: e["seq"]):
            out.append({
                "id": reaction_id(upstream, e["seq"]), "source": f"reaction:{upstream}", "status": e["status"],
                "position": e["seq"], "aggregate_id": e["aggregate_id"], "event_type": e["event_type"],
                "subject": e.get("subject"), "event_id": e.get("event_id"), "county": e.get("county"),
                "error_kind": e.get("error_kind"), "error": e.get("error"), "attempts": e.get("attempts"),
            })
    return out


async def _upstream_envelope(js: Any, seq: int) -> Envelope:
    try:
        msg = await js.get_msg(STREAM_NAME, seq)
    except Exception as exc:  # gone from the stream (retention), or NATS busy
        raise Conflict(f"stream message {seq} cannot be read ({type(exc).__name__}): skip it with a reason instead",
                       rule="R-AUD-5") from exc
    return Envelope.model_validate_json(msg.data)


def _operator_ctx(principal: Principal, county: str, causation: str | None, correlation: str) -> CommandContext:
    return CommandContext(county=county or "province", actor=principal.sub, correlation_id=correlation, causation_id=causation)


async def act_on_reaction(
    runtime: Any, upstream: str, seq: int, action: str, principal: Principal, reason: str
) -> dict[str, Any]:
    """Retry or skip one parked reaction, then release what was held behind it, in order."""
    parker: ReactionParker | None = runtime.store.reaction_parkers.get(upstream)
    if parker is None:
        raise NotFound(f"no parked message {reaction_id(upstream, seq)}")
    js = runtime.js()
    app = runtime.store
    outcome: dict[str, Any] = {"id": reaction_id(upstream, seq), "action": action, "outcome": None, "released": []}
    first = True
    for _ in range(RELEASE_ROUNDS):
        parking = await asyncio.to_thread(parker.fresh)
        if first:
            entry = parking.entry(seq)
            if entry is None:
                raise NotFound(f"no parked message {reaction_id(upstream, seq)}")
            head = parking.of_aggregate(entry["aggregate_id"])[0]
            if head["seq"] != seq:
                raise Conflict(f"{reaction_id(upstream, seq)} is held behind {reaction_id(upstream, head['seq'])} of the same "
                               "aggregate: retry or skip that one first", rule="R-AUD-5")
            aggregate = entry["aggregate_id"]
        else:
            queue = parking.of_aggregate(aggregate)
            if not queue or queue[0]["status"] != "held":
                break  # all released, or a follower failed and is parked now
            entry = queue[0]
        if first and action == "skip":
            ctx = _operator_ctx(principal, entry.get("county", ""), entry.get("event_id"), entry.get("event_id") or "")
            parking.skipped(entry["seq"], principal.sub, reason)

            def record_skip(ctx: CommandContext = ctx, parking: ReactionParking = parking) -> None:
                with app.command(ctx):
                    app.save(parking)

            try:
                await asyncio.to_thread(record_skip)
            except IntegrityError:
                continue  # the consumer changed the parking meanwhile: decide again
            outcome["outcome"] = "skipped"
            first = False
            continue
        if js is None:
            raise Conflict("NATS is not reachable: the upstream message cannot be read now", rule="R-AUD-5")
        envelope = await _upstream_envelope(js, entry["seq"])
        reaction = parker.reactions.get(envelope.event_type)
        ctx = _operator_ctx(principal, envelope.county, str(envelope.event_id), envelope.correlation_id)
        if first:
            parking.retried(entry["seq"], principal.sub, reason)
        else:
            parking.released(entry["seq"], principal.sub, f"after {outcome['id']} ({action}): {reason}")
        try:
            if reaction is None:
                raise LookupError(f"no reaction to {envelope.event_type}")
            await asyncio.to_thread(apply_reaction, app, envelope, reaction, ctx, parking)
        except IntegrityError:
            continue  # a concurrent change: read the parking again and decide again
        except Exception as exc:  # it fails again: recorded, stays parked (a follower becomes the parked one)
            failed = await asyncio.to_thread(parker.fresh)
            failed.retry_failed(entry["seq"], type(exc).__name__, error_text(exc), principal.sub)

            def record_failure(ctx: CommandContext = ctx, failed: ReactionParking = failed) -> None:
                with app.command(ctx):
                    app.save(failed)

            await asyncio.to_thread(record_failure)
            if first:
                outcome.update(outcome="failed", error_kind=type(exc).__name__, error=error_text(exc))
                return outcome
            outcome["parked_again"] = reaction_id(upstream, entry["seq"])
            break
        if first:
            outcome["outcome"] = "applied"
        else:
            outcome["released"].append(reaction_id(upstream, entry["seq"]))
        first = False
    return outcome


async def act_on_outbox(runtime: Any, position: int, action: str, principal: Principal, reason: str) -> dict[str, Any]:
    """Publish again (retry) or give up (skip) one parked outbox event, then publish what waited
    behind it, in order."""
    relay = runtime.relay
    if relay is None:
        raise Conflict("NATS is not reachable yet: the outbox cannot act now", rule="R-AUD-5")
    outcome: dict[str, Any] = {"id": outbox_id(position), "action": action, "outcome": None, "released": []}
    first = True
    aggregate = ""
    for _ in range(RELEASE_ROUNDS):
        parking = await asyncio.to_thread(relay.parking_fresh)
        if first:
            entry = next((p for p in parking.parked if p["position"] == position), None)
            if entry is None:
                raise NotFound(f"no parked message {outbox_id(position)}")
            aggregate = entry["aggregate_id"]
            head = parking.blocked.get(aggregate)
            if head != position:
                raise Conflict(f"{outbox_id(position)} waits behind {outbox_id(head or 0)} of the same aggregate: "
                               "retry or skip that one first", rule="R-AUD-5")
        else:
            queue = [p for p in parking.parked if p["aggregate_id"] == aggregate]
            if not queue or queue[0]["reason"] != "waiting":
                break
            entry = queue[0]
        ctx = _operator_ctx(principal, "province", None, "")
        if first and action == "skip":
            parking.skipped(entry["position"], principal.sub, reason)
        else:
            try:
                await relay.republish(entry["position"])
            except Unpublishable as exc:  # still cannot be published: recorded, stays parked
                kind, detail = exc.reason, exc.detail
                parking.retry_failed(entry["position"], kind, detail[:ERROR_TEXT_MAX], principal.sub)
                try:
                    await asyncio.to_thread(relay.save_parking, parking, ctx)
                except IntegrityError:
                    continue
                if first:
                    outcome.update(outcome="failed", error_kind=kind, error=detail[:ERROR_TEXT_MAX])
                    return outcome
                outcome["parked_again"] = outbox_id(entry["position"])
                break
            if first:
                parking.retried(entry["position"], principal.sub, reason)
            else:
                parking.released(entry["position"], principal.sub, f"after {outcome['id']} ({action}): {reason}")
        try:
            await asyncio.to_thread(relay.save_parking, parking, ctx)
        except IntegrityError:
            continue  # the relay parked more meanwhile: read again (a re-sent event is dropped by JetStream)
        if first:
            outcome["outcome"] = "skipped" if action == "skip" else "published"
        else:
            outcome["released"].append(outbox_id(entry["position"]))
        first = False
    relay.poke()
    return outcome


# --- routes ---------------------------------------------------------------------------------------
Operator = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN, province_wide=True))]


IdPath = Annotated[str, Path(max_length=80, pattern=r"^[a-z-]{1,40}-\d{1,15}$", description="`outbox-<position>` or `<upstream>-<stream sequence>`")]


class ParkedAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000, description="Why (recorded with the operator's name, R-AUD-1)")


def parked_router() -> APIRouter:
    router = APIRouter(prefix="/v1/ops", tags=["operations"])

    @router.get("/parked", response_model=dict[str, Any])
    async def list_parked(
        request: Request,
        principal: Operator,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """What this service parked: outbox events it could not publish (`source: outbox`, the
        later events of their aggregate `waiting`) and upstream messages whose reaction failed
        `SWP_REACTION_MAX_ATTEMPTS` times (`source: reaction:<upstream>`, the later messages of
        their upstream aggregate `held`). Paged (`offset`, `limit`); `total` counts them all.
        A province-wide province_admin token only."""
        runtime = request.app.state.runtime
        items = await asyncio.to_thread(listing, runtime)
        return {"total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit]}

    async def act(request: Request, parked_id: str, action: str, principal: Principal, body: ParkedAction) -> dict[str, Any]:
        runtime = request.app.state.runtime
        source, number = parse_id(parked_id)
        if source == "outbox":
            return await act_on_outbox(runtime, number, action, principal, body.reason)
        return await act_on_reaction(runtime, source, number, action, principal, body.reason)

    @router.post("/parked/{parked_id}/retry", response_model=dict[str, Any])
    async def retry_parked(request: Request, parked_id: IdPath, body: ParkedAction, principal: Operator) -> dict[str, Any]:
        """Run the parked reaction again (its upstream message read from the stream), or publish
        the parked outbox event again; on success the messages held behind it are applied (or
        published) in order. Recorded as `ParkedRetried` (who, why) and `Released`; a retry that
        fails again is recorded as `RetryFailed` and answers `outcome: failed`."""
        return await act(request, parked_id, "retry", principal, body)

    @router.post("/parked/{parked_id}/skip", response_model=dict[str, Any])
    async def skip_parked(request: Request, parked_id: IdPath, body: ParkedAction, principal: Operator) -> dict[str, Any]:
        """Give up on a parked message with a reason, recorded as `ParkedSkipped` (who, why): the
        reaction is never applied (or the event never published); the messages held behind it are
        then applied (or published) in order."""
        return await act(request, parked_id, "skip", principal, body)

    return router


def health_view(runtime: Any, store_ok: bool) -> dict[str, Any]:
    """The reactions part of /health: counts and the first parked ids, no error text."""
    if not store_ok:
        return {"parked_count": None, "held_count": None, "parked": []}
    entries: list[dict[str, Any]] = []
    for upstream, parker in sorted(runtime.store.reaction_parkers.items()):
        for e in sorted(parker.current().entries, key=lambda e: e["seq"]):
            entries.append({"id": reaction_id(upstream, e["seq"]), "upstream": upstream, "seq": e["seq"],
                            "aggregate_id": e["aggregate_id"], "event_type": e["event_type"], "status": e["status"],
                            "error_kind": e.get("error_kind")})
    parked = [e for e in entries if e["status"] == "parked"]
    return {"parked_count": len(parked), "held_count": len(entries) - len(parked), "parked": entries[:SHOWN]}
