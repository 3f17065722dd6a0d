"""Seed 002 (沪民社工发〔2018〕8号): the city programme's 600,000 yuan split between 静安区 and
黄浦区, its milestones as of a day, and the projects each district charges to its allocation.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats

from shared.infra.auth import Role
from tests.integration.test_procurement_helpers import YUAN, events, ok, platform_fixture, refused, register_county  # noqa: F401

JINGAN, HUANGPU, HULI = "310106", "310101", "350206"


def programme(jingan_yuan: int, huangpu_yuan: int) -> dict[str, Any]:
    return {
        "issuer": "上海市民政局",
        "level": "city",
        "document_no": "沪民社工发〔2018〕8号",
        "title": "社会工作服务机构参与社区治理试点项目",
        "issued_on": "2018-12-07",
        "budget_fen": 600_000 * YUAN,
        "allocations": [
            {"county": JINGAN, "name": "静安区", "amount_fen": jingan_yuan * YUAN, "pilot_areas": 2},
            {"county": HUANGPU, "name": "黄浦区", "amount_fen": huangpu_yuan * YUAN, "pilot_areas": 1},
        ],
        "milestones": [
            {"kind": "mobilisation", "due_on": "2018-12-31", "description": "开展试点的动员和部署,明确开展服务的街道(镇)"},
            {"kind": "bidding", "due_on": "2019-01-31", "description": "完成项目招投标工作"},
            {"kind": "service", "starts_on": "2019-02-01", "due_on": "2019-11-30"},
            {"kind": "evaluation", "due_on": "2019-12-31", "description": "市、区完成项目评估工作"},
        ],
        "themes": [
            {"county": JINGAN, "title": "社会工作促进楼组自治项目", "goal": "深化社区楼组自治"},
            {"county": JINGAN, "title": "社会工作参与社区公益营造项目", "goal": "营造人人参与的社区公益氛围"},
            {"county": HUANGPU, "title": "社会工作支持睦邻中心建设和服务项目", "goal": "支持睦邻中心建设"},
        ],
    }


def street_project(programme_id: str, street: str, yuan: int) -> dict[str, Any]:
    return {
        "applicant": {"kind": "street", "name": street},
        "name": f"{street}社会工作促进楼组自治项目",
        "programme_id": programme_id,
        "year_index": 1,
        "project_years": 1,
        "budget_fen": yuan * YUAN,
        "justification": {
            "consultation": "居民区走访及楼组长座谈",
            "target_groups": [{"group": "楼组长及居民志愿者", "number": 120}],
            "needs": ["楼组自治能力建设"],
        },
        "service_areas": ["社区治理"],
        "applied_on": "2019-01-05",
    }


async def statuses(platform, headers: dict[str, str], programme_id: str, as_of: str) -> dict[str, Any]:
    view = await ok(platform.get(f"/registry/v1/programmes/{programme_id}", params={"as_of": as_of}, headers=headers), 200)
    return {m["kind"]: m["status"] for m in view["milestones"]} | {"_view": view}


async def test_seed_002_city_programme_split_between_jingan_and_huangpu(platform, tokens, settings):
    await register_county(platform, tokens, JINGAN, "静安区")
    await register_county(platform, tokens, HUANGPU, "黄浦区")
    city = tokens(Role.PROVINCE_ADMIN, JINGAN, HUANGPU, sub="上海市民政局")
    launch = "/registry/v1/programmes"

    # 40万 + 25万 is more than the 60万 budget; 40万 + 10万 leaves 10万 unallocated. Neither is recorded.
    problem = await refused(platform.post(launch, json=programme(400_000, 250_000), headers=city), "R-PRJ-1", "allocations")
    assert "over-allocation" in problem["detail"]
    await refused(platform.post(launch, json=programme(400_000, 100_000), headers=city), "R-PRJ-1", "allocations")
    assert await events(platform, tokens, "ProgrammeLaunched") == []
    # An officer granted only 静安 cannot allocate to 黄浦; a district purchaser cannot launch at all.
    await refused(platform.post(launch, json=programme(400_000, 200_000), headers=tokens(Role.PROVINCE_ADMIN, JINGAN)),
                  "R-AUD-6", "allocations.1.county", status=403)
    r = await platform.post(launch, json=programme(400_000, 200_000), headers=tokens(Role.PURCHASER, JINGAN))
    assert r.status_code == 403

    # 静安区40万元 (2 streets), 黄浦区20万元 (1 street): exactly the budget.
    programme_id = (await ok(platform.post(launch, json=programme(400_000, 200_000), headers=city)))["programme_id"]

    # Mid-January 2019 nobody has reported the December mobilisation: it is overdue; bidding is not yet due.
    seen = await statuses(platform, city, programme_id, "2019-01-15")
    assert (seen["mobilisation"], seen["bidding"], seen["service"], seen["evaluation"]) == (
        "overdue", "upcoming", "upcoming", "upcoming")
    assert [(a["county"], a["amount_fen"], a["pilot_areas"], a["remaining_fen"]) for a in seen["_view"]["allocations"]] == [
        (JINGAN, 40_000_000, 2, 40_000_000), (HUANGPU, 20_000_000, 1, 20_000_000)]
    await ok(platform.post(f"{launch}/{programme_id}/milestones/mobilisation", json={"reached_on": "2018-12-28"},
                           headers=city), 200)
    seen = await statuses(platform, city, programme_id, "2019-02-10")
    assert (seen["mobilisation"], seen["bidding"], seen["service"]) == ("done", "overdue", "in_progress")

    # 静安's streets apply against its 40万: 25万, then 20万 would exceed what is left (15万).
    jingan = tokens(Role.PURCHASER, JINGAN)
    projects = f"/registry/v1/counties/{JINGAN}/projects"
    first = (await ok(platform.post(projects, json=street_project(programme_id, "石门二路街道", 250_000), headers=jingan)))
    await refused(platform.post(projects, json=street_project(programme_id, "南京西路街道", 200_000), headers=jingan),
                  "R-PRJ-3", "budget_fen")
    second = await ok(platform.post(projects, json=street_project(programme_id, "南京西路街道", 100_000), headers=jingan))
    # Two pilot streets are taken: a third street is refused although 5万 remain …
    await refused(platform.post(projects, json=street_project(programme_id, "江宁路街道", 50_000), headers=jingan),
                  "R-PRJ-3", "programme_id")
    # … until the district rejects one (with its reason), which gives its share back.
    await refused(platform.post(f"{projects}/{second['project_id']}/decision", headers=jingan, json={
        "step": "street_review", "outcome": "rejected", "decided_on": "2019-01-08", "decided_by": "南京西路街道办事处"}),
        "R-PRJ-4", "reason")
    decided = await ok(platform.post(f"{projects}/{second['project_id']}/decision", headers=jingan, json={
        "step": "street_review", "outcome": "rejected", "decided_on": "2019-01-08", "decided_by": "南京西路街道办事处",
        "reason": "与街道已有项目重复"}), 200)
    assert (decided["status"], decided["next_step"]) == ("rejected", None)
    third = await ok(platform.post(projects, json=street_project(programme_id, "江宁路街道", 150_000), headers=jingan))

    # 黄浦's single street cannot take more than its 20万.
    huangpu = tokens(Role.PURCHASER, HUANGPU)
    await refused(platform.post(f"/registry/v1/counties/{HUANGPU}/projects", headers=huangpu,
                                json=street_project(programme_id, "外滩街道", 200_001)), "R-PRJ-3", "budget_fen")

    # The city sees each district's commitments; 黄浦 sees 静安's totals but not its projects (R-AUD-6).
    view = (await statuses(platform, city, programme_id, "2019-02-10"))["_view"]
    jingan_share = view["allocations"][0]
    assert (jingan_share["committed_fen"], jingan_share["remaining_fen"]) == (40_000_000, 0)
    assert {p["project_id"] for p in jingan_share["projects"]} == {first["project_id"], third["project_id"]}
    view = (await statuses(platform, huangpu, programme_id, "2019-02-10"))["_view"]
    assert view["allocations"][0]["projects"] is None and view["allocations"][1]["projects"] == []

    # Published: the programme on the province subject, one allocation per district.
    launched = await events(platform, tokens, "ProgrammeLaunched")
    assert [(e["county"], e["data"]["budget_fen"], e["data"]["counties"]) for e in launched] == [
        ("province", 60_000_000, [JINGAN, HUANGPU])]
    allocated = await events(platform, tokens, "ProgrammeFundsAllocated")
    assert sorted((e["data"]["county"], e["data"]["amount_fen"]) for e in allocated) == [
        (HUANGPU, 20_000_000), (JINGAN, 40_000_000)]
    applied = await events(platform, tokens, "ProjectApplied", JINGAN)
    assert [e["data"]["budget_fen"] for e in applied] == [25_000_000, 10_000_000, 15_000_000]
    on_nats = await last_on_nats(settings.nats_url, "swp.province.registry.ProgrammeFundsAllocated")
    assert on_nats["data"]["programme_id"] == programme_id


async def last_on_nats(url: str, subject: str, timeout: float = 20.0) -> dict[str, Any]:
    """The relay publishes after the commit: poll JetStream until the subject has a message."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                msg = await js.get_last_msg("SWP", subject)
                return dict(json.loads(msg.data))
            except nats.js.errors.NotFoundError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()
