"""Budgets and their caps (R-FIN-2), the station minimum (R-FIN-3), findings that block payment
until resolved, every refusal of a payment (R-FIN-7), and overdue tranches (R-FIN-9).
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

from shared.infra.auth import Role
from tests.integration.test_finance_support import (
    COUNTY,
    conclude,
    finance_api_fixture,  # noqa: F401 — the fixture
    published,
    refusal,
    sign,
    store_head,
    terminate,
    tranches_when,
)

D = date.fromisoformat
SOCIAL = "社会救助专项经费"


async def test_funding_findings_block_payment_until_resolved_and_every_refusal_of_r_fin_7(finance_api, tokens, settings):
    api, finance, purchaser = finance_api, tokens(Role.FINANCE, COUNTY), tokens(Role.PURCHASER, COUNTY)
    budgets = f"/finance/v1/counties/{COUNTY}/budgets"

    # The county's 2026 budget: 120,000 yuan from the social-assistance special funds, which may
    # fund purchases up to 2% of that year's 5,000,000 yuan (seed 001's ceiling).
    budget = {"year": 2026, "source": SOCIAL, "amount_fen": 12_000_000,
              "cap": {"kind": "ceiling", "percent": "2", "base_fen": 500_000_000}}
    assert refusal(await api.post(budgets, json=budget, headers=purchaser))[:2] == (403, "R-AUD-6")
    bad_kind = {**budget, "cap": {**budget["cap"], "kind": "roof"}}
    assert refusal(await api.post(budgets, json=bad_kind, headers=finance)) == (422, "R-FIN-2", "cap.kind")
    bad_percent = {**budget, "cap": {**budget["cap"], "percent": "2.555"}}
    assert refusal(await api.post(budgets, json=bad_percent, headers=finance))[::2] == (422, "cap.percent")
    r = await api.post(budgets, json=budget, headers=finance)
    assert r.status_code == 201, r.text
    assert r.json()["cap"] == {"kind": "ceiling", "percent": "2", "base_fen": 500_000_000, "limit_fen": 10_000_000}
    allocated = await published(settings, COUNTY, "finance", "BudgetAllocated")
    assert (allocated["data"]["cap_limit_fen"], allocated["data"]["source"]) == (10_000_000, SOCIAL)

    # A contract signed 2026-03-01 for two stations, 200,000 yuan: 150,000 from the special funds
    # (over the 120,000 budget and the 100,000 ceiling), 100,000 per station (under 120,000).
    contract = str(uuid.uuid4())
    await sign(
        settings, contract, effective_on="2026-03-02", signed_on=D("2026-03-01"), amount_fen=20_000_000, stations=2,
        funding=[(SOCIAL, 15_000_000), ("福彩公益金", 5_000_000)],
    )
    await tranches_when(api, finance, contract, ["scheduled", "awaiting_trigger", "awaiting_trigger"])

    # Finance cannot refuse a signed contract: it records findings the purchaser sees. The service
    # period (2 March 2026 – 1 March 2027) counts 305 of its 365 days against 2026: 125,342.47 yuan
    # of the special funds (R-FIN-2: the budget years of the service period, pro rata by days).
    r = await api.get(f"/finance/v1/counties/{COUNTY}/findings", params={"status": "open"}, headers=purchaser)
    assert r.status_code == 200, r.text
    findings = r.json()
    assert sorted((f["rule"], f["source"], f["amount_fen"], f["limit_fen"]) for f in findings) == [
        ("R-FIN-2", SOCIAL, 12_534_247, 10_000_000),  # the 2% ceiling
        ("R-FIN-2", SOCIAL, 12_534_247, 12_000_000),  # the budget allocated
        ("R-FIN-3", None, 10_000_000, 12_000_000),  # per station
    ]
    assert all(f["blocks_payment"] and f["contract_id"] == contract for f in findings)
    r = await api.get(f"/finance/v1/counties/{COUNTY}/findings", headers=tokens(Role.PROVIDER, COUNTY, provider_id="p-明德"))
    assert r.status_code == 403
    breached = await published(settings, COUNTY, "finance", "FundingRuleBreached", lambda e: e["data"]["finding_id"] == "F3")
    assert (breached["data"]["contract_id"], breached["data"]["rule"]) == (contract, "R-FIN-3")
    lines = (await api.get(budgets, params={"year": 2026}, headers=purchaser)).json()
    social = next(line for line in lines if line["source"] == SOCIAL)
    assert (social["status"], social["committed_fen"], social["remaining_fen"]) == ("exceeded", 12_534_247, -534_247)
    assert social["contracts"] == [{"contract_id": contract, "amount_fen": 12_534_247}]
    assert next(line for line in lines if line["source"] == "福彩公益金")["status"] == "unallocated"

    # Every refusal of a payment (R-FIN-7) records nothing.
    head = await store_head(api)

    async def pay(seq: int, paid_on: str, headers=finance) -> object:
        return await api.post(
            f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches/{seq}/payment",
            json={"paid_on": paid_on, "voucher": f"BF-{seq}-{paid_on}"}, headers=headers,
        )

    r = await pay(1, "2026-03-10")
    assert refusal(r) == (422, "R-FIN-7", "contract_id")  # open funding findings
    assert "F1" in r.json()["detail"] and "R-FIN-3" in r.json()["detail"]
    assert refusal(await pay(2, "2026-03-10")) == (422, "R-FIN-7", "seq")  # awaiting its mid-term
    assert refusal(await pay(1, "2026-03-10", headers=purchaser))[:2] == (403, "R-AUD-6")  # finance pays
    assert await store_head(api) == head

    # The purchaser resolves each finding; then tranche 1 can be paid.
    for f in findings:
        r = await api.post(
            f"/finance/v1/counties/{COUNTY}/contracts/{contract}/findings/{f['finding_id']}/resolution",
            json={"resolution": "县财政调整资金来源，追加站点经费"}, headers=purchaser,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["blocks_payment"]) == ("resolved", False)
    r = await api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{contract}/findings/{findings[0]['finding_id']}/resolution",
        json={"resolution": "again"}, headers=purchaser,
    )
    assert refusal(r) == (422, findings[0]["rule"], "finding_id")
    r = await api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{contract}/findings/F99/resolution", json={"resolution": "x"}, headers=purchaser
    )
    assert r.status_code == 404
    last = findings[-1]["finding_id"]
    resolved = await published(settings, COUNTY, "finance", "FundingFindingResolved", lambda e: e["data"]["finding_id"] == last)
    assert resolved["data"]["contract_id"] == contract

    head = await store_head(api)
    assert refusal(await pay(1, "2026-02-27")) == (422, "R-FIN-7", "paid_on")  # before the contract took effect
    assert await store_head(api) == head
    r = await pay(1, "2026-03-10")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["paid_on"], r.json()["voucher"]) == ("paid", "2026-03-10", "BF-1-2026-03-10")
    paid = await published(settings, COUNTY, "finance", "TranchePaid")
    assert paid["data"] == {
        "contract_id": contract, "seq": 1, "amount_fen": 10_000_000, "paid_on": "2026-03-10",
        "voucher": "BF-1-2026-03-10", "due_on": "2026-03-23", "late": False,
    }

    head = await store_head(api)
    assert refusal(await pay(1, "2026-03-11")) == (422, "R-FIN-7", "seq")  # already paid
    # The mid-term fails: tranche 2 is withheld.
    await conclude(settings, contract, "midterm", passed=False, on="2026-09-01")
    await tranches_when(api, finance, contract, ["paid", "withheld", "awaiting_trigger"])
    head = await store_head(api)
    r = await pay(2, "2026-09-10")
    assert refusal(r) == (422, "R-FIN-7", "seq") and "withheld" in r.json()["detail"]
    # The contract is terminated: tranches 2 and 3 are cancelled.
    await terminate(settings, contract, on="2026-10-01")
    await tranches_when(api, finance, contract, ["paid", "cancelled", "cancelled"])
    head = await store_head(api)
    r = await pay(3, "2026-10-10")
    assert refusal(r) == (422, "R-FIN-7", "seq") and "cancelled" in r.json()["detail"]
    assert await store_head(api) == head


async def test_overdue_tranches_are_listed_and_recorded_once(finance_api, tokens, settings):
    api, finance, purchaser = finance_api, tokens(Role.FINANCE, COUNTY), tokens(Role.PURCHASER, COUNTY)
    overdue = f"/finance/v1/counties/{COUNTY}/tranches/overdue"
    contract = str(uuid.uuid4())
    await sign(settings, contract, effective_on="2026-09-21")  # tranche 1 due Mon 2026-10-19
    tranches = await tranches_when(api, finance, contract, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    assert tranches[0]["due_on"] == "2026-10-19"
    assert tranches[0]["status"] == "overdue"  # unpaid today (2026-11-25 or later)

    assert (await api.get(overdue, params={"as_of": "2026-10-19"}, headers=purchaser)).json() == []  # due that day
    rows = (await api.get(overdue, params={"as_of": "2026-10-21"}, headers=purchaser)).json()
    assert [(r["contract_id"], r["seq"], r["amount_fen"], r["working_days_late"], r["recorded_on"]) for r in rows] == [
        (contract, 1, 18_000_000, 2, None)
    ]
    assert (await api.get(overdue, headers=tokens(Role.PROVIDER, COUNTY, provider_id="p-明德"))).status_code == 403

    # The purchaser's overdue check records it once (TrancheOverdue); later checks find nothing new.
    check = f"/finance/v1/counties/{COUNTY}/tranches/overdue-check"
    r = await api.post(check, json={"as_of": "2026-10-21"}, headers=purchaser)
    assert r.status_code == 200, r.text
    assert [(row["seq"], row["recorded_on"]) for row in r.json()] == [(1, "2026-10-21")]
    assert (await api.post(check, json={"as_of": "2026-11-20"}, headers=purchaser)).json() == []
    assert refusal(await api.post(check, json={"as_of": "2099-01-01"}, headers=purchaser)) == (422, "R-FIN-9", "as_of")
    event = await published(settings, COUNTY, "finance", "TrancheOverdue")
    assert event["data"] == {
        "contract_id": contract, "seq": 1, "amount_fen": 18_000_000, "due_on": "2026-10-19", "detected_on": "2026-10-21"
    }
    assert (await api.get(overdue, headers=purchaser)).json()[0]["recorded_on"] == "2026-10-21"

    # Paid late: the payment says so, and the tranche is no longer overdue.
    r = await api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches/1/payment",
        json={"paid_on": "2026-11-20", "voucher": "BF-2026-0117"}, headers=finance,
    )
    assert r.status_code == 201, r.text
    paid = await published(settings, COUNTY, "finance", "TranchePaid")
    assert paid["data"]["late"] is True
    assert (await api.get(overdue, headers=purchaser)).json() == []
