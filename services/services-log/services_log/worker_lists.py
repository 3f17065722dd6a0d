"""Each worker's deliveries of a contract, as a projection in services-log's own store.

A worker's token reads a contract's delivery list narrowed to the deliveries naming it (R-AUD-6).
Filtering the contract's list cost up to a thousand delivery reads per page for a worker who did
few of a big contract's deliveries; this projection lists them per ``(contract, worker)`` so a page
is one keyset query and ``limit`` delivery reads, whatever the contract's size.

- **Key**: a delivery's position in its contract's list (0, 1, … in the order logged: the order
  of the ``ContractLog.Tallied`` events naming it), so a worker's list is in the same stable order
  as the contract's and a page cursor is a position of the contract's list (``offset`` too).
- **Membership**: a delivery is in the list of each worker it names (``ServiceDelivery.Logged``);
  a correction that changes its ``worker_ids`` (``Corrected``) ends its rows for the workers it no
  longer names and opens rows for those it now names. A voided delivery stays listed (marked
  voided when read), as in the contract's list.
- **Tracked, rebuilt from the log, as of an instant** like :mod:`shared.infra.listing`: every read
  first catches up from the tracked position of the notification log (batches written in one
  transaction with the position; concurrent catch-ups serialize on the tracking row); a store
  without the tables yet (recorded before this projection) is filled from its whole log on the
  first read, or at start by the service's sweep (:func:`catch_up_worker_lists`); a changed
  :data:`FINGERPRINT` rebuilds; while the clock is pinned (R-AUD-3) only the
  rows open at that instant are read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.utils import get_topic

from services_log.domainmodel import ContractLog, ServiceDelivery
from shared import clock
from shared.infra.listing import OwnTables, TrackedProjection, utc_text

FINGERPRINT = "worker-deliveries-v1"
LOGGED, CORRECTED, TALLIED = (
    get_topic(ServiceDelivery.Logged),
    get_topic(ServiceDelivery.Corrected),
    get_topic(ContractLog.Tallied),
)
TOPICS = sorted({LOGGED, CORRECTED, TALLIED})


@dataclass
class _Item:
    """What the projection knows of one delivery: its contract, the workers it names now (None:
    its ``Logged`` not seen yet) and its position in the contract's list (None: not tallied yet)."""

    contract_id: str | None
    workers: list[str] | None
    position: int | None


class _Memory:
    """The in-memory store's rows (its recorder has no datastore)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.position, self.fingerprint = 0, ""
        self.items: dict[str, _Item] = {}
        self.counts: dict[str, int] = {}
        # (contract, worker) → [position, delivery id, added_at, removed_at]
        self.rows: dict[tuple[str, str], list[list[Any]]] = {}

    def tracked(self) -> tuple[int, str]:
        return self.position, self.fingerprint

    def apply(self, start: int, batch: Callable[[_Ops], None], position: int) -> int:
        if self.position != start:
            return self.position
        batch(_MemoryOps(self))
        self.position, self.fingerprint = position, FINGERPRINT
        return position

    def page(self, contract_id: str, worker_id: str, start: int, n: int, until: str | None) -> list[tuple[int, str]]:
        out = []
        for pos, delivery_id, added, removed in sorted(self.rows.get((contract_id, worker_id), [])):
            if pos < start:
                continue
            if until is None and removed is not None:
                continue
            if until is not None and (added > until or (removed is not None and removed <= until)):
                continue
            out.append((pos, delivery_id))
            if len(out) == n:
                break
        return out


class _Ops:
    """What one batch of the projection reads and writes (in one transaction)."""

    def item(self, delivery_id: str) -> _Item | None:
        raise NotImplementedError

    def put_item(self, delivery_id: str, item: _Item) -> None:
        raise NotImplementedError

    def take_positions(self, log_id: str, n: int) -> int:
        """The position of the first of ``n`` new deliveries of a contract's list (counts them)."""
        raise NotImplementedError

    def open_row(self, contract_id: str, worker_id: str, position: int, delivery_id: str, at: str) -> None:
        raise NotImplementedError

    def close_row(self, contract_id: str, worker_id: str, position: int, at: str) -> None:
        raise NotImplementedError


class _MemoryOps(_Ops):
    def __init__(self, m: _Memory) -> None:
        self.m = m

    def item(self, delivery_id: str) -> _Item | None:
        found = self.m.items.get(delivery_id)
        return None if found is None else _Item(found.contract_id, found.workers, found.position)

    def put_item(self, delivery_id: str, item: _Item) -> None:
        self.m.items[delivery_id] = item

    def take_positions(self, log_id: str, n: int) -> int:
        first = self.m.counts.get(log_id, 0)
        self.m.counts[log_id] = first + n
        return first

    def open_row(self, contract_id: str, worker_id: str, position: int, delivery_id: str, at: str) -> None:
        self.m.rows.setdefault((contract_id, worker_id), []).append([position, delivery_id, at, None])

    def close_row(self, contract_id: str, worker_id: str, position: int, at: str) -> None:
        for row in self.m.rows.get((contract_id, worker_id), []):
            if row[0] == position and row[3] is None:
                row[3] = at


class _Sql(OwnTables):
    """The worker lists' rows in services-log's own database."""

    def __init__(self, datastore: Any, postgres: bool) -> None:
        super().__init__(datastore, postgres)
        prefix = self.prefix
        self.rows_t, self.items_t = f"{prefix}swp_worker_rows", f"{prefix}swp_worker_items"
        self.counts_t, self.track_t = f"{prefix}swp_worker_counts", f"{prefix}swp_worker_tracking"
        self.create_tables()

    def _create(self) -> None:
        p = self.p
        with self.ds.transaction(commit=True) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.rows_t} (contract_id TEXT NOT NULL, worker_id TEXT NOT NULL, "
                "position BIGINT NOT NULL, delivery_id TEXT NOT NULL, added_at TEXT NOT NULL, removed_at TEXT, "
                "PRIMARY KEY (contract_id, worker_id, position, added_at))"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.items_t} (delivery_id TEXT PRIMARY KEY, contract_id TEXT, "
                "workers TEXT, position BIGINT)"
            )
            c.execute(f"CREATE TABLE IF NOT EXISTS {self.counts_t} (log_id TEXT PRIMARY KEY, logged BIGINT NOT NULL)")
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self.track_t} (name TEXT PRIMARY KEY, position BIGINT NOT NULL, "
                "fingerprint TEXT NOT NULL)"
            )
            c.execute(
                f"INSERT INTO {self.track_t} (name, position, fingerprint) VALUES ({p}, 0, '') "  # noqa: S608
                "ON CONFLICT (name) DO NOTHING",
                ("workers",),
            )

    def tracked(self) -> tuple[int, str]:
        return self.tracked_in(self.track_t, "workers")

    def clear(self) -> None:
        with self.ds.transaction(commit=True) as c:
            for table in (self.rows_t, self.items_t, self.counts_t):
                c.execute(f"DELETE FROM {table}")  # noqa: S608
            c.execute(f"UPDATE {self.track_t} SET position = 0, fingerprint = '' WHERE name = {self.p}", ("workers",))  # noqa: S608

    def apply(self, start: int, batch: Callable[[_Ops], None], position: int) -> int:
        """Apply a batch read from ``start`` if the tracked position is still ``start`` (another
        process may have applied it meanwhile: then its position is returned and nothing done)."""
        p = self.p
        lock = " FOR UPDATE" if self.pg else ""
        with self.ds.transaction(commit=True) as c:
            if not self.pg:  # take SQLite's write lock first: the check and the writes are one
                c.execute(f"UPDATE {self.track_t} SET name = name WHERE name = {p}", ("workers",))  # noqa: S608
            c.execute(f"SELECT position FROM {self.track_t} WHERE name = {p}{lock}", ("workers",))  # noqa: S608
            now = int(self.one(c.fetchone(), "position")[0])
            if now != start:
                return now
            ops = _SqlOps(self, c)
            batch(ops)
            ops.flush()
            c.execute(
                f"UPDATE {self.track_t} SET position = {p}, fingerprint = {p} WHERE name = {p}",  # noqa: S608
                (position, FINGERPRINT, "workers"),
            )
        return position

    def page(self, contract_id: str, worker_id: str, start: int, n: int, until: str | None) -> list[tuple[int, str]]:
        p = self.p
        sql = (
            f"SELECT position, delivery_id FROM {self.rows_t} WHERE contract_id = {p} AND worker_id = {p} "  # noqa: S608
            f"AND position >= {p} AND "
        )
        args: tuple[Any, ...] = (contract_id, worker_id, start)
        if until is None:
            sql += "removed_at IS NULL"
        else:
            sql += f"added_at <= {p} AND (removed_at IS NULL OR removed_at > {p})"
            args += (until, until)
        sql += f" ORDER BY position LIMIT {int(n)}"
        with self.ds.transaction(commit=False) as c:
            c.execute(sql, args)
            found = c.fetchall()
        return [(int(pos), str(d)) for pos, d in (self.one(r, "position", "delivery_id") for r in found)]


class _SqlOps(_Ops):
    """One batch against the database: the items and counts it touches read in a few queries, its
    changes kept here and written at :meth:`flush` with ``executemany`` (a batch of 500 events is a
    handful of statements, not three per event)."""

    def __init__(self, sql: _Sql, cursor: Any) -> None:
        self.s, self.c = sql, cursor
        self.items: dict[str, _Item | None] = {}
        self.dirty: set[str] = set()
        self.counts: dict[str, int] = {}
        self.opened: dict[tuple[str, str, int], list[Any]] = {}  # rows opened in this batch
        self.closed: list[tuple[str, str, str, int]] = []  # rows of earlier batches ended in this one

    def _select(self, table: str, column: str, names: str, keys: list[str]) -> list[tuple[Any, ...]]:
        s, out = self.s, []
        for start in range(0, len(keys), 200):
            chunk = keys[start : start + 200]
            marks = ", ".join([s.p] * len(chunk))
            self.c.execute(f"SELECT {column}, {names} FROM {table} WHERE {column} IN ({marks})", tuple(chunk))  # noqa: S608
            out += [s.one(r, column, *names.split(", ")) for r in self.c.fetchall()]
        return out

    def prefetch(self, delivery_ids: set[str], log_ids: set[str]) -> None:
        self.items.update({d: None for d in delivery_ids})
        for delivery_id, contract_id, workers, position in self._select(
            self.s.items_t, "delivery_id", "contract_id, workers, position", sorted(delivery_ids)
        ):
            self.items[delivery_id] = _Item(
                contract_id,
                None if workers is None else json.loads(workers),
                None if position is None else int(position),
            )
        self.counts.update({log_id: 0 for log_id in log_ids})
        for log_id, logged in self._select(self.s.counts_t, "log_id", "logged", sorted(log_ids)):
            self.counts[log_id] = int(logged)

    def item(self, delivery_id: str) -> _Item | None:
        found = self.items.get(delivery_id)
        return None if found is None else _Item(found.contract_id, found.workers, found.position)

    def put_item(self, delivery_id: str, item: _Item) -> None:
        self.items[delivery_id] = item
        self.dirty.add(delivery_id)

    def take_positions(self, log_id: str, n: int) -> int:
        first = self.counts.get(log_id, 0)
        self.counts[log_id] = first + n
        return first

    def open_row(self, contract_id: str, worker_id: str, position: int, delivery_id: str, at: str) -> None:
        self.opened[(contract_id, worker_id, position, at)] = [contract_id, worker_id, position, delivery_id, at, None]

    def close_row(self, contract_id: str, worker_id: str, position: int, at: str) -> None:
        mine = [r for r in self.opened.values() if r[:3] == [contract_id, worker_id, position] and r[5] is None]
        if mine:
            mine[0][5] = at
        else:
            self.closed.append((at, contract_id, worker_id, position))

    def flush(self) -> None:
        s, p = self.s, self.s.p
        if self.closed:  # rows of earlier batches first: the rows this batch opens are not among them
            self.c.executemany(
                f"UPDATE {s.rows_t} SET removed_at = {p} WHERE contract_id = {p} AND worker_id = {p} "  # noqa: S608
                f"AND position = {p} AND removed_at IS NULL",
                self.closed,
            )
        if self.opened:
            self.c.executemany(
                f"INSERT INTO {s.rows_t} (contract_id, worker_id, position, delivery_id, added_at, removed_at) "  # noqa: S608
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
                [tuple(r) for r in self.opened.values()],
            )
        if self.dirty:
            self.c.executemany(
                f"INSERT INTO {s.items_t} (delivery_id, contract_id, workers, position) VALUES ({p}, {p}, {p}, {p}) "  # noqa: S608
                "ON CONFLICT (delivery_id) DO UPDATE SET contract_id = excluded.contract_id, workers = excluded.workers, "
                "position = excluded.position",
                [
                    (d, i.contract_id, None if i.workers is None else json.dumps(i.workers), i.position)
                    for d in sorted(self.dirty)
                    if (i := self.items[d]) is not None
                ],
            )
        if self.counts:
            self.c.executemany(
                f"INSERT INTO {s.counts_t} (log_id, logged) VALUES ({p}, {p}) "  # noqa: S608
                "ON CONFLICT (log_id) DO UPDATE SET logged = excluded.logged",
                sorted(self.counts.items()),
            )


def _open(ops: _Ops, delivery_id: str, item: _Item, workers: list[str], at: str) -> None:
    if item.contract_id is not None and item.position is not None:
        for worker_id in workers:
            ops.open_row(item.contract_id, worker_id, item.position, delivery_id, at)


def _close(ops: _Ops, item: _Item, workers: list[str], at: str) -> None:
    if item.contract_id is not None and item.position is not None:
        for worker_id in workers:
            ops.close_row(item.contract_id, worker_id, item.position, at)


def _project(ops: _Ops, event: Any, topic: str, at: str) -> None:
    """One event into the rows. ``Logged`` and the ``Tallied`` naming it are saved together, in
    either order: a delivery's rows open once both are seen."""
    if topic == TALLIED:
        ids = list(event.new_delivery_ids)
        first = ops.take_positions(str(event.originator_id), len(ids))
        for i, delivery_id in enumerate(ids):
            item = ops.item(delivery_id) or _Item(None, None, None)
            if item.position is not None:
                continue
            item.position = first + i
            ops.put_item(delivery_id, item)
            _open(ops, delivery_id, item, item.workers or [], at)
        return
    delivery_id = str(event.originator_id)
    item = ops.item(delivery_id) or _Item(None, None, None)
    before, now = item.workers or [], list(dict.fromkeys(event.worker_ids))
    item.contract_id = item.contract_id or event.contract_id
    item.workers = now
    ops.put_item(delivery_id, item)
    _close(ops, item, [w for w in before if w not in now], at)
    _open(ops, delivery_id, item, [w for w in now if w not in before], at)


class WorkerDeliveries(TrackedProjection):
    """The projection of one services-log store (see the module doc)."""

    def __init__(self, app: Any) -> None:
        datastore = getattr(app.process_recorder, "datastore", None)
        if datastore is None:
            backend: _Memory | _Sql = _Memory()
        else:
            backend = _Sql(datastore, postgres=type(datastore).__module__.startswith("eventsourcing.postgres"))
        super().__init__(app, backend, FINGERPRINT, TOPICS)

    def _write(self, start: int, batch: list[tuple[Any, Any, str]], position: int) -> int:
        events = [(e, n.topic, at) for n, e, at in batch]

        def project(ops: _Ops) -> None:
            if isinstance(ops, _SqlOps):
                tallied = [e for e, topic, _ in events if topic == TALLIED]
                ops.prefetch(
                    {str(e.originator_id) for e, topic, _ in events if topic != TALLIED}
                    | {str(d) for e in tallied for d in e.new_delivery_ids},
                    {str(e.originator_id) for e in tallied},
                )
            for e, topic, at in events:
                _project(ops, e, topic, at)

        return self._backend.apply(start, project, position)

    def page(self, contract_id: str, worker_id: str, start: int, n: int) -> list[tuple[int, str]]:
        """Up to ``n`` of the worker's deliveries of the contract from position ``start`` of the
        contract's list, as ``(position, delivery id)`` in that order (as of the pinned instant if any)."""
        self.catch_up()
        instant = clock.pinned()
        until = utc_text(instant) if instant is not None else None
        return self._backend.page(contract_id, worker_id, start, n, until)


_attach_lock = threading.Lock()


def worker_deliveries(store: Any) -> WorkerDeliveries:
    """The store's projection (made on first use: its tables created and filled from the log)."""
    found = store.__dict__.get("_swp_worker_deliveries")
    if found is None:
        with _attach_lock:
            found = store.__dict__.get("_swp_worker_deliveries")
            if found is None:
                found = store.__dict__["_swp_worker_deliveries"] = WorkerDeliveries(store)
    return found


def catch_up_worker_lists(service: Any) -> None:
    """The service's sweep (``ServiceSpec.sweeps``: at start, then every ``sweep_seconds``): the
    lists caught up outside a request, so a store recorded before them is filled on start and a
    worker's read finds little to catch up."""
    worker_deliveries(getattr(service, "store", service)).catch_up()
