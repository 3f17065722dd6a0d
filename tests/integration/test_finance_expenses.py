"""Ring-fenced expenses (专款专用, R-FIN-8): every expense is booked against one contract with its
voucher and flagged when it exceeds the funds received, breaks the cost structure (R-FIN-4), falls
outside the contract period or reuses a voucher; the reconciliation traces every figure to the
events behind it; and a county sees and touches only its own finance (R-AUD-6).
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from shared.infra.auth import Role
from tests.integration.test_finance_support import (
    COUNTY,
    OTHER,
    finance_api_fixture,  # noqa: F401 — the fixture
    published,
    refusal,
    sign,
    store_head,
    tranches_when,
)

PROVIDER, NEIGHBOUR = "p-明德", "p-同心"


async def ours_and_a_neighbours(api, finance: dict[str, str], settings) -> tuple[str, str]:
    """Two contracts signed, their tranche 1 scheduled: 200,000 yuan each for 2026-03-02 –
    2027-03-01, the second (the neighbouring station's) another provider's."""
    contract, neighbours = str(uuid.uuid4()), str(uuid.uuid4())
    await sign(settings, contract, effective_on="2026-03-02", amount_fen=20_000_000)
    await sign(settings, neighbours, effective_on="2026-03-02", amount_fen=20_000_000, provider_id=NEIGHBOUR)
    for c in (contract, neighbours):
        await tranches_when(api, finance, c, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    return contract, neighbours


async def test_expenses_are_flagged_and_the_reconciliation_traces_every_figure(finance_api, tokens, settings):
    api, finance = finance_api, tokens(Role.FINANCE, COUNTY)
    provider = tokens(Role.PROVIDER, COUNTY, provider_id=PROVIDER)
    contract, neighbours = await ours_and_a_neighbours(api, finance, settings)
    url = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/expenses"

    async def book(category: str, amount_fen: int, spent_on: str, voucher: str, headers=provider, to: str = url) -> list[str]:
        r = await api.post(to, json={"category": category, "amount_fen": amount_fen, "spent_on": spent_on, "voucher": voucher}, headers=headers)
        assert r.status_code == 201, r.text
        return [f["kind"] for f in r.json()["findings"]]

    # Wages paid before any disbursement: spending beyond the funds received (截留/挤占).
    assert await book("personnel", 1_000_000, "2026-03-05", "PZ-2026-001") == ["beyond_funds_received"]
    # Finance pays tranche 1 (100,000 yuan); March wages are then within funds and structure.
    r = await api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches/1/payment",
        json={"paid_on": "2026-03-10", "voucher": "BF-2026-0031"}, headers=finance,
    )
    assert r.status_code == 201, r.text
    # The categories may be named as seed 001 (涿鹿县) names them: 人员费用; 服务质量保障费用、机构运营管理费.
    assert await book("人员费用", 4_000_000, "2026-03-31", "PZ-2026-002") == []
    # Operations of 25,000 yuan: above 10% of the contract, so personnel can no longer reach 90% (R-FIN-4).
    assert await book("机构运营管理费", 2_500_000, "2026-04-10", "PZ-2026-003") == ["cost_structure"]
    # Dated before the contract took effect.
    assert await book("personnel", 100_000, "2026-02-20", "PZ-2026-004") == ["outside_contract_period"]
    # A voucher already booked on the neighbouring contract (booked there by finance): booked twice.
    neighbour_url = f"/finance/v1/counties/{COUNTY}/contracts/{neighbours}/expenses"
    assert await book("personnel", 100_000, "2026-04-01", "PZ-2026-777", headers=finance, to=neighbour_url) == [
        "beyond_funds_received"
    ]
    assert await book("personnel", 100_000, "2026-04-02", "PZ-2026-777") == ["duplicate_voucher"]
    flagged = await published(settings, COUNTY, "finance", "ExpenseFlagged", lambda e: e["data"]["kind"] == "duplicate_voucher")
    assert flagged["data"]["contract_id"] == contract and neighbours in flagged["data"]["detail"]

    # Refused outright, recording nothing: another provider's account, an unknown category, no amount.
    head = await store_head(api)
    expense = {"category": "personnel", "amount_fen": 100, "spent_on": "2026-04-03", "voucher": "PZ-X"}
    neighbour = tokens(Role.PROVIDER, COUNTY, provider_id=NEIGHBOUR)
    assert refusal(await api.post(url, json=expense, headers=neighbour))[:2] == (404, None)  # as if unknown (docs/ACCESS.md)
    assert refusal(await api.post(url, json={**expense, "category": "banquet"}, headers=provider)) == (422, "R-FIN-4", "category")
    assert refusal(await api.post(url, json={**expense, "amount_fen": 0}, headers=provider)) == (422, "R-FIN-1", "amount_fen")
    assert refusal(await api.post(url, json=expense, headers=tokens(Role.PURCHASER, COUNTY)))[:2] == (403, "R-AUD-6")
    assert await store_head(api) == head
    # A repeated Idempotency-Key returns the first booking and records nothing new.
    keyed = {**provider, "Idempotency-Key": "pz-2026-005"}
    first = await api.post(url, json={**expense, "voucher": "PZ-2026-005"}, headers=keyed)
    head = await store_head(api)
    again = await api.post(url, json={**expense, "voucher": "PZ-2026-005"}, headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201) and again.json() == first.json()
    assert await store_head(api) == head

    # The purchaser sees the expense findings among the county's findings.
    r = await api.get(f"/finance/v1/counties/{COUNTY}/findings", headers=tokens(Role.PURCHASER, COUNTY))
    ours = sorted(f["kind"] for f in r.json() if f["contract_id"] == contract)
    assert ours == ["beyond_funds_received", "cost_structure", "duplicate_voucher", "outside_contract_period"]

    # The reconciliation: each figure with the events behind it.
    recon_url = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/reconciliation"
    assert (await api.get(recon_url, headers=neighbour)).status_code == 404
    r = await api.get(recon_url, headers=provider)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["contract_amount"]["amount_fen"] == 20_000_000
    assert (rec["paid"]["amount_fen"], rec["paid"]["tranches"]) == (10_000_000, [1])
    assert (rec["awaiting_trigger"]["amount_fen"], rec["awaiting_trigger"]["tranches"]) == (10_000_000, [2, 3])
    assert [rec[k]["amount_fen"] for k in ("scheduled", "withheld", "cancelled")] == [0, 0, 0]
    by_category = {k: v["amount_fen"] for k, v in rec["spent"]["by_category"].items()}
    assert by_category == {"operations": 2_500_000, "personnel": 1_000_000 + 4_000_000 + 100_000 + 100_000 + 100}
    assert rec["spent"]["amount_fen"] == 7_700_100
    assert rec["balance"]["amount_fen"] == 10_000_000 - 7_700_100
    assert rec["expense_findings"]["count"] == 4
    assert len(rec["spent"]["by_category"]["personnel"]["event_ids"]) == 5

    # The ids are those of the envelopes: the payment as published on JetStream …
    paid = await published(settings, COUNTY, "finance", "TranchePaid")
    assert rec["paid"]["event_ids"] == [paid["event_id"]]
    assert paid["event_id"] in rec["balance"]["event_ids"]
    # … and every one of them is in finance's event feed for this contract.
    r = await api.get("/finance/v1/audit/events", params={"contract_id": contract, "limit": 1000}, headers=tokens(Role.AUDITOR, COUNTY))
    feed = {e["event_id"]: e["event_type"] for e in r.json()["events"]}
    traced = [
        *rec["contract_amount"]["event_ids"], *rec["paid"]["event_ids"], *rec["awaiting_trigger"]["event_ids"],
        *rec["spent"]["event_ids"], *rec["expense_findings"]["event_ids"],
    ]
    assert traced and all(i in feed for i in traced)
    assert {feed[i] for i in rec["spent"]["event_ids"]} == {"ExpenseBooked"}
    assert {feed[i] for i in rec["expense_findings"]["event_ids"]} == {"ExpenseFlagged"}


async def test_a_county_sees_and_touches_only_its_own_finance(finance_api, tokens, settings):
    api = finance_api
    ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    await sign(settings, ours, effective_on="2026-09-21")
    await sign(settings, theirs, OTHER, effective_on="2026-09-21")
    await tranches_when(api, tokens(Role.FINANCE, COUNTY), ours, ["scheduled", "awaiting_trigger", "awaiting_trigger"])
    await tranches_when(api, tokens(Role.FINANCE, OTHER), theirs, ["scheduled", "awaiting_trigger", "awaiting_trigger"], OTHER)
    r = await api.post(
        f"/finance/v1/counties/{OTHER}/budgets", json={"year": 2026, "source": "福彩公益金", "amount_fen": 50_000_000},
        headers=tokens(Role.FINANCE, OTHER),
    )
    assert r.status_code == 201, r.text
    r = await api.post(
        f"/finance/v1/counties/{OTHER}/contracts/{theirs}/expenses",
        json={"category": "personnel", "amount_fen": 100, "spent_on": "2026-10-01", "voucher": "PZ-2026-001"},
        headers=tokens(Role.FINANCE, OTHER),
    )
    assert r.status_code == 201, r.text

    purchaser, finance = tokens(Role.PURCHASER, COUNTY), tokens(Role.FINANCE, COUNTY)
    # Their county's paths are closed to our tokens.
    for path in (
        f"/finance/v1/counties/{OTHER}/budgets",
        f"/finance/v1/counties/{OTHER}/findings",
        f"/finance/v1/counties/{OTHER}/tranches/overdue",
        f"/finance/v1/counties/{OTHER}/contracts/{theirs}/tranches",
        f"/finance/v1/counties/{OTHER}/contracts/{theirs}/reconciliation",
    ):
        assert refusal(await api.get(path, headers=purchaser))[:2] == (403, "R-AUD-6"), path
    r = await api.post(
        f"/finance/v1/counties/{OTHER}/contracts/{theirs}/tranches/1/payment",
        json={"paid_on": "2026-10-10", "voucher": "BF-1"}, headers=finance,
    )
    assert refusal(r)[:2] == (403, "R-AUD-6")
    # Their contract asked for under our county does not exist here.
    for path in (f"/contracts/{theirs}/tranches", f"/contracts/{theirs}/reconciliation", f"/contracts/{theirs}/expenses"):
        assert (await api.get(f"/finance/v1/counties/{COUNTY}{path}", headers=finance)).status_code == 404, path
    r = await api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{theirs}/tranches/1/payment",
        json={"paid_on": "2026-10-10", "voucher": "BF-1"}, headers=finance,
    )
    assert r.status_code == 404
    # Our county-wide views hold only our contract and budgets: its service year (21 September 2026 –
    # 20 September 2027) counts 102 of 365 days against 2026 and 263 against 2027 (R-FIN-2).
    assert (await api.get(f"/finance/v1/counties/{COUNTY}/budgets", headers=purchaser)).json() == [
        {"year": year, "source": "福彩公益金", "allocated": False, "amount_fen": 0, "caps": [], "caps_policy_of": ours,
         "committed_fen": fen,
         "remaining_fen": -fen, "status": "unallocated", "contracts": [{"contract_id": ours, "amount_fen": fen}],
         "released_fen": 0, "releases": []}
        for year, fen in ((2026, 10_060_274), (2027, 25_939_727))
    ]
    overdue = (await api.get(f"/finance/v1/counties/{COUNTY}/tranches/overdue", headers=purchaser)).json()
    assert [row["contract_id"] for row in overdue] == [ours]
    # A voucher number their county used is no duplicate in ours.
    r = await api.post(
        f"/finance/v1/counties/{COUNTY}/contracts/{ours}/expenses",
        json={"category": "personnel", "amount_fen": 100, "spent_on": "2026-10-01", "voucher": "PZ-2026-001"},
        headers=finance,
    )
    assert [f["kind"] for f in r.json()["findings"]] == ["beyond_funds_received"]


async def test_the_expense_list_is_paged_by_cursor_in_booking_order_while_expenses_are_booked(finance_api, tokens, settings):
    api, finance = finance_api, tokens(Role.FINANCE, COUNTY)
    contract, other = await ours_and_a_neighbours(api, finance, settings)
    url = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/expenses"

    async def book(voucher: str, to: str = url, headers=finance) -> dict:
        r = await api.post(to, json={"category": "personnel", "amount_fen": 100_000, "spent_on": "2026-04-01", "voucher": voucher},
                           headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    first = [(await book(f"PZ-{i}"))["expense_id"] for i in range(7)]
    await book("PZ-OTHER", to=f"/finance/v1/counties/{COUNTY}/contracts/{other}/expenses")
    # Walk 3 at a time, booking one more after each page: each expense booked before the walk is seen
    # once, in booking order; those booked during it come after them; the other contract's never.
    seen, added, cursor, pages = [], [], None, 0
    while True:
        r = await api.get(url, params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=finance)
        assert r.status_code == 200, r.text
        assert len(r.json()) <= 3
        seen += [e["expense_id"] for e in r.json()]
        pages += 1
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        assert 'rel="next"' in r.headers["Link"]
        if pages <= 2:
            added.append((await book(f"PZ-NEW-{pages}"))["expense_id"])
    assert seen == first + added and len(set(seen)) == len(seen)
    # Without a limit: the first DEFAULT_LIMIT (100), no next page here.
    r = await api.get(url, headers=finance)
    assert [e["expense_id"] for e in r.json()] == first + added and "X-Next-Cursor" not in r.headers
    # A cursor is the list's own: edited, or from another contract's list, it is refused naming the field.
    r = await api.get(url, params={"limit": 3}, headers=finance)
    cursor = r.headers["X-Next-Cursor"]
    assert refusal(await api.get(url, params={"cursor": cursor[:-2] + "zz"}, headers=finance)) == (422, "R-AUD-3", "cursor")
    elsewhere = f"/finance/v1/counties/{COUNTY}/contracts/{other}/expenses"
    assert refusal(await api.get(elsewhere, params={"cursor": cursor}, headers=finance)) == (422, "R-AUD-3", "cursor")
    assert [e["voucher"] for e in (await api.get(elsewhere, headers=finance)).json()] == ["PZ-OTHER"]
    # The provider of the other contract does not see this list at all (as if unknown).
    neighbour = tokens(Role.PROVIDER, COUNTY, provider_id=NEIGHBOUR)
    assert (await api.get(url, params={"limit": 3}, headers=neighbour)).status_code == 404
    # Limits are bounded (1 … 500).
    assert (await api.get(url, params={"limit": 0}, headers=finance)).status_code == 422
    assert (await api.get(url, params={"limit": 501}, headers=finance)).status_code == 422
