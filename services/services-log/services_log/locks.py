"""Per-contract serialisation of writes, inside one process and across the processes of a store.

Two deliveries of one contract in flight would both read its ``ContractLog`` at version n and
one of them would lose the optimistic-concurrency race (409). Holding the contract's lock while
a command reads, decides and saves makes them queue instead. Inside a process a thread lock per
contract queues them; across processes sharing a PostgreSQL store the same keys are then locked
in the store (``pg_advisory_xact_lock``, ``shared.infra.leader.StoreLocks``), so several
processes of services-log queue on a shared contract too. ``run_command`` still re-runs a
command that lost a race (e.g. with a consumer's reaction), as a safety net.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class AcrossProcesses(Protocol):
    def holding(self, *keys: str) -> AbstractContextManager[None]: ...


class KeyedLocks:
    """One re-entrant lock per key. Locks in use are never dropped; of the idle ones the
    ``maxsize`` most recently used are kept, so the dict stays bounded."""

    def __init__(self, maxsize: int = 10_000, store: AcrossProcesses | None = None) -> None:
        self.maxsize = maxsize
        self.store = store  # taken after the thread locks, in the same sorted order
        self._held = threading.local()  # keys this thread holds already (re-entrant use)
        self._guard = threading.Lock()
        self._idle: OrderedDict[str, threading.RLock] = OrderedDict()
        self._busy: dict[str, tuple[threading.RLock, int]] = {}

    def _take(self, key: str) -> threading.RLock:
        with self._guard:
            if key in self._busy:
                lock, users = self._busy[key]
            else:
                lock, users = self._idle.pop(key, None) or threading.RLock(), 0
            self._busy[key] = (lock, users + 1)
            return lock

    def _give(self, key: str) -> None:
        with self._guard:
            lock, users = self._busy.pop(key)
            if users > 1:
                self._busy[key] = (lock, users - 1)
                return
            self._idle[key] = lock
            while len(self._idle) > self.maxsize:
                self._idle.popitem(last=False)

    @contextmanager
    def holding(self, *keys: str) -> Iterator[None]:
        """Hold the locks of all ``keys`` (taken in sorted order: no deadlock between holders).
        A thread that already holds them (re-entrant) does not take the store's locks again."""
        ordered = sorted(set(keys))
        locks = [self._take(key) for key in ordered]
        acquired: list[threading.RLock] = []
        try:
            for lock in locks:
                lock.acquire()
                acquired.append(lock)
            held: set[str] = self._held.__dict__.setdefault("keys", set())
            outermost = [key for key in ordered if key not in held]
            held.update(outermost)
            try:
                if self.store is not None and outermost:
                    with self.store.holding(*outermost):
                        yield
                else:
                    yield
            finally:
                held.difference_update(outermost)
        finally:
            for lock in reversed(acquired):
                lock.release()
            for key in ordered:
                self._give(key)

    def __len__(self) -> int:
        with self._guard:
            return len(self._idle) + len(self._busy)
