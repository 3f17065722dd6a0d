"""Raw eventsourcing baselines: a minimal Application and Aggregate, nothing of the platform.

Appends one event per transaction (a new aggregate per ``save``) and many per transaction
(one ``save`` of 100 new aggregates), then reads the notification log back in pages, on
SQLite (a file, WAL, as the services use it) and PostgreSQL (a scratch database).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": ""}


class Tally(Aggregate):
    """About the size of a delivery: a handful of fields."""

    @event("Recorded")
    def __init__(self, county: str, kind: str, area: str, day: str, hours: str, person_times: int) -> None:
        self.county = county
        self.kind = kind
        self.area = area
        self.day = day
        self.hours = hours
        self.person_times = person_times


class RawApp(Application[uuid.UUID]):
    name = "raw"


def new_tally(i: int) -> Tally:
    return Tally(county="640402", kind="帮扶救助", area="社会救助", day="2026-10-05", hours="2.50", person_times=i % 50)


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def append_single(app: RawApp, seconds: float, max_count: int = 20_000) -> Rate:
    """One event per transaction, for about ``seconds``."""
    n, start = 0, time.perf_counter()
    while n < max_count and time.perf_counter() - start < seconds:
        app.save(new_tally(n))
        n += 1
    return Rate(n, time.perf_counter() - start)


def append_batched(app: RawApp, seconds: float, batch: int = 100, max_count: int = 50_000) -> Rate:
    """``batch`` events per transaction, for about ``seconds``."""
    n, start = 0, time.perf_counter()
    while n < max_count and time.perf_counter() - start < seconds:
        app.save(*(new_tally(n + i) for i in range(batch)))
        n += batch
    return Rate(n, time.perf_counter() - start)


def read_notifications(recorder: Any, page: int = 1000) -> Rate:
    """The whole notification log, page by page (no decoding): the replay baseline."""
    n, start, position = 0, time.perf_counter(), 1
    while True:
        got = recorder.select_notifications(position, page)
        n += len(got)
        if len(got) < page:
            break
        position = got[-1].id + 1
    return Rate(n, time.perf_counter() - start)


def read_and_decode(app: Application[uuid.UUID], page: int = 1000) -> Rate:
    """The log read and every record decoded into its domain event (what any replay must do)."""
    n, start, position = 0, time.perf_counter(), 1
    while True:
        got = app.recorder.select_notifications(position, page)  # type: ignore[attr-defined]
        for notification in got:
            app.mapper.to_domain_event(notification)
        n += len(got)
        if len(got) < page:
            break
        position = got[-1].id + 1
    return Rate(n, time.perf_counter() - start)


def sqlite_env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "SQLITE_LOCK_TIMEOUT": "10"}


def pg_connect(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(dbname=dbname, autocommit=True, connect_timeout=3, **PG)


def postgres_available() -> str | None:
    """None when reachable, else why not."""
    try:
        pg_connect().close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@contextmanager
def scratch_database(prefix: str = "swp_bench") -> Iterator[str]:
    """A PostgreSQL database of our own, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = pg_connect()
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def postgres_env(dbname: str, schema: str = "public") -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": PG["host"],
        "POSTGRES_PORT": str(PG["port"]),
        "POSTGRES_USER": PG["user"],
        "POSTGRES_PASSWORD": PG["password"],
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_SCHEMA": schema,
        # As the services are configured (shared/infra/settings.py).
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "5",
    }


def measure(env: Mapping[str, str], seconds: float) -> dict[str, Rate]:
    app = RawApp(env=dict(env))
    try:
        app.save(new_tally(0))  # tables created, connection warm
        single = append_single(app, seconds)
        batched = append_batched(app, seconds)
        read = read_notifications(app.recorder)
        decoded = read_and_decode(app)
    finally:
        app.close()
    return {"single": single, "batched": batched, "read": read, "decoded": decoded}
