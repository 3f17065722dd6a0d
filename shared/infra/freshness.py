"""Cached aggregates known current without a fast-forward select per load (issue 16: server CPU
per delivery POST).

The repository keeps aggregates in an in-process cache and, on every load, fast-forwards the
cached one with a ``SELECT … WHERE originator_id = %s AND originator_version > %s``: one statement
per aggregate a command reads (five per delivery), even when nothing changed. A command run under
:meth:`FreshReads.scope` instead asks the store once what was recorded since it last asked — the
notification log after the process's watermark, ids and versions only — and then loads an
aggregate straight from the cache when the cache holds the very version known current.

Why that is as fresh as a fast-forward: PostgreSQL records a save under ``LOCK TABLE … IN
EXCLUSIVE MODE`` held until commit (SQLite serialises writers too), so notification ids become
visible in order: once the log has been read up to id W, any event recorded later, by this
process or another one, has an id above W and is seen by the next read. So an aggregate trusted
at version v stays trusted until a later read of the log names a version above v. The window is
the one a fast-forward has (a save committed between the check and the load is not seen); a
command still saves under optimistic concurrency, and one that loses the race is re-run with
its aggregates' trust dropped.

What is trusted, and when:
- an aggregate a load fast-forwarded (or reconstructed) inside the scope, at the version loaded;
- an aggregate the scope's command saved, at the version saved — put in the cache then (the
  library puts saved aggregates in its cache only without fast-forwarding). Only commands that
  do not touch their aggregates after the save run in the scope;
- never one whose id the log has shown at a higher version (``_seen`` remembers the versions the
  reads of the log came across, so a load that raced such a read does not trust what it read).
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

_scope: contextvars.ContextVar[FreshReads | None] = contextvars.ContextVar("swp_fresh_reads", default=None)

PAGE = 500  # more recorded since the last read than this: forget every trust rather than read on
SEEN_MAX = 50_000  # versions remembered from the log; past this, forgotten (and every trust with them)


def active() -> FreshReads | None:
    """The fresh-reads scope the running command is in, if any."""
    return _scope.get()


class FreshReads:
    """One per application (see the module docstring). ``positions(after, limit)`` lists the
    notification log after ``after`` as ``(notification_id, originator_id, originator_version)``;
    ``top()`` is the log's highest notification id (None when empty)."""

    def __init__(
        self, positions: Callable[[int, int], Sequence[tuple[int, uuid.UUID, int]]], top: Callable[[], int | None]
    ) -> None:
        self._positions = positions
        self._top = top
        self._lock = threading.Lock()
        self.position: int | None = None  # the log has been read up to here
        self._trusted: dict[uuid.UUID, int] = {}  # id → version current as of ``position``
        self._seen: dict[uuid.UUID, int] = {}  # id → highest version the reads of the log came across
        self.epoch = 0  # moves when trust is forgotten wholesale
        self.reads = self.hits = 0

    @contextmanager
    def scope(self) -> Iterator[FreshReads]:
        """Catch up with the log once, then run the block with trusted loads and saves."""
        self.catch_up()
        token = _scope.set(self)
        try:
            yield self
        finally:
            _scope.reset(token)

    def catch_up(self) -> None:
        with self._lock:
            self.reads += 1
            if self.position is not None:
                rows = self._positions(self.position, PAGE)
                if len(rows) < PAGE:
                    for _nid, originator_id, version in rows:
                        if self._seen.get(originator_id, 0) < version:
                            self._seen[originator_id] = version
                        if self._trusted.get(originator_id, -1) < version:
                            self._trusted.pop(originator_id, None)
                    if rows:
                        self.position = rows[-1][0]
                    if len(self._seen) > SEEN_MAX:
                        self._forget()
                    return
            top = self._top() or 0  # read before forgetting: anything later has a higher id
            self._forget()
            self.position = top

    def _forget(self) -> None:
        self._trusted.clear()
        self._seen.clear()
        self.epoch += 1

    def epoch_now(self) -> int:
        return self.epoch

    def cached(self, cache: Any, aggregate_id: uuid.UUID) -> Any:
        """The cached aggregate if it is at the trusted version, else None."""
        version = self._trusted.get(aggregate_id)
        if version is None:
            return None
        try:
            found = cache.get(aggregate_id)
        except KeyError:
            return None
        if getattr(found, "version", None) != version:
            return None
        self.hits += 1
        return found

    def current(self, aggregate_id: uuid.UUID, version: int) -> bool:
        """True when ``version`` is trusted current (0: trusted absent); see :meth:`trust`."""
        return self._trusted.get(aggregate_id) == version

    def trust(self, aggregates: Iterable[tuple[uuid.UUID, int]], epoch: int) -> None:
        """Trust these (id, version) pairs, read or saved since ``epoch`` was taken."""
        with self._lock:
            if epoch != self.epoch:
                return
            for aggregate_id, version in aggregates:
                if self._seen.get(aggregate_id, 0) <= version:
                    self._trusted[aggregate_id] = version

    def distrust(self, aggregate_ids: Iterable[uuid.UUID]) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._trusted.pop(aggregate_id, None)
