"""Shared steps of the services-log narratives (no tests here): a county with a provider, stations,
workers and a contract carrying seed 000's 进度表; waiting for services-log to learn of them through
NATS; registry events published by hand where registry has no route for them yet; reading what
services-log published."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from registry.integration import PUBLISHED as registry_publishes

from shared.events import IntegrationEvent
from shared.events import registry as reg
from shared.infra.auth import Role
from shared.testing.upstream import publish_as_upstream
from shared.testing.upstream import published as published_by
from tests.integration.slice import COUNTY, OTHER, USCC

# Seed 000 (源城区幸福社区项目), 附件一 年度服务计划进度表: 帮扶救助 500 人次 a year.
SEED_000_PLAN = {"2026-09": 50, "2026-10": 100, "2026-11": 100, "2026-12": 200, "2027-01": 50, "2027-02": 30, "2027-03": 20}
OTHER_USCC = "52640402MJY200001L"  # a second provider of county 640402 (for R-REG-8)

LOG = "/services-log/v1/counties"


@dataclass
class Place:
    """One county's cast: who signs, who delivers, where, under which contract."""

    county: str
    provider_id: str
    contract_id: str
    station: str  # the contract's station (南关街道社工站)
    elsewhere: str  # a station of the county outside the contract
    workers: dict[str, str]  # name -> worker id
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> auth headers

    def delivery(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "contract_id": self.contract_id,
            "station_id": self.station,
            "worker_ids": [self.workers["李娜"]],
            "kind": "帮扶救助",
            "area": "社会救助",
            "date": "2026-10-05",
            "hours_direct": "2",
            "hours_other": "0.5",
            "person_times": 10,
            "indicator_code": "assist",
        }
        body.update(overrides)
        return body


async def check(r: Awaitable[httpx.Response], status: int) -> dict[str, Any]:
    response = await r
    assert response.status_code == status, response.text
    return response.json() if response.headers.get("content-type", "").endswith("json") else {}


async def hire(client: httpx.AsyncClient, county: str, purchaser: dict[str, str], provider_id: str,
               station_id: str, name: str, hired_on: str, nats_url: str) -> str:
    body = {
        "provider_id": provider_id, "station_id": station_id, "name": name, "birth_date": "1994-03-08",
        "education": "本科", "qualification": "社会工作师", "role": "social_worker", "hired_on": hired_on,
    }
    worker_id = (await check(client.post(f"/registry/v1/counties/{county}/workers", json=body, headers=purchaser), 201))["worker_id"]
    if reg.WorkerHired not in registry_publishes:
        # Until registry publishes WorkerHired itself, publish what its outbox will.
        event = reg.WorkerHired(worker_id=worker_id, county=county, provider_id=provider_id, station_id=station_id,
                                role="social_worker", qualification="社会工作师", hired_on=hired_on)
        await publish_registry_event(nats_url, county, event, worker_id)
    return str(worker_id)


async def open_county(client: httpx.AsyncClient, tokens: Any, county: str = COUNTY) -> Place:
    """Registry: the county, 明德 (the provider), two stations, four workers and a contract whose
    帮扶救助 indicator carries seed 000's monthly plan. Waits until services-log has all of it."""
    admin, purchaser = tokens(Role.PROVINCE_ADMIN, "*"), tokens(Role.PURCHASER, county)
    reg = f"/registry/v1/counties/{county}"
    await check(client.put(reg, json={"name": "测试县"}, headers=admin), 200)
    provider_id = (await check(client.post(f"{reg}/providers", json={"name": "明德社会工作服务中心", "uscc": USCC[county], "rating": "4A"}, headers=purchaser), 201))["provider_id"]
    stations = []
    for name, township in (("南关街道社工站", "南关街道"), ("三营镇社工站", "三营镇")):
        body = {"name": name, "township": township, "kind": "street_station"}
        stations.append((await check(client.post(f"{reg}/stations", json=body, headers=purchaser), 201))["station_id"])
    station, elsewhere = stations
    nats_url = tokens.settings.nats_url
    workers = {
        "李娜": await hire(client, county, purchaser, provider_id, station, "李娜", "2026-08-01", nats_url),
        "王静": await hire(client, county, purchaser, provider_id, station, "王静", "2026-08-01", nats_url),
        "张伟": await hire(client, county, purchaser, provider_id, station, "张伟", "2026-10-15", nats_url),  # joins mid-October
        "赵敏": await hire(client, county, purchaser, provider_id, elsewhere, "赵敏", "2026-08-01", nats_url),  # other station
    }
    contract = {
        "provider_id": provider_id, "station_ids": [station], "purchaser": "民政局", "signed_on": "2026-09-10",
        "effective_on": "2026-09-21", "period_start": "2026-09-21", "period_end": "2027-09-20", "amount_fen": 36_000_000,
        "funding": [{"source": "福彩公益金", "amount_fen": 36_000_000}],
        "service_areas": ["社会救助", "儿童关爱保护"],
        "indicators": [
            {"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500, "monthly_plan": SEED_000_PLAN},
            {"code": "school", "name": "五点学堂", "unit": "期", "target": 1},
            {"code": "community", "name": "社区参与系列活动", "unit": "场", "target": 5},
        ],
    }
    contract_id = (await check(client.post(f"{reg}/contracts", json=contract, headers=purchaser), 201))["contract_id"]
    place = Place(county, provider_id, contract_id, station, elsewhere, workers)
    place.headers = {
        "purchaser": purchaser,
        "provider": tokens(Role.PROVIDER, county, provider_id=provider_id),
        "evaluator": tokens(Role.EVALUATOR, county, evaluator_org="华夏评估"),
        "auditor": tokens(Role.AUDITOR, county),
    }
    await wait_for(client, f"{LOG}/{county}/contracts/{contract_id}", purchaser)
    for worker_id in workers.values():
        await wait_for(client, f"{LOG}/{county}/workers/{worker_id}", purchaser)
    return place


async def wait_for(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                   until: Callable[[dict[str, Any]], bool] = lambda _: True, timeout: float = 20.0) -> dict[str, Any]:
    """services-log learns of registry only through NATS: poll its read model until it shows ``until``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.get(path, headers=headers)
        if r.status_code == 200 and until(r.json()):
            return dict(r.json())
        assert r.status_code in (200, 404), r.text
        if loop.time() > deadline:
            raise AssertionError(f"services-log never showed {path} as expected: {r.text}")
        await asyncio.sleep(0.1)


async def publish_registry_event(nats_url: str, county: str, event: IntegrationEvent, aggregate_id: str) -> None:
    """A registry event as registry's outbox would publish it (for events whose route may not exist yet)."""
    aggregate_type = "Worker" if "worker_id" in type(event).model_fields else "Contract"
    await publish_as_upstream(nats_url, county, event, aggregate_id, aggregate_type=aggregate_type, version=2, actor="tester")


async def published(nats_url: str, county: str, event_type: str, until: Callable[[list[dict[str, Any]]], bool],
                    timeout: float = 30.0) -> list[dict[str, Any]]:
    """The envelopes services-log published for ``county`` of one type, once ``until`` holds for them."""
    return await published_by(nats_url, county, "services-log", event_type, until, timeout)


__all__ = ["COUNTY", "LOG", "OTHER", "SEED_000_PLAN", "Place", "check", "hire", "open_county", "publish_registry_event", "published", "wait_for"]
