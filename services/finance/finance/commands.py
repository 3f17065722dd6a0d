"""Finance's commands as typed objects, and the handlers the composition root registers on the
service's :class:`~shared.infra.commands.CommandBus` (which owns the R-AUD-1 context, the
``Idempotency-Key`` fingerprint and replay, and the concurrency retry for all of them).

Each command's fingerprinted fields are exactly what its route asked for, so an
``Idempotency-Key`` recorded before commands were typed still answers its repeat."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from finance.application import FinanceLookups, new_breaches
from finance.domainmodel import (
    PAID,
    CalendarBook,
    CountyBudget,
    TrancheSchedule,
    VoucherBook,
    canonical_category,
    check_expense,
    expense_findings,
    minimum_wage_fen,
    policy_cap_breaches,
    schedule_id,
    voucher_id,
    yuan,
)
from finance.queries import FinanceQueries
from shared.funding import cap_base_year
from shared.infra.commands import NOT_FINGERPRINTED, Command, CommandBus


# --- the commands --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AllocateBudget(Command):
    year: int
    source: str
    amount_fen: int


@dataclass(frozen=True, kw_only=True)
class PayTranche(Command):
    contract_id: str
    seq: int
    paid_on: date
    voucher: str


@dataclass(frozen=True, kw_only=True)
class RecordOverdue(Command):
    as_of: date


@dataclass(frozen=True, kw_only=True)
class ResolveFinding(Command):
    contract_id: str
    finding_id: str
    resolution: str


@dataclass(frozen=True, kw_only=True)
class BookExpense(Command):
    contract_id: str
    category: str
    amount_fen: int
    spent_on: date
    voucher: str
    worker_id: str | None = None
    month: str | None = None
    # Derived, not asked: from the Idempotency-Key, and from the caller's token.
    expense_id: str = field(metadata=NOT_FINGERPRINTED)
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass(frozen=True, kw_only=True)
class LoadCalendar(Command):
    """County ``province``: a national calendar belongs to no county."""

    year: int
    holidays: list[date]
    workdays: list[date] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class RecomputeDueDates(Command):
    """One county's open due dates counted again after a calendar load (a follow-up of
    :class:`LoadCalendar`, run in each county's own context: R-AUD-6)."""

    year: int


def expense_id_for(county: str, idempotency_key: str | None) -> str:
    """A repeated Idempotency-Key must name the same expense, so its id derives from the key."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.UUID("d2a41f0e-9b7c-5e3d-8f1a-6c2b0e4d7a93"), f"expense:{county}:{idempotency_key}"))


# --- the handlers ----------------------------------------------------------------------------
class FinanceCommands:
    """Decides each command on the aggregates it loads and saves them together. Narrow on purpose:
    the lookups to read, ``save`` to record, the queries for the answer a command returns."""

    def __init__(self, lookups: FinanceLookups, save: Callable[..., Any], queries: FinanceQueries) -> None:
        self.lookups = lookups
        self.save = save
        self.queries = queries

    def register(self, bus: CommandBus) -> None:
        look = self.lookups
        bus.register(AllocateBudget, self.allocate_budget, lambda c, _ids: look.county_budget(c.county, c.year))
        bus.register(PayTranche, self.pay_tranche, lambda c, _ids: look.schedule(c.county, c.contract_id))
        bus.register(RecordOverdue, self.record_overdue, lambda c, _ids: self.queries.overdue_recorded_on(c.county, c.as_of))
        bus.register(ResolveFinding, self.resolve_finding, lambda c, _ids: look.schedule(c.county, c.contract_id))
        bus.register(BookExpense, self.book_expense, lambda c, _ids: self.queries.expense(c.county, c.contract_id, c.expense_id))
        bus.register(LoadCalendar, self.load_calendar, lambda _c, _ids: look.calendar_book())
        bus.register(RecomputeDueDates, self.recompute_due_dates, self.recomputed_by)

    # --- budgets (R-FIN-2) -----------------------------------------------------------------
    def allocate_budget(self, c: AllocateBudget) -> CountyBudget:
        """A source's budget for a year: the allocation and the base of the policy caps on it. Caps
        themselves are county policy (registry's ``funding_caps``), never stated here."""
        budget = self.lookups.county_budget(c.county, c.year)
        budget.allocate(c.source, c.amount_fen)
        index = self.lookups.county_index(c.county)
        index.add_budget_year(c.year)
        flagged = self.recheck_commitments(c.county, c.year, c.source, budget)
        self.save(budget, index, *flagged)
        return budget

    def recheck_commitments(self, county: str, year: int, source: str, budget: CountyBudget) -> list[TrancheSchedule]:
        """R-FIN-2 for contracts signed before this budget was entered: registry could not judge
        their caps then. Commitments are replayed in the order they were made (as if the budget had
        been there at signing); each contract that takes a year past the allocation or a ceiling gets
        a finding that blocks its payments. The budget is the base of its own year's caps and of the
        next year's caps on the previous year (上年度). Cost: the contracts committed to those lines."""
        find = self.lookups.find
        schedules: dict[str, TrancheSchedule] = {}
        for y in (year, year + 1):
            committed_to = budget if y == year else find(CountyBudget.create_id(county, y))
            if committed_to is None:
                continue
            for line_source, line in committed_to.lines.items():
                running = 0
                for contract_id, fen in line.commitments:
                    running += fen
                    schedule = schedules.get(contract_id) or find(schedule_id(contract_id))
                    if schedule is None:
                        continue
                    caps = [
                        c for c in schedule.policy.get("funding_caps") or []
                        if c.get("base", c.get("source")) == source and cap_base_year(c, y) == year
                    ]
                    breaches = policy_cap_breaches(
                        caps, y, line_source, running, lambda by, bs: self.lookups.allocated_fen(county, by, bs, {year: budget})
                    )
                    if y == year and line_source == source and running > line.amount_fen:
                        breaches.append((
                            f"contracts funded from {source} count {yuan(running)} against {year}, more than its budget of "
                            f"{yuan(line.amount_fen)} entered after this contract was signed", running, line.amount_fen,
                        ))
                    fresh = new_breaches(schedule, line_source, breaches)
                    for detail, amount, limit in fresh:
                        schedule.flag_funding("R-FIN-2", detail, line_source, amount, limit)
                    if fresh:
                        schedules[contract_id] = schedule
        return list(schedules.values())

    # --- payments (R-FIN-7) and overdue (R-FIN-9) --------------------------------------------
    def pay_tranche(self, c: PayTranche) -> TrancheSchedule:
        schedule = self.lookups.schedule(c.county, c.contract_id)
        schedule.pay(c.seq, c.paid_on, c.voucher.strip())
        self.save(schedule)
        return schedule

    def record_overdue(self, c: RecordOverdue) -> list[dict[str, Any]]:
        """Record a ``TrancheOverdue`` for each tranche found overdue for the first time."""
        calendar, changed, rows = self.lookups.workdays(), [], []
        for s in self.lookups.schedules(c.county):
            seqs = s.detect_overdue(c.as_of)
            if seqs:
                changed.append(s)
                rows += [FinanceQueries.overdue_row(s, s.tranche(q), c.as_of, calendar) for q in seqs]
        self.save(*changed)
        return rows

    # --- funding findings -----------------------------------------------------------------
    def resolve_finding(self, c: ResolveFinding) -> TrancheSchedule:
        schedule = self.lookups.schedule(c.county, c.contract_id)
        schedule.resolve_finding(c.finding_id, c.resolution)
        self.save(schedule)
        return schedule

    # --- ring-fenced expenses (R-FIN-8) ----------------------------------------------------------
    def book_expense(self, c: BookExpense) -> dict[str, Any]:
        schedule = self.lookups.schedule(c.county, c.contract_id, c.provider_id)
        voucher, category = c.voucher.strip(), canonical_category(c.category)
        check_expense(category, c.amount_fen, voucher, c.worker_id, c.month)
        account = self.lookups.account(schedule)
        book: VoucherBook = self.lookups.find(voucher_id(c.county, voucher)) or VoucherBook(county=c.county, voucher=voucher)
        findings = expense_findings(
            account=account, category=category, amount_fen=c.amount_fen, spent_on=c.spent_on,
            earlier_uses=list(book.uses),
            received_fen=sum(t.amount_fen for t in schedule.tranches if t.status == PAID),
            contract_amount_fen=schedule.amount_fen, period_start=schedule.period_start,
            period_end=schedule.period_end, personnel_min_percent=int(schedule.policy["personnel_min_percent"]),
            operations_max_percent=int(schedule.policy["operations_max_percent"]),
            min_wage_fen=minimum_wage_fen(schedule.policy), worker_id=c.worker_id, month=c.month,
        )
        account.book(c.expense_id, category, c.amount_fen, c.spent_on, voucher, findings, worker_id=c.worker_id, month=c.month)
        book.use(contract_id=c.contract_id, expense_id=c.expense_id)
        self.save(account, book)
        return self.queries.expense(c.county, c.contract_id, c.expense_id)

    # --- the working-day calendar (R-FIN-6) --------------------------------------------------
    def load_calendar(self, c: LoadCalendar) -> CalendarBook:
        book = self.lookups.calendar_book()
        book.load(c.year, list(c.holidays), list(c.workdays))
        self.save(book)
        return book

    def recomputed_by(self, c: RecomputeDueDates, ids: list[str]) -> list[dict[str, Any]]:
        """A keyed recount repeated: the due dates it moved, from the ``DueDateRecomputed`` events of
        that calendar year on the schedules it saved (the latest per tranche), as first answered."""
        rows: list[dict[str, Any]] = []
        for aggregate_id in ids:
            schedule = self.lookups.find(uuid.UUID(aggregate_id))
            if not isinstance(schedule, TrancheSchedule):
                continue
            moved = {
                e.seq: e for e in self.lookups.store.history(schedule.id)
                if type(e).__name__ == "DueDateRecomputed" and e.calendar_year == c.year
            }
            rows += [
                {"county": c.county, "contract_id": schedule.contract_id, "seq": seq, "due_on": e.due_on, "provisional": e.provisional}
                for seq, e in sorted(moved.items())
            ]
        return rows

    def recompute_due_dates(self, c: RecomputeDueDates) -> list[dict[str, Any]]:
        """The county's open due dates counted again with the calendars now loaded. Safe to
        repeat: only a date or provisional mark that changes records anything."""
        calendar = self.lookups.workdays()
        changed: list[tuple[TrancheSchedule, list[int]]] = [
            (s, s.recompute_due_dates(calendar, c.year)) for s in self.lookups.schedules(c.county)
        ]
        touched: list[Aggregate] = [s for s, seqs in changed if seqs]
        self.save(*touched)
        return [
            {"county": c.county, "contract_id": s.contract_id, **FinanceQueries.tranche_view(s.tranche(q), None)}
            for s, seqs in changed for q in seqs
        ]
