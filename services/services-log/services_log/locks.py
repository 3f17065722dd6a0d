"""Per-contract serialisation of writes inside one process.

Two deliveries of one contract in flight would both read its ``ContractLog`` at version n and
one of them would lose the optimistic-concurrency race (409). Holding the contract's lock while
a command reads, decides and saves makes them queue instead. Several processes on one store
still race; ``run_command`` re-runs a command that lost such a race.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    """One re-entrant lock per key. Locks in use are never dropped; of the idle ones the
    ``maxsize`` most recently used are kept, so the dict stays bounded."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
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
        """Hold the locks of all ``keys`` (taken in sorted order: no deadlock between holders)."""
        ordered = sorted(set(keys))
        locks = [self._take(key) for key in ordered]
        acquired: list[threading.RLock] = []
        try:
            for lock in locks:
                lock.acquire()
                acquired.append(lock)
            yield
        finally:
            for lock in reversed(acquired):
                lock.release()
            for key in ordered:
                self._give(key)

    def __len__(self) -> int:
        with self._guard:
            return len(self._idle) + len(self._busy)
