"""Published bytes, fixed at write time (issue 16 item 3).

When a command's events are saved, each one is mapped to what the outside world sees of it and the
bytes are stored in a table of the service's own store (``<events table>_public``), **in the same
transaction** as the events (the recorders below). One row per log position:

- a public event: its R-AUD-1 integration envelope, exactly the bytes the outbox relay publishes
  on NATS, with the subject and message headers it is published with;
- a private event: its audit-feed entry (``"public": false`` and its state);
- a public event that cannot be mapped (only a reaction can record one; a command is refused at
  the request): a ``problem`` the relay parks, and the private entry for the feed.

The relay and the audit feed read these rows and stream the stored bytes: nothing is re-mapped or
re-serialised on a read. Events recorded before this table existed (or by a process that does not
map, e.g. a tool opening the store) have no row: :meth:`PublishedLog.read` maps each such event
once when it first meets it and stores its row (an upcaster-like backfill), so an old store works
unchanged and pays the mapping once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pydantic_core
from eventsourcing.persistence import IntegrityError, Notification, ProgrammingError, StoredEvent, Tracking
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder
from eventsourcing.utils import retry
from fastapi.encoders import jsonable_encoder
from psycopg import InterfaceError, OperationalError
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from shared.audit_chain import Record
from shared.envelope import Envelope, event_id_for
from shared.events import IntegrationEvent
from shared.infra import telemetry
from shared.subjects import subject

ToIntegration = Callable[[Any], IntegrationEvent | None]
# The tracking name under which the position up to which every event is known to have its row is
# kept (advanced by the relay, which reads with the backfill): the feed reads below it without it.
VERIFIED = "published:verified"
VERIFIED_REREAD = 1.0  # seconds between reads of the stored VERIFIED position (PublishedLog.verified_to)

# Row: position, aggregate_id, event_type, county, correlation_id, contract_id, recorded_at,
# public (0/1), problem ("reason\tdetail" or None), subject, headers (JSON), traceparent, body.
COLUMNS = (
    "position", "aggregate_id", "event_type", "county", "correlation_id", "contract_id", "recorded_at",
    "public", "problem", "subject", "headers", "traceparent", "body",
)
# Each column's type in the PostgreSQL table (as created below), for inserting a save's rows as arrays.
_COLUMN_TYPES = ("bigint", "text", "text", "text", "text", "text", "text", "smallint", "text", "text", "text", "text", "bytea")
PLACEHOLDER = b',"position":0,'
# A public entry of the feed is the published envelope with this in place of its closing brace.
PUBLIC_MARK = b',"public":true}'
# The columns the feed's filters may read (besides the entry): a feed read selects only those asked for.
FEED_FIELDS = ("aggregate_id", "event_type", "county", "correlation_id", "contract_id", "recorded_at")
Row = tuple[int, str, str, str, str, str, str, int, str | None, str, str, str | None, bytes]


@dataclass(slots=True)
class Published:
    """One stored row, as the relay and the feed use it."""

    position: int
    aggregate_id: str
    event_type: str
    county: str
    correlation_id: str
    contract_id: str
    recorded_at: str
    public: bool
    problem: tuple[str, str] | None
    subject: str
    headers_json: str
    traceparent: str | None
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        """The NATS headers it is published with (parsed only by the relay)."""
        return json.loads(self.headers_json) if self.headers_json else {}

    @classmethod
    def of(cls, row: Sequence[Any]) -> Published:
        problem = row[8].split("\t", 1) if row[8] else None
        return cls(
            int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]),
            (problem[0], problem[1] if len(problem) > 1 else "") if problem else None,
            row[9], row[10] or "", row[11], row[12] if type(row[12]) is bytes else bytes(row[12]),
        )

    def feed_entry(self) -> bytes:
        """The audit feed's entry: a public event's envelope as published, marked public."""
        return feed_entry(self.public, self.problem is not None, self.body)


def feed_entry(public: Any, problem: Any, body: bytes) -> bytes:
    """A row's audit-feed entry: a public event's envelope as published, marked public; a private
    event's (or an unmappable one's) entry as stored."""
    return body[:-1] + PUBLIC_MARK if public and not problem else bytes(body)


# A feed row: (position, *the asked FEED_FIELDS, entry). The entry is composed by the store, as
# feed_entry composes it: a page arrives as the bytes it is sent as (issue 16, audit feed target).
FeedRow = tuple[Any, ...]
# A feed page composed by the store: (rows, last position, the counties met, the entries joined).
FeedPage = tuple[int, int, set[str], bytes]
ENTRY_SQL = "CASE WHEN public <> 0 AND (problem IS NULL OR problem = '') THEN {splice} ELSE body END"


def feed_fields(fields: Sequence[str]) -> tuple[str, ...]:
    """The asked columns, checked against FEED_FIELDS (they are composed into SQL) and in its order."""
    unknown = set(fields) - set(FEED_FIELDS)
    if unknown:
        raise ValueError(f"not a feed column: {sorted(unknown)}")
    return tuple(f for f in FEED_FIELDS if f in fields)


def feed_row(row: Row, fields: Sequence[str]) -> FeedRow:
    """A stored row in the feed's shape (rows read with the backfill, past the verified position)."""
    return (row[0], *(row[COLUMNS.index(f)] for f in fields), feed_entry(row[7], row[8], row[12]))


# --- the envelope (R-AUD-1) -------------------------------------------------------------------


def aggregate_type_of(domain_event: Any) -> str:
    return type(domain_event).__qualname__.split(".")[0]


def event_meta(domain_event: Any) -> dict[str, Any]:
    return dict(getattr(domain_event, "meta", None) or {})


def envelope_for(app: Any, notification_id: int, domain_event: Any, body: IntegrationEvent) -> Envelope:
    meta = event_meta(domain_event)
    return Envelope(
        event_id=event_id_for(app.service, domain_event.originator_id, domain_event.originator_version),
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


def jsonable(value: Any) -> Any:
    """``fastapi.encoders.jsonable_encoder``'s output for what stored events hold (JSON types,
    UUID, Decimal, datetime, date), without its generic dispatch; anything else goes to
    ``jsonable_encoder`` itself."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {(k if type(k) is str else jsonable(k)): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is uuid.UUID:
        return str(value)
    if kind is datetime or kind is date:
        return value.isoformat()
    if kind is Decimal:  # as jsonable_encoder: int when it has no fractional digits, else float
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    return jsonable_encoder(value)


def private_entry(app: Any, position: int, domain_event: Any) -> dict[str, Any]:
    """The audit feed's entry of an event that is not published: its envelope fields and state."""
    meta = event_meta(domain_event)
    state = {k: v for k, v in vars(domain_event).items() if k not in ("meta", "originator_id", "originator_version", "timestamp")}
    return jsonable(
        {
            "event_id": event_id_for(app.service, domain_event.originator_id, domain_event.originator_version),
            "event_type": type(domain_event).__qualname__,
            "schema_version": getattr(type(domain_event), "class_version", 1),
            "service": app.service,
            "aggregate_type": aggregate_type_of(domain_event),
            "aggregate_id": domain_event.originator_id,
            "version": domain_event.originator_version,
            "occurred_at": domain_event.timestamp,
            "position": position,
            **{k: meta.get(k) for k in ("county", "actor", "command_id", "correlation_id", "causation_id", "recorded_at")},
            "data": state,
            "public": False,
        }
    )


class PublicMapper:
    """Maps a service's domain events to their stored rows (the service's ``to_integration``)."""

    def __init__(self, app: Any, to_integration: ToIntegration) -> None:
        self.app = app
        self.to_integration = to_integration

    def prepare(self, domain_event: Any, *, strict: bool) -> tuple[IntegrationEvent | None, Row]:
        """Map and serialise before the save, at position 0 (filled in by :meth:`renderer` once the
        store has assigned it). ``strict``: a mapping failure raises and the command is refused."""
        try:
            body = self.to_integration(domain_event)
        except Exception as exc:
            if strict:
                raise
            return None, self.row(0, domain_event, None, ("unmappable", f"{type(exc).__name__}: {exc}"[:2000]))
        return body, self.row(0, domain_event, body, None)

    def row(self, position: int, domain_event: Any, body: IntegrationEvent | None, problem: tuple[str, str] | None) -> Row:
        meta = event_meta(domain_event)
        county = meta.get("county") or "province"
        recorded_at = meta.get("recorded_at") or domain_event.timestamp.isoformat()
        aggregate_id = str(domain_event.originator_id)
        traceparent = meta.get(telemetry.META_KEY)
        if body is None:
            entry = private_entry(self.app, position, domain_event)
            contract = (entry.get("data") or {}).get("contract_id")
            return (
                position, aggregate_id, type(domain_event).__qualname__, county, meta.get("correlation_id") or "",
                str(contract) if contract else "", recorded_at, 1 if problem else 0,
                "\t".join(problem) if problem else None, "", "", traceparent, pydantic_core.to_json(entry),
            )
        env = envelope_for(self.app, position, domain_event, body)
        contract = env.data.get("contract_id")
        return (
            position, aggregate_id, env.event_type, county, env.correlation_id, str(contract) if contract else "",
            recorded_at, 1, None, subject(env.county, env.service, env.event_type), json.dumps(message_headers(env)),
            traceparent, env.model_dump_json().encode(),
        )

    @staticmethod
    def renderer(rows: list[Row]) -> Callable[[Sequence[int]], list[Row]]:
        """What the recorder calls inside the save's transaction once positions are known: each
        prepared row with its position, also spliced into its bytes (every field before
        ``"position"`` in an envelope or an entry is a number or a JSON string, in which a quote is
        escaped: the first match is the field)."""

        def render(positions: Sequence[int]) -> list[Row]:
            out: list[Row] = []
            for p, row in zip(positions, rows, strict=True):
                body = row[12].replace(PLACEHOLDER, b',"position":%d,' % p, 1)
                out.append((p, *row[1:12], body))  # type: ignore[arg-type]
            return out

        return render

    def backfill(self, notification: Notification) -> Row:
        """The row of an event recorded without one (older code): mapped once, leniently."""
        domain_event = self.app.mapper.to_domain_event(notification)
        _, row = self.prepare(domain_event, strict=False)
        return self.renderer([row])([notification.id])[0]


# --- recorders -------------------------------------------------------------------------------

# A read of the log joined with the rows: (position, originator_id, version, topic, state or None
# when the row exists, row or None).
Joined = tuple[int, Any, int, str, bytes | None, Row | None]


# The relay's two tracking rows in one upsert (SQLite's form of the library's single-row insert).
_SQLITE_RELAY_TRACKING = (
    "INSERT INTO tracking VALUES (?, ?), (?, ?) ON CONFLICT (application_name) DO UPDATE "
    "SET notification_id = excluded.notification_id WHERE tracking.notification_id < excluded.notification_id "
    "RETURNING application_name"
)


def _check_recorded(tracking: Tracking, recorded: list[str]) -> None:
    """The relay's row was refused (its stored position is at or past it): nothing is recorded."""
    if tracking.application_name not in recorded:
        raise IntegrityError(f"Failed to record tracking for {tracking.application_name} {tracking.notification_id}")


def _tracking_or_refused(recorder: Any, tracking: Tracking) -> None:
    try:
        recorder.insert_tracking(tracking)
    except IntegrityError:
        pass  # another process recorded it (or a later one)


def _tracked_row_by_row(recorder: Any, tracking: Tracking, verified: int | None) -> bool:
    """The relay's position (and VERIFIED) by the library's insert per row, when the store has no
    single-row tracking table to upsert both in one statement or there is no VERIFIED to record;
    False: nothing recorded, the caller's one upsert is for this."""
    if recorder.datastore.single_row_tracking and verified is not None:
        return False
    recorder.insert_tracking(tracking)
    if verified is not None:
        _tracking_or_refused(recorder, Tracking(VERIFIED, verified))
    return True


class SQLitePublishedRecorder(SQLiteProcessRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        self.public_table_name = table = f"{events_table_name}_public"
        super().__init__(datastore, events_table_name=events_table_name)
        # Table names are ours (never input): composed once here.
        values = ",".join("?" * len(COLUMNS))
        self._sql_insert = f"INSERT INTO {table} VALUES ({values})"  # noqa: S608
        self._sql_backfill = f"INSERT OR IGNORE INTO {table} VALUES ({values})"  # noqa: S608
        self._sql_select = f"SELECT * FROM {table} WHERE position > ? ORDER BY position LIMIT ?"  # noqa: S608
        self._sql_feed: dict[tuple[str, ...], str] = {}
        self._sql_delete = f"DELETE FROM {table} WHERE position = ?"  # noqa: S608
        entry = ENTRY_SQL.format(splice="CAST(substr(body, 1, length(body) - 1) || :mark AS BLOB)")
        self._sql_feed_page = (
            "SELECT count(*), max(position), count(*) - count(county) + total(instr(county, ',') > 0), "  # noqa: S608
            "group_concat(DISTINCT county), CAST(group_concat(entry, :sep) AS BLOB) "
            f"FROM (SELECT position, county, {entry} AS entry FROM {table} "
            "WHERE position > :after AND position <= :upto ORDER BY position LIMIT :limit)"
        )
        cols = ", ".join(f"p.{c}" for c in COLUMNS)
        self._sql_joined = (
            "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, "  # noqa: S608
            f"CASE WHEN p.position IS NULL THEN e.state END, {cols} FROM {events_table_name} e "
            f"LEFT JOIN {table} p ON p.position = e.rowid WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.public_table_name} (position INTEGER PRIMARY KEY, aggregate_id TEXT, "
            "event_type TEXT, county TEXT, correlation_id TEXT, contract_id TEXT, recorded_at TEXT, public INTEGER, "
            "problem TEXT, subject TEXT, headers TEXT, traceparent TEXT, body BLOB)",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        positions = super()._insert_events(c, stored_events, **kwargs)
        render = kwargs.get("published")
        if render is not None and positions:
            c.executemany(self._sql_insert, render(positions))
        return positions

    def insert_published(self, rows: Sequence[Row]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self._sql_backfill, rows)

    def insert_relay_tracking(self, tracking: Tracking, verified: int | None) -> None:
        """See :meth:`PublishedLog.record_relayed`."""
        if _tracked_row_by_row(self, tracking, verified):
            return
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQLITE_RELAY_TRACKING, (tracking.application_name, tracking.notification_id, VERIFIED, verified))
            _check_recorded(tracking, [r[0] for r in c.fetchall()])

    def replace_published(self, row: Row) -> None:
        """An unmappable event's row, once its mapping is repaired (an operator's retry)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql_delete, (row[0],))
            c.execute(self._sql_insert, row)

    def select_published(self, after: int, limit: int) -> list[Row]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql_select, (after, limit))
            return [tuple(r) for r in c.fetchall()]  # type: ignore[misc]

    def select_existing(self, originator_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these aggregates have events (one query per 500 ids, not one per id)."""
        found: set[uuid.UUID] = set()
        ids = list(originator_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            statement = f"SELECT DISTINCT originator_id FROM {self.events_table_name} WHERE originator_id IN ({marks})"  # noqa: S608
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, [i.hex for i in chunk])
                found.update(uuid.UUID(r[0]) for r in c.fetchall())
        return found

    def select_feed(self, after: int, limit: int, fields: Sequence[str]) -> list[FeedRow]:
        """The feed's rows: the asked columns and the entry, nothing the relay alone needs (its
        subject, headers, traceparent). Each text column costs a UTF-8 decode per row, so a read
        with no filter asks for the county alone (10,000 rows: 37 → 13 ms against SELECT *)."""
        fields = feed_fields(fields)
        sql = self._sql_feed.get(fields)
        if sql is None:
            # SQLite's || reads a BLOB as text (its bytes, in the database's UTF-8): cast back to bytes.
            entry = ENTRY_SQL.format(splice="CAST(substr(body, 1, length(body) - 1) || ? AS BLOB)")
            cols = "".join(f"{f}, " for f in fields)
            sql = self._sql_feed[fields] = (
                f"SELECT position, {cols}{entry} FROM {self.public_table_name} "  # noqa: S608
                "WHERE position > ? ORDER BY position LIMIT ?"
            )
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # plain tuples: the library's connections make a sqlite3.Row of each
            cursor.execute(sql, (PUBLIC_MARK, after, limit))
            return cursor.fetchall()

    def select_feed_page(self, after: int, upto: int, limit: int, sep: str) -> FeedPage | None:
        """Up to ``limit`` rows after ``after`` (and at or below ``upto``) as one page composed in the
        store: their count, last position, the distinct counties met, and the entries (composed as
        :meth:`select_feed` composes them) joined by ``sep`` into one buffer — no Python object per
        row. None when there is no row, or a county is missing or holds a comma (the caller then
        reads the rows one by one). The aggregate reads the ordered subquery's rows in its order
        (SQLite ≥ 3.44 could say ``ORDER BY`` inside ``group_concat``; this SQLite is 3.40)."""
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None
            cursor.execute(self._sql_feed_page, {"sep": sep, "mark": PUBLIC_MARK, "after": after, "upto": upto, "limit": limit})
            n, last, odd, counties, entries = cursor.fetchone()
        if not n or odd:
            return None
        return n, last, set(counties.split(",")), entries

    def select_joined(self, after: int, limit: int) -> list[Joined]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql_joined, (after, limit))
            return [
                (r[0], uuid.UUID(r[1]), r[2], r[3], r[4], None if r[5] is None else tuple(r[5:]))  # type: ignore[misc]
                for r in c.fetchall()
            ]


class PostgresPublishedRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events", tracking_table_name: str = "notification_tracking") -> None:
        super().__init__(datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name)
        self.public_table_name = f"{events_table_name}_public"
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} (position bigint PRIMARY KEY, aggregate_id text, "
                "event_type text, county text, correlation_id text, contract_id text, recorded_at text, public smallint, "
                "problem text, subject text, headers text, traceparent text, body bytea)"
            ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.public_table_name))
        )
        self._statements: dict[Any, bytes] = {}
        self._sql_select_records = SQL(
            "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {}.{} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        self._sql_insert_arrays = SQL(
            "INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )
        tracking = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        self._sql_relay_tracking = SQL(
            "INSERT INTO {0} AS t VALUES (%s, %s), (%s, %s) ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = EXCLUDED.notification_id WHERE t.notification_id < EXCLUDED.notification_id "
            "RETURNING application_name"
        ).format(tracking)
        self._lock_timeout_is_default: bool | None = None  # see _lock_table
        self._sql_lock_table = SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        self._sql_select_positions = SQL(
            "SELECT notification_id, originator_id, originator_version FROM {}.{} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        events = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name)).as_string()
        # The table's name as psycopg escapes it (never input); the rest is the library's text.
        self._sql_events_head = f"SELECT * FROM {events} WHERE originator_id = %s"  # noqa: S608
        self._sql_notifications_head = f"SELECT * FROM {events}"  # noqa: S608
        id_type = SQL("{}").format(Identifier(self.datastore.originator_id_type)).as_string()
        self._sql_existing = f"SELECT DISTINCT originator_id FROM {events} WHERE originator_id = ANY(%s::{id_type}[])"  # noqa: S608
        values = SQL(", ").join([SQL("%s")] * len(COLUMNS))
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.public_table_name))
        self._sql_insert_published = SQL("INSERT INTO {} VALUES ({})").format(table, values)
        # A save's rows as one array per column, dumped in binary (``%b``; see _insert_stored_events).
        self._sql_insert_published_arrays = SQL("INSERT INTO {} SELECT * FROM unnest({})").format(
            table, SQL(", ").join(SQL("%b::" + t + "[]") for t in _COLUMN_TYPES)
        )
        self._sql_backfill = SQL("INSERT INTO {} VALUES ({}) ON CONFLICT (position) DO NOTHING").format(table, values)
        self._sql_delete = SQL("DELETE FROM {} WHERE position = %s").format(table)
        self._sql_select_published = SQL("SELECT * FROM {} WHERE position > %s ORDER BY position LIMIT %s").format(table)
        self._public_table = table
        self._sql_feed: dict[tuple[str, ...], bytes] = {}
        cols = SQL(", ").join(SQL("p.{}").format(Identifier(c)) for c in COLUMNS)
        self._sql_select_joined = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
            "CASE WHEN p.position IS NULL THEN e.state END AS state, {} FROM {}.{} e LEFT JOIN {} p "
            "ON p.position = e.notification_id WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(cols, Identifier(self.datastore.schema), Identifier(self.events_table_name), table)
        # Each statement above, and the library's tracking ones, rendered to its text once: psycopg
        # renders a composed ``SQL`` again (escaping its identifiers) on every execute.
        for name in (
            "_sql_select_records", "_sql_insert_arrays", "_sql_insert_published_arrays", "_sql_relay_tracking", "_sql_lock_table", "_sql_select_positions",
            "_sql_insert_published", "_sql_backfill", "_sql_delete", "_sql_select_published", "_sql_select_joined",
            "insert_tracking_statement", "max_tracking_id_statement",
        ):
            setattr(self, name, getattr(self, name).as_string())

    # The library composes these two selects from psycopg ``SQL`` pieces on every call, and psycopg
    # renders the composition to bytes on every execute (escaping the identifiers each time): ~2 %
    # of a delivery POST's server time. Here each shape of the statement is rendered once, to the
    # same text, and reused (the selects are otherwise the library's, rows and retries alike).
    _SELECT_EVENTS_TAIL = {
        (gt, lte, desc, limit): (
            (" AND originator_version > %s" if gt else "") + (" AND originator_version <= %s" if lte else "")
            + " ORDER BY originator_version" + (" DESC" if desc else " ASC") + (" LIMIT %s" if limit else "")
        )
        for gt in (False, True) for lte in (False, True) for desc in (False, True) for limit in (False, True)
    }

    def _rendered(self, key: Any, text: Callable[[], str]) -> bytes:
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = text().encode()
        return found

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self, originator_id: Any, *, gt: int | None = None, lte: int | None = None, desc: bool = False, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        shape = (gt is not None, lte is not None, bool(desc), limit is not None)
        statement = self._rendered(("events", *shape), lambda: self._sql_events_head + self._SELECT_EVENTS_TAIL[shape])
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
        if lte is not None:
            params.append(lte)
        if limit is not None:
            params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"], originator_version=row["originator_version"],
                    topic=row["topic"], state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_existing(self, originator_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these aggregates have events, in one query (a batch of reactions asks this of
        every aggregate it will look up: most of a burst's are absent, and one read each cost half
        a reaction, BENCHMARKS.md)."""
        if not originator_ids:
            return set()
        statement = self._rendered("existing", lambda: self._sql_existing)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [[str(i) for i in originator_ids]], prepare=True)
            return {uuid.UUID(str(row["originator_id"])) for row in curs.fetchall()}

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self, start: int | None, limit: int, stop: int | None = None, topics: Sequence[str] = (), *, inclusive_of_start: bool = True
    ) -> Sequence[Notification]:
        params: list[Any] = []
        conditions: list[str] = []
        if start is not None:
            params.append(start)
            conditions.append(" notification_id>=%s" if inclusive_of_start else " notification_id>%s")
        if stop is not None:
            params.append(stop)
            conditions.append(" notification_id <= %s")
        if topics:
            assert isinstance(topics, (tuple, list)), topics
            topics = list(topics) if isinstance(topics, tuple) else topics
            assert all(isinstance(t, str) for t in topics), topics
            params.append(topics)
            conditions.append(" topic = ANY(%s)")
        params.append(limit)
        key = ("notifications", *conditions)
        statement = self._rendered(
            key,
            lambda: self._sql_notifications_head + (" WHERE" + " AND".join(conditions) if conditions else "")
            + " ORDER BY notification_id LIMIT %s",
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                Notification(
                    id=row["notification_id"], originator_id=row["originator_id"],
                    originator_version=row["originator_version"], topic=row["topic"], state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    # Two of the library's five statements per save do nothing here (issue 16: statements are
    # most of a delivery POST's server CPU). ``NOTIFY`` wakes ``LISTEN``ers of the events table —
    # the library's PostgreSQL subscriptions — and no process of the platform listens: the relay
    # and sealer are woken in-process after each save and poll otherwise (shared/infra/service.py).
    # ``SET LOCAL lock_timeout = '0s'`` restates what every session of the store already has (the
    # server's default, checked once per recorder), so only the table lock is taken.
    def _notify_channel(self, curs: Any) -> None:
        pass

    def _lock_table(self, curs: Any) -> None:
        if self._lock_timeout_is_default:
            curs.execute(self._sql_lock_table, prepare=True)
        else:
            super()._lock_table(curs)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if self._lock_timeout_is_default is None:
            self._lock_timeout_is_default = self._session_lock_timeout() == self.datastore.lock_timeout
        return super().insert_events(stored_events, **kwargs)

    def _session_lock_timeout(self) -> int | None:
        """The sessions' ``lock_timeout`` in seconds (None: not whole seconds, or unreadable)."""
        try:
            with self.datastore.get_connection() as conn:
                row = conn.execute("SHOW lock_timeout").fetchone()
        except Exception:  # the insert itself reports an unreachable store
            return None
        value = str(next(iter(row.values())) if isinstance(row, dict) else row[0]) if row else ""
        return 0 if value == "0" else None

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's insert of a save's events (table lock, notify, one ``INSERT … SELECT FROM
        unnest(…) RETURNING notification_id``, positions in the order given), except that the
        events go as four arrays of plain types in binary instead of one array of the library's
        composite type: psycopg dumps a composite only as text, quoting every field — the state
        bytes included — with regular expressions (a bulk import's batch insert: 16 % of its
        samples). The arrays are dumped in binary (``%b``): with ``%s`` psycopg picks its text
        array dumper, escaping every element in Python (a batch of 500 events: ~16 ms of CPU
        against ~1.2 ms; ``binary=True`` only asks for binary results). The same rows are stored
        (``test_published_bytes``)."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._sql_insert_arrays,
            (
                [e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                [e.topic for e in stored_events], [e.state for e in stored_events],
            ),
            binary=True,
        )

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        # The library's check and read, the positions read as tuples: a dict per returned row
        # (the connection's row factory) cost a bulk import's batch ~3 % of its samples.
        assert curs.statusmessage and curs.statusmessage.startswith("INSERT"), curs.statusmessage
        curs.row_factory = tuple_row
        try:
            positions = [row[0] for row in curs.fetchall()]
        except psycopg.ProgrammingError as e:
            raise ProgrammingError(f"Couldn't get all notification IDs (expected {len(stored_events)})") from e
        render = kwargs.get("published")
        if render is not None and positions:
            # Same connection, same transaction as the events: committed together or not at all.
            # One insert of a column array each, in binary (~3 ms of CPU for 500 rows against
            # ~9–13 ms for a pipelined ``executemany`` of a statement per row).
            rows = render(positions)
            curs.execute(self._sql_insert_published_arrays, [list(column) for column in zip(*rows, strict=True)])
        return positions

    def insert_published(self, rows: Sequence[Row]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(self._sql_backfill, rows)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_positions(self, after: int, limit: int) -> list[tuple[int, Any, int]]:
        """``(notification_id, originator_id, originator_version)`` after ``after``: what a
        fresh-reads check (shared/infra/freshness.py) needs of the log, without the states."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_select_positions, (after, limit), prepare=True, binary=True)
            return [(r["notification_id"], r["originator_id"], r["originator_version"]) for r in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_relay_tracking(self, tracking: Tracking, verified: int | None) -> None:
        """See :meth:`PublishedLog.record_relayed`: both rows in one upsert of the library's
        single-row tracking table, each moving only forward (as the library's own insert)."""
        if _tracked_row_by_row(self, tracking, verified):
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self._sql_relay_tracking, (tracking.application_name, tracking.notification_id, VERIFIED, verified), prepare=True,
            )
            _check_recorded(tracking, [r["application_name"] for r in curs.fetchall()])

    def replace_published(self, row: Row) -> None:
        """An unmappable event's row, once its mapping is repaired (an operator's retry)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql_delete, (row[0],))
            curs.execute(self._sql_insert_published, row)

    def select_published(self, after: int, limit: int) -> list[Row]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            # Binary results: the stored bytes arrive as they are, not hex-decoded from text (10k rows: 112 → 62 ms).
            curs.execute(self._sql_select_published, (after, limit), prepare=True, binary=True)
            return curs.fetchall()  # type: ignore[return-value]

    def select_feed(self, after: int, limit: int, fields: Sequence[str]) -> list[FeedRow]:
        """The feed's rows: the asked columns and the entry composed in the select (binary, as
        :meth:`select_published`), nothing the relay alone needs."""
        fields = feed_fields(fields)
        sql = self._sql_feed.get(fields)
        if sql is None:
            entry = SQL(ENTRY_SQL.format(splice="substring(body FROM 1 FOR length(body) - 1) || %s"))
            cols = SQL("").join(SQL("{}, ").format(Identifier(f)) for f in fields)
            # Rendered once per shape (as the selects above), not composed again on every execute.
            sql = self._sql_feed[fields] = SQL("SELECT position, {}{} FROM {} WHERE position > %s ORDER BY position LIMIT %s").format(
                cols, entry, self._public_table
            ).as_string().encode()
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(sql, (PUBLIC_MARK, after, limit), prepare=True, binary=True)
            return curs.fetchall()

    def select_records(self, after: int, limit: int) -> list[Record]:
        """The log after ``after`` as the chain sealer digests it: tuples fetched in binary, not
        the library's notifications built from a dict per row (a bulk import: 7 % of its samples)."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._sql_select_records, (after, limit), prepare=True, binary=True)
            return [Record(*r) for r in curs.fetchall()]

    def select_joined(self, after: int, limit: int) -> list[Joined]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self._sql_select_joined, (after, limit), prepare=True, binary=True)
            return [(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else r[5:]) for r in curs.fetchall()]


class POPOPublishedRecorder(POPOProcessRecorder):
    def __init__(self) -> None:
        super().__init__()
        self._published: dict[int, Row] = {}

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        positions = super()._update_table(stored_events, **kwargs)
        render = kwargs.get("published")
        if render is not None and positions:
            for row in render(positions):
                self._published[row[0]] = row
        return positions

    def insert_published(self, rows: Sequence[Row]) -> None:
        with self._database_lock:
            for row in rows:
                self._published.setdefault(row[0], row)

    def replace_published(self, row: Row) -> None:
        with self._database_lock:
            self._published[row[0]] = row

    def insert_relay_tracking(self, tracking: Tracking, verified: int | None) -> None:
        with self._database_lock:
            self._assert_tracking_uniqueness(tracking)
            self._insert_tracking(tracking)
            if verified is not None and verified > (self._max_tracking_ids.get(VERIFIED) or 0):
                self._insert_tracking(Tracking(VERIFIED, verified))

    def select_existing(self, originator_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        with self._database_lock:
            return {i for i in originator_ids if self._stored_events_index.get(str(i))}

    def select_published(self, after: int, limit: int) -> list[Row]:
        with self._database_lock:
            return [self._published[p] for p in sorted(p for p in self._published if p > after)[:limit]]

    def select_feed(self, after: int, limit: int, fields: Sequence[str]) -> list[FeedRow]:
        fields = feed_fields(fields)
        return [feed_row(r, fields) for r in self.select_published(after, limit)]

    def select_joined(self, after: int, limit: int) -> list[Joined]:
        out: list[Joined] = []
        for n in self.select_notifications(after + 1, limit):
            row = self._published.get(n.id)
            out.append((n.id, n.originator_id, n.originator_version, n.topic, None if row else n.state, row))
        return out


def recorder_topic(persistence_module: str | None) -> str | None:
    """The process recorder class a store of this persistence module uses (None: the library's)."""
    return {
        "eventsourcing.sqlite": f"{__name__}:SQLitePublishedRecorder",
        "eventsourcing.postgres": f"{__name__}:PostgresPublishedRecorder",
    }.get(persistence_module or "")


# --- reading: the relay and the feed ---------------------------------------------------------


class PublishedLog:
    """Reads a store's rows in log order, mapping (once) any event that has none."""

    def __init__(self, app: Any, to_integration: ToIntegration) -> None:
        self.app = app
        self.mapper = PublicMapper(app, to_integration)
        self.verified = 0  # positions up to here are known to have their row (this process)
        self._verified_stored = 0  # the highest VERIFIED position this process recorded
        self._verified_read_at = -VERIFIED_REREAD  # when the stored VERIFIED position was last read

    @property
    def recorder(self) -> Any:
        return self.app.process_recorder

    def supported(self) -> bool:
        return hasattr(self.recorder, "select_joined")

    def verified_to(self) -> int:
        """Up to where every event has its row, as far as this process knows; the stored figure
        (another process may have verified further) is read at most every ``VERIFIED_REREAD``
        seconds. It only chooses the cheaper read of rows alone: a stale figure costs a joined
        read, never a missed row — and the relay reading right after its own batch (where the
        store holds what it just recorded) no longer pays a query for it."""
        now = time.monotonic()
        if now - self._verified_read_at >= VERIFIED_REREAD:
            stored = self.recorder.max_tracking_id(VERIFIED) or 0
            self._verified_read_at = now
            self.verified = max(self.verified, stored)
        return self.verified

    def read(self, after: int, limit: int) -> list[Published]:
        """Rows after ``after``, up to ``limit`` log positions, in order; events without a row are
        mapped now and their rows stored (never again)."""
        return [Published.of(r) for r in self.read_rows(after, limit)]

    def read_rows(self, after: int, limit: int) -> list[Row]:
        """:meth:`read` as the stored tuples (no object per row)."""
        rows = self._verified_rows(after, lambda: self.recorder.select_published(after, limit))
        return rows if rows else self._joined_rows(after, limit)

    def read_feed(self, after: int, limit: int, fields: Sequence[str]) -> list[FeedRow]:
        """The audit feed's read (its hot path): up to ``limit`` rows after ``after`` as
        ``(position, *fields, entry)``, the entry as it is sent. Below the verified position the
        store composes them (:meth:`select_feed`); past it the rows are read with the backfill."""
        fields = feed_fields(fields)
        rows = self._verified_rows(after, lambda: self.recorder.select_feed(after, limit, fields))
        return rows if rows else [feed_row(r, fields) for r in self._joined_rows(after, limit)]

    def read_feed_page(self, after: int, limit: int, sep: str) -> FeedPage | None:
        """The audit feed's read of a whole page in one buffer (:meth:`read_feed`'s rows'
        entries joined by ``sep``, composed by the store), where the store can (SQLite) and every
        row of it is below the verified position; None otherwise (read the rows)."""
        select = getattr(self.recorder, "select_feed_page", None)
        if select is None:
            return None
        verified = self.verified if after < self.verified else self.verified_to()
        if after >= verified:
            return None
        return select(after, verified, limit, sep)  # type: ignore[no-any-return]

    def _verified_rows(self, after: int, select: Callable[[], list[Any]]) -> list[Any]:
        """``select``'s rows when ``after`` is below the verified position (every event there has
        its row: the rows alone), cut at that position; else none."""
        verified = self.verified if after < self.verified else self.verified_to()
        if after >= verified:
            return []
        rows = select()
        if rows and rows[-1][0] > verified:
            rows = [r for r in rows if r[0] <= verified]
        return rows

    def _joined_rows(self, after: int, limit: int) -> list[Row]:
        """The log joined with the rows: events without a row are mapped now and their rows stored."""
        rec = self.recorder
        joined = rec.select_joined(after, limit)
        missing: list[Row] = []
        out: list[Row] = []
        for position, originator_id, version, topic, state, row in joined:
            if row is None:
                assert state is not None
                row = self.mapper.backfill(Notification(
                    id=position, originator_id=originator_id, originator_version=version, topic=topic, state=bytes(state),
                ))
                missing.append(row)
            out.append(row)
        if missing:
            rec.insert_published(missing)
        if out:
            self.verified = max(self.verified, out[-1][0])
        return out

    def remap(self, position: int, to_integration: ToIntegration) -> Published | None:
        """Map the event at ``position`` again with ``to_integration`` (an operator's retry of one
        that could not be mapped, after a fix) and store its new row; None if no event is there."""
        found = [n for n in self.recorder.select_notifications(position, 1) if n.id == position]
        if not found:
            return None
        row = PublicMapper(self.app, to_integration).backfill(found[0])
        if row[8] is None:
            self.recorder.replace_published(row)
        return Published.of(row)

    def record_relayed(self, tracking: Any) -> None:
        """The relay's own position (``tracking``) and VERIFIED up to it, in one transaction — one
        statement where the recorder can (issue 16's POST CPU: one relay round recorded two
        transactions). The relay's row is refused (IntegrityError, nothing recorded) when its
        stored position is at or past it; VERIFIED's refusal is ignored as in :meth:`mark_verified`."""
        position = tracking.notification_id
        insert = getattr(self.recorder, "insert_relay_tracking", None)
        if insert is None:
            self.recorder.insert_tracking(tracking)
            self.mark_verified(position)
            return
        insert(tracking, position if position > self._verified_stored else None)
        self._verified_stored = max(self._verified_stored, position)
        self.verified = max(self.verified, position)

    def mark_verified(self, position: int) -> None:
        """Recorded by the relay after it read up to ``position`` (every row there exists)."""
        from eventsourcing.persistence import IntegrityError, Tracking

        if position > self._verified_stored:
            # No read of the stored position first: a position at or below it is refused
            # (IntegrityError), and that is all the read would have told.
            try:
                self.recorder.insert_tracking(Tracking(VERIFIED, position))
            except IntegrityError:
                pass  # another process recorded it (or a later one)
            self._verified_stored = position
        self.verified = max(self.verified, position)
