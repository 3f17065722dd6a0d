"""Finance's reads: budgets and their status, overdue tranches, findings, expenses, the
reconciliation and the views routes answer with. Reads only through the lookups (and, for the
reconciliation's event trail, the store's history): a query records nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from finance import projections
from finance.application import FinanceLookups
from finance.domainmodel import (
    SCHEDULED,
    CountyBudget,
    FundingFinding,
    Tranche,
    TrancheSchedule,
    policy_caps_on,
    schedule_id,
)
from finance.reconciliation import reconcile
from shared.infra.paging import Page
from shared.rules import NotFound
from shared.workdays import WorkdayCalendar


class FinanceQueries:
    def __init__(self, lookups: FinanceLookups) -> None:
        self.lookups = lookups

    def schedule(self, county: str, contract_id: str, provider_id: str | None = None) -> TrancheSchedule:
        return self.lookups.schedule(county, contract_id, provider_id)

    def workdays(self) -> WorkdayCalendar:
        return self.lookups.workdays()

    def counties(self) -> list[str]:
        """Every county finance has a contract of."""
        return list(self.lookups.province_index().counties)

    def calendar_years(self) -> dict[str, dict[str, Any]]:
        return self.lookups.calendar_book().years

    # --- budgets (R-FIN-2) -----------------------------------------------------------------
    def budgets(self, county: str, year: int | None = None) -> list[dict[str, Any]]:
        years = [year] if year is not None else self.lookups.county_index(county).budget_years
        lines = []
        for y in years:
            budget: CountyBudget | None = self.lookups.find(CountyBudget.create_id(county, y))
            for source in sorted(budget.lines) if budget else []:
                lines.append(self.budget_line(budget, source))
        return lines

    def budget_line(self, budget: CountyBudget, source: str) -> dict[str, Any]:
        """One line with its status (R-FIN-2). The caps that apply are the county policy's
        ``funding_caps`` as finance last learnt them for this line: the policy snapshot of the latest
        contract committed to it (``ContractSigned.policy``); with no contract on the line, finance
        knows no policy for it and reports no cap. Cost: one contract read per line."""
        line = budget.line(source)
        committed = budget.committed_fen(source)
        latest = line.latest_contract
        schedule = self.lookups.find(schedule_id(latest)) if latest is not None else None
        caps = (schedule.policy.get("funding_caps") or []) if schedule is not None else []
        base_of = lambda y, s: self.lookups.allocated_fen(budget.county, y, s, {budget.year: budget})  # noqa: E731
        return {
            "year": budget.year, "source": source, "allocated": line.allocated, "amount_fen": line.amount_fen,
            "caps": policy_caps_on(caps, budget.year, source, base_of), "caps_policy_of": latest if schedule is not None else None,
            "committed_fen": committed, "remaining_fen": line.amount_fen - committed,
            "status": budget.status(source, caps, base_of),
            "contracts": [{"contract_id": c, "amount_fen": a} for c, a in line.commitments],
            "released_fen": line.released_fen,
            "releases": [
                {"contract_id": c, "amount_fen": a, "terminated_on": on, "reason": why} for c, a, on, why in line.releases
            ],
        }

    # --- overdue (R-FIN-9) ---------------------------------------------------------------------
    @staticmethod
    def overdue_row(s: TrancheSchedule, t: Tranche, as_of: date, calendar: WorkdayCalendar) -> dict[str, Any]:
        late, _ = calendar.workdays_between(t.due_on, as_of)
        return {
            "contract_id": s.contract_id, "seq": t.seq, "amount_fen": t.amount_fen, "trigger": t.trigger,
            "due_on": t.due_on, "provisional": t.provisional, "working_days_late": late,
            "recorded_on": t.overdue_since,
        }

    def overdue_recorded_on(self, county: str, as_of: date) -> list[dict[str, Any]]:
        """What an overdue check on ``as_of`` recorded (for a repeated Idempotency-Key)."""
        calendar = self.lookups.workdays()
        return [
            self.overdue_row(s, t, as_of, calendar)
            for s in self.lookups.schedules(county) for t in s.tranches if t.overdue_since == as_of
        ]

    # --- findings ----------------------------------------------------------------------------
    def finding_rows(self, s: TrancheSchedule, status: str | None) -> list[dict[str, Any]]:
        """The contract's funding findings (R-FIN-2/3) and, open ones only, its expense findings
        (R-FIN-4/8): read from the flagged expenses (``finance.projections``), not by walking every
        expense of the account."""
        rows = [self.finding_row(s, f) for f in s.findings if status in (None, f.status)]
        if status in (None, "open"):
            for e in projections.flagged(self.lookups.store, s.county, s.contract_id):
                rows += [
                    {"contract_id": s.contract_id, "kind": f.kind, "rule": f.rule, "detail": f.detail,
                     "status": "open", "expense_id": e.expense_id, "blocks_payment": False}
                    for f in e.findings
                ]
        return rows

    @staticmethod
    def finding_row(s: TrancheSchedule, f: FundingFinding) -> dict[str, Any]:
        return {
            "contract_id": s.contract_id, "finding_id": f.finding_id, "kind": "funding", "rule": f.rule,
            "source": f.source, "detail": f.detail, "amount_fen": f.amount_fen, "limit_fen": f.limit_fen,
            "status": f.status.value, "resolution": f.resolution, "blocks_payment": f.open,
        }

    # --- ring-fenced expenses (R-FIN-8) ----------------------------------------------------------
    def expense(self, county: str, contract_id: str, expense_id: str) -> dict[str, Any]:
        """One expense (looked up by its id in the list projection, then its own events)."""
        self.lookups.schedule(county, contract_id)
        entry = projections.expense(self.lookups.store, county, contract_id, expense_id)
        if entry is None:
            raise NotFound(f"no expense {expense_id} on contract {contract_id}", facts={"code": "expense_unknown"})
        return {"contract_id": contract_id, **entry.view()}

    def expenses(
        self, county: str, contract_id: str, provider_id: str | None, limit: int, after: int | None
    ) -> Page[dict[str, Any]]:
        """A page of the contract's expenses in booking order (``limit`` of them after the key
        ``after``), each in its public form."""
        self.lookups.schedule(county, contract_id, provider_id)
        found = projections.expenses(self.lookups.store, county, contract_id, limit, after)
        return Page([{"contract_id": contract_id, **e.view()} for e in found.items], found.next_key)

    def reconciliation(self, county: str, contract_id: str, provider_id: str | None) -> dict[str, Any]:
        return reconcile(self.lookups.store, self.lookups.schedule(county, contract_id, provider_id))

    # --- views ----------------------------------------------------------------------------
    @staticmethod
    def tranche_view(t: Tranche, today: date | None) -> dict[str, Any]:
        status = t.status.value
        if today is not None and t.status == SCHEDULED and t.due_on is not None and t.due_on < today:
            status = "overdue"  # R-FIN-9
        return {
            "seq": t.seq,
            "percent": t.percent,
            "amount_fen": t.amount_fen,
            "trigger": t.trigger,
            "status": status,
            "due_on": t.due_on,
            "provisional": t.provisional,
            "triggered_on": t.triggered_on,
            "paid_on": t.paid_on,
            "voucher": t.voucher,
        }
