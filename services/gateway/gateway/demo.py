"""The demo county: 640402 原州区 with one provider, three stations, six workers and one contract,
plus (``load_evaluation_demo``) a second provider's contract centred on today with its mid-term
scheduled, the province rubric and an accredited evaluator organisation.

Everything goes through the public HTTP API with dev tokens, exactly as a county
front-end would do it. The indicators and the monthly plan are seed 000's 进度表.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from shared.clock import china_today
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
    evaluation = load_evaluation_demo(base_url, settings, console)
    return {"provider_id": provider, "station_ids": stations, "worker_ids": workers, "contract_id": contract, "tranches": tranches,
            "evaluation": evaluation}


def load_evaluation_demo(base_url: str, settings: Settings, console: Console) -> dict[str, Any]:
    """What the evaluator → finance → auditor walk of the console needs today: a second provider
    whose contract year is centred on today (so its mid-term window is open now and a pass
    schedules tranche 2 in the future), the province rubric, an accredited evaluator organisation
    with a credentialed member, and the mid-term scheduled a week ago by the county bureau."""
    admin = issue_token(settings, sub="demo-province-admin", role=Role.PROVINCE_ADMIN, counties=["*"])
    purchaser = issue_token(settings, sub="demo-yuanzhou-mzj", role=Role.PURCHASER, counties=[COUNTY])
    today = china_today()
    start = today - timedelta(days=182)
    end = start + timedelta(days=364)
    reg = f"/registry/v1/counties/{COUNTY}"
    ev = f"/evaluation/v1/counties/{COUNTY}"

    def call(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
        r = client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        if r.status_code >= 400:
            raise SystemExit(f"{method} {path} → {r.status_code}: {r.text}")
        return r.json()

    with httpx.Client(base_url=base_url, timeout=30) as client:
        provider = call("POST", f"{reg}/providers", purchaser, {
            "name": "固原市原州区仁和社会工作服务中心", "uscc": "52640402MJY1000025", "rating": "3A", "has_party_org": True,
        })["provider_id"]
        station = call("POST", f"{reg}/stations", purchaser, {"name": "开城镇社工站", "township": "开城镇", "kind": "township_station"})["station_id"]
        for name, born in (("周敏", "1993-04-12"), ("刘洋", "1995-08-21")):
            call("POST", f"{reg}/workers", purchaser, {
                "provider_id": provider, "station_id": station, "name": name, "birth_date": born, "education": "本科",
                "qualification": "助理社会工作师", "role": "social_worker", "hired_on": (start - timedelta(days=30)).isoformat(),
            })
        contract = call("POST", f"{reg}/contracts", purchaser, {
            "provider_id": provider, "station_ids": [station], "purchaser": "原州区民政局",
            "signed_on": (start - timedelta(days=10)).isoformat(), "effective_on": start.isoformat(),
            "period_start": start.isoformat(), "period_end": end.isoformat(), "amount_fen": 36_000_000,
            "funding": [{"source": "福彩公益金", "amount_fen": 36_000_000}], "service_areas": ["社会救助", "养老服务"],
            "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
        })["contract_id"]
        if client.get(f"{ev}/rubric", headers={"Authorization": f"Bearer {admin}"}).status_code == 404:
            call("POST", "/evaluation/v1/rubrics", admin, {"name": "宁夏回族自治区乡镇（街道）社工站项目统一评估标准"})
        org = call("POST", f"{ev}/evaluators", purchaser, {
            "name": "宁夏汉达社会工作评估中心", "certificate_no": "PG-NX-2026-001", "accredited_until": (today + timedelta(days=730)).isoformat(),
        })["evaluator_org"]
        member = call("POST", f"{ev}/evaluators/{org}/members", purchaser, {
            "name": "王评估", "credential_no": "PJ-NX-0001", "valid_until": (today + timedelta(days=365)).isoformat(),
        })["member_id"]
        deadline = time.monotonic() + 15  # evaluation learns of the contract through NATS
        while client.get(f"{ev}/contracts/{contract}", headers={"Authorization": f"Bearer {purchaser}"}).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"evaluation never heard of contract {contract}")
            time.sleep(0.2)
        evaluation = call("POST", f"{ev}/evaluations", purchaser, {
            "contract_id": contract, "stage": "midterm", "evaluator_org": org, "scheduled_on": (today - timedelta(days=7)).isoformat(),
        })["evaluation_id"]
    console.print(f"evaluation walk: contract {contract} ({start} – {end}) of 仁和, mid-term {evaluation} by 汉达 (member {member})")
    return {"provider_id": provider, "station_id": station, "contract_id": contract, "evaluator_org": org, "member_id": member,
            "evaluation_id": evaluation}
