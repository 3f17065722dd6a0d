"""Finance commands and queries: budgets, payments, overdue tranches, funding findings,
ring-fenced expenses and the working-day calendar. Reactions live in ``reactions``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.persistence import IntegrityError

from finance.domainmodel import (
    CALENDAR_BOOK_ID,
    PAID,
    SCHEDULED,
    CalendarBook,
    ContractAccount,
    CountyBudget,
    TrancheSchedule,
    VoucherBook,
    account_id,
    check_expense,
    expense_findings,
    minimum_wage_fen,
    percent_text,
    policy_cap_breaches,
    schedule_id,
    voucher_id,
    yuan,
)
from finance.reactions import FinanceReactions
from shared.funding import cap_base_year
from shared.infra.store import CommandContext
from shared.rules import Forbidden, NotFound
from shared.workdays import WorkdayCalendar


class FinanceApplication(FinanceReactions):
    service = "finance"
    name = "finance"

    # --- lookups (county-checked: another county's id is "not found") ---------------------
    def schedule(self, county: str, contract_id: str, provider_id: str | None = None) -> TrancheSchedule:
        """``provider_id``: a provider's caller sees only its own contracts."""
        found: TrancheSchedule | None = self._find(schedule_id(contract_id))
        if found is None or found.county != county:
            raise NotFound(f"no contract {contract_id} in county {county} (or finance has not received it yet)")
        if provider_id is not None and provider_id != found.provider_id:
            raise Forbidden("a provider sees and books only its own contracts' accounts", rule="R-FIN-8")
        return found

    def schedules(self, county: str) -> list[TrancheSchedule]:
        return [self._find(schedule_id(c)) for c in self.county_index(county).contract_ids]

    def account(self, schedule: TrancheSchedule) -> ContractAccount:
        return self._find(account_id(schedule.contract_id)) or ContractAccount(
            contract_id=schedule.contract_id, county=schedule.county
        )

    # --- budgets (R-FIN-2) -----------------------------------------------------------------
    def allocate_budget(
        self, county: str, year: int, source: str, amount_fen: int,
        cap_kind: str | None, cap_basis_points: int | None, cap_base_fen: int | None,
    ) -> CountyBudget:
        budget = self.county_budget(county, year)
        budget.allocate(source, amount_fen, cap_kind, cap_basis_points, cap_base_fen)
        index = self.county_index(county)
        index.add_budget_year(year)
        flagged = self.recheck_commitments(county, year, source, budget)
        self.save(budget, index, *flagged)
        return budget

    def recheck_commitments(self, county: str, year: int, source: str, budget: CountyBudget) -> list[TrancheSchedule]:
        """R-FIN-2 for contracts signed before this budget was entered: registry could not judge
        their caps then. Commitments are replayed in the order they were made (as if the budget had
        been there at signing); each contract that takes a year past the allocation or a ceiling gets
        a finding that blocks its payments. The budget is the base of its own year's caps and of the
        next year's caps on the previous year (上年度). Cost: the contracts committed to those lines."""
        schedules: dict[str, TrancheSchedule] = {}
        for y in (year, year + 1):
            committed_to = budget if y == year else self._find(CountyBudget.create_id(county, y))
            if committed_to is None:
                continue
            for line_source, line in committed_to.lines.items():
                running = 0
                for contract_id, fen in line["commitments"].items():
                    running += fen
                    schedule = schedules.get(contract_id) or self._find(schedule_id(contract_id))
                    if schedule is None:
                        continue
                    caps = [
                        c for c in schedule.policy.get("funding_caps") or []
                        if c.get("base", c.get("source")) == source and cap_base_year(c, y) == year
                    ]
                    breaches = policy_cap_breaches(caps, y, line_source, running, lambda by, bs: self.allocated_fen(county, by, bs, {year: budget}))
                    if y == year and line_source == source and running > line["amount_fen"]:
                        breaches.append((
                            f"contracts funded from {source} count {yuan(running)} against {year}, more than its budget of "
                            f"{yuan(line['amount_fen'])} entered after this contract was signed", running, line["amount_fen"],
                        ))
                    fresh = self._new_breaches(schedule, line_source, breaches)
                    for detail, amount, limit in fresh:
                        schedule.flag_funding("R-FIN-2", detail, line_source, amount, limit)
                    if fresh:
                        schedules[contract_id] = schedule
        return list(schedules.values())

    def budgets(self, county: str, year: int | None = None) -> list[dict[str, Any]]:
        years = [year] if year is not None else self.county_index(county).budget_years
        lines = []
        for y in years:
            budget: CountyBudget | None = self._find(CountyBudget.create_id(county, y))
            for source in sorted(budget.lines) if budget else []:
                lines.append(self.budget_line(budget, source))
        return lines

    @staticmethod
    def budget_line(budget: CountyBudget, source: str) -> dict[str, Any]:
        line = budget.line(source)
        committed = budget.committed_fen(source)
        cap = None
        if line["cap_kind"] is not None:
            cap = {
                "kind": line["cap_kind"], "percent": percent_text(line["cap_basis_points"]).rstrip("%"),
                "base_fen": line["cap_base_fen"], "limit_fen": line["cap_limit_fen"],
            }
        return {
            "year": budget.year, "source": source, "allocated": line["allocated"], "amount_fen": line["amount_fen"],
            "cap": cap, "committed_fen": committed, "remaining_fen": line["amount_fen"] - committed,
            "status": budget.status(source),
            "contracts": [{"contract_id": c, "amount_fen": a} for c, a in line["commitments"].items()],
        }

    # --- payments (R-FIN-7) and overdue (R-FIN-9) --------------------------------------------
    def pay_tranche(self, county: str, contract_id: str, seq: int, paid_on: date, voucher: str) -> TrancheSchedule:
        schedule = self.schedule(county, contract_id)
        schedule.pay(seq, paid_on, voucher.strip())
        self.save(schedule)
        return schedule

    def overdue(self, county: str, as_of: date) -> list[dict[str, Any]]:
        """Scheduled tranches of the county not paid by their due date."""
        calendar, rows = self.workdays(), []
        for s in self.schedules(county):
            for t in s.tranches:
                if t["status"] == SCHEDULED and t["due_on"] < as_of:
                    rows.append(self.overdue_row(s, t, as_of, calendar))
        return sorted(rows, key=lambda r: (r["due_on"], r["contract_id"], r["seq"]))

    @staticmethod
    def overdue_row(s: TrancheSchedule, t: dict[str, Any], as_of: date, calendar: WorkdayCalendar) -> dict[str, Any]:
        late, _ = calendar.workdays_between(t["due_on"], as_of)
        return {
            "contract_id": s.contract_id, "seq": t["seq"], "amount_fen": t["amount_fen"], "trigger": t["trigger"],
            "due_on": t["due_on"], "provisional": t["provisional"], "working_days_late": late,
            "recorded_on": t.get("overdue_since"),
        }

    def record_overdue(self, county: str, as_of: date) -> list[dict[str, Any]]:
        """Record a ``TrancheOverdue`` for each tranche found overdue for the first time."""
        calendar, changed, rows = self.workdays(), [], []
        for s in self.schedules(county):
            seqs = s.detect_overdue(as_of)
            if seqs:
                changed.append(s)
                rows += [self.overdue_row(s, s.tranche(q), as_of, calendar) for q in seqs]
        self.save(*changed)
        return rows

    def overdue_recorded_on(self, county: str, as_of: date) -> list[dict[str, Any]]:
        """What an overdue check on ``as_of`` recorded (for a repeated Idempotency-Key)."""
        calendar = self.workdays()
        return [
            self.overdue_row(s, t, as_of, calendar)
            for s in self.schedules(county) for t in s.tranches if t.get("overdue_since") == as_of
        ]

    # --- funding findings -----------------------------------------------------------------
    def resolve_finding(self, county: str, contract_id: str, finding_id: str, resolution: str) -> TrancheSchedule:
        schedule = self.schedule(county, contract_id)
        schedule.resolve_finding(finding_id, resolution)
        self.save(schedule)
        return schedule

    def findings(self, county: str, status: str | None = None) -> list[dict[str, Any]]:
        """Funding findings (R-FIN-2/3) and expense findings (R-FIN-4/8) of the county's contracts."""
        rows = []
        for s in self.schedules(county):
            rows += [self.finding_row(s, f) for f in s.findings if status in (None, f["status"])]
            if status in (None, "open"):
                account: ContractAccount | None = self._find(account_id(s.contract_id))
                for e in account.expenses if account else []:
                    rows += [
                        {"contract_id": s.contract_id, "kind": f["kind"], "rule": f["rule"], "detail": f["detail"],
                         "status": "open", "expense_id": e["expense_id"], "blocks_payment": False}
                        for f in e["findings"]
                    ]
        return rows

    @staticmethod
    def finding_row(s: TrancheSchedule, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "contract_id": s.contract_id, "finding_id": f["finding_id"], "kind": "funding", "rule": f["rule"],
            "source": f["source"], "detail": f["detail"], "amount_fen": f["amount_fen"], "limit_fen": f["limit_fen"],
            "status": f["status"], "resolution": f["resolution"], "blocks_payment": f["status"] == "open",
        }

    # --- ring-fenced expenses (R-FIN-8) ----------------------------------------------------------
    def book_expense(
        self, county: str, contract_id: str, *, expense_id: str, category: str, amount_fen: int,
        spent_on: date, voucher: str, provider_id: str | None, worker_id: str | None = None, month: str | None = None,
    ) -> dict[str, Any]:
        schedule = self.schedule(county, contract_id, provider_id)
        voucher = voucher.strip()
        check_expense(category, amount_fen, voucher, worker_id, month)
        account = self.account(schedule)
        book: VoucherBook = self._find(voucher_id(county, voucher)) or VoucherBook(county=county, voucher=voucher)
        findings = expense_findings(
            account=account, category=category, amount_fen=amount_fen, spent_on=spent_on,
            earlier_uses=list(book.uses),
            received_fen=sum(t["amount_fen"] for t in schedule.tranches if t["status"] == PAID),
            contract_amount_fen=schedule.amount_fen, period_start=schedule.period_start,
            period_end=schedule.period_end, personnel_min_percent=int(schedule.policy["personnel_min_percent"]),
            operations_max_percent=int(schedule.policy["operations_max_percent"]),
            min_wage_fen=minimum_wage_fen(schedule.policy), worker_id=worker_id, month=month,
        )
        account.book(expense_id, category, amount_fen, spent_on, voucher, findings, worker_id=worker_id, month=month)
        book.use(contract_id=contract_id, expense_id=expense_id)
        self.save(account, book)
        return self.expense(county, contract_id, expense_id)

    def expense(self, county: str, contract_id: str, expense_id: str) -> dict[str, Any]:
        account = self.account(self.schedule(county, contract_id))
        entry = account.expense(expense_id)
        if entry is None:
            raise NotFound(f"no expense {expense_id} on contract {contract_id}")
        return {"contract_id": contract_id, **entry}

    def expenses(self, county: str, contract_id: str, provider_id: str | None) -> list[dict[str, Any]]:
        account = self.account(self.schedule(county, contract_id, provider_id))
        return [{"contract_id": contract_id, **e} for e in account.expenses]

    # --- the working-day calendar (R-FIN-6) --------------------------------------------------
    def calendar_book(self) -> CalendarBook:
        return self._find(CALENDAR_BOOK_ID) or CalendarBook()

    def load_calendar(self, year: int, holidays: list[date], workdays: list[date]) -> CalendarBook:
        book = self.calendar_book()
        book.load(year, holidays, workdays)
        self.save(book)
        return book

    def recompute_due_dates(self, year: int, actor: str, correlation_id: str) -> list[dict[str, Any]]:
        """Every open due date counted again with the calendars now loaded, one county at a time
        (each county's events carry its own county, R-AUD-6). Safe to repeat: only a date or
        provisional mark that changes records anything."""
        changes: list[dict[str, Any]] = []
        for county in self.province_index().counties:
            for attempt in range(3):
                ctx = CommandContext(county=county, actor=actor, correlation_id=correlation_id)
                with self.command(ctx):
                    calendar = self.workdays()
                    changed = [(s, s.recompute_due_dates(calendar, year)) for s in self.schedules(county)]
                    try:
                        self.save(*(s for s, seqs in changed if seqs))
                    except IntegrityError:  # a reaction changed a schedule meanwhile: count again
                        if attempt == 2:
                            raise
                        continue
                changes += [
                    {"county": county, "contract_id": s.contract_id, **self.tranche_view(s.tranche(q), None)}
                    for s, seqs in changed for q in seqs
                ]
                break
        return changes

    # --- views ----------------------------------------------------------------------------
    @staticmethod
    def tranche_view(t: dict[str, Any], today: date | None) -> dict[str, Any]:
        status = t["status"]
        if today is not None and status == SCHEDULED and t["due_on"] is not None and t["due_on"] < today:
            status = "overdue"  # R-FIN-9
        return {
            "seq": t["seq"],
            "percent": t["percent"],
            "amount_fen": t["amount_fen"],
            "trigger": t["trigger"],
            "status": status,
            "due_on": t["due_on"],
            "provisional": t["provisional"],
            "triggered_on": t.get("triggered_on"),
            "paid_on": t.get("paid_on"),
            "voucher": t.get("voucher"),
        }


def expense_id_for(county: str, idempotency_key: str | None) -> str:
    """A repeated Idempotency-Key must name the same expense, so its id derives from the key."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(uuid.UUID("d2a41f0e-9b7c-5e3d-8f1a-6c2b0e4d7a93"), f"expense:{county}:{idempotency_key}"))
