"""A tranche schedule, a ring-fenced account and a county budget recorded while finance held its state as dicts
(before typed state, #16 item 1) still load into typed state — ``Tranche``s with a
``TrancheStatus``, ``FundingFinding``s, an account's totals with its ``Expense``s read from their events,
``BudgetLine``s — read and take new commands; and what the typed aggregates record is what the untyped ones recorded.

``data/finance_schedule_untyped.json`` is the store as finance wrote it at 932d6b9 (its ``Planned``
carries tranche 1 already scheduled: the untyped schedule shared its tranche dicts with the event
it had not saved yet). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from finance import projections
from finance.application import FinanceApplication, FinanceLookups
from finance.domainmodel import (
    BudgetLine,
    ContractAccount,
    CountyBudget,
    Expense,
    ExpenseCategory,
    Finding,
    FundingFinding,
    Tranche,
    TrancheSchedule,
    TrancheStatus,
    plan_tranches,
    schedule_id,
)
from finance.queries import FinanceQueries

from shared.infra.service import prepare_store
from shared.infra.settings import Settings
from shared.infra.store import CommandContext
from shared.workdays import WorkdayCalendar

RECORDED = json.loads((Path(__file__).parent / "data" / "finance_schedule_untyped.json").read_text())
CONTRACT = "k-old"


@pytest.fixture
def app(settings: Settings) -> Iterator[FinanceApplication]:
    prepare_store(settings, "finance")
    application = FinanceApplication(settings.eventsourcing_env("finance"))
    application.recorder.insert_events([
        StoredEvent(uuid.UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"].encode()) for r in RECORDED
    ])
    yield application
    application.close()


def content(state: bytes | str) -> dict[str, Any]:
    """What an event says, without when and by whom it was recorded."""
    body = json.loads(state)
    return {k: v for k, v in body.items() if k not in ("timestamp", "meta")}


def test_an_untyped_schedule_loads_into_typed_state_and_takes_new_commands(app):
    s: TrancheSchedule = FinanceLookups(app).schedule("640402", CONTRACT)
    assert all(isinstance(t, Tranche) and isinstance(t.status, TrancheStatus) for t in s.tranches)
    assert [t.status for t in s.tranches] == [TrancheStatus.SCHEDULED, TrancheStatus.WITHHELD, TrancheStatus.AWAITING]
    first = s.tranche(1)
    assert (first.due_on, first.triggered_on, first.overdue_since) == (date(2026, 10, 19), date(2026, 9, 21), date(2026, 11, 30))
    assert (s.tranche(2).evaluation_id, s.tranche(2).withheld_on) == ("E-1", date(2027, 3, 1))
    assert all(isinstance(f, FundingFinding) for f in s.findings)
    assert [(f.finding_id, f.status, f.open) for f in s.findings] == [("F1", "resolved", False), ("F2", "open", True)]
    # Reads answer as before (the public JSON is plain strings).
    assert FinanceQueries.tranche_view(first, date(2026, 12, 1))["status"] == "overdue"
    assert FinanceQueries.finding_row(s, s.findings[0])["status"] == "resolved"

    # New commands on the old history: resolve the open finding, pay tranche 1.
    with app.command(CommandContext(county="640402", actor="finance-1")):
        s.resolve_finding("F2", "资金来源已调整")
        s.pay(1, date(2026, 12, 1), "PZ-1")
        app.save(s)
    again: TrancheSchedule = app.repository.get(schedule_id(CONTRACT))
    assert (again.version, again.tranche(1).status, again.tranche(1).voucher) == (9, TrancheStatus.PAID, "PZ-1")
    assert not again.open_findings()


def test_an_untyped_account_loads_into_its_totals_and_answers_as_before(app):
    queries = FinanceQueries(FinanceLookups(app))
    account: ContractAccount = FinanceLookups(app).account(FinanceLookups(app).schedule("640402", CONTRACT))
    # The account holds the totals its rules need (issue 16); each expense is read from its own events.
    assert (account.expense_count, account.flag_count) == (2, 2)
    assert account.wages_fen("w-1", "2026-10") == 500_000 and account.wages_fen("w-1", "2026-11") == 0
    assert account.spent_fen(ExpenseCategory.OPERATIONS) == 9_000_000 and account.spent_fen() == 9_500_000
    first = projections.expense(app, "640402", CONTRACT, "x-1")
    assert isinstance(first, Expense) and first.category == ExpenseCategory.PERSONNEL and first.findings == ()
    assert queries.expense("640402", CONTRACT, "x-2") == {
        "contract_id": CONTRACT, "expense_id": "x-2", "category": "operations", "amount_fen": 9_000_000,
        "spent_on": date(2026, 11, 2), "voucher": "V-2", "worker_id": None, "month": None,
        "findings": [{"rule": "R-FIN-8", "kind": "beyond_funds_received", "detail": "beyond"},
                     {"rule": "R-FIN-4", "kind": "cost_structure", "detail": "ops"}],
    }
    assert projections.expense(app, "640402", CONTRACT, "x-2").findings == (
        Finding("R-FIN-8", "beyond_funds_received", "beyond"), Finding("R-FIN-4", "cost_structure", "ops"),
    )
    with app.command(CommandContext(county="640402", actor="finance-1")):
        account.book("x-3", "personnel", 100, date(2026, 12, 1), "V-3", [Finding("R-FIN-4", "below_minimum_wage", "low")])
        app.save(account)
    page = queries.expenses("640402", CONTRACT, None, 10, None)
    assert [e["expense_id"] for e in page.items] == ["x-1", "x-2", "x-3"] and page.next_key is None
    assert FinanceLookups(app).account(FinanceLookups(app).schedule("640402", CONTRACT)).spent_fen() == 9_500_100


def test_an_untyped_budget_loads_into_typed_lines_in_commitment_order(app):
    lookups = FinanceLookups(app)
    budget: CountyBudget = lookups.county_budget("640402", 2026)
    assert budget.version == 5
    assert budget.lines == {
        "福彩公益金": BudgetLine("福彩公益金", True, 40_000_000, (("k-old", 30_000_000), ("k-two", 20_000_000))),
        "一般公共预算": BudgetLine("一般公共预算", False, 0, (("k-two", 5_000_000),)),
    }
    assert (budget.status("福彩公益金", [], lambda y, s: None), lookups.allocated_fen("640402", 2026, "福彩公益金")) == ("exceeded", 40_000_000)
    line = FinanceQueries(lookups).budget_line(budget, "福彩公益金")
    assert (line["caps_policy_of"], line["committed_fen"], line["remaining_fen"]) == (None, 50_000_000, -10_000_000)
    assert line["contracts"] == [{"contract_id": "k-old", "amount_fen": 30_000_000}, {"contract_id": "k-two", "amount_fen": 20_000_000}]


def test_the_typed_schedule_records_what_the_untyped_one_recorded(app):
    # The same history recorded again by the typed schedule, in a fresh aggregate.
    plan = [{"seq": 1, "percent": 50, "trigger": "contract_effective"}, {"seq": 2, "percent": 30, "trigger": "midterm_passed"},
            {"seq": 3, "percent": 20, "trigger": "final_passed"}]
    fresh = FinanceApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with fresh.command(CommandContext(county="640402", actor="recorder")):
        s = TrancheSchedule(contract_id=CONTRACT, county="640402", amount_fen=36_000_000, effective_on=date(2026, 9, 21),
                            period_start=date(2026, 9, 21), period_end=date(2027, 9, 20),
                            tranches=plan_tranches(36_000_000, plan), provider_id="p-1",
                            station_ids=["s-1", "s-2", "s-3", "s-4"], signed_on=date(2026, 9, 10),
                            funding=[{"source": "福彩公益金", "amount_fen": 36_000_000}], policy={})
        s.schedule_triggered("contract_effective", date(2026, 9, 21), WorkdayCalendar())
        s.flag_funding("R-FIN-3", "below the station minimum", None, 9_000_000, 12_000_000)
        s.flag_funding("R-FIN-2", "over the cap", "福彩公益金", 36_000_000, 1_000_000)
        fresh.save(s)
        s.resolve_finding("F1", "县财政追加")
        s.detect_overdue(date(2026, 11, 30))
        s.withhold("midterm_passed", "E-1", date(2027, 3, 1), "不合格")
        fresh.save(s)
        account = ContractAccount(contract_id=CONTRACT, county="640402")
        account.book("x-1", "personnel", 500_000, date(2026, 10, 31), "V-1", [], worker_id="w-1", month="2026-10")
        account.book("x-2", "operations", 9_000_000, date(2026, 11, 2), "V-2",
                     [Finding("R-FIN-8", "beyond_funds_received", "beyond"), Finding("R-FIN-4", "cost_structure", "ops")])
        fresh.save(account)
        budget = CountyBudget(county="640402", year=2026)
        budget.allocate("福彩公益金", 40_000_000)
        budget.commit("k-old", "福彩公益金", 30_000_000)
        budget.commit("k-two", "福彩公益金", 20_000_000)
        budget.commit("k-two", "一般公共预算", 5_000_000)
        fresh.save(budget)
    typed = fresh.recorder.select_notifications(1, 100)
    fresh.close()
    assert [n.topic for n in typed] == [r["topic"] for r in RECORDED]
    for new, old in zip(typed, RECORDED, strict=True):
        new_content, old_content = content(new.state), content(old["state"])
        if new.topic.endswith(".Planned"):
            # The plan as planned: tranche 1 awaiting its trigger, scheduled by the next event.
            assert new_content["tranches"][0]["status"] == "awaiting_trigger"
            assert [t["status"] for t in new_content["tranches"][1:]] == [t["status"] for t in old_content["tranches"][1:]]
            new_content.pop("tranches")
            old_content.pop("tranches")
        assert new_content == old_content, new.topic
