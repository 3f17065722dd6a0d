"""Signing a contract (服务协议): every check of the signing day, each refusal naming its rule and
field and recording nothing, and the county policy the contract keeps. SQLite and PostgreSQL."""

from __future__ import annotations

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, USCC, contract_body
from tests.integration.test_registry_helpers import Cast, check, published, refused

# A county that asks much of its providers (seed 001: 3A以上, 党组织, 承接过项目且评估合格以上;
# 项目专职督导员 with 中级社会工作师; three social workers per station).
DEMANDING = {
    "require_rating_3a": True,
    "require_party_org": True,
    "require_prior_pass": True,
    "supervisor_required": True,
    "min_workers_per_station": 3,
}


async def test_a_contract_is_signed_only_once_every_rule_of_the_signing_day_holds(gateway, tokens, settings):
    cast = Cast(gateway, tokens, COUNTY)
    county = await cast.register("原州区", DEMANDING)
    assert county["policy_version"] == 1 and county["policy"]["min_workers_per_station"] == 3
    provider = await cast.provider("明德社会工作服务中心", USCC[COUNTY], rating="2A")
    nanguan = await cast.station("南关街道社工站", "南关街道")
    hub = await cast.station("原州区社工总站", "原州区", kind="county_hub")
    await cast.hire(provider, nanguan, "李娜")
    await cast.hire(provider, nanguan, "王静")
    supervisor = await cast.hire(provider, hub, "马晓燕", role="supervisor")  # 助理社会工作师 for now
    contracts, profile = f"{cast.base}/contracts", f"{cast.base}/providers/{provider}/profile"

    def sign(stations=(nanguan,), **overrides):
        return gateway.post(contracts, json=contract_body(provider, list(stations), **overrides), headers=cast.purchaser)

    # R-REG-1: rated 2A, no party organisation, no prior project — one refusal after another.
    problem = await refused(gateway, sign(), "R-REG-1", "provider_id")
    assert "3A" in problem["detail"]
    await check(gateway.post(profile, json={"rating": "4A", "has_party_org": False}, headers=cast.purchaser), 200)
    assert "党组织" in (await refused(gateway, sign(), "R-REG-1", "provider_id"))["detail"]
    await check(gateway.post(profile, json={"rating": "4A", "has_party_org": True}, headers=cast.purchaser), 200)
    assert "合格" in (await refused(gateway, sign(), "R-REG-1", "provider_id"))["detail"]
    prior = [{"name": "2025年南关街道社工站项目", "year": 2025, "grade": "良好"}]
    await check(gateway.post(profile, json={"rating": "4A", "has_party_org": True, "prior_projects": prior}, headers=cast.purchaser), 200)

    # R-REG-2: 南关 has two of the provider's social workers on the signing day (10 September); the
    # county requires three. One hired on 15 September does not count for a contract signed on the 10th.
    problem = await refused(gateway, sign(), "R-REG-2", "station_ids.0")
    assert "has 2" in problem["detail"]
    await cast.hire(provider, nanguan, "张伟", hired_on="2026-09-15")
    await refused(gateway, sign(), "R-REG-2", "station_ids.0")
    await cast.hire(provider, nanguan, "赵敏", hired_on="2026-09-01")

    # R-REG-2: the county requires a supervisor (督导) holding 社会工作师 (中级) or above on the signing day.
    await refused(gateway, sign(), "R-REG-2", "supervisor_id")
    await refused(gateway, sign(supervisor_id=supervisor), "R-REG-2", "supervisor_id")
    qualification = f"{cast.base}/workers/{supervisor}/qualification"
    await check(gateway.post(qualification, json={"qualification": "社会工作师", "qualified_on": "2026-09-05"}, headers=cast.purchaser), 200)

    # The contract's own terms.
    bad_indicator = [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 0}]
    await refused(gateway, sign(supervisor_id=supervisor, indicators=bad_indicator), "R-LOG-8", "indicators.0.target")
    await refused(gateway, sign(supervisor_id=supervisor, service_areas=["社会救助", "跳广场舞"]), "R-LOG-2", "service_areas.1")
    await refused(gateway, sign(supervisor_id=supervisor, period_end="2027-09-22"), "R-REG-4", "period_end")  # 一年一签
    await refused(gateway, sign(supervisor_id=supervisor, year_index=4), "R-REG-4", "year_index")  # a 3-year cycle
    await refused(gateway, sign(supervisor_id=supervisor, cycle_years=4), "R-REG-4", "cycle_years")
    await refused(gateway, sign(supervisor_id=supervisor, year_index=2, probation=True), "R-REG-4", "probation")
    await refused(gateway, sign([nanguan, "no-such-station"], supervisor_id=supervisor), None, "station_ids.1")

    # Everything holds: signed, under policy version 1, year 1 as a probation year (试用考核期).
    contract_id = (await check(sign(supervisor_id=supervisor, probation=True), 201))["contract_id"]
    contract = await check(gateway.get(f"{contracts}/{contract_id}", headers=cast.purchaser), 200)
    assert (contract["status"], contract["year_index"], contract["cycle_years"], contract["probation"]) == ("signed", 1, 3, True)
    assert (contract["policy_version"], contract["policy"]["min_workers_per_station"]) == (1, 3)
    assert contract["supervisor_id"] == supervisor and contract["cycle_start"] == "2026-09-21"
    # R-REG-5: due 15 working days after 10 September by the State Council calendar (国庆 skipped).
    assert (contract["filing_due_on"], contract["filing_due_provisional"], contract["filed_on"]) == ("2026-10-08", False, None)

    # ContractSigned carries the policy snapshot downstream services read (finance: caps, station
    # minimum, cost split; services-log: hours caps).
    signed = await published(settings.nats_url, COUNTY, "ContractSigned", lambda es: any(e["aggregate_id"] == contract_id for e in es))
    data = next(e for e in signed if e["aggregate_id"] == contract_id)["data"]
    assert data["policy"]["min_workers_per_station"] == 3 and data["policy"]["station_min_amount_fen"] == 12_000_000
    assert data["policy"]["personnel_min_percent"] == 90 and data["policy"]["funding_caps"] == []
    assert (data["policy_version"], data["probation"], data["previous_contract_id"], data["year_index"]) == (1, True, None, 1)

    # The county relaxes its policy: a new version; the contract keeps the one it was signed under.
    relaxed = await check(gateway.put(cast.base, json={"name": "原州区", "policy": {"min_workers_per_station": 2}}, headers=cast.admin), 200)
    assert relaxed["policy_version"] == 2 and relaxed["policy"]["require_party_org"] is False
    contract = await check(gateway.get(f"{contracts}/{contract_id}", headers=cast.purchaser), 200)
    assert (contract["policy_version"], contract["policy"]["min_workers_per_station"]) == (1, 3)
    earlier = await check(gateway.get(cast.base, params={"policy_version": 1}, headers=cast.purchaser), 200)
    assert earlier["policy"] == contract["policy"]
    changed = await published(settings.nats_url, COUNTY, "CountyPolicyChanged")
    assert [(e["data"]["policy_version"], e["data"]["policy"]["min_workers_per_station"]) for e in changed] == [(2, 2)]
    # A bad parameter is refused naming it; renaming alone keeps the policy in force.
    await refused(gateway, gateway.put(cast.base, json={"name": "原州区", "policy": {"min_workers_per_station": 0}}, headers=cast.admin),
                  "R-REG-2", "policy.min_workers_per_station")
    renamed = await check(gateway.put(cast.base, json={"name": "固原市原州区"}, headers=cast.admin), 200)
    assert renamed["policy"] == relaxed["policy"] and renamed["name"] == "固原市原州区"


async def test_a_provider_is_known_by_its_credit_code(gateway, tokens):
    cast = Cast(gateway, tokens, COUNTY)
    await cast.register()
    first = await cast.provider("明德社会工作服务中心", USCC[COUNTY], rating="4A")
    # The same registration again is the same provider; the same code with other details is a conflict.
    assert await cast.provider("明德社会工作服务中心", USCC[COUNTY], rating="4A") == first
    body = {"name": "另一家机构", "uscc": USCC[COUNTY]}
    r = await gateway.post(f"{cast.base}/providers", json=body, headers=cast.purchaser)
    assert r.status_code == 409 and r.json()["field"] == "uscc"
    listed = await check(gateway.get(f"{cast.base}/providers", headers=tokens(Role.FINANCE, COUNTY)), 200)
    assert [p["provider_id"] for p in listed] == [first]
