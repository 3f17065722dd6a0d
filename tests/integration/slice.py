"""Shared steps of the first end-to-end slice: a county, a provider, stations, workers, a contract."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.infra.auth import Role

COUNTY = "640402"  # 原州区
OTHER = "130731"  # 涿鹿县
USCC = {COUNTY: "52640402MJY1000012", OTHER: "51130731MJA000001G"}


def contract_body(provider_id: str, station_ids: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provider_id": provider_id,
        "station_ids": station_ids,
        "purchaser": "原州区民政局",
        "signed_on": "2026-09-10",
        # Tranche 1 is due 15 working days after this: across 中秋 (Sep 25) and 国庆 (Oct 1–7, 2026),
        # with Saturday Oct 10 a 调休 working day.
        "effective_on": "2026-09-21",
        "period_start": "2026-09-21",
        "period_end": "2027-09-20",
        "amount_fen": 36_000_001,  # does not divide evenly: the last tranche takes the remainder
        "funding": [{"source": "福彩公益金", "amount_fen": 16_000_000}, {"source": "一般公共预算", "amount_fen": 20_000_001}],
        "service_areas": ["社会救助", "儿童关爱保护"],
        "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
    }
    body.update(overrides)
    return body


async def setup_county(client: httpx.AsyncClient, tokens: Any, county: str = COUNTY) -> dict[str, Any]:
    admin = tokens(Role.PROVINCE_ADMIN, "*")
    purchaser = tokens(Role.PURCHASER, county)
    r = await client.put(f"/registry/v1/counties/{county}", json={"name": "测试县"}, headers=admin)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/registry/v1/counties/{county}/providers",
        json={"name": "明德社会工作服务中心", "uscc": USCC[county], "rating": "4A"},
        headers=purchaser,
    )
    assert r.status_code == 201, r.text
    provider = r.json()["provider_id"]
    r = await client.post(
        f"/registry/v1/counties/{county}/stations",
        json={"name": "南关街道社工站", "township": "南关街道", "kind": "street_station"},
        headers=purchaser,
    )
    assert r.status_code == 201, r.text
    station = r.json()["station_id"]
    for name in ("李娜", "王静"):
        r = await client.post(
            f"/registry/v1/counties/{county}/workers",
            json={
                "provider_id": provider, "station_id": station, "name": name, "birth_date": "1995-05-05",
                "education": "本科", "qualification": "助理社会工作师", "role": "social_worker", "hired_on": "2026-08-01",
            },
            headers=purchaser,
        )
        assert r.status_code == 201, r.text
    return {"provider_id": provider, "station_ids": [station], "purchaser": purchaser}


async def sign(client: httpx.AsyncClient, county: str, setup: dict[str, Any], **overrides: Any) -> httpx.Response:
    return await client.post(
        f"/registry/v1/counties/{county}/contracts",
        json=contract_body(setup["provider_id"], setup["station_ids"], **overrides),
        headers=setup["purchaser"],
    )


async def wait_for_tranches(
    client: httpx.AsyncClient, county: str, contract_id: str, headers: dict[str, str], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Finance learns of the contract only through NATS: poll until its schedule exists."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await client.get(f"/finance/v1/counties/{county}/contracts/{contract_id}/tranches", headers=headers)
        if r.status_code == 200:
            return list(r.json())
        assert r.status_code == 404, r.text
        if loop.time() > deadline:
            raise AssertionError(f"finance never scheduled tranches for {contract_id}")
        await asyncio.sleep(0.1)
