"""Steps the registry narratives share (no tests here): a county's cast through the HTTP API, an
evaluation result published as evaluation's outbox would, and registry's events read off JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from registry.domainmodel.uscc import check_character

from shared.events import IntegrationEvent
from shared.infra.auth import Role
from shared.testing.upstream import publish_as_upstream
from shared.testing.upstream import published as published_by

REG = "/registry/v1/counties"


def uscc(first17: str) -> str:
    """A valid 统一社会信用代码 (GB 32100-2015) from its first 17 characters."""
    return first17 + check_character(first17)


async def check(request: Awaitable[httpx.Response], status: int) -> Any:
    r = await request
    assert r.status_code == status, r.text
    return r.json()


async def registry_head(client: httpx.AsyncClient) -> int:
    return int((await client.get("/registry/health")).json()["store"]["head"] or 0)


async def refused(client: httpx.AsyncClient, request: Awaitable[httpx.Response], rule: str | None, field: str, status: int = 422) -> dict[str, Any]:
    """The command is refused with problem+json naming the rule and the field, and records nothing."""
    before = await registry_head(client)
    r = await request
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert (problem.get("rule"), problem.get("field")) == (rule, field), problem
    assert await registry_head(client) == before, "a refused command recorded something"
    return dict(problem)


class Cast:
    """One county through the registry API: who calls, and helpers to add providers, stations, workers."""

    def __init__(self, client: httpx.AsyncClient, tokens: Any, county: str) -> None:
        self.client = client
        self.tokens = tokens
        self.county = county
        self.base = f"{REG}/{county}"
        self.admin = tokens(Role.PROVINCE_ADMIN, "*")
        self.purchaser = tokens(Role.PURCHASER, county)

    async def register(self, name: str = "测试县", policy: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name} if policy is None else {"name": name, "policy": policy}
        return dict(await check(self.client.put(self.base, json=body, headers=self.admin), 200))

    async def provider(self, name: str, code: str, **details: Any) -> str:
        body = {"name": name, "uscc": code, **details}
        return str((await check(self.client.post(f"{self.base}/providers", json=body, headers=self.purchaser), 201))["provider_id"])

    async def station(self, name: str, township: str, kind: str = "street_station") -> str:
        body = {"name": name, "township": township, "kind": kind}
        return str((await check(self.client.post(f"{self.base}/stations", json=body, headers=self.purchaser), 201))["station_id"])

    async def hire(self, provider_id: str, station_id: str, name: str, hired_on: str = "2026-08-01", **profile: Any) -> str:
        body = {
            "provider_id": provider_id, "station_id": station_id, "name": name, "birth_date": "1995-05-05",
            "education": "本科", "qualification": "助理社会工作师", "role": "social_worker", "hired_on": hired_on, **profile,
        }
        return str((await check(self.client.post(f"{self.base}/workers", json=body, headers=self.purchaser), 201))["worker_id"])

    def provider_token(self, provider_id: str) -> dict[str, str]:
        return dict(self.tokens(Role.PROVIDER, self.county, provider_id=provider_id))


async def wait_for(client: httpx.AsyncClient, path: str, headers: dict[str, str], until: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
    """Registry learns of evaluation results only through NATS: poll until ``until`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        if until(r.json()):
            return dict(r.json())
        if loop.time() > deadline:
            raise AssertionError(f"{path} never showed what was expected: {r.text}")
        await asyncio.sleep(0.1)


async def publish_evaluation(nats_url: str, county: str, event: IntegrationEvent, aggregate_id: str, version: int) -> None:
    """An evaluation result as evaluation's outbox publishes it (R-AUD-1 envelope, Nats-Msg-Id = event id)."""
    await publish_as_upstream(nats_url, county, event, aggregate_id, aggregate_type="Evaluation", version=version, actor="evaluator-1")


async def published(nats_url: str, county: str, event_type: str, until: Callable[[list[dict[str, Any]]], bool] = bool, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The envelopes registry published on ``swp.<county>.registry.<event_type>``, once ``until`` holds."""
    return await published_by(nats_url, county, "registry", event_type, until, timeout)
