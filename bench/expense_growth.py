"""CPU per expense booking (and per expense-list page) on one contract's ring-fenced account at 0
expenses and after N (issue 16): in-process, finance's command handler and reads on a SQLite
store, no HTTP. ``python -m bench.expense_growth [N]`` prints the two costs and their ratio.

Each booking runs ``FinanceCommands.book_expense``: load the schedule, the account and the
voucher book, judge the findings, save, answer the expense as booked. Process CPU time
(``time.process_time``) over 200 bookings one at a time; a machine shared with other work adds
noise, not bias, to both windows alike."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from finance.application import FinanceApplication, FinanceLookups
from finance.commands import BookExpense, FinanceCommands
from finance.domainmodel import TrancheSchedule
from finance.queries import FinanceQueries

from shared.infra.service import prepare_store
from shared.infra.store import CommandContext
from shared.testing.fixtures import make_settings

COUNTY, CONTRACT = "640402", "k-bench"
TRANCHES = [
    {"seq": 1, "percent": 50, "amount_fen": 18_000_000, "trigger": "contract_effective", "due_working_days": 15,
     "status": "scheduled", "triggered_on": date(2026, 9, 21), "due_on": date(2026, 10, 19), "provisional": False},
    {"seq": 2, "percent": 50, "amount_fen": 18_000_000, "trigger": "final_passed", "due_working_days": 15,
     "status": "awaiting_trigger", "triggered_on": None, "due_on": None, "provisional": False},
]


def main(n: int = 10_000, window: int = 200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings("sqlite", "nats://127.0.0.1:4222", Path(tmp))
        prepare_store(settings, "finance")
        app = FinanceApplication(settings.eventsourcing_env("finance"))
        lookups = FinanceLookups(app)
        queries = FinanceQueries(lookups)
        commands = FinanceCommands(lookups, app.save, queries)
        with app.command(CommandContext(county=COUNTY, actor="bench")):
            app.save(TrancheSchedule(
                contract_id=CONTRACT, county=COUNTY, amount_fen=36_000_000, effective_on=date(2026, 9, 21),
                period_start=date(2026, 9, 21), period_end=date(2027, 9, 20), tranches=TRANCHES, provider_id="p-1",
                policy={"local_min_wage_fen": 2_000_000},
            ))
        booked = 0

        def book(count: int) -> float:
            nonlocal booked
            start = time.process_time()
            for _ in range(count):
                with app.command(CommandContext(county=COUNTY, actor="bench")):
                    commands.book_expense(BookExpense(
                        county=COUNTY, contract_id=CONTRACT, category="personnel" if booked % 5 else "operations",
                        amount_fen=1_000, spent_on=date(2026, 10, 1), voucher=f"PZ-{booked}",
                        worker_id=f"w-{booked % 20}" if booked % 5 else None, month="2026-10" if booked % 5 else None,
                        expense_id=f"e-{booked}",
                    ))
                booked += 1
            return (time.process_time() - start) / count * 1000

        def page() -> float:
            start = time.process_time()
            for _ in range(20):
                try:
                    queries.expenses(COUNTY, CONTRACT, None, 100, None)
                except TypeError:  # before 502c0f9's successor the list was unpaged: the whole list
                    queries.expenses(COUNTY, CONTRACT, None)
            return (time.process_time() - start) / 20 * 1000

        empty, empty_page = book(window), page()
        fill_start = time.monotonic()
        book(n)
        filled = time.monotonic() - fill_start
        full, full_page = book(window), page()
        app.close()
    print(f"booking: {empty:.2f} ms CPU at 0–{window} expenses, {full:.2f} ms CPU at {n + window:,}–{n + 2 * window:,}: "
          f"ratio {full / empty:.2f}")
    print(f"first page of 100 expenses: {empty_page:.2f} ms CPU → {full_page:.2f} ms CPU: ratio {full_page / empty_page:.2f}")
    print(f"(filling {n:,} expenses took {filled:.1f} s wall)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
