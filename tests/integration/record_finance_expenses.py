"""Records ``data/finance_expenses_recorded.json``: a finance store written by the ring-fenced account as it was
while ``ContractAccount`` kept every ``Expense`` in a list (before issue 16's bounded account), for
``test_finance_old_expenses.py``, and what finance answered from it.

Run once, from the commit before the account was bounded (``python tests/integration/record_finance_expenses.py``
at 502c0f9); the file is then a fixed fact: what a store recorded by that code holds, and the answers the
account's reads gave from it — each expense (``GET …/expenses`` item), the contract's open expense findings
(``GET …/findings`` rows), the reconciliation — and the answer one more booking got on top of it (its
findings follow from the totals of every earlier expense: R-FIN-8 beyond the funds received, R-FIN-4 cost
structure and a worker's wages for a month, a reused voucher).

Run with that commit's code on the path (e.g. ``git archive 502c0f9 | tar -x -C /tmp/old`` and ``PYTHONPATH`` set
to ``/tmp/old`` and its ``services/*`` folders, or from a worktree at that commit).
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.encoders import jsonable_encoder
from finance.application import FinanceApplication, FinanceLookups
from finance.commands import BookExpense, FinanceCommands
from finance.domainmodel import TrancheSchedule
from finance.queries import FinanceQueries

from shared.infra.service import prepare_store
from shared.infra.store import CommandContext
from shared.testing.fixtures import make_settings

OUT = Path(__file__).parent / "data" / "finance_expenses_recorded.json"
COUNTY, CONTRACT, OTHER_CONTRACT = "640402", "k-acct", "k-acct-2"
# 2,000,000 fen minimum wage × 1.1 = 2,200,000 fen a month (R-FIN-4).
POLICY = {"local_min_wage_fen": 2_000_000, "min_wage_multiplier": "1.1"}
TRANCHES = [
    {"seq": 1, "percent": 50, "amount_fen": 18_000_000, "trigger": "contract_effective", "due_working_days": 15,
     "status": "scheduled", "triggered_on": date(2026, 9, 21), "due_on": date(2026, 10, 19), "provisional": False},
    {"seq": 2, "percent": 30, "amount_fen": 10_800_000, "trigger": "midterm_passed", "due_working_days": 15,
     "status": "awaiting_trigger", "triggered_on": None, "due_on": None, "provisional": False},
    {"seq": 3, "percent": 20, "amount_fen": 7_200_000, "trigger": "final_passed", "due_working_days": 15,
     "status": "awaiting_trigger", "triggered_on": None, "due_on": None, "provisional": False},
]
# (expense_id, contract, category, amount_fen, spent_on, voucher, worker_id, month), in booking order.
BOOKINGS: list[tuple[str, str, str, int, date, str, str | None, str | None]] = [
    ("e-01", CONTRACT, "personnel", 1_500_000, date(2026, 9, 30), "PZ-01", "w-1", "2026-09"),  # beyond funds, below wage
    ("e-02", CONTRACT, "personnel", 800_000, date(2026, 9, 30), "PZ-02", "w-1", "2026-09"),  # beyond funds; wage now met
    ("e-03", CONTRACT, "personnel", 2_300_000, date(2026, 9, 30), "PZ-03", "w-2", "2026-09"),
    ("pay", CONTRACT, "", 0, date(2026, 10, 10), "BF-1", None, None),  # tranche 1 paid: 18,000,000 fen received
    ("e-04", CONTRACT, "operations", 1_000_000, date(2026, 10, 12), "PZ-04", None, None),
    ("e-05", CONTRACT, "personnel", 2_500_000, date(2026, 10, 31), "PZ-05", "w-1", "2026-10"),
    ("e-06", CONTRACT, "personnel", 1_000_000, date(2026, 10, 31), "PZ-06", "w-2", "2026-10"),  # below wage
    ("e-07", CONTRACT, "operations", 2_700_000, date(2026, 11, 3), "PZ-07", None, None),  # above the 10% ceiling
    ("e-08", CONTRACT, "personnel", 300_000, date(2027, 10, 1), "PZ-08", None, None),  # outside the period
    ("e-09", OTHER_CONTRACT, "personnel", 100_000, date(2026, 11, 5), "PZ-77", None, None),
    ("e-10", CONTRACT, "personnel", 100_000, date(2026, 11, 5), "PZ-77", None, None),  # voucher used on k-acct-2
    ("e-11", CONTRACT, "personnel", 900_000, date(2026, 11, 30), "PZ-11", "w-2", "2026-10"),  # w-2's October met
    ("e-12", CONTRACT, "personnel", 5_000_000, date(2026, 11, 30), "PZ-12", None, None),
    ("e-13", CONTRACT, "personnel", 4_000_000, date(2026, 12, 1), "PZ-13", None, None),  # beyond funds again
]
# One more booking, answered from all of the above (not in the recorded store).
NEXT = ("e-14", CONTRACT, "personnel", 1_000_000, date(2026, 12, 2), "PZ-77", "w-1", "2026-10")


def book(commands: FinanceCommands, row: tuple[Any, ...]) -> dict[str, Any]:
    expense_id, contract, category, amount, spent_on, voucher, worker, month = row
    return commands.book_expense(BookExpense(
        county=COUNTY, contract_id=contract, category=category, amount_fen=amount, spent_on=spent_on,
        voucher=voucher, worker_id=worker, month=month, expense_id=expense_id,
    ))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings("sqlite", "nats://127.0.0.1:4222", Path(tmp))
        prepare_store(settings, "finance")
        app = FinanceApplication(settings.eventsourcing_env("finance"))
        lookups = FinanceLookups(app)
        queries = FinanceQueries(lookups)
        commands = FinanceCommands(lookups, app.save, queries)
        with app.command(CommandContext(county=COUNTY, actor="recorder", command_id="c-1")):
            for contract in (CONTRACT, OTHER_CONTRACT):
                app.save(TrancheSchedule(
                    contract_id=contract, county=COUNTY, amount_fen=36_000_000, effective_on=date(2026, 9, 21),
                    period_start=date(2026, 9, 21), period_end=date(2027, 9, 20), tranches=TRANCHES, provider_id="p-1",
                    station_ids=["s-1", "s-2", "s-3"], signed_on=date(2026, 9, 10),
                    funding=[{"source": "福彩公益金", "amount_fen": 36_000_000}], policy=POLICY,
                ))
        answers: dict[str, Any] = {}
        for row in BOOKINGS:
            with app.command(CommandContext(county=COUNTY, actor="recorder", command_id=f"c-{row[0]}")):
                if row[0] == "pay":
                    schedule = lookups.schedule(COUNTY, CONTRACT)
                    schedule.pay(1, row[4], row[5])
                    app.save(schedule)
                else:
                    answers[row[0]] = book(commands, row)
        events = [
            {"originator_id": str(n.originator_id), "originator_version": n.originator_version, "topic": n.topic,
             "state": n.state.decode()}
            for n in app.recorder.select_notifications(1, 10_000)
        ]
        schedule = lookups.schedule(COUNTY, CONTRACT)
        views = {
            "booked": answers,
            "expenses": {c: queries.expenses(COUNTY, c, None) for c in (CONTRACT, OTHER_CONTRACT)},
            "findings_open": queries.finding_rows(schedule, "open"),
            "findings_any": queries.finding_rows(schedule, None),
            "reconciliation": queries.reconciliation(COUNTY, CONTRACT, None),
        }
        with app.command(CommandContext(county=COUNTY, actor="recorder", command_id="c-next")):
            views["next"] = book(commands, NEXT)
        app.close()
    OUT.write_text(json.dumps({"events": events, "views": jsonable_encoder(views)}, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(events)} events, {len(BOOKINGS) - 1} expenses → {OUT}")


if __name__ == "__main__":
    main()
