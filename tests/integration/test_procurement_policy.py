"""Procurement reads the county's policy (R-FIN-10, R-LOG-4, R-PRC-1) and refuses incomplete
project applications (R-PRJ-2). A county configured only through the public API
(`PUT /registry/v1/counties/{county}` with its policy) gets its own family-centre limits and price
weight range; under the default policy they are Guangzhou's (seed 004: 14 professionals →
27,440 h, ceiling 30,184, direct ≥ 22,852). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from shared.infra.auth import Role
from tests.integration.test_procurement_award import CRITERIA, HETONG_APPLICATION, ITEMS, bid, hetong_procurement
from tests.integration.test_procurement_helpers import (  # noqa: F401
    YUAN,
    events,
    ok,
    platform_fixture,
    provider,
    refused,
    register_county,
    station,
)

HUANGPU_GZ = "440112"  # 广州市黄埔区: the default policy (Guangzhou's standard)
OTHER = "330110"  # a county with its own standard and price weight range

OWN_POLICY: dict[str, Any] = {
    "annual_hours_per_staff": 1800,
    "annual_direct_hours_per_staff": "1500",
    "hours_ceiling_percent": 105,
    "standard_budget_fen": 1_500_000 * YUAN,
    "extra_worker_per_fen": 50_000 * YUAN,
    "price_weight_min_percent": 15,
    "price_weight_max_percent": 20,
}


async def approved_project(platform: Any, tokens: Any, county: str) -> str:
    purchaser = tokens(Role.PURCHASER, county)
    base = f"/registry/v1/counties/{county}"
    application = {**HETONG_APPLICATION, "applicant": {"kind": "county_bureau", "name": "区民政局"},
                   "budget_fen": 2_500_000 * YUAN}
    project_id = (await ok(platform.post(f"{base}/projects", json=application, headers=purchaser)))["project_id"]
    await ok(platform.post(f"{base}/projects/{project_id}/decision", headers=purchaser, json={
        "step": "district_approval", "outcome": "approved", "decided_on": "2026-11-11", "decided_by": "区民政局"}), 200)
    return str(project_id)


def family_centre(centre: str, price_weight: int | None) -> dict[str, Any]:
    criteria = [dict(c) for c in CRITERIA]
    if price_weight is None:  # no price criterion at all
        criteria = [{**criteria[1], "weight": 70}, {**criteria[2], "weight": 30}]
    else:
        criteria[0]["weight"], criteria[1]["weight"] = price_weight, 80 - price_weight
    return hetong_procurement(centre, evaluation_criteria=criteria, packages=[{
        "code": "1", "name": "家庭综合服务中心", "kind": "family_centre", "annual_budget_fen": 2_500_000 * YUAN,
        "station_ids": [centre], "service_start": "2027-01-01",
        "funding": [{"source": "财政拨款", "amount_fen": 2_500_000 * YUAN}], "service_items": ITEMS,
        "staffing": {"professionals": 14},
    }])


def family_bid(firm: str, professionals: int, hours: int) -> dict[str, Any]:
    return {**bid(firm, 2_450_000), "staffing": {"professionals": professionals, "planned_hours": hours}}


async def open_family_centre(platform: Any, tokens: Any, county: str, name: str, **policy: Any) -> tuple[str, list[str]]:
    await register_county(platform, tokens, county, name, **policy)
    firms = [await provider(platform, tokens, county, f"{name}社工服务中心{i}", i, "4A") for i in (1, 2, 3, 4)]
    centre = await station(platform, tokens, county, "家庭综合服务中心", "某街道", "family_centre")
    project_id = await approved_project(platform, tokens, county)
    path = f"/registry/v1/counties/{county}/projects/{project_id}/procurement"
    purchaser = tokens(Role.PURCHASER, county)
    # R-PRC-1: a price criterion must be published, its weight within the county's range.
    await refused(platform.post(path, json=family_centre(centre, None), headers=purchaser), "R-PRC-1", "evaluation_criteria")
    low, high = (policy.get("price_weight_min_percent", 10), policy.get("price_weight_max_percent", 30))
    for outside in (low - 1, high + 1):
        problem = await refused(platform.post(path, json=family_centre(centre, outside), headers=purchaser),
                                "R-PRC-1", "evaluation_criteria.0.weight")
        assert f"{low}–{high}" in problem["detail"]
    procurement_id = (await ok(platform.post(path, json=family_centre(centre, high), headers=purchaser)))["procurement_id"]
    return str(procurement_id), firms


async def test_guangzhou_numbers_under_the_default_policy(platform, tokens):
    procurement_id, firms = await open_family_centre(platform, tokens, HUANGPU_GZ, "黄埔区")
    county = f"/registry/v1/counties/{HUANGPU_GZ}"
    purchaser = tokens(Role.PURCHASER, HUANGPU_GZ)
    seen = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=purchaser), 200)
    package = seen["packages"][0]
    assert package["hours"] == {"professionals": 14, "annual_hours_target": 27_440, "annual_hours_ceiling": 30_184,
                                "annual_direct_hours_minimum": 22_852}
    assert package["standard"] == {
        "hours_per_professional": 1960, "direct_hours_per_professional": "1632.3", "ceiling_percent": 110,
        "standard_annual_fen": 200_000_000, "fen_per_extra_professional": 10_000_000, "policy_version": 1,
    }
    bids = f"{county}/procurements/{procurement_id}/bids"
    await refused(platform.post(bids, json=family_bid(firms[0], 14, 22_851), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    await refused(platform.post(bids, json=family_bid(firms[0], 14, 30_185), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    # 2,500,000 yuan: 14 + 5 professionals at most (R-FIN-10).
    await refused(platform.post(bids, json=family_bid(firms[0], 20, 40_000), headers=purchaser), "R-FIN-10", "staffing.professionals")
    await ok(platform.post(bids, json=family_bid(firms[0], 14, 30_184), headers=purchaser))
    await ok(platform.post(bids, json=family_bid(firms[1], 14, 22_852), headers=purchaser))


async def test_a_county_with_its_own_policy_gets_its_own_limits(platform, tokens):
    procurement_id, firms = await open_family_centre(platform, tokens, OTHER, "某区", **OWN_POLICY)
    county = f"/registry/v1/counties/{OTHER}"
    purchaser = tokens(Role.PURCHASER, OTHER)
    seen = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=purchaser), 200)
    # 14 × 1,800 = 25,200; ceiling 105% = 26,460; direct ≥ 14 × 1,500 = 21,000.
    assert seen["packages"][0]["hours"] == {"professionals": 14, "annual_hours_target": 25_200,
                                            "annual_hours_ceiling": 26_460, "annual_direct_hours_minimum": 21_000}
    bids = f"{county}/procurements/{procurement_id}/bids"
    # Valid in Guangzhou, beyond this county's ceiling; below Guangzhou's direct minimum, valid here.
    await refused(platform.post(bids, json=family_bid(firms[0], 14, 30_184), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    await refused(platform.post(bids, json=family_bid(firms[0], 14, 26_461), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    await ok(platform.post(bids, json=family_bid(firms[0], 14, 21_000), headers=purchaser))
    # 2,500,000 yuan is 1,000,000 above this county's 1,500,000 standard: 14 + 20 professionals at most.
    await refused(platform.post(bids, json=family_bid(firms[1], 35, 40_000), headers=purchaser), "R-FIN-10", "staffing.professionals")
    await ok(platform.post(bids, json=family_bid(firms[1], 20, 37_800), headers=purchaser))  # 20 × 1,800 × 105%

    # The county changes its policy: the open procurement keeps the standard it published.
    await register_county(platform, tokens, OTHER, "某区", **{**OWN_POLICY, "hours_ceiling_percent": 120})
    again = await ok(platform.get(f"{county}/procurements/{procurement_id}", headers=purchaser), 200)
    assert (again["packages"][0]["standard"]["policy_version"], again["packages"][0]["hours"]["annual_hours_ceiling"]) == (1, 26_460)
    await refused(platform.post(bids, json=family_bid(firms[2], 14, 26_461), headers=purchaser), "R-LOG-4", "staffing.planned_hours")
    # …while a policy whose price range is the wrong way round is refused and changes nothing.
    r = await platform.put(county, json={"name": "某区", "policy": {"price_weight_min_percent": 25, "price_weight_max_percent": 20}},
                           headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert (r.status_code, r.json()["rule"], r.json()["field"]) == (422, "R-PRC-1", "policy.price_weight_min_percent")
    shown = await ok(platform.get(county, headers=purchaser), 200)
    assert (shown["policy"]["price_weight_min_percent"], shown["policy"]["hours_ceiling_percent"]) == (15, 120)


async def test_incomplete_project_applications_are_refused_r_prj_2(platform, tokens):
    await register_county(platform, tokens, OTHER, "某区")
    purchaser = tokens(Role.PURCHASER, OTHER)
    path = f"/registry/v1/counties/{OTHER}/projects"
    justification = HETONG_APPLICATION["justification"]
    for changes, field in (
        ({"year_index": 4, "project_years": 3}, "year_index"),
        ({"budget_fen": 0}, "budget_fen"),
        ({"justification": {**justification, "consultation": "  "}}, "justification.consultation"),
        ({"justification": {**justification, "target_groups": []}}, "justification.target_groups"),
        ({"justification": {**justification, "target_groups": [{"group": "儿童青少年", "number": 0}]}},
         "justification.target_groups.0.number"),
        ({"justification": {**justification, "needs": [" "]}}, "justification.needs"),
    ):
        problem = await refused(platform.post(path, json={**HETONG_APPLICATION, **changes}, headers=purchaser), "R-PRJ-2", field)
        assert problem["detail"]
    # Nothing was recorded by the refusals; a complete application is.
    assert await events(platform, tokens, "ProjectApplied", OTHER) == []
    await ok(platform.post(path, json=HETONG_APPLICATION, headers=purchaser))
    assert len(await events(platform, tokens, "ProjectApplied", OTHER)) == 1
