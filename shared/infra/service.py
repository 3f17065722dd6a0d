"""Composition of one service process: event store + HTTP API + NATS (relay and consumers).

``create_service_app(spec, settings)`` is each service's composition root. Nothing
connects at import time; the lifespan opens the store, then keeps trying to reach
NATS in the background, so the HTTP API (and the store, the source of truth) is up
even while NATS is not — ``/health`` says which part is missing.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import nats
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from faststream.nats import JStream, NatsBroker, NatsUserPassword
from faststream.nats.security import NatsSecurity
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import create_model

from shared import clock
from shared.envelope import Envelope
from shared.events import IntegrationEvent
from shared.events.tree_head import TreeHeadSigned
from shared.infra import hardening, memory, pinning, problems, telemetry
from shared.infra.audit import TREE_HEAD_EVENT, ChainSealer, TreeHeadPublisher, audit_router, tree_head_subject
from shared.infra.auth import OwnerLookup, Owns, Role, require_roles
from shared.infra.commands import COMMAND_RETRIES as COMMAND_RETRIES  # re-exported
from shared.infra.commands import execute
from shared.infra.consumer import ConsumerStats, PartitionShare, partitioning
from shared.infra.leader import Election, leader_lock
from shared.infra.nats import ensure_stream, swp_stream
from shared.infra.outbox import CAUSATION_HEADER, CORRELATION_HEADER, PARKED_SHOWN, OutboxRelay, ToIntegration
from shared.infra.parking import health_view as reactions_health
from shared.infra.parking import parked_router
from shared.infra.published import PublicMapper
from shared.infra.settings import Settings
from shared.infra.store import SwpApplication
from shared.rules import RuleViolation
from shared.subjects import STREAM_NAME

log = logging.getLogger("swp.service")

# Given the service's composition (``ServiceSpec.compose``; the store when it has none).
WireConsumers = Callable[[NatsBroker, Any, JStream], dict[str, ConsumerStats]]


@dataclass
class ServiceSpec:
    name: str  # registry | services-log | evaluation | finance
    title: str
    description: str
    application: Callable[[dict[str, str]], SwpApplication]
    to_integration: ToIntegration
    routers: list[APIRouter]
    published: list[type[IntegrationEvent]] = field(default_factory=list)
    consumers: WireConsumers | None = None
    version: str = "0.1.0"
    # Who owns the resources its routes name (R-AUD-6): used by county_scope(..., owns=…).
    owners: dict[Owns, OwnerLookup] = field(default_factory=dict)
    # Work the service does without a request, every ``Settings.sweep_seconds`` (R-REG-5 filing
    # overdue …): each takes the service (its composition, else the store), runs in a worker thread, and must bound its own work.
    sweeps: list[Callable[[Any], Any]] = field(default_factory=list)
    # The service's composition around its persistence Application: command, reaction and query
    # objects with narrow interfaces (issue 15 item 1). What it returns is what the consumers are
    # wired to and what routes reach as ``request.app.state.service``; None: the store itself.
    compose: Callable[[SwpApplication], Any] | None = None
    # What the audit as-of read (``GET …/audit/aggregates/{id}``, auditors and province admins) shows
    # of an aggregate's state: ``(aggregate, state) -> state`` with the fields the service withholds
    # from those roles in its own reads left out (R-LOG-5); None: the whole state.
    audit_state: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None


class Runtime:
    """What the lifespan owns; reachable from routes as ``request.app.state.runtime``."""

    def __init__(self, spec: ServiceSpec, settings: Settings, store: SwpApplication) -> None:
        self.spec = spec
        self.settings = settings
        self.store = store
        self.service: Any = spec.compose(store) if spec.compose else store
        self.broker = make_broker(spec, settings)
        self.stream = swp_stream(settings.stream_replicas, declare=False)
        with partitioning(settings.consumer_partitions, settings.consumer_batch):
            self.consumers: dict[str, ConsumerStats] = (
                spec.consumers(self.broker, self.service, self.stream) if spec.consumers else {}
            )
        self.nc: Any = None
        self.relay: OutboxRelay | None = None
        self.broker_started = False
        self._task: asyncio.Task[None] | None = None
        self.sealer = ChainSealer(store)
        self._seal_wake = asyncio.Event()
        self.tree_heads = TreeHeadPublisher(store, self.sealer, settings)
        self._tree_head_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._sweep_lock = threading.Lock()  # held while a sweep runs: the store closes after it
        self._lead_task: asyncio.Task[None] | None = None
        self._puller_tasks: list[asyncio.Task[None]] = []  # batched consumers (SWP_CONSUMER_BATCH > 1)
        # One relay and one sealer per store, whatever the number of processes (leader.py): one
        # election (one lock, one held connection per process) for both jobs; the leader seals
        # at once and relays as soon as NATS is reachable.
        env = settings.eventsourcing_env(spec.name)
        retry = settings.leader_retry_seconds
        self.election = Election("leader", leader_lock(env, spec.name, "leader"), retry_seconds=retry, check_seconds=retry)
        self._nats_ready = asyncio.Event()
        self._relaying = False
        # Refreshed on each scrape of /metrics (values that need I/O: store, JetStream).
        self.metrics_snapshot: dict[str, Any] = {}

    def leadership(self) -> dict[str, bool]:
        """Which store-wide roles this process runs now (one process per store runs each)."""
        return {"relay": self.election.leading and self._relaying, "sealer": self.election.leading}

    async def _lead(self) -> None:
        """What the leader of the store runs until it steps down: the sealer, and the relay once
        NATS is reachable."""
        sealing = asyncio.create_task(self.sealer.run(self._seal_wake, self.settings.relay_poll_seconds * 2))
        try:
            await self._nats_ready.wait()
            assert self.relay is not None
            self.relay.start()
            self._relaying = True
            try:
                assert self.relay._task is not None
                await self.relay._task
            finally:
                self._relaying = False
                await self.relay.stop()
        finally:
            sealing.cancel()
            try:
                await sealing
            except asyncio.CancelledError:
                pass

    async def refresh_metrics(self) -> None:
        """Outbox backlog (store head − relay position) and each consumer's lag on JetStream."""
        snapshot: dict[str, Any] = {}
        try:
            head = await asyncio.to_thread(self.store.process_recorder.max_notification_id) or 0
            position = await asyncio.to_thread(self.store.process_recorder.max_tracking_id, SwpApplication.OUTBOX) or 0
            snapshot["outbox_backlog"] = max(head - position, 0)
        except Exception as exc:  # a scrape reports what it can
            log.info("metrics: store unreadable: %s", exc)
        lags: dict[str, int] = {}
        if self.nc is not None and self.nc.is_connected:
            js = self.nc.jetstream()
            for name, stats in self.consumers.items():
                # Partitions each read the whole upstream: the lag is the furthest behind.
                for durable in stats.durables or [f"{self.spec.name}--{name}"]:
                    try:
                        info = await asyncio.wait_for(js.consumer_info(STREAM_NAME, durable), timeout=2)
                        lag = (info.num_pending or 0) + (info.num_ack_pending or 0)
                        lags[name] = max(lags.get(name, 0), lag)
                    except Exception as exc:  # not created yet, NATS busy
                        log.info("metrics: no lag for %s: %s", durable, exc)
        snapshot["consumer_lag"] = lags
        try:  # what is parked, from the store (whichever process parked it)
            relay_parked = await asyncio.to_thread(self.relay.parked, from_store=True) if self.relay else []
            reactions = await asyncio.to_thread(reactions_health, self, True)
            snapshot["parked"] = {
                ("outbox", "parked"): sum(1 for p in relay_parked if p["reason"] != "waiting"),
                ("outbox", "waiting"): sum(1 for p in relay_parked if p["reason"] == "waiting"),
                ("reactions", "parked"): reactions["parked_count"],
                ("reactions", "held"): reactions["held_count"],
            }
        except Exception as exc:
            log.info("metrics: parked messages unreadable: %s", exc)
        self.metrics_snapshot = snapshot

    def js(self) -> Any:
        """The JetStream context of the relay's connection, or None while NATS is unreachable."""
        return self.nc.jetstream() if self.nc is not None and self.nc.is_connected else None

    def _leader_js(self) -> Any:
        """:meth:`js` while this process leads the store, else None (a follower publishes no heads)."""
        return self.js() if self.election.leading else None

    async def _connect(self) -> None:
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    **self.settings.nats_options(),
                    name=f"swp-{self.spec.name}-relay",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                )
                js = self.nc.jetstream()
                await ensure_stream(js, self.settings.stream_replicas)
                self.relay = OutboxRelay(
                    self.store,
                    js,
                    self.spec.to_integration,
                    batch=self.settings.relay_batch,
                    poll_seconds=self.settings.relay_poll_seconds,
                    pace_seconds=self.settings.relay_pace_seconds,
                    max_payload=lambda: int(self.nc.max_payload),
                )
                self._nats_ready.set()
                await self.broker.start()
                self.broker_started = True
                self._start_pullers()
                log.info("%s connected to NATS at %s", self.spec.name, self.settings.nats_url)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s cannot reach NATS yet (%s); retrying", self.spec.name, exc)
                if self.nc is not None and self.relay is None:
                    await self.nc.close()
                    self.nc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _start_pullers(self) -> None:
        """Batched consumers pull on this connection, each while this process owns its partition
        (one store lock per durable consumer, like the leader's: shared/infra/consumer.py)."""
        env = self.settings.eventsourcing_env(self.spec.name)
        loop = asyncio.get_running_loop()
        retry = self.settings.leader_retry_seconds
        for stats in self.consumers.values():
            # The store's leader (relay and sealer) leaves the partitions to another process at first.
            share = PartitionShare(grace=retry, busy=lambda: int(self.election.leading))
            for puller in stats.pullers:
                lock = leader_lock(env, self.spec.name, f"consumer-{puller.durable}")
                self._puller_tasks.append(loop.create_task(
                    puller.run(self.nc.jetstream(), lock, retry, share), name=f"pull-{puller.durable}",
                ))

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        memory.start_guard(self.settings.memory_budget_mb)  # one per process, whatever the services in it
        self._lead_task = loop.create_task(self.election.run(self._lead), name=f"elect-{self.spec.name}")
        self.store.add_listener(lambda: loop.call_soon_threadsafe(self._seal_wake.set))
        self._task = asyncio.get_running_loop().create_task(self._connect(), name=f"connect-{self.spec.name}")
        self._tree_head_task = loop.create_task(
            # Only the process that leads the store publishes its tree heads (one head stream per log).
            self.tree_heads.run(self._leader_js, self.settings.tree_head_interval_seconds), name=f"tree-heads-{self.spec.name}"
        )
        if self.spec.sweeps and self.settings.sweep_seconds > 0:
            self._sweep_task = loop.create_task(self._sweep_forever(), name=f"sweep-{self.spec.name}")
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=self.settings.nats_startup_wait_seconds)
        except TimeoutError:
            log.warning("%s starts without NATS; events stay in its outbox until NATS is reachable", self.spec.name)

    async def _sweep_forever(self) -> None:
        while True:
            for sweep in self.spec.sweeps:
                try:
                    await asyncio.to_thread(self._sweep_once, sweep)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a failed sweep is retried at the next one
                    log.exception("%s: sweep %s failed", self.spec.name, getattr(sweep, "__name__", sweep))
            await asyncio.sleep(self.settings.sweep_seconds)

    def _sweep_once(self, sweep: Callable[[SwpApplication], Any]) -> None:
        with self._sweep_lock:
            sweep(self.service)

    async def stop(self) -> None:
        for stats in self.consumers.values():
            for puller in stats.pullers:
                puller.stop()  # a batch retrying in its thread gives up (left to the next owner)
        for task in (self._task, self._lead_task, self._tree_head_task, self._sweep_task, *self._puller_tasks):
            if task and not task.done():
                task.cancel()
        for task in (self._lead_task, *self._puller_tasks):  # step down: release the leader and partition locks
            if task:
                try:
                    await asyncio.wait_for(task, timeout=10)
                except BaseException as exc:  # cancelled (expected) or stuck: carry on
                    if not isinstance(exc, asyncio.CancelledError):
                        log.warning("%s: stepping down failed: %s", self.spec.name, exc)
        # Each step is bounded: a stuck connection must not keep the process from exiting.
        steps = []
        if self.relay:
            steps.append(("relay", self.relay.stop()))
        if self.broker_started:
            steps.append(("broker", self.broker.stop()))
        if self.nc is not None:
            steps.append(("nats", self.nc.close()))
        steps.append(("store", asyncio.to_thread(self._close_store_when_idle)))
        for name, step in steps:
            try:
                await asyncio.wait_for(step, timeout=10)
            except Exception as exc:  # shutting down: report and carry on
                log.warning("%s: stopping %s failed: %s", self.spec.name, name, exc)

    def _close_store_when_idle(self) -> None:
        # Background threads (sealer, relay) may still be inside a query: wait for them.
        locks = [self.sealer._lock, self._sweep_lock] + ([self.relay.db_lock] if self.relay else [])
        held = [lock for lock in locks if lock.acquire(timeout=8)]
        try:
            self.store.close()
        finally:
            for lock in held:
                lock.release()

    def nats_ok(self) -> bool:
        return bool(self.nc is not None and self.nc.is_connected and self.broker_started)


def make_broker(spec: ServiceSpec, settings: Settings) -> NatsBroker:
    tls = settings.nats_tls_context()
    security: NatsSecurity | None = None
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        security = NatsUserPassword(settings.nats_user, password, ssl_context=tls)
    elif tls is not None:
        security = NatsSecurity(ssl_context=tls)
    broker = NatsBroker(
        settings.nats_servers,
        security=security,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        name=f"swp-{spec.name}",
        # Per-message access logs at DEBUG: at INFO they would drown a busy service's log.
        log_level=logging.DEBUG,
    )
    for cls in spec.published:
        documented = create_model(f"{cls.event_type}Envelope", __base__=Envelope, data=(cls, ...))
        broker.publisher(
            f"swp.{{county}}.{spec.name}.{cls.event_type}",
            schema=documented,
            title=cls.event_type,
            description=f"{cls.summary} (schema version {cls.schema_version}; envelope per R-AUD-1; "
            f"headers Nats-Msg-Id = event_id, {CORRELATION_HEADER}, {CAUSATION_HEADER}; header traceparent (W3C trace "
            f"context) when the recording request or reaction was traced)",
        )
    broker.publisher(
        tree_head_subject(spec.name),
        schema=TreeHeadSigned,
        title=TREE_HEAD_EVENT,
        description=f"The service's signed tree head (R-AUD-4), every SWP_TREE_HEAD_INTERVAL_SECONDS when the log "
        f"has grown and on POST /{spec.name}/v1/audit/tree-heads; one national subject (a head commits to the "
        f"whole log). Not enveloped: the message is the signed head. Header Nats-Msg-Id = SHA-256 of the message.",
    )
    return broker


EVENT_HEADERS = {
    "type": "object",
    "description": "NATS headers of every event message (shared/infra/outbox.py)",
    "required": ["Nats-Msg-Id", CORRELATION_HEADER, CAUSATION_HEADER],
    "properties": {
        "Nats-Msg-Id": {"type": "string", "format": "uuid", "description": "The envelope's event_id"},
        CORRELATION_HEADER: {
            "type": "string",
            "description": "The envelope's correlation_id: the business process the event belongs to (R-AUD-1)",
        },
        CAUSATION_HEADER: {
            "type": "string",
            "description": "The envelope's causation_id (the event that caused this one) or, for an event a "
            "person's command recorded, its command_id",
        },
        "Content-Type": {"type": "string", "const": "application/json"},
    },
}
TREE_HEAD_HEADERS = {
    "type": "object",
    "required": ["Nats-Msg-Id"],
    "properties": {
        "Nats-Msg-Id": {"type": "string", "description": "SHA-256 (hex) of the signed head's canonical JSON"},
        "Content-Type": {"type": "string", "const": "application/json"},
    },
}


def asyncapi_document(runtime: Runtime) -> dict[str, Any]:
    spec = runtime.spec
    doc = AsyncAPI(
        runtime.broker,
        title=f"{spec.title} events",
        version=spec.version,
        description=f"{spec.description}\n\nStream `SWP`, subjects `swp.<county>.<service>.<EventType>` (R-AUD-5); "
        "`<county>` is the 6-digit division code, or `province` for province-wide facts that belong to no county "
        "(rubrics, programmes, the official working-day calendars: `swp.province.finance.CalendarLoaded`).",
        schema_version="3.0.0",
    ).to_specification()
    document = doc.to_jsonable()
    # faststream documents payloads only: the headers every message carries are added here.
    tree_head_channel = tree_head_subject(spec.name)
    channels = document.get("channels", {})
    for channel in channels.values():
        if channel.get("address") == tree_head_channel:
            refs = {m.get("$ref", "").rsplit("/", 1)[-1] for m in channel.get("messages", {}).values()}
            break
    else:
        refs = set()
    for name, message in document.get("components", {}).get("messages", {}).items():
        if name in refs:
            message["headers"] = TREE_HEAD_HEADERS
            message.pop("correlationId", None)  # a tree head belongs to no business process
        elif any(name == m.get("$ref", "").rsplit("/", 1)[-1] for c in channels.values() for m in c.get("messages", {}).values()
                 if c.get("address", "").startswith("swp.{county}.")):
            message["headers"] = EVENT_HEADERS
            # faststream's default points at a header named correlation_id; ours is X-Correlation-Id.
            message["correlationId"] = {
                "location": f"$message.header#/{CORRELATION_HEADER}",
                "description": "The envelope's correlation_id, also in the body",
            }
    return document


def redact(url: str) -> str:
    """Health needs no token: never show credentials embedded in a NATS URL."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


class CommandRequest(tuple[str | None, str | None]):
    """``(Idempotency-Key, correlation id)`` of a command, and what it was sent to: the route and
    its path parameters. A key reused on another route or another resource (another worker,
    contract, evaluation …) is another request, refused with 409 — never answered with the
    first resource's result."""

    target: dict[str, Any]

    def __new__(cls, key: str | None, correlation: str | None, target: dict[str, Any] | None = None) -> CommandRequest:
        request = super().__new__(cls, (key, correlation))
        request.target = target or {}
        return request


async def command_context(  # async: reads two headers, no I/O — no worker-thread hop
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="Repeat-safe key: a repeat by the same caller returns the first result and records nothing new; the key used by another caller or for another request is 409"),
    ] = None,
    correlation_id: Annotated[
        str | None, Header(alias="X-Correlation-Id", max_length=200, description="Ties this command to a wider business process (R-AUD-1)")
    ] = None,
) -> CommandRequest:
    route = getattr(request.scope.get("route"), "path_format", None) or request.url.path
    target = {"method": request.method, "route": route, "params": dict(request.path_params)}
    return CommandRequest(idempotency_key, correlation_id, target)


CommandHeaders = Annotated[CommandRequest, Depends(command_context)]


# Run a command in its R-AUD-1 context, honouring ``Idempotency-Key`` and re-running it after a lost
# optimistic-concurrency race: the one pipeline of :mod:`shared.infra.commands`, for the routes not
# yet stated as typed commands on a :class:`~shared.infra.commands.CommandBus`.
run_command = execute


def prepare_store(settings: Settings, service: str) -> None:
    """PostgreSQL: the database and the service's own schema must exist before eventsourcing
    creates its tables (it creates tables, not databases or schemas)."""
    if settings.persistence != "postgres":
        return
    import psycopg
    from psycopg import sql

    params = {
        "host": settings.postgres_host,
        "port": settings.postgres_port,
        "user": settings.postgres_user,
        "password": settings.postgres_password.get_secret_value(),
        "autocommit": True,
        "connect_timeout": 5,
    }
    try:
        conn = psycopg.connect(dbname=settings.postgres_dbname, **params)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        with psycopg.connect(dbname="postgres", **params) as admin:
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres_dbname)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another service created it first
        conn = psycopg.connect(dbname=settings.postgres_dbname, **params)
    with conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.schema_for(service))))
        except psycopg.errors.UniqueViolation:
            pass  # another process of the service created it at the same moment (IF NOT EXISTS is not atomic)


ENVELOPE_ALLOWANCE = 2048  # bytes the envelope and NATS headers add to an event's data


def publish_check(spec: ServiceSpec, settings: Settings) -> Callable[[Any], None]:
    """Refuse, before anything is saved, an event no NATS server of this deployment would carry
    (issue 15): 422 naming R-AUD-5 instead of an outbox that cannot publish it."""
    limit = settings.max_event_bytes

    def check(domain_event: Any, body: Any = ...) -> None:
        if body is ...:  # not mapped by the store already
            body = spec.to_integration(domain_event)
        if body is None:
            return
        size = len(body.model_dump_json().encode()) + ENVELOPE_ALLOWANCE
        if size > limit:
            raise RuleViolation(
                f"this command would record a {body.event_type} event of about {size} bytes; events are published on "
                f"NATS, which carries at most {limit} (事件过大，无法发布): make the request smaller",
                rule="R-AUD-5",
                facts={"code": "event_too_large"},
            )

    return check
@contextmanager
def creating_tables(settings: Settings, service: str) -> Iterator[None]:
    """PostgreSQL: several processes of a service starting together would race to create its
    tables (``CREATE TABLE IF NOT EXISTS`` is not safe concurrently): one at a time."""
    if settings.persistence != "postgres":
        yield
        return
    import psycopg

    from shared.infra.leader import lock_key

    with psycopg.connect(
        host=settings.postgres_host, port=settings.postgres_port, user=settings.postgres_user,
        password=settings.postgres_password.get_secret_value(), dbname=settings.postgres_dbname,
        autocommit=True, connect_timeout=5,
    ) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(settings.schema_for(service), "create-tables"),))
        yield  # the session's end releases the lock


def open_store(spec: ServiceSpec, settings: Settings) -> SwpApplication:
    prepare_store(settings, spec.name)
    with creating_tables(settings, spec.name):
        store = spec.application(settings.eventsourcing_env(spec.name))
        # The sealer's chain table too (ChainSealer opens it later, outside this lock): two
        # processes starting together raced on it (duplicate pg_type "<schema>_chain").
        store.factory.aggregate_recorder(purpose="chain")
    store.use_signing_key(settings.audit_key(spec.name), key_ring=lambda key_id: settings.stored_audit_key(spec.name, key_id))
    store.publish_check = publish_check(spec, settings)
    # Each event's public bytes are fixed when it is saved (issue 16 item 3).
    store.public_mapper = PublicMapper(store, spec.to_integration)
    store.reaction_max_attempts = settings.reaction_max_attempts
    return store


DOCS_ASSETS = Path(__file__).with_name("docs_assets")


def install_local_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts and styles served by the service
    itself from ``docs-assets/`` (vendored swagger-ui-dist and redoc, licences beside them): no
    page references another host, as government intranets usually block public CDNs. Swagger UI
    is started by ``swagger-init.js`` (the OpenAPI URL in a data attribute), not an inline script,
    so these pages run under the same ``script-src 'self'`` policy as every other page
    (``hardening.HTML_CSP``)."""
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = html.escape(request.scope.get("root_path", "").rstrip("/"), quote=True)
        openapi = html.escape(f"{root}{app.openapi_url}", quote=True)
        title = html.escape(f"{app.title} - Swagger UI")
        return HTMLResponse(
            "<!DOCTYPE html>\n<html>\n<head>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f'<link type="text/css" rel="stylesheet" href="{root}/docs-assets/swagger-ui.css">\n'
            f'<link rel="shortcut icon" href="{root}/docs-assets/favicon-32x32.png">\n'
            f"<title>{title}</title>\n</head>\n<body>\n"
            f'<div id="swagger-ui" data-openapi-url="{openapi}"></div>\n'
            f'<script src="{root}/docs-assets/swagger-ui-bundle.js"></script>\n'
            f'<script src="{root}/docs-assets/swagger-init.js"></script>\n'
            "</body>\n</html>\n"
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/docs-assets/favicon-32x32.png",
            with_google_fonts=False,
        )


# /metrics: the province's operators (province_admin), or anyone when SWP_METRICS_PUBLIC (a
# scraper inside the cluster network) — declared like every route's access (docs/ACCESS.md).
metrics_access = require_roles(Role.PROVINCE_ADMIN, public_setting="metrics_public")


def _live_instant(app: FastAPI) -> datetime:
    """What a live read starting now reflects (R-AUD-3): now, or just before a save of the store
    still in flight (before the store is open: now)."""
    store = getattr(app.state, "store", None)
    return store.stamp_order.settled() if store is not None else clock.now()


def create_service_app(spec: ServiceSpec, settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await asyncio.to_thread(open_store, spec, settings)
        runtime = Runtime(spec, settings, store)
        app.state.runtime = runtime
        collector = telemetry.RuntimeCollector(runtime)
        metrics.registry.register(collector)
        app.state.store = store
        app.state.service = runtime.service
        await runtime.start()
        try:
            yield
        finally:
            metrics.registry.unregister(collector)
            await runtime.stop()

    app = FastAPI(
        title=spec.title,
        version=spec.version,
        description=spec.description,
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.owners = spec.owners
    metrics = telemetry.ServiceMetrics(spec.name)
    app.state.metrics = metrics
    app.add_middleware(telemetry.RequestMetrics, metrics=metrics)
    install_local_docs(app)
    problems.install(app)
    pinning.install(app, live_instant=lambda: _live_instant(app))
    app.add_middleware(
        hardening.RequestLimits, max_json_bytes=settings.max_json_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(hardening.SecurityHeaders)

    @app.get(
        "/health",
        tags=["operations"],
        summary="Store and NATS reachability",
        responses={
            200: {"description": "Store and NATS reachable, nothing parked"},
            503: {"description": "Store or NATS unreachable, or a message parked (by the outbox or a reaction); the body says which"},
        },
    )
    async def health(request: Request) -> JSONResponse:
        """200 when the event store and NATS are reachable and the outbox has parked nothing, 503
        otherwise; the body says which component, and the positions of parked events (an event that
        can never be published, and the later events of its aggregate waiting behind it), and of
        parked reactions (an upstream message whose reaction failed `SWP_REACTION_MAX_ATTEMPTS`
        deliveries, and the later messages of its upstream aggregate held behind it). An operator
        retries or skips them: `GET /<svc>/v1/ops/parked`."""
        runtime: Runtime = request.app.state.runtime
        try:
            head = await asyncio.to_thread(runtime.store.process_recorder.max_notification_id)
            position = await asyncio.to_thread(runtime.relay.position) if runtime.relay else None
            store_ok, store_error = True, None
        except Exception as exc:  # the point of a health check; the text goes to the log only
            log.warning("%s: store unreachable: %s", spec.name, exc)
            head, position, store_ok, store_error = None, None, False, "unreachable"
        nats_ok = runtime.nats_ok()
        # Whichever process answers: the leader's relay knows what it parked; another process reads
        # the parked events from the store they share.
        leading = runtime.leadership()["relay"]
        parked = (await asyncio.to_thread(runtime.relay.parked, from_store=not leading)) if runtime.relay and store_ok else []
        try:
            reactions = await asyncio.to_thread(reactions_health, runtime, store_ok)
        except Exception as exc:  # the store went away meanwhile
            log.warning("%s: parked reactions unreadable: %s", spec.name, exc)
            store_ok, store_error = False, "unreachable"
            reactions = reactions_health(runtime, False)
        healthy = store_ok and nats_ok and not parked and not reactions["parked_count"] and not reactions["held_count"]
        body = {
            "service": spec.name,
            "status": "ok" if healthy else "stalled" if store_ok and nats_ok else "unavailable",
            "store": {"ok": store_ok, "persistence": settings.persistence, "head": head, "error": store_error},
            "nats": {"ok": nats_ok, "url": redact(settings.nats_url)},
            "outbox": {
                "position": position,
                "pending": (head or 0) - (position or 0) if store_ok else None,
                "last_error": runtime.relay.last_error if runtime.relay else "not connected",
                # Events that can never be published (issue 15): position, aggregate, type and reason.
                "parked_count": len(parked),
                "parked": [{k: p[k] for k in ("position", "aggregate_id", "event_type", "reason")} for p in parked[:PARKED_SHOWN]],
            },
            "consumers": {name: stats.view() for name, stats in runtime.consumers.items()},
            # Upstream messages whose reaction failed SWP_REACTION_MAX_ATTEMPTS times, and those held
            # behind them (issue 15): ids for GET /<svc>/v1/ops/parked, no error text.
            "reactions": reactions,
            "leader": runtime.leadership(),
            "tree_heads": {
                "published": runtime.tree_heads.published,
                "last_size": runtime.tree_heads.last_size,
                "last_error": runtime.tree_heads.last_error,
            },
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics of this service process",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
        dependencies=[Depends(metrics_access)],
    )
    async def metrics_route(request: Request) -> Response:
        """Request latency per route template (`swp_http_request_duration_seconds`), outbox backlog
        (`swp_outbox_backlog`), consumer lag and counters (`swp_consumer_*`), which store-wide roles
        this process leads (`swp_leader{role="relay"|"sealer"}`) and aggregate-cache hits/misses.
        Per process: with several replicas, scrape each. Needs a `province_admin` token unless the
        deployment sets `SWP_METRICS_PUBLIC=true` (a scraper inside the cluster network)."""
        await request.app.state.runtime.refresh_metrics()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi.json", tags=["operations"], summary="AsyncAPI 3.0 document of this service's events")
    async def asyncapi(request: Request) -> JSONResponse:
        """Every event this service publishes (with its versioned schema) and every subscription."""
        return JSONResponse(asyncapi_document(request.app.state.runtime))

    for router in spec.routers:
        app.include_router(router)
    app.include_router(audit_router())
    app.include_router(parked_router())
    return app
