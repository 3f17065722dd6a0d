"""From the 立项申请 to a signed contract: seed 003's application (湖里区和通社区) through its
decision chain, procurement, invalid bids refused with their rules, an award by weighted scoring
that drafts the contract, which signs and drives finance's tranche 1. Seed 004's Guangzhou
family centre: the professional-hours window at its boundaries and R-FIN-10. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared import clock
from shared.infra.auth import Role
from tests.integration.slice import wait_for_tranches
from tests.integration.test_procurement_helpers import (  # noqa: F401
    YUAN,
    events,
    ok,
    platform_fixture,
    provider,
    refused,
    register_county,
    staff,
    station,
)

HULI = "350206"  # 厦门市湖里区
HUANGPU_GZ = "440112"  # 广州市黄埔区

HETONG_APPLICATION: dict[str, Any] = {
    "applicant": {"kind": "community", "name": "湖里区湖里街道和通社区", "street": "湖里街道"},
    "name": "和通社区“治”在融“和”社区治理社会工作服务项目",
    "year_index": 1,  # 1年（3年项目第1年）
    "project_years": 3,
    "budget_fen": 420_000 * YUAN,  # 42万
    "justification": {
        "consultation": "在湖里街道支持下征求居民意见，经社区两委会决议同意申报",
        "target_groups": [
            {"group": "儿童青少年", "number": 800},
            {"group": "妇女及家庭", "number": 500},
            {"group": "困境人群", "number": 60},
        ],
        "needs": ["菜单化、模块化的居民参与社区治理活动与渠道", "完善五社联动机制", "打造和通社区文化特色服务品牌"],
        "resolution": "经社区两委会决议，同意申报",
    },
    "service_areas": ["社区治理", "儿童关爱保护"],
    "applied_on": "2026-11-02",
}

ITEMS = [
    {"code": "casework", "name": "个案服务", "unit": "个", "minimum": 10},
    {"code": "group", "name": "小组活动", "unit": "个", "minimum": 6},
    {"code": "community", "name": "社区活动", "unit": "场", "minimum": 24},
]
CRITERIA = [
    {"code": "price", "name": "价格", "weight": 30, "kind": "price"},
    {"code": "plan", "name": "服务方案", "weight": 50},
    {"code": "team", "name": "团队与经验", "weight": 20},
]


def hetong_procurement(station_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "method": "公开招标",
        "opened_on": "2026-11-16",
        "bid_deadline": "2026-12-07",
        "probation_first_year": True,
        "packages": [{
            "code": "1", "name": "和通社区社会工作服务", "annual_budget_fen": 420_000 * YUAN,
            "station_ids": [station_id], "service_start": "2027-01-01",
            "funding": [{"source": "一般公共预算", "amount_fen": 420_000 * YUAN}],
            "service_items": ITEMS, "staffing": {"professionals": 2},
            "quality_standards": ["服务档案规范完整", "服务对象满意度不低于85%"],
        }],
        "evaluation_criteria": CRITERIA,
    }
    body.update(overrides)
    return body


def plan(casework: int = 12, group: int = 8, community: int | None = 30) -> list[dict[str, Any]]:
    items = [{"code": "casework", "planned": casework}, {"code": "group", "planned": group}]
    return items + ([{"code": "community", "planned": community}] if community is not None else [])


def bid(provider_id: str, yuan: int, items: list[dict[str, Any]] | None = None, professionals: int = 2,
        submitted_on: str = "2026-12-01") -> dict[str, Any]:
    return {"provider_id": provider_id, "submitted_on": submitted_on, "annual_price_fen": yuan * YUAN,
            "items": plan() if items is None else items, "staffing": {"professionals": professionals},
            "service_plan": "四大融“和”计划"}


async def test_seed_003_application_is_approved_procured_awarded_and_signed(platform, tokens, monkeypatch):
    # The services' clock (shared.clock) is pinned to the signing day, so the tranche status is known.
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 12, 20, 4, tzinfo=UTC))
    # 湖里区 requires a 3A rating or better of its providers (R-REG-1).
    await register_county(platform, tokens, HULI, "湖里区", require_rating_3a=True)
    purchaser = tokens(Role.PURCHASER, HULI)
    hetong = await provider(platform, tokens, HULI, "厦门市湖里区和通社会工作服务中心", 1, "4A")
    qiming = await provider(platform, tokens, HULI, "厦门市启明社会工作服务社", 2, "3A")
    xinya = await provider(platform, tokens, HULI, "厦门新芽社会工作服务中心", 3, "2A")
    hongshan = await provider(platform, tokens, HULI, "厦门弘善社会工作服务中心", 4, "5A")
    await ok(platform.post(f"/registry/v1/counties/{HULI}/providers/{hongshan}/bans", headers=purchaser,
                           json={"banned_on": "2026-10-01", "until": "2028-09-30", "reason": "评估弄虚作假"}))
    room = await station(platform, tokens, HULI, "和通社区社会工作室", "湖里街道", "community_room")
    await staff(platform, tokens, HULI, hetong, room, "陈晓", "林琳")
    county = f"/registry/v1/counties/{HULI}"

    # 立项申请 by the community (seed 003).
    project_id = (await ok(platform.post(f"{county}/projects", json=HETONG_APPLICATION, headers=purchaser)))["project_id"]
    decision = f"{county}/projects/{project_id}/decision"

    # Nothing is procured before approval, and the district cannot approve before the community and street.
    await refused(platform.post(f"{county}/projects/{project_id}/procurement", json=hetong_procurement(room),
                                headers=purchaser), "R-PRC-1", "project_id")
    await refused(platform.post(decision, headers=purchaser, json={
        "step": "district_approval", "outcome": "approved", "decided_on": "2026-11-03", "decided_by": "湖里区民政局"}),
        "R-PRJ-4", "step")
    r = await platform.post(decision, headers=tokens(Role.PROVIDER, HULI, provider_id=hetong), json={
        "step": "community_resolution", "outcome": "approved", "decided_on": "2026-11-03", "decided_by": "x"})
    assert r.status_code == 403

    # 社区两委会决议 → 街道研究汇总后盖章上报 → 区民政局审批.
    for step, day, unit, status in (
        ("community_resolution", "2026-11-03", "和通社区两委会", "applied"),
        ("street_review", "2026-11-06", "湖里街道办事处", "applied"),
        ("district_approval", "2026-11-13", "湖里区民政局", "approved"),
    ):
        decided = await ok(platform.post(decision, headers=purchaser, json={
            "step": step, "outcome": "approved", "decided_on": day, "decided_by": unit}), 200)
        assert decided["status"] == status
    project = await ok(platform.get(f"{county}/projects/{project_id}", headers=tokens(Role.AUDITOR, "*")), 200)
    assert (project["status"], [d["step"] for d in project["decisions"]]) == (
        "approved", ["community_resolution", "street_review", "district_approval"])

    # 单一来源采购 needs its justification; 公开招标 is opened with the published requirements.
    await refused(platform.post(f"{county}/projects/{project_id}/procurement", headers=purchaser,
                                json=hetong_procurement(room, method="单一来源采购", invited_provider_ids=[hetong])),
                  "R-PRC-1", "single_source_justification")
    procurement_id = (await ok(platform.post(f"{county}/projects/{project_id}/procurement",
                                             json=hetong_procurement(room), headers=purchaser)))["procurement_id"]
    bids = f"{county}/procurements/{procurement_id}/bids"

    # Invalid bids (无效投标), each refused with its rule and field — and kept for the evaluation report.
    keyed = {**purchaser, "Idempotency-Key": "xinya-bid-1"}
    await refused(platform.post(bids, json=bid(xinya, 380_000), headers=keyed), "R-REG-1", "provider_id")
    await refused(platform.post(bids, json=bid(xinya, 380_000), headers=keyed), "R-REG-1", "provider_id")  # same answer
    banned = await refused(platform.post(bids, json=bid(hongshan, 400_000), headers=purchaser), "R-REG-1", "provider_id")
    assert "banned" in banned["detail"]
    await refused(platform.post(bids, json=bid(qiming, 420_001), headers=purchaser), "R-PRC-2", "annual_price_fen")
    await refused(platform.post(bids, json=bid(qiming, 360_000, plan(community=None)), headers=purchaser), "R-PRC-2", "items")
    await refused(platform.post(bids, json=bid(qiming, 360_000, plan(casework=9)), headers=purchaser),
                  "R-PRC-2", "items.0.planned")
    await refused(platform.post(bids, json=bid(qiming, 360_000, professionals=1), headers=purchaser),
                  "R-PRC-2", "staffing.professionals")
    await refused(platform.post(bids, json=bid(qiming, 360_000, submitted_on="2026-12-08"), headers=purchaser),
                  "R-PRC-2", "submitted_on")
    # A provider bids only for itself.
    as_hetong = tokens(Role.PROVIDER, HULI, provider_id=hetong)
    r = await platform.post(bids, json=bid(qiming, 360_000), headers=as_hetong)
    assert r.status_code == 403

    # Two valid bids: 启明 is cheaper (36万, recorded by the purchaser), 和通 bids 41万 itself.
    await ok(platform.post(bids, json=bid(qiming, 360_000), headers=purchaser))
    await refused(platform.post(bids, json=bid(qiming, 350_000), headers=purchaser), "R-PRC-2", "provider_id")
    await ok(platform.post(bids, json=bid(hetong, 410_000, plan(casework=15, group=10, community=36),
                                          submitted_on="2026-12-02"), headers=as_hetong))

    seen = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=purchaser), 200)
    assert len(seen["bids"]) == 2
    assert [b["rule"] for b in seen["refused_bids"]] == ["R-REG-1", "R-REG-1", "R-PRC-2", "R-PRC-2", "R-PRC-2", "R-PRC-2"]
    mine = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=as_hetong), 200)
    assert [b["provider_id"] for b in mine["bids"]] == [hetong]  # not the competitor's, before the award

    # The panel scores quality; price scores 基准价/报价. Quality wins over the lowest price.
    award = f"{county}/procurements/{procurement_id}/award"
    bid_of = {b["provider_id"]: b["bid_id"] for b in seen["bids"]}
    panel = [
        {"bid_id": bid_of[hetong], "criteria": {"plan": 90, "team": 85}},
        {"bid_id": bid_of[qiming], "criteria": {"plan": 70, "team": 75}},
    ]
    await refused(platform.post(award, headers=purchaser, json={"awarded_on": "2026-12-15", "scores": panel[:1]}),
                  "R-PRC-3", "scores")
    awarded = await ok(platform.post(award, headers=purchaser, json={
        "awarded_on": "2026-12-15", "signed_on": "2026-12-20", "scores": panel}), 200)
    assert [(s["provider_id"], s["total"], s["rank"]) for s in awarded["scores"]] == [(hetong, 88.34, 1), (qiming, 80.0, 2)]
    assert awarded["scores"][0]["criteria"] == {"price": 87.8, "plan": 90.0, "team": 85.0}
    assert awarded["probation"] is True  # 第一年为试用考核期
    draft = awarded["contract_draft"]
    assert draft == {
        "provider_id": hetong,
        "station_ids": [room],
        "purchaser": "湖里区湖里街道和通社区",
        "signed_on": "2026-12-20",
        "effective_on": "2027-01-01",
        "period_start": "2027-01-01",
        "period_end": "2027-12-31",
        "amount_fen": 41_000_000,
        "funding": [{"source": "一般公共预算", "amount_fen": 41_000_000}],
        "service_areas": ["社区治理", "儿童关爱保护"],
        "indicators": [
            {"code": "casework", "name": "个案服务", "unit": "个", "target": 15},
            {"code": "group", "name": "小组活动", "unit": "个", "target": 10},
            {"code": "community", "name": "社区活动", "unit": "场", "target": 36},
        ],
        "cycle_years": 3,
        "year_index": 1,
        "probation": True,
    }
    await refused(platform.post(award, headers=purchaser, json={"awarded_on": "2026-12-16", "scores": panel}),
                  "R-PRC-3", "package")
    await refused(platform.post(bids, json=bid(xinya, 300_000), headers=purchaser), "R-PRC-2", "package")

    # The draft is signed as it stands; finance learns of it only through NATS and schedules tranche 1.
    contract_id = (await ok(platform.post(f"{county}/contracts", json=draft, headers=purchaser)))["contract_id"]
    tranches = await wait_for_tranches(platform, HULI, contract_id, tokens(Role.FINANCE, HULI))
    assert (tranches[0]["seq"], tranches[0]["amount_fen"]) == (1, 20_500_000)
    assert (tranches[0]["status"], tranches[0]["due_on"]) == ("scheduled", "2027-01-22")

    # The trail: every decision, both valid bids, the refusals with their rules, scores, the draft.
    decided = await events(platform, tokens, "ProjectDecided", HULI)
    assert [(e["data"]["step"], e["data"]["status"]) for e in decided] == [
        ("community_resolution", "applied"), ("street_review", "applied"), ("district_approval", "approved")]
    assert len(await events(platform, tokens, "BidSubmitted", HULI)) == 2
    rejected = await events(platform, tokens, "BidRejected", HULI)
    assert [(e["data"]["rule"], e["data"]["field"]) for e in rejected] == [
        ("R-REG-1", "provider_id"), ("R-REG-1", "provider_id"), ("R-PRC-2", "annual_price_fen"), ("R-PRC-2", "items"),
        ("R-PRC-2", "items.0.planned"), ("R-PRC-2", "staffing.professionals")]
    (awarded_event,) = await events(platform, tokens, "ProcurementAwarded", HULI)
    assert awarded_event["data"]["provider_id"] == hetong and len(awarded_event["data"]["scores"]) == 2
    (drafted,) = await events(platform, tokens, "ContractDrafted", HULI)
    assert {k: drafted["data"][k] for k in draft if k != "indicators"} == {k: v for k, v in draft.items() if k != "indicators"}
    assert [(i["code"], i["target"]) for i in drafted["data"]["indicators"]] == [("casework", 15), ("group", 10), ("community", 36)]
    assert (drafted["data"]["project_id"], drafted["data"]["probation"]) == (project_id, True)


async def test_seed_004_family_centre_hours_window_and_extra_professionals(platform, tokens):
    await register_county(platform, tokens, HUANGPU_GZ, "黄埔区")
    purchaser = tokens(Role.PURCHASER, HUANGPU_GZ)
    firms = [await provider(platform, tokens, HUANGPU_GZ, f"广州市社工服务中心{i}", i, "4A") for i in (1, 2, 3)]
    centre = await station(platform, tokens, HUANGPU_GZ, "镇龙片区家庭综合服务中心", "九龙镇", "family_centre")
    county = f"/registry/v1/counties/{HUANGPU_GZ}"
    application = {
        **HETONG_APPLICATION,
        "applicant": {"kind": "street", "name": "广州市黄埔区九龙镇人民政府"},
        "name": "九龙镇镇龙片区家庭综合服务及社工就业辅导服务",
        "budget_fen": 3_100_000 * YUAN,  # 250万 + 60万 a year
        "service_areas": ["社会事务", "儿童关爱保护", "养老服务"],
    }
    project_id = (await ok(platform.post(f"{county}/projects", json=application, headers=purchaser)))["project_id"]
    for step, day, unit in (("street_review", "2026-11-04", "九龙镇人民政府"), ("district_approval", "2026-11-11", "黄埔区民政局")):
        await ok(platform.post(f"{county}/projects/{project_id}/decision", headers=purchaser, json={
            "step": step, "outcome": "approved", "decided_on": day, "decided_by": unit}), 200)
    package_2 = {
        "code": "2", "name": "社工就业辅导服务", "annual_budget_fen": 600_000 * YUAN, "station_ids": [centre],
        "service_start": "2027-01-01", "funding": [{"source": "财政拨款", "amount_fen": 600_000 * YUAN}],
        "service_items": [{"code": "employment", "name": "就业辅导", "unit": "人次", "minimum": 300}],
    }
    procurement = hetong_procurement(centre, packages=[{
        "code": "1", "name": "九龙镇镇龙片区家庭综合服务中心", "kind": "family_centre",
        "annual_budget_fen": 2_500_000 * YUAN, "station_ids": [centre], "service_start": "2027-01-01",
        "funding": [{"source": "财政拨款", "amount_fen": 2_500_000 * YUAN}], "service_items": ITEMS,
        "staffing": {"professionals": 14, "requirements": "10名为助理社工师或社工师"},
    }, package_2])
    procurement_id = (await ok(platform.post(f"{county}/projects/{project_id}/procurement", json=procurement,
                                             headers=purchaser)))["procurement_id"]
    bids = f"{county}/procurements/{procurement_id}/bids"

    def family_bid(firm: int, professionals: int, hours: int) -> dict[str, Any]:
        return {**bid(firms[firm], 2_450_000), "package": "1",
                "staffing": {"professionals": professionals, "planned_hours": hours}}

    # 250万 is 50万 above the 200万 standard: up to 14 + 5 = 19 professionals (R-FIN-10), not 20.
    await refused(platform.post(bids, json=family_bid(0, 20, 40_000), headers=purchaser), "R-FIN-10", "staffing.professionals")
    # 14 professionals: planned hours within [22,852, 30,184] (R-LOG-4), boundaries included.
    await refused(platform.post(bids, json=family_bid(0, 14, 22_851), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    await refused(platform.post(bids, json=family_bid(1, 14, 30_185), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    await ok(platform.post(bids, json=family_bid(0, 14, 22_852), headers=purchaser))
    await ok(platform.post(bids, json=family_bid(1, 14, 30_184), headers=purchaser))
    # 19 professionals: the window moves with them, [31,013, 40,964].
    await ok(platform.post(bids, json=family_bid(2, 19, 40_964), headers=purchaser))
    # The employment package is bid whole or not at all.
    partial = {**bid(firms[2], 550_000, items=[]), "package": "2", "staffing": None}
    await refused(platform.post(bids, json=partial, headers=purchaser), "R-PRC-2", "items")

    seen = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=purchaser), 200)
    assert seen["packages"][0]["standard"]["ceiling_percent"] == 110
    bid_of = {b["provider_id"]: b["bid_id"] for b in seen["bids"]}
    panel = [{"bid_id": bid_of[firms[i]], "criteria": {"plan": p, "team": t}} for i, p, t in ((0, 70, 70), (1, 80, 80), (2, 92, 95))]
    awarded = await ok(platform.post(f"{county}/procurements/{procurement_id}/award", headers=purchaser,
                                     json={"package": "1", "awarded_on": "2026-12-10", "scores": panel}), 200)
    assert awarded["provider_id"] == firms[2]
    assert awarded["staffing"] == {"professionals": 19, "planned_hours": 40_964}
    assert (awarded["probation"], awarded["contract_draft"]["amount_fen"]) == (True, 245_000_000)
    # Package 2 is still open, so is the procurement.
    seen = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=purchaser), 200)
    assert seen["status"] == "open" and [a["package"] for a in seen["awards"]] == ["1"]
