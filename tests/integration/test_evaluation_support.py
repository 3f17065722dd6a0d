"""Shared steps of the evaluation narratives (no tests here): a county with a provider, a station,
workers and a contract whose service year has already run (so that visits, surveys and
conclusions can be dated in the past), an accredited evaluator, a published rubric."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.infra.auth import Role
from shared.testing.upstream import published as published_by

COUNTY = "640402"  # 原州区
OTHER = "130731"  # 涿鹿县
EVAL = "/evaluation/v1"
USCC = {COUNTY: "52640402MJY1000012", OTHER: "51130731MJA000001G"}
SECOND_USCC = "52640402MJY1000025"

# A service year that is all but over on 2026-11-25: mid-point 2026-06-01, end 2026-11-30.
YEAR = {"signed_on": "2025-11-20", "effective_on": "2025-12-01", "period_start": "2025-12-01", "period_end": "2026-11-30"}


async def check(r: Awaitable[httpx.Response], status: int) -> Any:
    response = await r
    assert response.status_code == status, response.text
    return response.json()


async def refused(r: Awaitable[httpx.Response], status: int, rule: str | None, field: str | None = None) -> dict[str, Any]:
    response = await r
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers["content-type"]
    problem = response.json()
    assert problem.get("rule") == rule, problem
    if field is not None:
        assert problem.get("field") == field, problem
    return problem


async def wait_for(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                   until: Callable[[Any], bool] = lambda _: True, timeout: float = 20.0) -> Any:
    """Services learn of each other only through NATS: poll a read model until it shows ``until``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.get(path, headers=headers)
        if r.status_code == 200 and until(r.json()):
            return r.json()
        assert r.status_code in (200, 404), r.text
        if loop.time() > deadline:
            raise AssertionError(f"{path} never showed what was expected: {r.text}")
        await asyncio.sleep(0.1)


@dataclass
class County:
    code: str
    provider_id: str
    station_id: str
    worker_ids: list[str]
    purchaser: dict[str, str]
    tokens: Any
    contracts: list[str] = field(default_factory=list)

    def provider(self, provider_id: str | None = None) -> dict[str, str]:
        return self.tokens(Role.PROVIDER, self.code, provider_id=provider_id or self.provider_id)

    def evaluator(self, org: str) -> dict[str, str]:
        return self.tokens(Role.EVALUATOR, self.code, evaluator_org=org)


async def open_county(client: httpx.AsyncClient, tokens: Any, county: str = COUNTY) -> County:
    """Registry: the county, 明德 (the provider), a station with two workers."""
    admin, purchaser = tokens(Role.PROVINCE_ADMIN, "*"), tokens(Role.PURCHASER, county)
    reg = f"/registry/v1/counties/{county}"
    await check(client.put(reg, json={"name": "测试县"}, headers=admin), 200)
    provider = await check(client.post(
        f"{reg}/providers", json={"name": "明德社会工作服务中心", "uscc": USCC[county], "rating": "4A"}, headers=purchaser
    ), 201)
    station = await check(client.post(
        f"{reg}/stations", json={"name": "南关街道社工站", "township": "南关街道", "kind": "street_station"}, headers=purchaser
    ), 201)
    workers = []
    for name in ("李娜", "王静"):
        body = {
            "provider_id": provider["provider_id"], "station_id": station["station_id"], "name": name,
            "birth_date": "1995-05-05", "education": "本科", "qualification": "助理社会工作师",
            "role": "social_worker", "hired_on": "2025-10-01",
        }
        workers.append((await check(client.post(f"{reg}/workers", json=body, headers=purchaser), 201))["worker_id"])
    return County(county, provider["provider_id"], station["station_id"], workers, purchaser, tokens)


async def sign(client: httpx.AsyncClient, place: County, provider_id: str | None = None, **overrides: Any) -> str:
    """Sign a contract of the past service year; wait until evaluation knows it (through NATS)."""
    body = {
        "provider_id": provider_id or place.provider_id, "station_ids": [place.station_id], "purchaser": "原州区民政局",
        **YEAR, "amount_fen": 36_000_000, "funding": [{"source": "福彩公益金", "amount_fen": 36_000_000}],
        "service_areas": ["社会救助", "儿童关爱保护"],
        "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
        # A further contract for the same station and year overlaps the first: it says why (R-REG-7).
        **({"justification": "同一站点的另一服务项目"} if place.contracts else {}),
        **overrides,
    }
    contract_id = (await check(client.post(f"/registry/v1/counties/{place.code}/contracts", json=body, headers=place.purchaser), 201))["contract_id"]
    await wait_for(client, f"{EVAL}/counties/{place.code}/contracts/{contract_id}", place.purchaser)
    place.contracts.append(contract_id)
    return contract_id


async def publish_rubric(client: httpx.AsyncClient, tokens: Any, **body: Any) -> dict[str, Any]:
    """The province publishes (the next version of) its unified rubric; defaults for what is left out."""
    return await check(client.post(f"{EVAL}/rubrics", json={"name": "统一评估标准", **body}, headers=tokens(Role.PROVINCE_ADMIN, "*")), 201)


async def accredit(client: httpx.AsyncClient, place: County, name: str = "汉达社会工作评估中心", **body: Any) -> dict[str, str]:
    """An evaluator organisation accredited in the county, with one member holding a credential."""
    base = f"{EVAL}/counties/{place.code}/evaluators"
    payload = {"name": name, "certificate_no": f"PG-{name}", "accredited_until": "2027-12-31", **body}
    org = (await check(client.post(base, json=payload, headers=place.purchaser), 201))["evaluator_org"]
    member = await check(client.post(
        f"{base}/{org}/members", json={"name": "王评估", "credential_no": f"PJ-{org[:8]}", "valid_until": "2027-06-30"},
        headers=place.purchaser,
    ), 201)
    return {"org": org, "member": member["member_id"]}


async def schedule(client: httpx.AsyncClient, place: County, contract_id: str, stage: str, org: str, on: str) -> httpx.Response:
    body = {"contract_id": contract_id, "stage": stage, "evaluator_org": org, "scheduled_on": on}
    return await client.post(f"{EVAL}/counties/{place.code}/evaluations", json=body, headers=place.purchaser)


def evaluator_items(rubric: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for d in rubric["dimensions"] for i in d["items"] if i["source"] == "evaluator"]


async def score_all(client: httpx.AsyncClient, place: County, evaluation_id: str, org: str, ratio: str, on: str) -> None:
    """Score every evaluator-scored item of the rubric in force at ``ratio`` of its maximum."""
    from decimal import Decimal

    rubric = await check(client.get(f"{EVAL}/counties/{place.code}/rubric", headers=place.purchaser), 200)
    scores = [
        {"item_code": i["code"], "score": str((Decimal(i["max_score"]) * Decimal(ratio)).quantize(Decimal("0.01")))}
        for i in evaluator_items(rubric)
    ]
    await check(client.post(
        f"{EVAL}/counties/{place.code}/evaluations/{evaluation_id}/scores",
        json={"scored_on": on, "scores": scores}, headers=place.evaluator(org),
    ), 200)


def everyone_says(answer: str, respondents: int = 2) -> list[dict[str, Any]]:
    """A survey of the default rubric's two groups where every answer is ``answer``."""
    return [
        {"group": "beneficiaries", "answers": {"overall": answer, "attitude": answer}} for _ in range(respondents)
    ] + [
        {"group": "community", "answers": {"overall": answer, "cooperation": answer}} for _ in range(respondents)
    ]


async def published(nats_url: str, county: str, event_type: str, until: Callable[[list[dict[str, Any]]], bool],
                    timeout: float = 20.0) -> list[dict[str, Any]]:
    """The envelopes evaluation published for ``county`` of one type, once ``until`` holds for them."""
    return await published_by(nats_url, county, "evaluation", event_type, until, timeout)
