"""Property-based run of every service's OpenAPI schema, in-process against the real platform
(real NATS, SQLite): no server error and no response that breaks the schema, with no token,
with a province-wide token and with a county-scoped one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from gateway.app import create_app
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import HOST, get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.infra.auth import Role, issue_token
from shared.infra.natsserver import NatsServer, free_port
from shared.testing.fixtures import make_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, Any]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    server = NatsServer(free_port(), tmp / "nats").start()
    cfg = make_settings("sqlite", server.url, tmp / "var")
    try:
        yield create_app(cfg), cfg
    finally:
        shutdown_lifespans()  # schemathesis keeps the app's lifespan open until told
        server.stop()


def auth_headers(kind: str, cfg: Any) -> dict[str, str]:
    if kind == "none":
        return {}
    if kind == "province":
        token = issue_token(cfg, sub="fuzz-admin", role=Role.PROVINCE_ADMIN, counties=["*"])
    else:
        token = issue_token(cfg, sub="fuzz-purchaser", role=Role.PURCHASER, counties=["640402"])
    return {"Authorization": f"Bearer {token}"}


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def wait_until_healthy(app: FastAPI, service: str) -> None:
    """/health is 503 until the service has reached NATS; fuzz the service once it is up."""
    with get_client(app) as client:
        deadline = time.monotonic() + 30
        while client.get(f"http://{HOST}/{service}/health").status_code != 200:
            assert time.monotonic() < deadline, f"{service} never became healthy"
            time.sleep(0.1)


def call_with_every_kind_of_caller(case: Any, cfg: Any) -> None:
    for kind in ("none", "province", "county"):
        case.call_and_validate(headers=auth_headers(kind, cfg), checks=CHECKS)


@pytest.mark.parametrize("service", ["registry", "services-log", "evaluation", "finance"])
def test_every_operation_of_the_service(service, platform):
    app, cfg = platform
    schema = schemathesis.openapi.from_asgi(f"/{service}/openapi.json", app)  # starts the lifespan
    wait_until_healthy(app, service)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            call_with_every_kind_of_caller(case, cfg)

        check()
