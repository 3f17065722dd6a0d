"""The work the rules require, done raw: a lower bound for issue 16's POST and bulk targets.

Nothing of the platform: plain ``sqlite3`` / psycopg, ``cryptography``'s Ed25519, ``hashlib`` and
nats-py, one process, no HTTP. What each unit does is what the platform records for it (shapes and
sizes copied from a delivery the platform stored: its five services-log events 0.5–1.1 kB each,
public rows 0.6–0.95 kB, evaluation's reaction 0.8 kB):

- **one delivery** (what ``POST …/deliveries`` sets off): services-log's five events (the delivery,
  the ledger's tally and progress, the contract's index page, the worker's timesheet), each
  encoded canonically (sorted keys) and signed with Ed25519 over ``id\\nversion\\ntopic\\n`` + the
  bytes (R-AUD-4), stored in **one transaction** with its public row (issue 16 item 3) and its
  hash-chain link (R-AUD-4: ``sha256`` digest and link, kept in the same transaction instead of a
  sealer's); the two public ones (``ServiceDelivered``, ``IndicatorProgressed``) published to a
  file-backed JetStream stream, PubAcks awaited; then evaluation's reaction: the
  ``IndicatorProgressed`` message fetched from a pull consumer and parsed, one signed event, its
  public row, chain link and the consumer's tracking position in one transaction of its own
  store, the message acked (its event is private: nothing published, as in the platform);
- **one imported row**: one signed ``ServiceDelivery.Logged`` with its public row and chain link,
  100 rows per transaction, each row's ``ServiceDelivered`` published with ``js.publish_async``,
  a batch's PubAcks awaited while the next batch is stored; in three spells alternating with
  bench/raw_store.py's raw batched append (100 events per transaction), the bulk target's baseline.

Left out, so the figures are a lower bound: HTTP, JWT, the rule checks and aggregate loads, the
library's table lock (one writer per store here assigns positions itself), the relay's recorded
position (it can ride along the next transaction), the ledger's and timesheets' events of an
import batch. CPU is this process's (``time.process_time``): as the platform's server CPU, it
leaves out nats-server's and PostgreSQL's backends.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import StorageType, StreamConfig

COUNTY = "640402"
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
GENESIS = bytes(32)
BATCH = 100


def canonical(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode()


def _d(value: str, kind: str) -> dict[str, str]:
    return {"_data_": value, "_type_": kind}


def now() -> str:
    return datetime.now(UTC).isoformat()


# --- the events, as the platform stores them ------------------------------------------------
# Shapes from a stored delivery (SQLite, 3 December 2026): the private state with the library's
# typed values ({"_data_", "_type_"}), and the public envelope of issue 16 item 3.

@dataclass
class Event:
    aggregate_id: str
    version: int
    topic: str
    state: dict[str, Any]
    envelope: dict[str, Any]
    subject: str | None = None  # published when set


def _meta(command: str, actor: str = "bench", causation: str | None = None, correlation: str | None = None) -> dict[str, Any]:
    return {"actor": actor, "causation_id": causation, "command_id": command, "correlation_id": correlation or command,
            "county": COUNTY, "recorded_at": now()}


def _envelope(event_type: str, service: str, aggregate: str, aggregate_id: str, version: int, meta: dict[str, Any],
              data: dict[str, Any], public: bool) -> dict[str, Any]:
    head = {"envelope_version": 1} if public else {}
    return head | {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1, "service": service,
                   "aggregate_type": aggregate, "aggregate_id": aggregate_id, "version": version, "occurred_at": meta["recorded_at"],
                   "county": COUNTY, "actor": meta["actor"], "command_id": meta["command_id"], "correlation_id": meta["correlation_id"],
                   "causation_id": meta["causation_id"], "recorded_at": meta["recorded_at"], "data": data} | ({} if public else {"public": False})


INDICATORS = [
    {"actual": 11, "code": "assist", "counting": "person_times", "expected_to_date": 102, "name": "帮扶救助", "on_track": False,
     "plan_basis": "pro_rata", "planned_to_date": None, "target": 500, "unit": "人次"},
    {"actual": 0, "code": "community", "counting": "deliveries", "expected_to_date": 1, "name": "社区参与系列活动", "on_track": False,
     "plan_basis": "pro_rata", "planned_to_date": None, "target": 5, "unit": "场"},
]


@dataclass
class Contract:
    contract_id: str
    station_id: str
    worker_id: str
    log_id: str
    page_id: str
    sheet_id: str
    version: int = 0  # the contract log's and its page's and sheet's (one writer: kept here)


def new_contract() -> Contract:
    ids = [str(uuid.uuid4()) for _ in range(6)]
    return Contract(*ids)


def logged(c: Contract, delivery_id: str, meta: dict[str, Any], i: int, source: str = "api") -> Event:
    day = f"2026-09-{1 + i % 28:02d}"
    state = {"area": "社会救助", "beneficiary_refs": [], "content": None, "content_sealed": None, "contract_id": c.contract_id,
             "county": COUNTY, "date": _d(day, "date_iso"), "delivery_id": delivery_id, "hours_direct": _d("0.1", "decimal_str"),
             "hours_other": _d("0", "decimal_str"), "indicator_code": "assist", "indicator_quantity": None, "kind": "帮扶救助",
             "meta": meta, "originator_topic": "services_log.domainmodel.delivery:ServiceDelivery", "person_times": 1 + i % 4,
             "source": source, "station_id": c.station_id, "timestamp": _d(now(), "datetime_iso"), "worker_ids": [c.worker_id]}
    data = {"delivery_id": delivery_id, "county": COUNTY, "contract_id": c.contract_id, "station_id": c.station_id,
            "worker_ids": [c.worker_id], "kind": "帮扶救助", "area": "社会救助", "date": day, "hours_direct": "0.1",
            "hours_other": "0", "person_times": 1 + i % 4, "indicator_code": "assist"}
    return Event(delivery_id, 1, "services_log.domainmodel.delivery:ServiceDelivery.Logged", state,
                 _envelope("ServiceDelivered", "services-log", "ServiceDelivery", delivery_id, 1, meta, data, True),
                 f"raw.{COUNTY}.services-log.ServiceDelivered")


def delivery_events(c: Contract, i: int) -> list[Event]:
    """The five events of one delivery's transaction in services-log."""
    delivery_id, meta = str(uuid.uuid4()), _meta(str(uuid.uuid4()))
    day = f"2026-09-{1 + i % 28:02d}"
    c.version += 1
    v = c.version
    money = {"deliveries": 1, "hours_direct": _d("0.1", "decimal_str"), "hours_other": _d("0", "decimal_str"),
             "indicators": {"assist": 1}, "person_times": 1}
    bucket = {"deliveries": 1, "hours": _d("0.1", "decimal_str"), "person_times": 1}
    delta = {"days": {day: money}, "months": {"2026-09": {"areas": {"社会救助": bucket}, "kinds": {"帮扶救助": bucket}}},
             "workers": {c.worker_id: {"direct": _d("0.1", "decimal_str"), "other": _d("0", "decimal_str")}}}
    tallied = {"delta": delta, "meta": meta, "new_delivery_ids": [delivery_id], "timestamp": _d(now(), "datetime_iso")}
    tally_data = {"new_delivery_ids": [delivery_id], "delta": {
        "days": {day: {"deliveries": 1, "person_times": 1, "hours_direct": 0.1, "hours_other": 0, "indicators": {"assist": 1}}},
        "months": {"2026-09": {"kinds": {"帮扶救助": {"deliveries": 1, "person_times": 1, "hours": 0.1}},
                               "areas": {"社会救助": {"deliveries": 1, "person_times": 1, "hours": 0.1}}}},
        "workers": {c.worker_id: {"direct": 0.1, "other": 0}}}}
    progress = {"as_of": _d("2026-12-04", "date_iso"), "contract_id": c.contract_id, "deliveries": v,
                "hours_direct": _d("0.5", "decimal_str"), "hours_other": _d("0", "decimal_str"), "indicators": INDICATORS,
                "meta": meta, "person_times": 11, "timestamp": _d(now(), "datetime_iso")}
    progress_data = {"contract_id": c.contract_id, "county": COUNTY, "as_of": "2026-12-04",
                     "indicators": [{"code": x["code"], "target": x["target"], "actual": x["actual"], "planned_to_date": None}
                                    for x in INDICATORS],
                     "hours_direct": "0.5", "hours_other": "0", "person_times": 11, "deliveries": v, "off_track": ["assist", "community"]}
    booked = {"entries": [{"date": _d(day, "date_iso"), "delivery_id": delivery_id, "hours": _d("0.1", "decimal_str")}],
              "meta": meta, "timestamp": _d(now(), "datetime_iso")}
    appended = {"ids": [delivery_id], "meta": meta, "timestamp": _d(now(), "datetime_iso")}
    led = "services_log.domainmodel.ledger:"
    return [
        logged(c, delivery_id, meta, i),
        Event(c.log_id, 2 * v, led + "ContractLog.Tallied", tallied,
              _envelope("ContractLog.Tallied", "services-log", "ContractLog", c.log_id, 2 * v, meta, tally_data, False)),
        Event(c.log_id, 2 * v + 1, led + "ContractLog.ProgressReported", progress,
              _envelope("IndicatorProgressed", "services-log", "ContractLog", c.log_id, 2 * v + 1, meta, progress_data, True),
              f"raw.{COUNTY}.services-log.IndicatorProgressed"),
        Event(c.page_id, v, led + "DeliveryIndexPage.Appended", appended,
              _envelope("DeliveryIndexPage.Appended", "services-log", "DeliveryIndexPage", c.page_id, v, meta, {"ids": [delivery_id]}, False)),
        Event(c.sheet_id, v, led + "Timesheet.HoursBooked", booked,
              _envelope("Timesheet.HoursBooked", "services-log", "Timesheet", c.sheet_id, v, meta,
                        {"entries": [{"delivery_id": delivery_id, "date": day, "hours": 0.1}]}, False)),
    ]


def outcome_event(progressed: dict[str, Any], version: int, outcomes_id: str) -> Event:
    """Evaluation's reaction to one ``IndicatorProgressed``: the contract's outcome figures."""
    data = progressed["data"]
    meta = _meta(progressed["event_id"], "service:evaluation", progressed["event_id"], progressed["correlation_id"])
    indicators = [{"actual": x["actual"], "code": x["code"], "target": x["target"]} for x in data["indicators"]]
    state = {"as_of": _d(data["as_of"], "date_iso"), "deliveries": data["deliveries"], "hours_direct": _d(data["hours_direct"], "decimal_str"),
             "hours_other": _d(data["hours_other"], "decimal_str"), "indicators": indicators, "meta": meta,
             "person_times": data["person_times"], "timestamp": _d(now(), "datetime_iso")}
    public = {"as_of": data["as_of"], "indicators": [{"code": x["code"], "target": x["target"], "actual": x["actual"]} for x in indicators],
              "hours_direct": float(data["hours_direct"]), "hours_other": float(data["hours_other"]),
              "person_times": data["person_times"], "deliveries": data["deliveries"]}
    return Event(outcomes_id, version, "evaluation.domainmodel.registry_view:ContractOutcomes.Progressed", state,
                 _envelope("ContractOutcomes.Progressed", "evaluation", "ContractOutcomes", outcomes_id, version, meta, public, False))


# --- signing, public rows, chain links --------------------------------------------------------

@dataclass
class Row:
    position: int
    event: Event
    stored: bytes
    body: bytes
    digest: bytes
    link: bytes


class Log:
    """One service's log: its signing key, the next position and the chain's head (one writer)."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.position = 0
        self.head = GENESIS

    def sign(self, e: Event) -> bytes:
        """The stored bytes: the canonical state with the signature last in ``meta`` (R-AUD-4)."""
        meta = e.state["meta"]
        body = canonical(e.state)
        sig = self.key.sign(f"{e.aggregate_id}\n{e.version}\n{e.topic}\n".encode() + body).hex()
        old = b'"meta":' + canonical(meta)
        return body.replace(old, old[:-1] + b',"sig":"' + sig.encode() + b'"}', 1)

    def rows(self, events: list[Event]) -> list[Row]:
        out = []
        for e in events:
            self.position += 1
            stored = self.sign(e)
            e.envelope["position"] = self.position
            body = _COMPACT.encode(e.envelope).encode()
            h = hashlib.sha256(f"{self.position}\n{e.aggregate_id}\n{e.version}\n{e.topic}\n".encode())
            h.update(stored)
            digest = h.digest()
            self.head = hashlib.sha256(self.head + digest).digest()
            out.append(Row(self.position, e, stored, body, digest, self.head))
        return out


# --- the stores ----------------------------------------------------------------------------

SCHEMA = [
    "CREATE TABLE {p}events (position BIGINT PRIMARY KEY, originator_id TEXT NOT NULL, originator_version BIGINT NOT NULL, "
    "topic TEXT NOT NULL, state {blob} NOT NULL, UNIQUE (originator_id, originator_version))",
    "CREATE TABLE {p}public (position BIGINT PRIMARY KEY, aggregate_id TEXT NOT NULL, event_type TEXT NOT NULL, county TEXT NOT NULL, "
    "correlation_id TEXT, recorded_at TEXT NOT NULL, subject TEXT, body {blob} NOT NULL)",
    "CREATE TABLE {p}chain (position BIGINT PRIMARY KEY, digest {blob} NOT NULL, link {blob} NOT NULL)",
    "CREATE TABLE {p}tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
]


def _params(rows: list[Row]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    ev = [(r.position, r.event.aggregate_id, r.event.version, r.event.topic, r.stored) for r in rows]
    pub = [(r.position, r.event.aggregate_id, r.event.envelope["event_type"], COUNTY, r.event.envelope["correlation_id"],
            r.event.envelope["recorded_at"], r.event.subject, r.body) for r in rows]
    return ev, pub, [(r.position, r.digest, r.link) for r in rows]


INSERTS = ("INSERT INTO events VALUES (?,?,?,?,?)", "INSERT INTO public VALUES (?,?,?,?,?,?,?,?)", "INSERT INTO chain VALUES (?,?,?)")
TRACK = ("INSERT INTO tracking VALUES (?,?) ON CONFLICT (name) DO UPDATE SET position = excluded.position "
         "WHERE excluded.position > tracking.position")


class SqliteStore:
    """A SQLite file in WAL mode, as the services use it."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        for s in SCHEMA:
            self.db.execute(s.format(p="", blob="BLOB"))
        self.log = Log()

    def save(self, rows: list[Row], tracking: tuple[str, int] | None = None) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in zip(INSERTS, _params(rows), strict=True):
                db.executemany(sql, params)
            if tracking:
                db.execute(TRACK, tracking)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()


class PostgresStore:
    """A schema of a scratch PostgreSQL database (the connection's search path). A table's rows go
    in one multi-row ``INSERT`` (psycopg prepares each shape after a few uses): less client CPU
    than ``executemany``, which runs a pipeline of its own per call."""

    def __init__(self, dbname: str, schema: str) -> None:
        import psycopg

        from bench.raw_store import PG

        self.db = psycopg.connect(dbname=dbname, connect_timeout=3, options=f"-c search_path={schema}", **PG)
        with self.db.transaction():
            self.db.execute(f'CREATE SCHEMA "{schema}"')
            for s in SCHEMA:
                self.db.execute(s.format(p="", blob="BYTEA"))
        self.log = Log()
        self.statements: dict[tuple[int, int], str] = {}

    def _insert(self, table: int, n: int) -> str:
        sql = self.statements.get((table, n))
        if sql is None:
            head, values = INSERTS[table].replace("?", "%s").split(" VALUES ")
            sql = self.statements[(table, n)] = f"{head} VALUES {','.join([values] * n)}"
        return sql

    def save(self, rows: list[Row], tracking: tuple[str, int] | None = None) -> None:
        with self.db.transaction(), self.db.cursor() as cur:
            for table, params in enumerate(_params(rows)):
                cur.execute(self._insert(table, len(params)), [x for p in params for x in p])
            if tracking:
                cur.execute(TRACK.replace("?", "%s"), tracking)

    def close(self) -> None:
        self.db.close()


# --- the measurements ------------------------------------------------------------------------

@dataclass
class Work:
    units: int
    cpu_seconds: float
    wall_seconds: float

    def as_dict(self) -> dict[str, float]:
        n = self.units or 1
        return {"units": self.units, "cpu_seconds": round(self.cpu_seconds, 4), "wall_seconds": round(self.wall_seconds, 4),
                "cpu_ms_per_unit": round(1000 * self.cpu_seconds / n, 4), "wall_ms_per_unit": round(1000 * self.wall_seconds / n, 4),
                "per_second": round(self.units / self.wall_seconds, 1) if self.wall_seconds else 0.0}


async def _stream(js: Any) -> None:
    await js.add_stream(StreamConfig(name="RAWWORK", subjects=["raw.>"], storage=StorageType.FILE, duplicate_window=300))


async def deliveries(log_store: Any, eval_store: Any, js: Any, seconds: float, max_count: int = 5000,
                     sizes: dict[str, int] | None = None) -> Work:
    """One delivery at a time, each to completion (evaluation's reaction included), for ~``seconds``."""
    c, log, evaluation = new_contract(), log_store.log, eval_store.log
    outcomes_id, outcomes_version = str(uuid.uuid4()), 0
    sub = await js.pull_subscribe(f"raw.{COUNTY}.services-log.IndicatorProgressed", durable="evaluation")
    n, cpu0, start = 0, time.process_time(), time.perf_counter()
    while n < max_count and time.perf_counter() - start < seconds:
        rows = log.rows(delivery_events(c, n))
        log_store.save(rows)
        acks = [await js.publish_async(r.event.subject, r.body, headers={"Nats-Msg-Id": r.event.envelope["event_id"]})
                for r in rows if r.event.subject]
        await asyncio.gather(*acks)
        (msg,) = await sub.fetch(1, timeout=5)
        progressed = json.loads(msg.data)
        outcomes_version += 1
        reaction = evaluation.rows([outcome_event(progressed, outcomes_version, outcomes_id)])
        eval_store.save(reaction, tracking=("services-log", msg.metadata.sequence.stream))
        await msg.ack()
        if sizes is not None and n == 0:
            sizes |= {r.event.topic.rsplit(":", 1)[1]: len(r.stored) for r in rows + reaction}
            sizes |= {f"public {r.event.envelope['event_type']}": len(r.body) for r in rows + reaction}
        n += 1
    return Work(n, time.process_time() - cpu0, time.perf_counter() - start)


async def imported_rows(store: Any, js: Any, seconds: float, max_count: int = 100_000) -> Work:
    """Batches of 100 rows: stored in one transaction each, published while the next is stored."""
    c, log = new_contract(), store.log
    n, pending, cpu0, start = 0, [], time.process_time(), time.perf_counter()
    while n < max_count and time.perf_counter() - start < seconds:
        meta = _meta(str(uuid.uuid4()))
        rows = log.rows([logged(c, str(uuid.uuid4()), meta, n + i, "import") for i in range(BATCH)])
        store.save(rows)
        futures = [await js.publish_async(r.event.subject, r.body, headers={"Nats-Msg-Id": r.event.envelope["event_id"]}) for r in rows]
        await asyncio.gather(*pending)
        pending = futures
        n += BATCH
    await asyncio.gather(*pending)
    return Work(n, time.process_time() - cpu0, time.perf_counter() - start)


async def measure(stores: Any, nats_url: str, seconds: float, batched_env: dict[str, str], rounds: int = 3,
                  baseline_seconds: float = 1.0) -> dict[str, Any]:
    """``stores()`` gives (services-log store, evaluation store, import store); all closed here.
    The bulk rows are measured in ``rounds`` spells of ``seconds / rounds`` alternating with the
    baseline (raw batched append on ``batched_env``, bench/raw_store.py's): one before each spell and
    one after the last, so both see the same machine while other work comes and goes."""
    from bench.raw_store import RawApp, new_tally
    from bench.raw_store import append_batched as batched_append

    log_store, eval_store, import_store = stores()
    app = RawApp(env=dict(batched_env))
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await _stream(js)
        await deliveries(log_store, eval_store, js, 0.3, max_count=30)  # warm: statements prepared, consumer made
        sizes: dict[str, int] = {}
        delivery = await deliveries(log_store, eval_store, js, seconds, sizes=sizes)
        await imported_rows(import_store, js, 0.3, max_count=300)
        app.save(new_tally(0))

        def append() -> Work:
            cpu0 = time.process_time()
            rate = batched_append(app, baseline_seconds)
            return Work(rate.count, time.process_time() - cpu0, rate.seconds)

        spells, batched = [], [append()]
        for _ in range(rounds):
            spells.append(await imported_rows(import_store, js, seconds / rounds))
            batched.append(append())
    finally:
        await nc.close()
        app.close()
        for s in (log_store, eval_store, import_store):
            s.close()
    bulk = Work(sum(w.units for w in spells), sum(w.cpu_seconds for w in spells), sum(w.wall_seconds for w in spells))
    rates = [r.units / r.wall_seconds for r in batched]
    appended = Work(sum(w.units for w in batched), sum(w.cpu_seconds for w in batched), sum(w.wall_seconds for w in batched))
    return {"delivery": delivery.as_dict(), "bulk_row": bulk.as_dict(), "bytes": sizes,
            "bulk_rounds": [w.as_dict()["per_second"] for w in spells],
            "append_batched": {"per_second": round(sum(rates) / len(rates), 1), "rounds": [round(r, 1) for r in rates],
                               "cpu_ms_per_event": appended.as_dict()["cpu_ms_per_unit"]}}


def round_ratios(rows_per_second: list[float], batched_per_second: list[float]) -> list[float]:
    """Each bulk spell's rate over the mean of the batched appends just before and just after it."""
    return [r / ((a + b) / 2) for r, a, b in zip(rows_per_second, batched_per_second, batched_per_second[1:], strict=False)
            if a + b]


# --- derived figures (pure) --------------------------------------------------------------------

def lowest_post_ratio(raw_cpu_ms: float | None, floor_cpu_ms: float | None) -> float | None:
    """The lowest server-CPU ratio a delivery POST can reach over the HTTP floor in this stack:
    the floor's own request cost plus the raw required work, over the floor."""
    if raw_cpu_ms is None or not floor_cpu_ms:
        return None
    return (raw_cpu_ms + floor_cpu_ms) / floor_cpu_ms


def highest_bulk_ratio(raw_rows_per_second: float | None, append_batched_per_second: float | None) -> float | None:
    """The highest ratio of bulk import (stored and published) to raw batched append reachable:
    the required work's rate over the append's."""
    if raw_rows_per_second is None or not append_batched_per_second:
        return None
    return raw_rows_per_second / append_batched_per_second
