"""List projections: the entries of every county list, kept in the service's own store.

A :class:`ListIndex` is a projection of the service's notification log (issue #16 item 2): for
each creation event it lists (``ListSpec``) it holds one row ``(list, county, key, item id,
owner, recorded_at)`` where the key is the position in the log of the first event that lists
the item (an item is listed once per list: later events naming it again do not move it). The rows live in the
service's own database — a table ``swp_list_rows`` beside the events (SQLite: the same file;
PostgreSQL: the service's schema), or in memory for the in-memory store — with the position of
the log they are caught up to (``swp_list_tracking``), written in one transaction with the rows.

- **Tracked**: every read first catches up from the tracked position (one indexed query when
  nothing is new), so a list never lags a committed command; several processes of a service
  may catch up at once (rows are keyed by position, inserting one twice does nothing).
- **Rebuilt from the log**: :meth:`ListIndex.rebuild` drops the rows and replays the log; the
  spec's fingerprint is stored with the position, so a changed spec rebuilds on start.
- **As of an instant** (R-AUD-3): while the clock is pinned, only rows recorded by then are
  read, and the items are loaded by the pinned repository at their version of that instant.
- **Cost**: a page is a keyset query on ``(list, county, key)`` (or ``(list, county, owner,
  key)``, or ``(list, key)`` across counties) — independent of the number of rows; so is finding
  one item's key (:meth:`ListIndex.key_of`, on the unique ``(list, county, item id)``).
"""

from __future__ import annotations

import bisect
import hashlib
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import clock

BATCH = 500


@dataclass(frozen=True)
class Row:
    list: str
    county: str
    key: int
    item_id: str
    owner: str | None
    recorded_at: str  # UTC ISO, comparable as text


# topic → (event → [(list name, county, item id, owner)])
Extract = Callable[[Any], list[tuple[str, str, str, str | None]]]


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class _Memory:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str | None, str | None], list[tuple[int, str, str]]] = defaultdict(list)
        self.position = 0
        self.fingerprint = ""
        self.listed: dict[tuple[str, str, str], tuple[int, str]] = {}

    def tracked(self) -> tuple[int, str]:
        return self.position, self.fingerprint

    def write(self, rows: list[Row], position: int, fingerprint: str) -> None:
        for r in rows:
            if (r.list, r.county, r.item_id) in self.listed:
                continue
            self.listed[(r.list, r.county, r.item_id)] = (r.key, r.recorded_at)
            scopes = [(r.list, r.county, None), (r.list, None, None)]
            if r.owner is not None:
                scopes.append((r.list, r.county, r.owner))
            for scope in scopes:
                entries = self.rows[scope]
                entry = (r.key, r.item_id, r.recorded_at)
                i = bisect.bisect_left(entries, entry)
                if i == len(entries) or entries[i][0] != r.key:
                    entries.insert(i, entry)
        self.position, self.fingerprint = max(self.position, position), fingerprint

    def clear(self) -> None:
        self.rows.clear()
        self.listed.clear()
        self.position, self.fingerprint = 0, ""

    def key_of(self, name: str, county: str, item_id: str, until: str | None) -> int | None:
        found = self.listed.get((name, county, item_id))
        return found[0] if found is not None and (until is None or found[1] <= until) else None

    def page(self, name: str, county: str | None, owner: str | None, after: int, n: int, until: str | None) -> list[tuple[int, str]]:
        entries = self.rows.get((name, county, owner), [])
        i = bisect.bisect_right(entries, (after, "\uffff", "\uffff"))
        out: list[tuple[int, str]] = []
        for key, item_id, at in entries[i:]:
            if until is None or at <= until:
                out.append((key, item_id))
                if len(out) == n:
                    break
        return out


class OwnTables:
    """Tables a projection keeps in its service's own database, through the event recorder's
    datastore (SQLite: the same file; PostgreSQL: the service's schema). Table names come from the
    datastore's schema (configuration), never from a request; values are bound (``self.p``)."""

    def __init__(self, datastore: Any, postgres: bool) -> None:
        self.ds = datastore
        self.pg = postgres
        self.prefix = f'"{datastore.schema}".' if postgres else ""
        self.p = "%s" if postgres else "?"

    def create_tables(self) -> None:
        """Run ``_create`` (idempotent ``CREATE … IF NOT EXISTS``); two processes creating the
        tables at once (PostgreSQL) may collide, so once more after a pause."""
        try:
            self._create()
        except Exception:
            time.sleep(0.2)
            self._create()

    def _create(self) -> None:
        raise NotImplementedError

    def one(self, row: Any, *names: str) -> tuple[Any, ...]:
        """A fetched row's values: by column name from PostgreSQL's dict rows, in order from SQLite's."""
        return tuple(row[n] for n in names) if self.pg else tuple(row)

    def tracked_in(self, track_t: str, name: str) -> tuple[int, str]:
        """``(position, fingerprint)`` of the tracking row ``name`` of table ``track_t`` ((0, "") if none)."""
        with self.ds.transaction(commit=False) as c:
            c.execute(f"SELECT position, fingerprint FROM {track_t} WHERE name = {self.p}", (name,))  # noqa: S608
            found = c.fetchone()
        return self.one(found, "position", "fingerprint") if found else (0, "")  # type: ignore[return-value]


class _Sql(OwnTables):
    """The list rows and their tracking."""

    def __init__(self, datastore: Any, postgres: bool) -> None:
        super().__init__(datastore, postgres)
        self.rows_t, self.track_t = f"{self.prefix}swp_list_rows", f"{self.prefix}swp_list_tracking"
        self.create_tables()

    def _create(self) -> None:
        with self.ds.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.rows_t} (list TEXT NOT NULL, county TEXT NOT NULL, "
                "key BIGINT NOT NULL, item_id TEXT NOT NULL, owner TEXT, recorded_at TEXT NOT NULL, "
                "PRIMARY KEY (list, county, key))"
            )
            c.execute(f"CREATE INDEX IF NOT EXISTS swp_list_rows_owner ON {self.rows_t} (list, county, owner, key)")
            c.execute(f"CREATE INDEX IF NOT EXISTS swp_list_rows_all ON {self.rows_t} (list, key)")
            # An item is listed once per list: a later event naming it again does not move it.
            c.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS swp_list_rows_item ON {self.rows_t} (list, county, item_id)")
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.track_t} (name TEXT PRIMARY KEY, position BIGINT NOT NULL, "
                "fingerprint TEXT NOT NULL)"
            )

    def tracked(self) -> tuple[int, str]:
        return self.tracked_in(self.track_t, "lists")

    def write(self, rows: list[Row], position: int, fingerprint: str) -> None:
        p = self.p
        conflict = "ON CONFLICT DO NOTHING" if self.pg else ""
        insert = "INSERT" if self.pg else "INSERT OR IGNORE"
        with self.ds.transaction(commit=True) as c:
            if rows:
                c.executemany(
                    f"{insert} INTO {self.rows_t} (list, county, key, item_id, owner, recorded_at) "
                    f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}) {conflict}",
                    [(r.list, r.county, r.key, r.item_id, r.owner, r.recorded_at) for r in rows],
                )
            greatest = "GREATEST" if self.pg else "MAX"
            c.execute(
                f"INSERT INTO {self.track_t} (name, position, fingerprint) VALUES ({p}, {p}, {p}) "  # noqa: S608
                f"ON CONFLICT (name) DO UPDATE SET position = {greatest}({self.track_t.split('.')[-1]}.position, "
                "excluded.position), fingerprint = excluded.fingerprint",
                ("lists", position, fingerprint),
            )

    def clear(self) -> None:
        with self.ds.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.rows_t}")  # noqa: S608
            c.execute(f"DELETE FROM {self.track_t}")  # noqa: S608

    def key_of(self, name: str, county: str, item_id: str, until: str | None) -> int | None:
        p = self.p
        sql = f"SELECT key FROM {self.rows_t} WHERE list = {p} AND county = {p} AND item_id = {p}"  # noqa: S608
        args: tuple[str, ...] = (name, county, item_id)
        if until is not None:
            sql += f" AND recorded_at <= {p}"
            args += (until,)
        with self.ds.transaction(commit=False) as c:
            c.execute(sql, args)
            found = c.fetchone()
        return None if found is None else int(self.one(found, "key")[0])

    def page(self, name: str, county: str | None, owner: str | None, after: int, n: int, until: str | None) -> list[tuple[int, str]]:
        p = self.p
        where, args = [f"list = {p}"], [name]
        if county is not None:
            where.append(f"county = {p}")
            args.append(county)
        if owner is not None:
            where.append(f"owner = {p}")
            args.append(owner)
        where.append(f"key > {p}")
        args.append(after)  # type: ignore[arg-type]
        if until is not None:
            where.append(f"recorded_at <= {p}")
            args.append(until)
        sql = f"SELECT key, item_id FROM {self.rows_t} WHERE {' AND '.join(where)} ORDER BY key LIMIT {int(n)}"  # noqa: S608
        with self.ds.transaction(commit=False) as c:
            c.execute(sql, tuple(args))
            found = c.fetchall()
        return [self.one(r, "key", "item_id") for r in found]  # type: ignore[misc]

    def all_rows(self) -> list[tuple[Any, ...]]:
        with self.ds.transaction(commit=False) as c:
            c.execute(f"SELECT list, county, key, item_id, owner, recorded_at FROM {self.rows_t} ORDER BY list, key")  # noqa: S608
            found = c.fetchall()
        return [self.one(r, "list", "county", "key", "item_id", "owner", "recorded_at") for r in found]


class TrackedProjection:
    """A projection of a service's notification log kept in the service's own store, caught up
    from the position it tracks (the base of :class:`ListIndex` and of services-log's worker
    lists). ``backend`` holds the rows and the tracking: ``tracked() -> (position, fingerprint)``
    and ``clear()``; a stored fingerprint other than ``fingerprint`` (a changed projection) clears
    it. :meth:`catch_up` reads the log's new notifications of ``topics`` in batches of
    :attr:`batch_size` and hands each batch to :meth:`_write` with each event's recorded instant."""

    batch_size = BATCH

    def __init__(self, app: Any, backend: Any, fingerprint: str, topics: list[str]) -> None:
        self._app = app
        self._backend = backend
        self._fingerprint = fingerprint
        self._topics = topics
        self._lock = threading.Lock()
        position, found = backend.tracked()
        if (position or found) and found != fingerprint:
            backend.clear()
            position = 0
        self._position = position

    def _write(self, start: int, batch: list[tuple[Any, Any, str]], position: int) -> int:
        """Project ``batch`` — ``(notification, event, recorded_at)`` of the notifications after
        ``start`` up to ``position`` — and record ``position`` with it; the position now tracked."""
        raise NotImplementedError

    def catch_up(self) -> None:
        recorder = self._app.process_recorder
        with self._lock:
            head = recorder.max_notification_id() or 0
            while self._position < head:
                start = self._position
                page = recorder.select_notifications(start + 1, self.batch_size, stop=head, topics=self._topics)
                batch = []
                for n in page:
                    e = self._app.mapper.to_domain_event(n)
                    at = (getattr(e, "meta", None) or {}).get("recorded_at")
                    batch.append((n, e, utc_text(datetime.fromisoformat(at) if at else e.timestamp)))
                self._position = self._write(start, batch, page[-1].id if len(page) == self.batch_size else head)

    def rebuild(self) -> None:
        """Drop the rows and replay the whole log."""
        with self._lock:
            self._backend.clear()
            self._position = 0
        self.catch_up()


class ListIndex(TrackedProjection):
    """The list projection of one service (see the module doc)."""

    def __init__(self, app: Any, spec: Mapping[str, Extract]) -> None:
        self._spec = dict(spec)
        topics = sorted(self._spec)
        datastore = getattr(app.process_recorder, "datastore", None)
        # The datastore's module, not the recorder's: a store's recorder may be a subclass defined
        # elsewhere (shared/infra/published.py's, which stores the published bytes).
        module = type(datastore).__module__
        backend: _Memory | _Sql = (
            _Memory() if datastore is None else _Sql(datastore, postgres=module.startswith("eventsourcing.postgres"))
        )
        fingerprint = hashlib.sha256(("\n".join(topics) + "\nv2").encode()).hexdigest()[:16]
        super().__init__(app, backend, fingerprint, topics)

    # --- the projection ----------------------------------------------------------------
    def _write(self, start: int, batch: list[tuple[Any, Any, str]], position: int) -> int:
        rows = [
            Row(name, county, n.id, item_id, owner, recorded)
            for n, e, recorded in batch
            for name, county, item_id, owner in self._spec[n.topic](e)
        ]
        self._backend.write(rows, position, self._fingerprint)
        return position

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row (tests compare a rebuilt projection with the live one)."""
        if isinstance(self._backend, _Sql):
            return self._backend.all_rows()
        out = []
        for (name, county, owner), entries in self._backend.rows.items():
            if county is None or owner is not None:
                continue
            out += [(name, county, key, item_id, None, at) for key, item_id, at in entries]
        return sorted(out, key=lambda r: (r[0], r[2]))

    # --- reads -------------------------------------------------------------------------
    def fetcher(self, name: str, county: str | None, owner: str | None = None) -> Callable[[int | None, int], list[tuple[int, str]]]:
        """``fetch(after, n)`` for :func:`shared.infra.paging.keyset_page`: the next ``n`` entries
        of the list (of one county, or of every county with ``county=None``), as of the pinned
        instant if any."""
        self.catch_up()
        instant = clock.pinned()
        until = utc_text(instant) if instant is not None else None

        def fetch(after: int | None, n: int) -> list[tuple[int, str]]:
            return self._backend.page(name, county, owner, after or 0, n, until)

        return fetch

    def key_of(self, name: str, county: str, item_id: str) -> int | None:
        """The key of one item of a list (None: not listed, or not yet at the pinned instant): one
        lookup on the unique ``(list, county, item id)`` index, whatever the list's length."""
        self.catch_up()
        instant = clock.pinned()
        return self._backend.key_of(name, county, item_id, utc_text(instant) if instant is not None else None)


_attach_lock = threading.Lock()


def index_for(store: Any, spec: Mapping[str, Extract]) -> ListIndex:
    """The store's list projection for ``spec`` (made on first use, in the store's own database)."""
    found = store.__dict__.get("_swp_lists")
    if found is None:
        with _attach_lock:
            found = store.__dict__.get("_swp_lists")
            if found is None:
                found = store.__dict__["_swp_lists"] = ListIndex(store, spec)
    return found


def loader(store: Any, kind: type) -> Callable[[str], Any]:
    """Loads an item by id through the store's repository (pinned reads: its version at that
    instant; created later, or not a ``kind``: None)."""
    from eventsourcing.application import AggregateNotFoundError

    def load(item_id: str) -> Any:
        try:
            found = store.repository.get(uuid.UUID(item_id))
        except (AggregateNotFoundError, ValueError):
            return None
        return found if isinstance(found, kind) else None

    return load
