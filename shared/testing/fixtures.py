"""Pytest fixtures for real-server tests (loaded with ``-p shared.testing.fixtures``).

NATS: a real ``nats-server`` per test on a free port, so a test can kill and restart
it; where a Docker engine is reachable (``SWP_TEST_DOCKER=1``) testcontainers runs it
instead. PostgreSQL: the server at 127.0.0.1:5432 (or a testcontainers one), with a
fresh database per run dropped afterwards; each test gets its own schemas. With
``CI=true`` an unreachable PostgreSQL fails the PostgreSQL tests instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.infra.auth import Role, issue_token
from shared.infra.natsserver import NatsServer, free_port
from shared.infra.settings import Settings


def docker_available() -> bool:
    if os.environ.get("SWP_TEST_DOCKER") != "1":
        return False
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@dataclass
class NatsHandle:
    url: str
    server: NatsServer | None  # None when run by testcontainers (no kill/restart)

    def kill(self) -> None:
        assert self.server, "kill/restart needs a local nats-server"
        self.server.stop(kill=True)

    def start(self) -> None:
        assert self.server
        self.server.start()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsHandle]:
    server = NatsServer(free_port(), tmp_path / "nats", log_file=tmp_path / "nats.log").start()
    try:
        yield NatsHandle(server.url, server)
    finally:
        server.stop()


@dataclass(frozen=True)
class PostgresInfo:
    host: str
    port: int
    user: str
    password: str
    dbname: str


def _pg_connect(host: str, port: int, user: str, password: str, dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(host=host, port=port, user=user, password=password, dbname=dbname, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresInfo]:
    container = None
    host, port, user, password = (
        os.environ.get("SWP_TEST_PG_HOST", "127.0.0.1"),
        int(os.environ.get("SWP_TEST_PG_PORT", "5432")),
        os.environ.get("SWP_TEST_PG_USER", "postgres"),
        os.environ.get("SWP_TEST_PG_PASSWORD", ""),
    )
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15-alpine").start()
        host, port = container.get_container_host_ip(), int(container.get_exposed_port(5432))
        user, password = container.username, container.password
    try:
        admin = _pg_connect(host, port, user, password)
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {host}:{port}: {exc}")
    dbname = f"swp_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield PostgresInfo(host, port, user, password, dbname)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.close()
        if container is not None:
            container.stop()


def make_settings(
    persistence: str, nats_url: str, var_dir: Path, pg: PostgresInfo | None = None, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        "persistence": persistence,
        "var_dir": var_dir,
        "relay_poll_seconds": 0.1,
        "sweep_seconds": 0,  # background sweeps would record events while a test counts them
    }
    if persistence == "postgres":
        assert pg is not None
        values.update(
            postgres_host=pg.host,
            postgres_port=pg.port,
            postgres_user=pg.user,
            postgres_password=pg.password,
            postgres_dbname=pg.dbname,
            postgres_schema_prefix=f"t{uuid.uuid4().hex[:8]}_",
        )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def persistence(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(persistence: str, nats_server: NatsHandle, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    return make_settings(persistence, nats_server.url, tmp_path / "var", pg)


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self, role: Role | str, *counties: str, sub: str = "tester", **claims: Any) -> dict[str, str]:
        token = issue_token(self.settings, sub=sub, role=role, counties=list(counties), **claims)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    return Tokens(settings)


@asynccontextmanager
async def running(*apps: FastAPI) -> AsyncIterator[None]:
    """Run the apps' lifespans (as a server would) for the duration of the block."""
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30)
