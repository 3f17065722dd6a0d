"""The production topology on one machine: the four services as separate uvicorn processes
(commands and environment from deploy/compose.yaml) on PostgreSQL and the 3-node NATS cluster
of deploy/nats/, nginx with deploy/nginx/swp.conf in front when nginx is installed.

A county signs a contract through the gateway and sees finance's tranches through it; the
OpenAPI documents carry their prefix; health checks say what a probe needs to know.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from shared.infra.auth import Role
from shared.testing.fixtures import PostgresInfo
from tests.deploy.cluster import DEPLOY, Cluster
from tests.deploy.topology import Nginx, Routed, ServiceProcess, service_processes
from tests.integration.slice import COUNTY, OTHER, setup_county, sign, wait_for_tranches
from tests.oidc.idp import AUDIENCE, Idp, IdpTokens

PREFIXES = ("registry", "services-log", "evaluation", "finance")
NO_NGINX = "nginx is not installed (apt-get install nginx-light): the services were tested without the gateway"


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[Idp]:
    """The province's OIDC issuer (the real oidc-provider package): production services trust only it."""
    directory = tmp_path / "idp"
    directory.mkdir()
    provider = Idp(directory, directory / "oidc-provider.log", clients=[IdpTokens.client()]).start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def services(cluster: Cluster, postgres: PostgresInfo, idp: Idp, tmp_path: Path) -> Iterator[tuple[list[ServiceProcess], IdpTokens]]:
    oidc = {"SWP_OIDC_ISSUER": idp.issuer, "SWP_OIDC_AUDIENCE": AUDIENCE}
    processes, _variables = service_processes(cluster, postgres, tmp_path / "services", oidc)
    try:
        for p in processes:
            p.start()
        deadline = time.monotonic() + 60
        for p in processes:
            p.wait_healthy(deadline)
        yield processes, IdpTokens(idp)
    finally:
        for p in processes:
            p.stop()


@pytest.fixture
async def gateway(services, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient | Routed]:
    processes, _ = services
    if shutil.which("nginx") is None:
        direct = Routed.to_processes(processes)
        yield direct
        await direct.aclose()
        return
    nginx = Nginx(tmp_path / "nginx", {p.name: p.port for p in processes})
    try:
        nginx.start()
        async with httpx.AsyncClient(base_url=nginx.url, timeout=30, verify=nginx.client_context()) as client:
            client.nginx = nginx  # type: ignore[attr-defined]
            yield client
    finally:
        nginx.stop()


def healthcheck(url: str, *flags: str) -> int:
    """deploy/healthcheck.py, the containers' probe, run as the image runs it."""
    run = subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py"), *flags, url], capture_output=True, check=False)
    return run.returncode


async def eventually_status(client: httpx.AsyncClient | Routed, path: str, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(path)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        await asyncio.sleep(0.2)


async def check_tls(gateway: httpx.AsyncClient) -> None:
    """The gateway speaks HTTPS (TLS 1.2+, its certificate verified by the client, HSTS) and plain
    HTTP only redirects to it, apart from the load balancer's /healthz."""
    nginx: Nginx = gateway.nginx  # type: ignore[attr-defined]
    r = await gateway.get("/registry/health")
    assert r.status_code == 200 and r.url.scheme == "https"
    assert r.headers["strict-transport-security"] == "max-age=63072000"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers.get("server") in {None, "nginx"}  # no version
    with (
        socket.create_connection(("127.0.0.1", nginx.port), timeout=5) as raw,
        nginx.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(nginx.tls.ca))
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", nginx.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname="127.0.0.1")  # TLS 1.1 is refused
    # A client that does not trust the gateway's CA cannot be served (nothing to skip verification).
    async with httpx.AsyncClient(base_url=nginx.url) as stranger:
        with pytest.raises(httpx.ConnectError):
            await stranger.get("/healthz")
    async with httpx.AsyncClient(base_url=nginx.http_url, follow_redirects=False) as plain:
        r = await plain.get(f"/finance/v1/counties/{COUNTY}/contracts?x=1")
        assert r.status_code == 301 and r.headers["location"] == f"{nginx.url}/finance/v1/counties/{COUNTY}/contracts?x=1"
        assert r.headers.get("server") in {None, "nginx"} and "strict-transport-security" not in r.headers
        assert (await plain.get("/healthz")).status_code == 200


async def test_a_county_works_through_the_gateway_on_separate_processes(gateway, services, cluster):
    processes, tokens = services
    by_name = {p.name: p for p in processes}
    behind_nginx = isinstance(gateway, httpx.AsyncClient)

    # Every service is healthy through its prefix (store on PostgreSQL, NATS cluster reachable).
    for prefix in PREFIXES:
        r = await gateway.get(f"/{prefix}/health")
        assert r.status_code == 200, r.text
        assert r.json()["store"]["persistence"] == "postgres"

    # The bearer token passes through to the service, which checks role and county itself.
    setup = await setup_county(gateway, tokens)
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]
    tranches = await wait_for_tranches(gateway, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY), timeout=30)
    assert (tranches[0]["seq"], tranches[0]["due_on"]) == (1, "2026-10-19")
    r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract_id}/tranches")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract_id}/tranches", headers=tokens(Role.FINANCE, OTHER))
    assert r.status_code == 403

    # services-log heard of the contract too, logged in to NATS as its own user.
    deadline = time.monotonic() + 30
    while (await gateway.get("/services-log/health")).json()["consumers"]["registry"]["handled"] == 0:
        assert time.monotonic() < deadline, "services-log never consumed the registry's events"
        await asyncio.sleep(0.2)

    # OpenAPI: each document names its prefix as its server, and /docs loads it from there.
    for prefix in PREFIXES:
        doc = (await gateway.get(f"/{prefix}/openapi.json")).json()
        assert doc["servers"] == [{"url": f"/{prefix}"}]
        assert f'data-openapi-url="/{prefix}/openapi.json"' in (await gateway.get(f"/{prefix}/docs")).text

    if behind_nginx:
        await check_tls(gateway)
        assert (await gateway.get("/healthz")).status_code == 200
        r = await gateway.get("/payments/v1")
        assert r.status_code == 404 and r.json()["status"] == 404
        assert set((await gateway.get("/")).json()["services"]) == set(PREFIXES)

    # NATS goes away entirely: the services still accept commands (the store is the source of
    # truth, events wait in the outbox) — ready for traffic, not for the full health check.
    cluster.stop()
    registry = by_name["registry"]
    r = await eventually_status(gateway, "/registry/health", 503)
    assert r.status_code == 503 and r.json()["nats"]["ok"] is False and r.json()["store"]["ok"] is True
    assert (await sign(gateway, COUNTY, setup, justification="第二份合同（测试）")).status_code == 201  # R-REG-7
    assert healthcheck(f"{registry.url}/health") == 1
    assert healthcheck(f"{registry.url}/health", "--store") == 0
    assert healthcheck(f"{registry.url}/health", "--alive") == 0

    # A service process dies: nginx answers for it in problem+json; its liveness probe fails.
    finance = by_name["finance"]
    finance.stop()
    assert healthcheck(f"{finance.url}/health", "--alive") == 1
    if behind_nginx:
        r = await gateway.get("/finance/health")
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    else:
        pytest.skip(NO_NGINX)
