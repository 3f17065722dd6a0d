"""A finance store recorded while the ring-fenced account kept every expense in a list (at 502c0f9, before
issue 16 bounded it) loads into the account of totals and answers exactly as the list-keeping account did:
each expense, the expense list (now walked page by page), the open expense findings, the reconciliation —
and one more booking on top of it is flagged as it was then (R-FIN-8 beyond the funds received and a voucher
used twice; R-FIN-4 wages per worker and month, read from the totals instead of every earlier expense).

``data/finance_expenses_recorded.json`` (the events and the answers) was written by
``record_finance_expenses.py`` run at 502c0f9. Finance took no snapshots then, so there is no older
snapshot to load. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from finance.application import FinanceApplication, FinanceLookups
from finance.main import create_app
from finance.queries import FinanceQueries

from shared.infra.auth import Role
from shared.infra.service import prepare_store
from shared.infra.settings import Settings
from shared.testing.fixtures import client_for, running
from tests.integration.record_finance_expenses import BOOKINGS, CONTRACT, COUNTY, NEXT, OTHER_CONTRACT

RECORDED = json.loads((Path(__file__).parent / "data" / "finance_expenses_recorded.json").read_text())
VIEWS = RECORDED["views"]


def load_recorded(settings: Settings) -> None:
    prepare_store(settings, "finance")
    app = FinanceApplication(settings.eventsourcing_env("finance"))
    app.recorder.insert_events([
        StoredEvent(uuid.UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"].encode())
        for r in RECORDED["events"]
    ])
    app.close()


@pytest.fixture
async def old_store_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    load_recorded(settings)
    service = create_app(settings)
    outer = FastAPI()
    outer.mount("/finance", service)
    async with running(service), client_for(outer) as client:
        yield client


async def walk(api: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int) -> tuple[list[dict[str, Any]], int]:
    items, pages, cursor = [], 0, None
    while True:
        r = await api.get(url, params={"limit": limit, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        assert len(r.json()) <= limit
        items, pages, cursor = items + r.json(), pages + 1, r.headers.get("X-Next-Cursor")
        if cursor is None:
            return items, pages


def test_each_expense_reads_as_the_list_keeping_account_answered(settings):
    load_recorded(settings)
    app = FinanceApplication(settings.eventsourcing_env("finance"))
    try:
        queries = FinanceQueries(FinanceLookups(app))
        booked = [row for row in BOOKINGS if row[0] != "pay"]
        for expense_id, contract, *_ in booked:
            assert jsonable_encoder(queries.expense(COUNTY, contract, expense_id)) == VIEWS["booked"][expense_id]
        account = FinanceLookups(app).account(FinanceLookups(app).schedule(COUNTY, CONTRACT))
        assert account.expense_count == len([b for b in booked if b[1] == CONTRACT])
        assert account.spent_fen() == sum(e["amount_fen"] for e in VIEWS["expenses"][CONTRACT])
    finally:
        app.close()


async def test_the_routes_answer_as_before_and_the_next_booking_is_flagged_as_before(old_store_api, tokens):
    api, finance = old_store_api, tokens(Role.FINANCE, COUNTY)
    base = f"/finance/v1/counties/{COUNTY}"
    for contract in (CONTRACT, OTHER_CONTRACT):
        seen, pages = await walk(api, f"{base}/contracts/{contract}/expenses", finance, 5)
        assert seen == VIEWS["expenses"][contract]
        assert pages == max(1, -(-len(seen) // 5))
    r = await api.get(f"{base}/findings", params={"status": "open"}, headers=finance)
    ours = [{k: row[k] for k in VIEWS["findings_open"][0]} for row in r.json() if row["contract_id"] == CONTRACT]
    assert ours == VIEWS["findings_open"]
    r = await api.get(f"{base}/findings", headers=finance)
    assert [{k: row[k] for k in VIEWS["findings_any"][0]} for row in r.json() if row["contract_id"] == CONTRACT] == VIEWS["findings_any"]
    r = await api.get(f"{base}/contracts/{CONTRACT}/reconciliation", headers=finance)
    assert r.json() == VIEWS["reconciliation"]

    _, contract, category, amount, spent_on, voucher, worker, month = NEXT
    r = await api.post(
        f"{base}/contracts/{contract}/expenses", headers=finance,
        json={"category": category, "amount_fen": amount, "spent_on": spent_on.isoformat(), "voucher": voucher,
              "worker_id": worker, "month": month},
    )
    assert r.status_code == 201, r.text
    assert {**r.json(), "expense_id": NEXT[0]} == VIEWS["next"]


def test_a_long_account_loads_from_its_snapshot_of_totals_and_answers_the_same(settings):
    """Issue 16: the account snapshots every 100 events, and a snapshot is its totals — a load replays at
    most 100 events, whatever the number of expenses. The snapshot equals the replay of the signed
    events (R-AUD-4), and a booking after it is judged on the same totals as by a full replay."""
    from datetime import date

    from eventsourcing.application import project_aggregate
    from finance.domainmodel import ContractAccount, Finding, account_id

    from shared.infra.store import CommandContext

    load_recorded(settings)
    app = FinanceApplication(settings.eventsourcing_env("finance"))
    try:
        lookups = FinanceLookups(app)
        account = lookups.account(lookups.schedule(COUNTY, CONTRACT))
        start = account.version
        with app.command(CommandContext(county=COUNTY, actor="finance-1")):
            for i in range(150):
                flags = [Finding("R-FIN-8", "beyond_funds_received", "x")] if i % 3 == 0 else []
                account.book(f"s-{i}", "personnel" if i % 2 else "operations", 1_000 + i, date(2026, 11, 1), f"SV-{i}",
                             flags, **({"worker_id": f"w-{i % 4}", "month": "2026-11"} if i % 2 else {}))
                app.save(account)
        taken = list(app.snapshots.get(account_id(CONTRACT)))
        assert [s.originator_version for s in taken] == [v for v in range(start + 1, account.version + 1) if v % 100 == 0]
        assert len(taken[-1].state) < 2_000  # totals, not expenses
        replayed = project_aggregate(None, app.events.get(account_id(CONTRACT)))
        fresh = FinanceApplication(settings.eventsourcing_env("finance"))  # no cached account: from the snapshot
        try:
            loaded: ContractAccount = FinanceLookups(fresh).account(FinanceLookups(fresh).schedule(COUNTY, CONTRACT))
            assert loaded.version == replayed.version == account.version
            for attr in ("spent_by_category", "wages", "expense_count", "flag_count"):
                assert getattr(loaded, attr) == getattr(replayed, attr) == getattr(account, attr), attr
            assert loaded.wages_fen("w-1", "2026-11") == sum(1_000 + i for i in range(150) if i % 4 == 1)
            assert fresh.verify_snapshots() == {"checked": len(taken), "mismatched": []}
            # The last expense is read from its own events, its flag with it.
            last = FinanceQueries(FinanceLookups(fresh)).expense(COUNTY, CONTRACT, "s-147")
            assert (last["amount_fen"], [f["kind"] for f in last["findings"]]) == (1_147, ["beyond_funds_received"])
        finally:
            fresh.close()
    finally:
        app.close()
