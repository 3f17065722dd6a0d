"""Several processes of one service on one store: who runs the store-wide jobs, and the
per-key write locks that hold across processes.

Leader election (``Election``): the outbox relay and the chain sealer run in exactly one
process per store (the service runs both under one election: one held connection per process). On PostgreSQL the leader holds a session-level advisory lock
(``pg_try_advisory_lock``) on a dedicated connection for as long as it leads, and checks that
connection every ``check_seconds``; followers try again every ``retry_seconds``. When the
leader process dies its session ends, PostgreSQL releases the lock and a follower takes over
within ``retry_seconds``. Should a leader lose its connection while it is still running, it
stops leading at its next check; in the short overlap a second relay re-sends events that
JetStream's duplicate window (``Nats-Msg-Id``) drops, and a second sealer's links conflict and
are discarded — both jobs are safe to overlap, leadership only stops the waste.
On SQLite a single process per store is the supported deployment; an exclusive ``flock`` on
``<var_dir>/<service>.leader`` still keeps an accidental second process on the same
machine from running the jobs twice. The in-memory store is always its own leader.

Store locks (``StoreLocks``): on PostgreSQL, ``holding(*keys)`` opens a transaction on a pooled
connection of its own and takes ``pg_advisory_xact_lock`` for each key in sorted order; the
locks are held until the block ends (the transaction commits or rolls back, or the connection
dies). A side transaction is needed because eventsourcing opens its write transaction only
inside ``insert_events`` — after the command has read and decided — so a lock taken there would
not keep two processes from deciding on the same version. On SQLite and in memory (one
process) ``holding`` does nothing: the in-process locks of the caller are enough.
Each key is one entry of PostgreSQL's shared lock table (``max_locks_per_transaction`` ×
connections, ~6,400 by default): a bulk import locks the contracts of one batch, never thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("swp.leader")


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for a name (PostgreSQL's ``bigint``)."""
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big", signed=True)


def pg_params(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "host": env["POSTGRES_HOST"],
        "port": int(env.get("POSTGRES_PORT", "5432")),
        "user": env["POSTGRES_USER"],
        "password": env.get("POSTGRES_PASSWORD", ""),
        "dbname": env["POSTGRES_DBNAME"],
        "connect_timeout": 5,
        # A partitioned leader's session must end: keepalives let the server notice.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
    }


def is_postgres(env: Mapping[str, str]) -> bool:
    return env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"


class LeaderLock(Protocol):
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool: ...
    def release(self) -> None: ...


class PostgresLeaderLock:
    """A session advisory lock on a dedicated connection, held while leading."""

    def __init__(self, env: Mapping[str, str], name: str) -> None:
        self.params = pg_params(env)
        self.key = lock_key(env.get("POSTGRES_SCHEMA", ""), "leader", name)
        self.conn: Any = None

    def try_acquire(self) -> bool:
        import psycopg

        self.release()
        self.conn = psycopg.connect(autocommit=True, **self.params)
        got = bool(self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0])
        if not got:
            self.release()
        return got

    def still_held(self) -> bool:
        try:  # a session lock lasts as long as its session: a live connection still holds it
            self.conn.execute("SELECT 1").fetchone()
            return True
        except Exception as exc:  # connection gone: so is the lock
            log.warning("leader lock connection lost: %s", exc)
            return False

    def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()  # ends the session: the lock goes with it
            self.conn = None


class FileLeaderLock:
    """SQLite: an exclusive ``flock`` held while leading (one machine)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: Any = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open(self.path, "a+")  # noqa: SIM115 - kept open while leading
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fd.close()
            return False
        self.fd = fd
        return True

    def still_held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self.fd.close()
            self.fd = None


class AlwaysLeader:
    def try_acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        pass


def leader_lock(env: Mapping[str, str], service: str, role: str) -> LeaderLock:
    if is_postgres(env):
        return PostgresLeaderLock(env, f"{service}:{role}")
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
        db = Path(env["SQLITE_DBNAME"])
        return FileLeaderLock(db.with_name(f"{db.stem}.{role}"))
    return AlwaysLeader()


class Election:
    """Runs ``lead()`` (a coroutine that runs the role until cancelled) while this process
    holds the role's lock; tries to take it every ``retry_seconds`` while it does not."""

    def __init__(self, role: str, lock: LeaderLock, *, retry_seconds: float = 2.0, check_seconds: float = 2.0) -> None:
        self.role = role
        self.lock = lock
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.leading = False
        self.terms = 0  # times this process became leader
        self._lock_guard = threading.Lock()  # the lock's connection is used from worker threads

    def _call(self, fn: Callable[[], Any]) -> Any:
        with self._lock_guard:
            return fn()

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                got = await asyncio.to_thread(self._call, self.lock.try_acquire)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store unreachable: try again
                log.warning("%s election: %s", self.role, exc)
                got = False
            if not got:
                await asyncio.sleep(self.retry_seconds)
                continue
            self.leading, self.terms = True, self.terms + 1
            log.info("this process now runs the %s of its store", self.role)
            task = asyncio.create_task(lead(), name=f"lead-{self.role}")
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=self.check_seconds)
                    if not task.done() and not await asyncio.to_thread(self._call, self.lock.still_held):
                        log.warning("lost the %s lock: stepping down", self.role)
                        break
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.warning("%s stopped: %s", self.role, task.exception())
            finally:
                self.leading = False
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                await asyncio.to_thread(self._call, self.lock.release)


class StoreLocks:
    """Per-key write locks held in the store (see the module docstring)."""

    def __init__(self, env: Mapping[str, str], *, max_connections: int = 10) -> None:
        self.env = dict(env)
        self.enabled = is_postgres(env)
        self.max_connections = max_connections
        self._pool: Any = None
        self._guard = threading.Lock()
        self.schema = env.get("POSTGRES_SCHEMA", "")

    def _get_pool(self) -> Any:
        with self._guard:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    kwargs=pg_params(self.env), min_size=1, max_size=self.max_connections, timeout=60, open=True,
                    name="swp-store-locks",
                )
            return self._pool

    @contextlib.contextmanager
    def holding(self, *keys: str) -> Iterator[None]:
        if not self.enabled or not keys:
            yield
            return
        with self._get_pool().connection() as conn, conn.transaction():
            for key in sorted(set(keys)):
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "write", key),))
            yield

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection inside a transaction, for a caller that takes its locks one by one
        (a batch of reactions, shared/infra/store.py ``ReactionBatch``); released when the block ends."""
        with self._get_pool().connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        with self._guard:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
