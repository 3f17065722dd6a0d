"""Property-based run of every service's OpenAPI schema, in-process against the real platform
(real NATS, SQLite): no server error and no response that breaks the schema. Positive data (what
the schema allows) is sent with no token, with a province-wide token and with a county-scoped one;
negative data (what the schema forbids: wrong types, out-of-range values, missing fields, bad
path parameters) with the two authenticated ones, so that it reaches the routes' own checks and
never only the 401. Bounded per operation (``FUZZ``) so the whole run stays around two minutes."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from gateway.app import create_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
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


# Per operation: positive and negative cases drawn together (about half each). SWP_FUZZ_EXAMPLES
# raises it for a deeper hunt (`SWP_FUZZ_EXAMPLES=200 pytest tests/contract/test_openapi_fuzz.py`).
FUZZ = settings(max_examples=int(os.environ.get("SWP_FUZZ_EXAMPLES", "12")), deadline=None,
                suppress_health_check=list(HealthCheck), database=None)


def wait_until_healthy(app: FastAPI, service: str) -> None:
    """/health is 503 until the service has reached NATS; fuzz the service once it is up."""
    with get_client(app) as client:
        deadline = time.monotonic() + 30
        while client.get(f"http://{HOST}/{service}/health").status_code != 200:
            assert time.monotonic() < deadline, f"{service} never became healthy"
            time.sleep(0.1)


def call_with_every_kind_of_caller(case: Any, cfg: Any, modes: Counter[GenerationMode]) -> None:
    negative = case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
    modes[GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE] += 1
    for kind in ("province", "county") if negative else ("none", "province", "county"):
        case.call_and_validate(headers=auth_headers(kind, cfg), checks=CHECKS)


@pytest.mark.parametrize("service", ["registry", "services-log", "evaluation", "finance"])
def test_every_operation_of_the_service(service, platform):
    app, cfg = platform
    schema = schemathesis.openapi.from_asgi(f"/{service}/openapi.json", app)  # starts the lifespan
    wait_until_healthy(app, service)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} documents no operation"
    modes: Counter[GenerationMode] = Counter()
    for operation in operations:

        @FUZZ
        @given(case=st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)))
        def check(case: Any) -> None:
            call_with_every_kind_of_caller(case, cfg, modes)

        check()
    # Both kinds of data were sent, for most operations each (an operation without parameters or
    # body has nothing to make negative).
    assert modes[GenerationMode.NEGATIVE] >= 2 * len(operations) and modes[GenerationMode.POSITIVE] >= 2 * len(operations), modes
