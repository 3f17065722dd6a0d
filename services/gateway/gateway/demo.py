"""The demo county: 640402 原州区 with one provider, three stations, six workers and one contract.

Everything goes through the public HTTP API with dev tokens, exactly as a county
front-end would do it. The indicators and the monthly plan are seed 000's 进度表.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings

COUNTY = "640402"


def demo_contract(provider_id: str, station_ids: list[str]) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "station_ids": station_ids,
        "purchaser": "原州区民政局",
        "signed_on": "2026-11-20",
        "effective_on": "2026-12-01",
        "period_start": "2026-12-01",
        "period_end": "2027-11-30",
        "amount_fen": 36_000_000,
        "funding": [
            {"source": "福彩公益金", "amount_fen": 16_000_000},
            {"source": "一般公共预算", "amount_fen": 20_000_000},
        ],
        "service_areas": ["社会救助", "儿童关爱保护", "社区治理"],
        "indicators": [
            {
                "code": "assist",
                "name": "帮扶救助",
                "unit": "人次",
                "target": 500,
                # seed 000's 进度表 (50/100/100/200/50/30/20 = 550 ≥ 500), shifted to this contract year
                "monthly_plan": {"2026-12": 50, "2027-01": 100, "2027-02": 100, "2027-03": 200, "2027-04": 50, "2027-05": 30, "2027-06": 20},
            },
            {"code": "after-school", "name": "五点学堂", "unit": "期", "target": 1},
            {"code": "summer-camp", "name": "夏令营", "unit": "期", "target": 1},
            {"code": "community", "name": "社区参与活动", "unit": "场", "target": 5},
        ],
    }


def load_demo(base_url: str, settings: Settings, console: Console) -> dict[str, Any]:
    admin = issue_token(settings, sub="demo-province-admin", role=Role.PROVINCE_ADMIN, counties=["*"])
    purchaser = issue_token(settings, sub="demo-yuanzhou-mzj", role=Role.PURCHASER, counties=[COUNTY])
    finance = issue_token(settings, sub="demo-finance", role=Role.FINANCE, counties=[COUNTY])

    def call(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        r = client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        if r.status_code >= 400:
            raise SystemExit(f"{method} {path} → {r.status_code}: {r.text}")
        return r.json()

    with httpx.Client(base_url=base_url, timeout=30) as client:
        call("PUT", f"/registry/v1/counties/{COUNTY}", admin, {"name": "原州区"})
        provider = call(
            "POST", f"/registry/v1/counties/{COUNTY}/providers", purchaser,
            {"name": "固原市原州区明德社会工作服务中心", "uscc": "52640402MJY1000012", "rating": "4A", "has_party_org": True},
        )["provider_id"]
        stations = [
            call("POST", f"/registry/v1/counties/{COUNTY}/stations", purchaser, {"name": f"{t}社工站", "township": t, "kind": kind})["station_id"]
            for t, kind in (("南关街道", "street_station"), ("三营镇", "township_station"), ("彭堡镇", "township_station"))
        ]
        workers = []
        people = [("马晓燕", "1992-03-14", "本科", "社会工作师", "supervisor"), ("李娜", "1996-07-02", "大专", "助理社会工作师", "social_worker"),
                  ("杨帆", "1994-11-23", "本科", "助理社会工作师", "station_head"), ("王静", "1998-01-30", "大专", "none", "social_worker"),
                  ("海涛", "1990-05-09", "本科", "社会工作师", "station_head"), ("苏丽", "1997-09-18", "大专", "none", "social_worker")]
        for i, (name, born, edu, qual, role) in enumerate(people):
            workers.append(call(
                "POST", f"/registry/v1/counties/{COUNTY}/workers", purchaser,
                {"provider_id": provider, "station_id": stations[i // 2], "name": name, "birth_date": born,
                 "education": edu, "qualification": qual, "role": role, "hired_on": "2026-11-01"},
            )["worker_id"])
        contract = call("POST", f"/registry/v1/counties/{COUNTY}/contracts", purchaser, demo_contract(provider, stations))["contract_id"]
        console.print(f"county {COUNTY} 原州区: provider {provider}, {len(stations)} stations, {len(workers)} workers, contract {contract}")

        tranches: list[dict[str, Any]] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = client.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches", headers={"Authorization": f"Bearer {finance}"})
            if r.status_code == 200:
                tranches = r.json()
                break
            time.sleep(0.2)
    table = Table(title="finance: tranche schedule (from the ContractSigned event)")
    for col in ("seq", "percent", "amount_fen", "trigger", "status", "due_on", "provisional"):
        table.add_column(col)
    for t in tranches:
        table.add_row(*(str(t[c]) for c in ("seq", "percent", "amount_fen", "trigger", "status", "due_on", "provisional")))
    console.print(table)
    return {"provider_id": provider, "station_ids": stations, "worker_ids": workers, "contract_id": contract, "tranches": tranches}
