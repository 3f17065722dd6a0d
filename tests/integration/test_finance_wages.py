"""Wages and the cost structure (R-FIN-4) as the county configures them through the public API:
the county's policy carries its minimum wage (`local_min_wage_fen`) and `operations_max_percent`;
registry's `ContractSigned.policy` snapshot carries them to finance; a worker's monthly wages below
the minimum × `min_wage_multiplier` are flagged, operations are held to the policy's ceiling, and the
reconciliation judges personnel against the policy's floor once the year is over, with what is
missing. Over real NATS, SQLite and PostgreSQL."""

from __future__ import annotations

from shared.infra.auth import Role
from tests.integration.test_evaluation_support import COUNTY, check, open_county, refused, sign, wait_for

# Illustrative: a monthly minimum wage of 1,950 yuan; × 1.1 (the default multiplier) = 2,145 yuan.
POLICY = {"local_min_wage_fen": 195_000, "operations_max_percent": 5}


async def test_wages_below_the_minimum_and_the_cost_structure_follow_the_county_policy(gateway, tokens):
    place = await open_county(gateway, tokens)
    admin = tokens(Role.PROVINCE_ADMIN, "*")
    await check(gateway.put(f"/registry/v1/counties/{COUNTY}", json={"name": "测试县", "policy": POLICY}, headers=admin), 200)
    # A contract of 360,000 yuan for the service year 2025-12-01 – 2026-11-30 (over by now).
    contract = await sign(gateway, place)
    signed = await check(gateway.get(f"/registry/v1/counties/{COUNTY}/contracts/{contract}", headers=place.purchaser), 200)
    assert {k: signed["policy"][k] for k in (*POLICY, "min_wage_multiplier")} == {**POLICY, "min_wage_multiplier": "1.1"}
    base = f"/finance/v1/counties/{COUNTY}/contracts/{contract}"
    await wait_for(gateway, f"{base}/tranches", place.purchaser)
    provider = place.provider()
    lee, wang = place.worker_ids

    async def book(voucher: str, category: str, amount_fen: int, **wage: str) -> list[str]:
        body = {"category": category, "amount_fen": amount_fen, "spent_on": "2026-04-10", "voucher": voucher, **wage}
        booked = await check(gateway.post(f"{base}/expenses", json=body, headers=provider), 201)
        assert (booked["worker_id"], booked["month"]) == (wage.get("worker_id"), wage.get("month"))
        return [f["kind"] for f in booked["findings"] if f["rule"] == "R-FIN-4"]

    # 李娜's March wages: 2,000 yuan < 2,145 yuan → flagged; the 145 yuan paid later completes them.
    assert await book("GZ-2026-03-01", "personnel", 200_000, worker_id=lee, month="2026-03") == ["below_minimum_wage"]
    assert await book("GZ-2026-03-02", "personnel", 14_500, worker_id=lee, month="2026-03") == []
    # 王静's April wages stay below it.
    assert await book("GZ-2026-04-01", "personnel", 180_000, worker_id=wang, month="2026-04") == ["below_minimum_wage"]
    # 19,000 yuan of operations: above the county's 5% (18,000 yuan) — under the default 10% it would pass.
    assert await book("YY-2026-001", "operations", 1_900_000) == ["cost_structure"]

    # New fields are checked (R-FIN-4, naming the field) and a refusal records nothing.
    wrong = [
        ({"category": "operations", "worker_id": lee, "month": "2026-03"}, "worker_id"),
        ({"category": "personnel", "worker_id": lee}, "month"),
        ({"category": "personnel", "month": "2026-03"}, "worker_id"),
        ({"category": "personnel", "worker_id": lee, "month": "2026-13"}, "month"),
    ]
    for body, field in wrong:
        await refused(gateway.post(f"{base}/expenses", json={"amount_fen": 1, "spent_on": "2026-04-10", "voucher": "X-1", **body},
                                   headers=provider), 422, "R-FIN-4", field)
    assert len(await check(gateway.get(f"{base}/expenses", headers=provider), 200)) == 4

    rec = await check(gateway.get(f"{base}/reconciliation", headers=place.purchaser), 200)
    cost = rec["cost_structure"]
    assert {k: cost[k] for k in ("personnel_fen", "personnel_floor_percent", "personnel_floor_fen", "personnel_missing_fen",
                                 "operations_fen", "operations_ceiling_percent", "operations_ceiling_fen",
                                 "minimum_wage_fen", "year_over")} == {
        "personnel_fen": 394_500, "personnel_floor_percent": 90, "personnel_floor_fen": 32_400_000,
        "personnel_missing_fen": 32_005_500, "operations_fen": 1_900_000, "operations_ceiling_percent": 5,
        "operations_ceiling_fen": 1_800_000, "minimum_wage_fen": 214_500, "year_over": True,
    }
    assert [(w["worker_id"], w["month"], w["paid_fen"], w["missing_fen"]) for w in cost["wages_below_minimum"]] == [
        (wang, "2026-04", 180_000, 34_500)
    ]
    assert [(f["kind"], f["missing_fen"]) for f in cost["findings"]] == [
        ("personnel_below_floor", 32_005_500), ("operations_above_ceiling", 100_000), ("below_minimum_wage", 34_500)
    ]
    assert all(f["rule"] == "R-FIN-4" for f in cost["findings"])


async def test_the_minimum_wage_is_a_checked_policy_parameter(gateway, tokens):
    await open_county(gateway, tokens)
    admin = tokens(Role.PROVINCE_ADMIN, "*")
    for value in (-1, "1950", 1950.5, True, 10**9):
        await refused(gateway.put(f"/registry/v1/counties/{COUNTY}", json={"name": "测试县", "policy": {"local_min_wage_fen": value}},
                                  headers=admin), 422, "R-FIN-4", "policy.local_min_wage_fen")
    # 0 is the default (not configured): a policy read back can be sent again as it is.
    county = await check(gateway.put(f"/registry/v1/counties/{COUNTY}", json={"name": "测试县", "policy": {"local_min_wage_fen": 0}},
                                     headers=admin), 200)
    assert county["policy"]["local_min_wage_fen"] == 0
