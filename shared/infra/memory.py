"""A process's memory held to a byte budget (issue 16: "RSS bounded by a configured byte budget").

What grows with use in a service process is its caches: the aggregate cache of each service's
repository (eventsourcing's ``LRUCache``, bounded by a count of aggregates, not by bytes — a
50,000-delivery ledger and an empty one count the same). Counting entries cannot bound bytes, so
one guard per process reads the resident set size every second (``/proc/self/statm``) and, while
it is over ``SWP_MEMORY_BUDGET_MB``, evicts the least recently used quarter of every registered
cache, collects garbage and returns freed arenas to the operating system (glibc ``malloc_trim``).
An evicted aggregate is simply loaded again from its snapshot and events on its next use.

The guard is process-wide (RSS is) and idempotent: the services co-hosted by the gateway share it.
``swp_process_resident_bytes``, ``swp_memory_budget_bytes`` and ``swp_memory_evictions_total`` on
``/metrics`` show it working.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import weakref
from typing import Any, Protocol

log = logging.getLogger(__name__)

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Evictable(Protocol):
    def evict_oldest(self, fraction: float) -> int: ...


_caches: weakref.WeakSet[Any] = weakref.WeakSet()


def register(cache: Evictable) -> None:
    """``cache`` gives back its oldest entries when the process is over its budget."""
    _caches.add(cache)


def evict_lru(cache: Any, fraction: float) -> int:
    """Drop the least recently used ``fraction`` of an eventsourcing ``LRUCache`` (or of a plain
    ``Cache``'s dict, oldest inserted first); returns how many entries went."""
    lock = getattr(cache, "lock", None)
    entries = getattr(cache, "cache", None)
    if entries is None:
        return 0
    count = int(len(entries) * fraction) or (1 if entries else 0)
    keys: list[Any] = []
    root = getattr(cache, "root", None)
    with lock if lock is not None else _NoLock():
        if root is not None and hasattr(cache, "NEXT"):
            link = root[cache.NEXT]
            while link is not root and len(keys) < count:  # the list runs oldest → newest
                keys.append(link[cache.KEY])
                link = link[cache.NEXT]
        else:
            keys = list(entries)[:count]
    gone = 0
    for key in keys:
        try:
            cache.get(key, evict=True)
            gone += 1
        except KeyError:  # used or evicted meanwhile
            pass
    return gone


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def resident_bytes() -> int:
    """This process's resident set size now (0 where /proc is absent)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _trim() -> None:
    """Give freed heap back to the OS (glibc); a no-op elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemoryGuard:
    """Checks RSS every ``interval`` seconds against ``budget`` bytes; over it, shrinks the caches."""

    def __init__(self, budget: int, interval: float = 1.0, fraction: float = 0.25) -> None:
        self.budget = budget
        self.interval = interval
        self.fraction = fraction
        self.evictions = 0  # cache entries dropped
        self.rounds = 0  # times the guard found the process over budget
        self.last_rss = resident_bytes()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MemoryGuard:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="swp-memory-guard", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # never let the guard die
                log.exception("memory guard check failed")

    def check(self) -> int:
        """One look: evicts while over budget; returns the entries dropped."""
        self.last_rss = resident_bytes()
        if not self.budget or self.last_rss <= self.budget:
            return 0
        self.rounds += 1
        dropped = 0
        for cache in list(_caches):
            dropped += cache.evict_oldest(self.fraction)
        gc.collect()
        _trim()
        self.evictions += dropped
        after = resident_bytes()
        log.info("memory guard: RSS %d MB over the %d MB budget; %d cached aggregates evicted, RSS now %d MB",
                 self.last_rss >> 20, self.budget >> 20, dropped, after >> 20)
        self.last_rss = after
        return dropped


_guard: MemoryGuard | None = None
_guard_lock = threading.Lock()


def start_guard(budget_mb: int, interval: float = 1.0) -> MemoryGuard | None:
    """The process's guard (started once; a later call with a budget keeps the smallest budget)."""
    global _guard
    if budget_mb <= 0:
        return _guard
    with _guard_lock:
        if _guard is None:
            _guard = MemoryGuard(budget_mb << 20, interval).start()
        else:
            _guard.budget = min(_guard.budget, budget_mb << 20)
        return _guard


def guard() -> MemoryGuard | None:
    return _guard


def stop_guard() -> None:
    """Stop and forget the process's guard (tests; a process otherwise keeps it for its life)."""
    global _guard
    with _guard_lock:
        if _guard is not None:
            _guard.stop()
        _guard = None
