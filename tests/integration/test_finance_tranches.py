"""Tranches follow the contract's life through NATS only: scheduled when the contract takes effect
and when evaluations pass, due on the State Council working-day calendar (R-FIN-5, R-FIN-6),
withheld when one fails and scheduled again after an upheld appeal (R-FIN-7), cancelled when the
contract is terminated; loading a year's official calendar recomputes provisional due dates.
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

from finance.application import FinanceLookups
from finance.main import SPEC

from shared.infra.auth import Role
from shared.infra.service import open_store
from shared.workdays import DueDate
from tests.integration.test_finance_support import (
    COUNTY,
    conclude,
    decide_appeal,
    eventually,
    finance_api_fixture,  # noqa: F401 — the fixture
    published,
    refusal,
    sign,
    terminate,
    tranches_when,
)

D = date.fromisoformat


async def test_tranches_follow_evaluations_appeals_and_termination(finance_api, tokens, settings):
    finance = tokens(Role.FINANCE, COUNTY)
    contract = str(uuid.uuid4())

    # Evaluation's consumer runs apart from registry's: the mid-term result can arrive before
    # finance has processed the signed contract. It is retried, not lost.
    await conclude(settings, contract, "midterm", passed=True, on="2026-02-10")

    async def evaluation_retried() -> bool:
        stats = (await finance_api.get("/finance/health")).json()["consumers"]["evaluation"]
        return stats["failures"] >= 1 and "RetryLater" in (stats["last_error"] or "")

    await eventually(evaluation_retried, "finance defers the evaluation of a contract it does not know")
    # The contract (360,000.01 yuan) took effect on Fri 2025-09-26.
    await sign(settings, contract, effective_on="2025-09-26")
    tranches = await tranches_when(finance_api, finance, contract, ["scheduled", "scheduled", "awaiting_trigger"])

    # 50/30/20 in integer fen; the last tranche takes the remainder.
    assert [(t["seq"], t["percent"], t["amount_fen"]) for t in tranches] == [
        (1, 50, 18_000_000), (2, 30, 10_800_000), (3, 20, 7_200_001)
    ]
    # Tranche 1, 15 working days after 2025-09-26: Sun Sep 28 is a 调休 working day, National Day
    # Oct 1–8 is not, Sat Oct 11 is (调休): Thu Oct 23 — Mon–Fri alone would give Oct 17.
    assert (tranches[0]["due_on"], tranches[0]["provisional"]) == ("2025-10-23", False)
    # Tranche 2, after the mid-term passed on Tue 2026-02-10: Sat Feb 14 (调休) counts, the Spring
    # Festival Feb 15–23 does not, Sat Feb 28 (调休) counts: Mon Mar 9.
    assert (tranches[1]["due_on"], tranches[1]["triggered_on"], tranches[1]["provisional"]) == ("2026-03-09", "2026-02-10", False)
    scheduled = await published(settings, COUNTY, "finance", "TrancheScheduled", lambda e: e["data"]["seq"] == 2)
    assert (scheduled["data"]["seq"], scheduled["data"]["triggered_on"]) == (2, "2026-02-10")
    assert scheduled["actor"] == "service:finance"

    # A process visit triggers nothing; the final evaluation fails: tranche 3 is withheld (R-FIN-7).
    await conclude(settings, contract, "process", passed=True, on="2026-06-01")
    failed = await conclude(settings, contract, "final", passed=False, on="2026-09-18")
    tranches = await tranches_when(finance_api, finance, contract, ["scheduled", "scheduled", "withheld"])
    assert tranches[2]["due_on"] is None
    withheld = await published(settings, COUNTY, "finance", "TrancheWithheld")
    assert withheld["data"] == {
        "contract_id": contract, "seq": 3, "amount_fen": 7_200_001, "trigger": "final_passed",
        "evaluation_id": failed, "concluded_on": "2026-09-18", "grade": "不合格",
    }
    r = await finance_api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches/3/payment",
        json={"paid_on": "2026-10-08", "voucher": "BF-2026-0093"}, headers=finance,
    )
    assert refusal(r) == (422, "R-FIN-7", "seq")

    # The provider's appeal is upheld on Mon 2026-09-28: tranche 3 is scheduled again, due 15
    # working days later across National Day 2026 (Oct 1–7 off, Sat Oct 10 worked): Fri Oct 23.
    await decide_appeal(settings, contract, failed, "final", on="2026-09-28")
    tranches = await tranches_when(finance_api, finance, contract, ["scheduled", "scheduled", "scheduled"])
    assert (tranches[2]["due_on"], tranches[2]["triggered_on"]) == ("2026-10-23", "2026-09-28")

    # Another contract is terminated after its first tranche was scheduled: nothing more is owed.
    ended = str(uuid.uuid4())
    await sign(settings, ended, effective_on="2026-03-02", amount_fen=24_000_000)
    await tranches_when(finance_api, finance, ended, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    await terminate(settings, ended, on="2026-05-15")
    await tranches_when(finance_api, finance, ended, ["cancelled", "cancelled", "cancelled"])
    cancelled = await published(settings, COUNTY, "finance", "TrancheCancelled", lambda e: e["data"]["seq"] == 3)
    assert cancelled["data"]["contract_id"] == ended and cancelled["data"]["terminated_on"] == "2026-05-15"
    # The first contract is untouched.
    await tranches_when(finance_api, finance, contract, ["scheduled", "scheduled", "scheduled"])


async def test_provisional_due_date_is_recomputed_when_the_2027_calendar_is_loaded(finance_api, tokens, settings):
    finance = tokens(Role.FINANCE, COUNTY)
    contract = str(uuid.uuid4())
    # Signed now, in effect from Mon 2027-01-25: no published 2027 calendar yet, so tranche 1's
    # date is counted Monday–Friday (R-FIN-6; 除夕 Feb 5 and 初三 Feb 8 count) — Mon Feb 15, provisional.
    await sign(settings, contract, effective_on="2027-01-25", signed_on=D("2026-11-20"))
    tranches = await tranches_when(finance_api, finance, contract, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    assert (tranches[0]["due_on"], tranches[0]["provisional"]) == ("2027-02-15", True)

    # The notice (illustrative here): 春节 Feb 5–12 off, Sat Jan 30 and Sat Feb 20 worked (调休).
    notice = {
        "holidays": ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12"],
        "workdays": ["2027-01-30", "2027-02-20"],
    }
    r = await finance_api.post("/finance/v1/calendars/2027", json=notice, headers=tokens(Role.PURCHASER, COUNTY))
    assert refusal(r)[:2] == (403, "R-AUD-6")
    r = await finance_api.post(
        "/finance/v1/calendars/2027", json={"holidays": ["2028-01-01"]}, headers=tokens(Role.PROVINCE_ADMIN, "*")
    )
    assert refusal(r) == (422, "R-FIN-6", "holidays")

    r = await finance_api.post("/finance/v1/calendars/2027", json=notice, headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["workdays"] == ["2027-01-30", "2027-02-20"]
    # Jan 26–29, Sat Jan 30, Feb 1–4, (Feb 5–14 off), Feb 15–19, Sat Feb 20: the 15th working day.
    assert {"county": COUNTY, "contract_id": contract, "seq": 1, "due_on": "2027-02-20", "provisional": False} in [
        {k: row[k] for k in ("county", "contract_id", "seq", "due_on", "provisional")} for row in body["recomputed"]
    ]
    tranches = (await finance_api.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches", headers=finance)).json()
    assert (tranches[0]["due_on"], tranches[0]["provisional"]) == ("2027-02-20", False)

    # Both facts are published: the calendar province-wide, the recomputation under the county.
    loaded = await published(settings, "province", "finance", "CalendarLoaded")
    recomputed = await published(settings, COUNTY, "finance", "DueDateRecomputed")
    assert loaded["data"]["year"] == 2027 and "2027-02-12" in loaded["data"]["holidays"]
    assert recomputed["data"] == {
        "contract_id": contract, "seq": 1, "previous_due_on": "2027-02-15", "due_on": "2027-02-20",
        "provisional": False, "calendar_year": 2027,
    }
    assert recomputed["correlation_id"] == loaded["correlation_id"]

    # Loading the same notice again records nothing and recomputes nothing.
    r = await finance_api.post("/finance/v1/calendars/2027", json=notice, headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert r.status_code == 200 and r.json()["recomputed"] == []
    listed = (await finance_api.get("/finance/v1/calendars", headers=tokens(Role.AUDITOR, "*"))).json()
    assert [c["year"] for c in listed] == [2027]

    # A contract signed after the load is scheduled on the official calendar straight away.
    later = str(uuid.uuid4())
    await sign(settings, later, effective_on="2027-01-25", signed_on=D("2026-11-24"))
    tranches = await tranches_when(finance_api, finance, later, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    assert (tranches[0]["due_on"], tranches[0]["provisional"]) == ("2027-02-20", False)

    # The loaded calendar lives in finance's event store: a freshly started instance counts with it.
    restarted = open_store(SPEC, settings)
    try:
        assert FinanceLookups(restarted).workdays().add_workdays(D("2027-01-25"), 15) == DueDate(D("2027-02-20"), False)
    finally:
        restarted.close()
