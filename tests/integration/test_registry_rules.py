"""Registry rules as the seeds mean them (issue 14): the contract year as seed 000 writes it (R-REG-4),
bans that follow the organisation into every county and back-dating around a ban (R-EVAL-9, R-REG-1),
renewal gates (R-REG-7), filing overdue (R-REG-5) and funding caps at signing (R-FIN-2).
Each refusal names its rule and field, with a readable detail, and records nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from shared.clock import china_today
from tests.integration.slice import COUNTY, OTHER, USCC, contract_body, setup_county, sign
from tests.integration.test_registry_helpers import REG, Cast, check, published, refused

CONTRACTS = f"{REG}/{COUNTY}/contracts"


async def staffed(cast: Cast, uscc: str, name: str = "明德社会工作服务中心") -> dict[str, Any]:
    """A provider with one station staffed by two of its social workers, hired 1 August 2026."""
    provider = await cast.provider(name, uscc, rating="4A")
    station = await cast.station("南关街道社工站", "南关街道")
    for worker in ("李娜", "王静"):
        await cast.hire(provider, station, worker)
    return {"provider_id": provider, "station_ids": [station], "purchaser": cast.purchaser}


# --- item 9: the contract year as seed 000 writes it ------------------------------------------------
async def test_a_one_year_contract_may_end_on_the_same_calendar_day_a_year_later(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    # Seed 000: "2015年6月10日至2016年6月10日(一年)" — here 21 September 2026 to 21 September 2027.
    anniversary = {"period_start": "2026-09-21", "period_end": "2027-09-21"}
    contract_id = (await check(sign(gateway, COUNTY, setup, **anniversary), 201))["contract_id"]
    contract = await check(gateway.get(f"{CONTRACTS}/{contract_id}", headers=setup["purchaser"]), 200)
    assert (contract["period_start"], contract["period_end"]) == ("2026-09-21", "2027-09-21")
    # One day more is a second year: refused (一年一签), saying the last allowed day.
    problem = await refused(gateway, sign(gateway, COUNTY, setup, period_end="2027-09-22"), "R-REG-4", "period_end")
    assert "2027-09-21" in problem["detail"] and "一年一签" in problem["detail"]


# --- item 4: bans follow the 统一社会信用代码 (R-EVAL-9) ----------------------------------------------
async def test_a_serious_breach_ban_in_one_county_refuses_the_same_organisation_in_another(gateway, tokens, settings):
    here, there = Cast(gateway, tokens, COUNTY), Cast(gateway, tokens, OTHER)
    await here.register("原州区")
    await there.register("涿鹿县")
    uscc = USCC[COUNTY]
    ours, theirs = await staffed(here, uscc), await staffed(there, uscc)
    contract_id = (await check(sign(gateway, COUNTY, ours), 201))["contract_id"]

    # An ordinary breach (违约) ends the contract without a ban; a serious breach (严重违约) bans (R-EVAL-9).
    other = (await check(sign(gateway, COUNTY, ours, justification="第二个服务点的补充协议"), 201))["contract_id"]
    ended = await check(gateway.post(f"{CONTRACTS}/{other}/termination", json={"terminated_on": "2026-10-01", "kind": "breach",
                                                                                  "reason": "驻站人员不足"}, headers=here.purchaser), 200)
    assert ended["end_kind"] == "breach"
    provider = await check(gateway.get(f"{here.base}/providers/{ours['provider_id']}", headers=here.purchaser), 200)
    assert provider["bans"] == []
    body = {"terminated_on": "2026-11-02", "kind": "serious_breach", "reason": "挪用服务经费，严重违约"}
    ended = await check(gateway.post(f"{CONTRACTS}/{contract_id}/termination", json=body, headers=here.purchaser), 200)
    assert (ended["status"], ended["end_kind"]) == ("terminated", "serious_breach")
    banned = (await published(settings.nats_url, COUNTY, "ProviderBanned"))[0]["data"]
    assert (banned["provider_id"], banned["until"]) == (ours["provider_id"], "2029-11-02")  # ban_years = 3
    # Finance releases both terminated contracts' unpaid tranches (nothing was paid) and registry
    # records the releases in the background (CommitmentReleased): let them land before the refusal
    # below checks that it recorded nothing.
    for year in (2026, 2027):
        await funding_settled(gateway, here, year, lambda lines: all(x["committed_fen"] == 0 for x in lines))

    # The same organisation, registered in 涿鹿县, cannot sign there while the ban is in force.
    later = {"signed_on": "2027-03-01", "effective_on": "2027-03-01", "period_start": "2027-03-01", "period_end": "2028-02-29"}
    problem = await refused(gateway, sign(gateway, OTHER, theirs, **later), "R-REG-1", "provider_id")
    assert uscc in problem["detail"] and COUNTY in problem["detail"] and "2029-11-02" in problem["detail"]
    # A different organisation in 涿鹿县 signs there as usual.
    clean = await staffed(there, USCC[OTHER], "涿鹿县阳光社工服务中心")
    await check(sign(gateway, OTHER, clean, **later), 201)


# --- item 3: no back-dating around a ban in force (R-REG-1) ---------------------------------------
async def test_a_contract_cannot_be_back_dated_before_a_ban_in_force_when_it_is_recorded(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    today = china_today()
    # Banned from yesterday for three years (稽查发现弄虚作假), recorded directly.
    ban = {"banned_on": str(today - timedelta(days=1)), "until": str(today + timedelta(days=3 * 365)), "reason": "稽查发现弄虚作假"}
    await check(gateway.post(f"{REG}/{COUNTY}/providers/{setup['provider_id']}/bans", json=ban, headers=setup["purchaser"]), 201)
    # Signed "on 10 September 2026", before the ban: the ban is in force as it is entered, so it is refused.
    assert contract_body(setup["provider_id"], setup["station_ids"])["signed_on"] < ban["banned_on"]
    problem = await refused(gateway, sign(gateway, COUNTY, setup), "R-REG-1", "signed_on")
    assert "back-dated" in problem["detail"] and USCC[COUNTY] in problem["detail"]


# --- item 3: renewal cannot be sidestepped (R-REG-7) ----------------------------------------------
async def test_year_two_names_a_passed_previous_year_and_overlaps_need_a_recorded_justification(gateway, tokens, settings):
    from tests.integration.test_registry_helpers import publish_evaluation, wait_for
    from tests.integration.test_registry_lifecycle import concluded

    setup = await setup_county(gateway, tokens)
    purchaser, provider_id = setup["purchaser"], setup["provider_id"]
    year1 = (await check(sign(gateway, COUNTY, setup), 201))["contract_id"]
    year2_terms = {"signed_on": "2027-09-10", "effective_on": "2027-09-21", "period_start": "2027-09-21", "period_end": "2028-09-20",
                   "year_index": 2}

    # Year 2 without naming year 1 — a fresh contract that sidesteps renewal — is refused.
    problem = await refused(gateway, sign(gateway, COUNTY, setup, **year2_terms), "R-REG-7", "previous_contract_id")
    assert "续签" in problem["detail"]
    # Naming year 1 before its final evaluation passed is refused too.
    problem = await refused(gateway, sign(gateway, COUNTY, setup, previous_contract_id=year1, **year2_terms), "R-REG-7", "previous_contract_id")
    assert "末期/年度评估" in problem["detail"]
    await refused(gateway, sign(gateway, COUNTY, setup, previous_contract_id=year1, **{**year2_terms, "year_index": 3}),
                  "R-REG-7", "year_index")
    await refused(gateway, sign(gateway, COUNTY, setup, previous_contract_id=year1), "R-REG-7", "previous_contract_id")  # year 1

    # A second year-1 contract for the same provider and station in an overlapping period is refused…
    overlapping = {"signed_on": "2027-01-05", "effective_on": "2027-01-05", "period_start": "2027-01-05", "period_end": "2027-09-20"}
    problem = await refused(gateway, sign(gateway, COUNTY, setup, **overlapping), "R-REG-7", "period_start")
    assert year1 in problem["detail"] and "justification" in problem["detail"]
    await refused(gateway, sign(gateway, COUNTY, setup, justification="  ", **overlapping), "R-REG-7", "period_start")
    # …unless justified; the justification is recorded with the contract.
    reason = "县政府追加的困境儿童专项服务，与年度协议分别核算"
    extra = (await check(sign(gateway, COUNTY, setup, justification=reason, **overlapping), 201))["contract_id"]
    shown = await check(gateway.get(f"{CONTRACTS}/{extra}", headers=purchaser), 200)
    assert shown["overlap"] == {"contract_ids": [year1], "justification": reason}
    # A contract that does not overlap needs none.
    later = {"signed_on": "2028-09-01", "effective_on": "2028-09-21", "period_start": "2028-09-21", "period_end": "2029-09-20"}
    assert (await check(gateway.get(f"{CONTRACTS}/{(await check(sign(gateway, COUNTY, setup, **later), 201))['contract_id']}",
                                    headers=purchaser), 200))["overlap"] is None

    # Year 1's final evaluation passes: now year 2 names it and is signed as its renewal.
    await publish_evaluation(settings.nats_url, COUNTY, concluded(year1, provider_id, "EV-final-1", "final", "良好", "2027-09-01"), "5" * 32, 1)
    await wait_for(gateway, f"{CONTRACTS}/{year1}", purchaser, lambda c: bool(c["evaluations"]))
    year2 = (await check(sign(gateway, COUNTY, setup, previous_contract_id=year1, **year2_terms), 201))["contract_id"]
    second = await check(gateway.get(f"{CONTRACTS}/{year2}", headers=purchaser), 200)
    assert (second["year_index"], second["previous_contract_id"], second["cycle_start"]) == (2, year1, "2026-09-21")
    assert (await check(gateway.get(f"{CONTRACTS}/{year1}", headers=purchaser), 200))["next_contract_id"] == year2
    renewed = (await published(settings.nats_url, COUNTY, "ContractRenewed"))[0]["data"]
    assert renewed["next_contract_id"] == year2
    # Once only.
    await refused(gateway, sign(gateway, COUNTY, setup, previous_contract_id=year1, **year2_terms), "R-REG-7", "previous_contract_id")


# --- item 5: a filing not made by its due date is flagged without a request (R-REG-5) -----------------
async def test_a_contract_not_filed_by_its_due_date_is_flagged_by_the_registrys_own_sweep(settings, tokens):
    from gateway.app import create_app

    from shared.testing.fixtures import client_for, running
    from tests.integration.test_registry_helpers import wait_for

    # The platform as deployed: registry sweeps for overdue filings on its own (here every 0.2 s).
    app = create_app(settings.model_copy(update={"sweep_seconds": 0.2}))
    async with running(app), client_for(app) as gateway:
        setup = await setup_county(gateway, tokens)
        purchaser = setup["purchaser"]
        today = china_today()
        # Signed 10 September 2026: due 8 October (15 working days, 国庆 skipped) — past, never filed.
        overdue = (await check(sign(gateway, COUNTY, setup), 201))["contract_id"]
        # Signed yesterday: not due yet.
        recent = {"signed_on": str(today - timedelta(days=1)), "effective_on": str(today), "period_start": str(today),
                  "period_end": str(today + timedelta(days=360)), "justification": "新的服务年度（测试）"}
        pending = (await check(sign(gateway, COUNTY, setup, **recent), 201))["contract_id"]
        # Filed on time: never flagged. (Signed yesterday too: a contract already past its due date
        # would be overdue, and swept, between its signing and its filing.)
        in_time = (await check(sign(gateway, COUNTY, setup, **{**recent, "justification": "另一项目（测试）"}), 201))["contract_id"]
        await check(gateway.post(f"{CONTRACTS}/{in_time}/filing", json={"filed_on": str(today)}, headers=purchaser), 200)

        # Nobody asks: the sweep flags the overdue one, once, and publishes ContractFilingOverdue.
        flagged = await wait_for(gateway, f"{CONTRACTS}/{overdue}", purchaser, lambda c: c["filing_overdue_on"] is not None)
        assert (flagged["filing_late"], flagged["filed_on"], flagged["filing_due_on"]) == (True, None, "2026-10-08")
        events = await published(settings.nats_url, COUNTY, "ContractFilingOverdue")
        assert [(e["data"]["contract_id"], e["data"]["due_on"], e["data"]["signed_on"]) for e in events] == [
            (overdue, "2026-10-08", "2026-09-10")
        ]
        shown = {c: await check(gateway.get(f"{CONTRACTS}/{c}", headers=purchaser), 200) for c in (pending, in_time)}
        assert (shown[pending]["filing_late"], shown[pending]["filing_overdue_on"]) == (None, None)
        assert (shown[in_time]["filing_late"], shown[in_time]["filing_overdue_on"]) == (False, None)

        # The bureau's lists.
        async def listed(filing: str) -> list[str]:
            return [c["contract_id"] for c in await check(gateway.get(CONTRACTS, params={"filing": filing}, headers=purchaser), 200)]

        assert await listed("overdue") == [overdue]
        assert await listed("pending") == [pending]
        assert await listed("on_time") == [in_time]
        r = await gateway.get(CONTRACTS, params={"filing": "someday"}, headers=purchaser)
        assert r.status_code == 422

        # Filed late after all: accepted and flagged late; no longer on the overdue list; flagged only once.
        filed = await check(gateway.post(f"{CONTRACTS}/{overdue}/filing", json={"filed_on": str(today)}, headers=purchaser), 200)
        assert (filed["filing_late"], filed["filing_overdue_on"]) == (True, flagged["filing_overdue_on"])
        assert await listed("overdue") == [] and sorted(await listed("late")) == [overdue]
        registry = app.state.services["registry"].state.service
        assert registry.contracting.sweep_filing_overdue() == []
        assert len(await published(settings.nats_url, COUNTY, "ContractFilingOverdue")) == 1


# --- item 1: funding caps refuse at signing (R-FIN-2) ------------------------------------------------
SOCIAL = "社会救助专项经费"
# Seed 001: 从社会救助专项…中安排的购买服务资金不得超过当年社会救助专项资金总量的2%.
TWO_PERCENT = [{"source": SOCIAL, "bound": "ceiling", "percent": 2, "base": SOCIAL}]


async def funding_settled(client: Any, cast: Cast, year: int, until: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Registry's funding view of ``year`` once ``until(lines)`` holds (it learns releases through NATS)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        lines = await check(client.get(f"{cast.base}/funding", params={"year": year}, headers=cast.purchaser), 200)
        if until(lines):
            return list(lines)
        assert loop.time() < deadline, lines
        await asyncio.sleep(0.1)


async def social_line(client: Any, cast: Cast, year: int, until: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Registry learns budgets only through NATS: poll its funding view until ``until`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        lines = await check(client.get(f"{cast.base}/funding", params={"year": year}, headers=cast.purchaser), 200)
        line = next(x for x in lines if x["source"] == SOCIAL)
        if until(line):
            return dict(line)
        assert loop.time() < deadline, line
        await asyncio.sleep(0.1)


async def test_a_contract_over_its_countys_funding_cap_is_refused_at_signing(gateway, tokens):
    from shared.infra.auth import Role

    cast = Cast(gateway, tokens, COUNTY)
    # A cap names configured sources only: a misspelt one would never match a contract's funding.
    misspelt = {"name": "原州区", "policy": {"funding_caps": [{**TWO_PERCENT[0], "source": "社会救助专项资金"}]}}
    problem = await refused(gateway, gateway.put(cast.base, json=misspelt, headers=cast.admin), "R-FIN-2", "policy.funding_caps.0.source")
    assert "funding_sources" in problem["detail"]
    county = await cast.register("原州区", {"funding_caps": TWO_PERCENT})
    assert county["policy"]["funding_sources"] == ["社会救助专项经费", "困难群众救助补助资金", "福彩公益金", "一般公共预算", "社会资金"]
    setup = await staffed(cast, USCC[COUNTY])
    purchaser, finance = cast.purchaser, tokens(Role.FINANCE, COUNTY)

    def funded(social_fen: int, **overrides: Any) -> dict[str, Any]:
        # 21 Sep 2026 – 20 Sep 2027: 102 of its 365 days count against 2026, 263 against 2027.
        return {"amount_fen": 20_000_000 + social_fen, "funding": [{"source": "福彩公益金", "amount_fen": 20_000_000},
                                                                  {"source": SOCIAL, "amount_fen": social_fen}], **overrides}

    # A free-text spelling of a source is refused: it would slip past the cap on 社会救助专项经费.
    typo = {"amount_fen": 36_000_001, "funding": [{"source": "福彩公益金", "amount_fen": 16_000_000},
                                                  {"source": "社会救助专项资金", "amount_fen": 20_000_001}]}
    problem = await refused(gateway, sign(gateway, COUNTY, setup, **typo), "R-FIN-2", "funding.1.source")
    assert "社会救助专项经费" in problem["detail"]

    # Finance enters the special funds' budgets: 5,000,000 yuan in 2026 and in 2027. The registry
    # learns them from BudgetAllocated; each year's ceiling is 2% = 100,000 yuan.
    for year in (2026, 2027):
        body = {"year": year, "source": SOCIAL, "amount_fen": 500_000_000}
        await check(gateway.post(f"/finance/v1/counties/{COUNTY}/budgets", json=body, headers=finance), 201)
    for year in (2026, 2027):
        assert (await social_line(gateway, cast, year, lambda x: x["ceiling_fen"] is not None))["ceiling_fen"] == 10_000_000

    # 146,000 yuan from the special funds: 40,800 yuan count against 2026, 105,200 against 2027 —
    # over 2027's ceiling by 5,200 yuan, although it is signed in 2026.
    problem = await refused(gateway, sign(gateway, COUNTY, setup, **funded(14_600_000)), "R-FIN-2", "funding.1.amount_fen")
    assert problem["facts"]["excess_fen"] == 520_000 and problem["facts"]["budget_year"] == 2027
    assert problem["facts"]["cap"]["limit_fen"] == 10_000_000 and problem["facts"]["source"] == SOCIAL
    assert SOCIAL in problem["detail"] and "5,200.00元" in problem["detail"] and "100,000.00元" in problem["detail"]

    # 130,000 yuan fits (93,671.23 yuan in 2027) and is signed; the county's commitments show it.
    first = (await check(sign(gateway, COUNTY, setup, **funded(13_000_000)), 201))["contract_id"]
    lines = await check(gateway.get(f"{cast.base}/funding", params={"year": 2027}, headers=purchaser), 200)
    assert next(x for x in lines if x["source"] == SOCIAL)["committed_fen"] == 9_367_123
    # A second contract's 10,000 yuan would take 2027 to 100,876.71 yuan: refused, citing what is committed.
    second = funded(1_000_000, justification="追加的专项服务")
    problem = await refused(gateway, sign(gateway, COUNTY, setup, **second), "R-FIN-2", "funding.1.amount_fen")
    assert problem["facts"]["committed_fen"] == 9_367_123 and problem["facts"]["excess_fen"] == 87_671
    # Other sources have no cap in this county.
    await check(sign(gateway, COUNTY, setup, amount_fen=50_000_000, funding=[{"source": "一般公共预算", "amount_fen": 50_000_000}],
                     justification="追加的专项服务"), 201)
    assert first


async def test_a_budget_entered_after_signing_rechecks_the_commitments_and_blocks_payment(gateway, tokens):
    from shared.infra.auth import Role
    from tests.integration.slice import wait_for_tranches

    cast = Cast(gateway, tokens, COUNTY)
    # Seed 001 (another county): 不超过上年度资金总额的3% — the base is the previous year's budget.
    await cast.register("原州区", {"funding_caps": [{**TWO_PERCENT[0], "percent": "3", "base_year": "previous"}]})
    setup = await staffed(cast, USCC[COUNTY])
    purchaser, finance = cast.purchaser, tokens(Role.FINANCE, COUNTY)
    findings = f"/finance/v1/counties/{COUNTY}/findings"

    # No budget is entered yet: registry cannot judge the cap, so the contract is signed. 100,000 yuan
    # from the special funds: 27,945.21 yuan count against 2026 and 72,054.79 against 2027.
    funding = [{"source": "福彩公益金", "amount_fen": 26_000_001}, {"source": SOCIAL, "amount_fen": 10_000_000}]
    contract_id = (await check(sign(gateway, COUNTY, setup, funding=funding), 201))["contract_id"]
    await wait_for_tranches(gateway, COUNTY, contract_id, finance)
    assert (await check(gateway.get(findings, headers=purchaser), 200)) == []

    # Finance enters the 2026 special funds budget: 2,000,000 yuan. 3% of it, 60,000 yuan, caps 2027's
    # purchases — which this contract exceeds by 12,054.79 yuan. Finance re-checks and blocks payment.
    body = {"year": 2026, "source": SOCIAL, "amount_fen": 200_000_000}
    await check(gateway.post(f"/finance/v1/counties/{COUNTY}/budgets", json=body, headers=finance), 201)
    [finding] = await check(gateway.get(findings, params={"status": "open"}, headers=purchaser), 200)
    assert (finding["contract_id"], finding["rule"], finding["source"]) == (contract_id, "R-FIN-2", SOCIAL)
    assert (finding["amount_fen"], finding["limit_fen"], finding["blocks_payment"]) == (7_205_479, 6_000_000, True)
    assert "2027" in finding["detail"] and "12,054.79" in finding["detail"]
    r = await gateway.post(f"/finance/v1/counties/{COUNTY}/contracts/{contract_id}/tranches/1/payment",
                           json={"paid_on": "2026-10-10", "voucher": "BF-1"}, headers=finance)
    assert (r.status_code, r.json()["rule"], r.json()["field"]) == (422, "R-FIN-7", "contract_id")  # open findings
    # Entering the same budget again finds nothing new.
    await check(gateway.post(f"/finance/v1/counties/{COUNTY}/budgets", json={**body, "amount_fen": 200_000_001}, headers=finance), 201)
    assert len(await check(gateway.get(findings, headers=purchaser), 200)) == 1

    # Now registry knows the base too: a further contract over the 2027 ceiling is refused at signing.
    await social_line(gateway, cast, 2026, lambda x: x["budget_fen"] == 200_000_001)  # the re-entered amount arrived
    assert (await social_line(gateway, cast, 2027, lambda x: True))["ceiling_fen"] == 6_000_000
    more = [{"source": "福彩公益金", "amount_fen": 35_000_001}, {"source": SOCIAL, "amount_fen": 1_000_000}]
    problem = await refused(gateway, sign(gateway, COUNTY, setup, funding=more, justification="追加"), "R-FIN-2", "funding.1.amount_fen")
    assert problem["facts"]["cap"]["base_year"] == 2026 and problem["facts"]["budget_year"] == 2027
