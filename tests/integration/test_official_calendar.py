"""One working-day calendar for all four services (R-FIN-6): a province admin loads a year's
official notice in finance; finance publishes ``CalendarLoaded`` on ``swp.province.finance.CalendarLoaded``;
registry and evaluation keep it in their own stores and count their open deadlines with it —
registry's filing due date (R-REG-5) and evaluation's R-EVAL-3 deadlines move and stop being
provisional. Over real NATS, SQLite and PostgreSQL.

2027 has no chinesecalendar data (provisional: Monday–Friday, as R-FIN-6 says). The notice loaded here: National Day Oct 1–7 off, Sat Sep 25 and Sat Oct 9
worked (调休)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from shared.infra.auth import Role
from shared.testing.upstream import published
from shared.workdays import WorkdayCalendar
from tests.integration.test_evaluation_support import (
    COUNTY,
    EVAL,
    accredit,
    check,
    open_county,
    publish_rubric,
    schedule,
    sign,
    wait_for,
)
from tests.integration.test_finance_support import COUNTY as FIN_COUNTY
from tests.integration.test_finance_support import (
    finance_api_fixture,  # noqa: F401 — the fixture
    tranches_when,
)
from tests.integration.test_finance_support import sign as sign_as_registry
from tests.integration.test_registry_helpers import published as registry_published

NOTICE_2027 = {
    "holidays": ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-04-05", "2027-05-03", "2027-06-09",
                 "2027-09-15", *(f"2027-10-0{d}" for d in range(1, 8))],
    "workdays": ["2027-02-20", "2027-09-25", "2027-10-09"],
}
YEAR_2027 = {"signed_on": "2027-09-24", "effective_on": "2027-10-01", "period_start": "2027-10-01", "period_end": "2028-09-30"}


def steps(evaluation: dict) -> dict[str, tuple[str, bool]]:
    return {s["step"]: (s["due_on"], s["provisional"]) for s in evaluation["steps"]}


async def test_loading_2027_in_finance_moves_registry_and_evaluation_deadlines(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place, **YEAR_2027)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    reg = f"/registry/v1/counties/{COUNTY}/contracts/{contract}"

    # Signed Fri 2027-09-24, filed within 15 working days: with 2027 unknown, Monday–Friday — Sep 27–Oct 1
    # are 1–5 (国庆 not guessed), Oct 4–8 6–10, Oct 11–15 11–15 — Fri Oct 15, provisional.
    shown = await gateway.get(reg, headers=place.purchaser)
    before, before_instant = shown.json(), shown.headers["SWP-Recorded-As-Of"]
    assert (before["filing_due_on"], before["filing_due_provisional"]) == ("2027-10-15", True)
    signed = (await registry_published(settings.nats_url, COUNTY, "ContractSigned"))[0]
    assert signed["data"]["contract_id"] == contract

    # The county's year-end evaluation is on Mon 2027-10-11: self-evaluation 10 working days before,
    # review 5 before, report 20 after (R-EVAL-3) — all counted Monday–Friday without a 2027 calendar.
    evaluation = (await check(schedule(gateway, place, contract, "annual", org, "2027-10-11"), 201))["evaluation_id"]
    path = f"{EVAL}/counties/{COUNTY}/evaluations/{evaluation}"
    planned = steps(await check(gateway.get(path, headers=place.purchaser), 200))
    assert planned == {
        "self_evaluation": ("2027-09-27", True), "review": ("2027-10-04", True),
        "report": ("2027-11-08", True), "feedback": ("2027-11-15", True),
    }

    # The province loads the 2027 notice in finance: the load is published under the `province` token.
    loaded = await gateway.post("/finance/v1/calendars/2027", json=NOTICE_2027, headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert loaded.status_code == 200, loaded.text
    [event] = await published(settings.nats_url, "province", "finance", "CalendarLoaded")
    assert (event["county"], event["data"]["year"]) == ("province", 2027)

    # Registry heard it: Sat Sep 25 (调休) 1, Sep 27–30 2–5, Oct 1–7 off, Fri Oct 8 6, Sat Oct 9 7,
    # Oct 11–15 8–12, Oct 18–20 13–15 — Wed 2027-10-20, no longer provisional.
    after = await wait_for(gateway, reg, place.purchaser, lambda c: not c["filing_due_provisional"])
    assert (after["filing_due_on"], after["filing_due_provisional"]) == ("2027-10-20", False)
    # The history is not rewritten: as recorded before the load, the deadline was the provisional one (R-AUD-3).
    then = await check(gateway.get(reg, params={"recorded_as_of": before_instant}, headers=place.purchaser), 200)
    assert (then["filing_due_on"], then["filing_due_provisional"]) == ("2027-10-15", True)
    listed = await check(gateway.get(f"/registry/v1/counties/{COUNTY}/contracts", headers=place.purchaser), 200)
    assert [(c["filing_due_on"], c["filing_due_provisional"]) for c in listed] == [("2027-10-20", False)]

    # Evaluation heard it: before Oct 11 the 调休 Sat Oct 9 and Fri Oct 8 count, Oct 1–7 do not —
    # self-evaluation due Wed Sep 22, review Tue Sep 28; the report date stands but is firm.
    recounted = await wait_for(gateway, path, place.purchaser, lambda e: not any(s["provisional"] for s in e["steps"]))
    assert steps(recounted) == {
        "self_evaluation": ("2027-09-22", False), "review": ("2027-09-28", False),
        "report": ("2027-11-08", False), "feedback": ("2027-11-15", False),
    }
    # A filing on Tue Oct 19 is on time under the official calendar (it was late under the fallback).
    filed = await check(gateway.post(f"{reg}/filing", json={"filed_on": "2027-10-19", "filed_with": "固原市民政局"},
                                     headers=place.purchaser), 200)
    assert (filed["filing_due_on"], filed["filing_late"]) == ("2027-10-20", False)

    # Loading the same notice again changes nothing anywhere.
    again = await gateway.post("/finance/v1/calendars/2027", json=NOTICE_2027, headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert again.status_code == 200, again.text
    assert steps(await check(gateway.get(path, headers=place.purchaser), 200)) == steps(recounted)


async def test_deadlines_into_2027_are_monday_to_friday_until_the_notice_moves_them(gateway, tokens, settings):
    # R-FIN-6 as written: a year without a published calendar is Monday–Friday, provisional.
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place, signed_on="2026-12-18", effective_on="2026-12-21",
                          period_start="2026-12-21", period_end="2027-12-20")
    reg = f"/registry/v1/counties/{COUNTY}/contracts/{contract}"
    tranches = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches"
    finance = tokens(Role.FINANCE, COUNTY)

    # Filing (R-REG-5), 15 working days after Fri 2026-12-18: Dec 21–31 1–9, Fri 2027-01-01 10 (元旦 is
    # not guessed), Jan 4–8 11–15 — Fri Jan 8, provisional.
    filing = await check(gateway.get(reg, headers=place.purchaser), 200)
    assert (filing["filing_due_on"], filing["filing_due_provisional"]) == ("2027-01-08", True)
    # Tranche 1 (R-FIN-5), 15 working days after Mon 2026-12-21: Dec 22–31 1–8, Jan 1 9, Jan 4–8 10–14,
    # Mon Jan 11 15 — provisional.
    first = (await wait_for(gateway, tranches, finance, lambda ts: bool(ts) and ts[0]["status"] == "scheduled"))[0]
    assert (first["due_on"], first["provisional"]) == ("2027-01-11", True)

    # The 2027 notice (元旦 Jan 1 off among others) moves both by one working day and makes them firm.
    keyed = {**tokens(Role.PROVINCE_ADMIN, "*"), "Idempotency-Key": f"notice-2027-{uuid.uuid4()}"}
    loaded = await gateway.post("/finance/v1/calendars/2027", json=NOTICE_2027, headers=keyed)
    assert loaded.status_code == 200, loaded.text
    moved = {"county": COUNTY, "contract_id": contract, "seq": 1, "due_on": "2027-01-12", "provisional": False}
    assert loaded.json()["recomputed"] == [moved]
    # The load repeated with its Idempotency-Key answers the first result (API.md), the tranche it moved
    # included, and records nothing new.
    head = (await check(gateway.get("/finance/health"), 200))["store"]["head"]
    repeated = await gateway.post("/finance/v1/calendars/2027", json=NOTICE_2027, headers=keyed)
    assert (repeated.status_code, repeated.json()) == (200, loaded.json())
    assert (await check(gateway.get("/finance/health"), 200))["store"]["head"] == head
    first = (await wait_for(gateway, tranches, finance, lambda ts: not ts[0]["provisional"]))[0]
    assert (first["due_on"], first["provisional"]) == ("2027-01-12", False)
    filing = await wait_for(gateway, reg, place.purchaser, lambda c: not c["filing_due_provisional"])
    assert (filing["filing_due_on"], filing["filing_due_provisional"]) == ("2027-01-11", False)


def _walked(start: date, end: date) -> int:
    cal, day, count = WorkdayCalendar(), start, 0
    while day < end:
        day += timedelta(1)
        count += cal.is_workday(day)[0]
    return count


def _far_years(start: date, end: date) -> int:
    """Working days in (start, end] for dates after 2100: Monday–Friday (no calendar is published)."""
    days = (end - start).days
    return days // 7 * 5 + sum(1 for i in range(1, days % 7 + 1) if (start + timedelta(i)).weekday() < 5)


async def test_overdue_on_9999_12_31_counts_working_days_late_without_walking(finance_api, tokens, settings):
    finance = tokens(Role.FINANCE, FIN_COUNTY)
    contract = str(uuid.uuid4())
    await sign_as_registry(settings, contract, effective_on="2025-09-26")
    await tranches_when(finance_api, finance, contract, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    url = f"/finance/v1/counties/{FIN_COUNTY}/tranches/overdue"
    r = await finance_api.get(url, params={"as_of": "9999-12-31"}, headers=finance)
    assert r.status_code == 200, r.text
    [row] = r.json()
    # Tranche 1 was due 2025-10-23: walked day by day to 2100, then Monday–Friday (R-FIN-6).
    expected = _walked(date(2025, 10, 23), date(2100, 12, 31)) + _far_years(date(2100, 12, 31), date(9999, 12, 31))
    assert (row["contract_id"], row["seq"], row["due_on"], row["working_days_late"]) == (contract, 1, "2025-10-23", expected)
    early = await finance_api.get(url, params={"as_of": "0001-01-01"}, headers=finance)
    assert (early.status_code, early.json()) == (200, [])
