"""The ring-fenced account (专款专用, 独立会计账目) of one contract, and the county's voucher book.

Every expense is booked against one contract with its voucher (原始凭证, R-FIN-8). Booking is
never refused for what it reveals: finance records the expense and flags it (截留、挤占、挪用) —
spending beyond the funds received, a category split that breaks the cost structure (R-FIN-4),
an expense dated outside the contract period, or one voucher booked twice in the county.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from finance.domainmodel.tranches import NS, yuan
from shared.rules import RuleViolation


# R-FIN-4 cost structure: personnel (wages, bonuses, social insurance, tax) and the rest
# (quality assurance and operations).
class ExpenseCategory(StrEnum):
    """R-FIN-4's two categories. A ``str``: it compares and serialises as the strings recorded before."""

    PERSONNEL = "personnel"
    OPERATIONS = "operations"


PERSONNEL, OPERATIONS = ExpenseCategory.PERSONNEL, ExpenseCategory.OPERATIONS
CATEGORIES = tuple(ExpenseCategory)
# The categories as the seeds name them (涿鹿县: 人员费用 — 工资、奖金、社会保险和个人所得税; 承接机构服务质量
# 保障费用、机构运营管理费), booked by their codes.
CATEGORY_ALIASES = {
    **dict.fromkeys(("人员费用", "人员经费", "工资", "奖金", "社会保险", "个人所得税"), PERSONNEL.value),
    **dict.fromkeys(("服务质量保障费用", "服务质量保障费", "运营管理费", "机构运营管理费", "服务质量保障和运营管理费"), OPERATIONS.value),
}


def canonical_category(category: str) -> str:
    """An expense category by its code (an unknown one is returned as given, to be refused)."""
    category = category.strip()
    return CATEGORY_ALIASES.get(category, category)


def account_id(contract_id: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"account:{contract_id}")


def voucher_id(county: str, voucher: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"voucher:{county}:{voucher}")


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Expense:
    """One expense booked against the contract's account, with what it was flagged for."""

    expense_id: str
    category: str
    amount_fen: int
    spent_on: date
    voucher: str
    worker_id: str | None = None
    month: str | None = None
    findings: tuple[Finding, ...] = ()

    def view(self) -> dict[str, Any]:
        """The public form (``ExpenseOut`` without the contract id)."""
        return {
            "expense_id": self.expense_id, "category": str(self.category), "amount_fen": self.amount_fen,
            "spent_on": self.spent_on, "voucher": self.voucher, "worker_id": self.worker_id, "month": self.month,
            "findings": [{"rule": f.rule, "kind": f.kind, "detail": f.detail} for f in self.findings],
        }


# What ``expense_findings`` may flag on one booking, each at most once: so a booking's
# ``ExpenseFlagged`` events are at most this many, right after its ``ExpenseBooked``.
FINDING_KINDS = ("beyond_funds_received", "cost_structure", "below_minimum_wage", "outside_contract_period", "duplicate_voucher")


class ContractAccount(Aggregate):
    """The contract's own account: what its rules need of the expenses booked so far — the total
    per category (R-FIN-8 funds received, R-FIN-4 cost structure) and each worker's wages per month
    (R-FIN-4 minimum wage) — not the expenses themselves (issue 16: a booking costs the same after
    10,000 expenses as after none). Each expense is read from its own events through finance's
    list projection (``finance.projections``). Until 502c0f9 the account kept every ``Expense`` in a
    list built from the same ``ExpenseBooked``/``ExpenseFlagged`` events, so an old store loads by
    replaying them (finance took no snapshots then: none holds the list)."""

    @staticmethod
    def create_id(contract_id: str, county: str) -> uuid.UUID:
        return account_id(contract_id)

    @event("Opened")
    def __init__(self, contract_id: str, county: str) -> None:
        self.contract_id = contract_id
        self.county = county
        self.spent_by_category: dict[str, int] = {}
        # worker → month (YYYY-MM) → fen: bounded by the contract's workers × months, not by its expenses.
        self.wages: dict[str, dict[str, int]] = {}
        self.expense_count = 0
        self.flag_count = 0

    def spent_fen(self, category: str | None = None) -> int:
        if category is None:
            return sum(self.spent_by_category.values())
        return self.spent_by_category.get(str(category), 0)

    def wages_fen(self, worker_id: str, month: str) -> int:
        """What was booked as one worker's wages for one month (R-FIN-4)."""
        return self.wages.get(worker_id, {}).get(month, 0)

    def book(
        self, expense_id: str, category: str, amount_fen: int, spent_on: date, voucher: str, findings: list[Finding],
        worker_id: str | None = None, month: str | None = None,
    ) -> None:
        self._booked(
            contract_id=self.contract_id, expense_id=expense_id, category=category,
            amount_fen=amount_fen, spent_on=spent_on, voucher=voucher, worker_id=worker_id, month=month,
        )
        for f in findings:
            self._flagged(contract_id=self.contract_id, expense_id=expense_id, rule=f.rule, kind=f.kind, detail=f.detail)

    # worker_id and month came with the wage check (R-FIN-4); older records have neither.
    # The totals are replaced, never changed in place: a cached account and its copies share nothing mutable.
    @event("ExpenseBooked")
    def _booked(
        self, contract_id: str, expense_id: str, category: str, amount_fen: int, spent_on: date, voucher: str,
        worker_id: str | None = None, month: str | None = None,
    ) -> None:
        key = str(category)
        self.spent_by_category = {**self.spent_by_category, key: self.spent_by_category.get(key, 0) + amount_fen}
        if worker_id is not None and month is not None:
            months = self.wages.get(worker_id, {})
            self.wages = {**self.wages, worker_id: {**months, month: months.get(month, 0) + amount_fen}}
        self.expense_count += 1

    @event("ExpenseFlagged")
    def _flagged(self, contract_id: str, expense_id: str, rule: str, kind: str, detail: str) -> None:
        self.flag_count += 1


def expense_of(booked: Any, flagged: list[Any]) -> Expense:
    """One expense from its ``ExpenseBooked`` event and the ``ExpenseFlagged`` events recorded with it."""
    return Expense(
        expense_id=booked.expense_id, category=booked.category, amount_fen=booked.amount_fen, spent_on=booked.spent_on,
        voucher=booked.voucher, worker_id=getattr(booked, "worker_id", None), month=getattr(booked, "month", None),
        findings=tuple(Finding(rule=f.rule, kind=f.kind, detail=f.detail) for f in flagged),
    )


class VoucherBook(Aggregate):
    """One voucher number of a county, and every expense it was booked for."""

    @staticmethod
    def create_id(county: str, voucher: str) -> uuid.UUID:
        return voucher_id(county, voucher)

    @event("Opened")
    def __init__(self, county: str, voucher: str) -> None:
        self.county = county
        self.voucher = voucher
        self.uses: list[dict[str, str]] = []

    @event("Used")
    def use(self, contract_id: str, expense_id: str) -> None:
        self.uses.append({"contract_id": contract_id, "expense_id": expense_id})


_MONTH = re.compile(r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])$")  # 2000-01 … 2100-12, as every request date


def check_expense(
    category: str, amount_fen: int, voucher: str, worker_id: str | None = None, month: str | None = None
) -> None:
    """What makes an expense unbookable at all (malformed), as opposed to flagged."""
    if category not in CATEGORIES:
        raise RuleViolation(
            f"category must be one of {[c.value for c in CATEGORIES]} (R-FIN-4 cost structure)", rule="R-FIN-4", field="category",
            facts={"code": "category_unknown", "category": category},
        )
    if amount_fen <= 0:
        raise RuleViolation("an expense is a positive amount of fen", rule="R-FIN-1", field="amount_fen", facts={"code": "expense_not_positive"})
    if not voucher.strip():
        raise RuleViolation("every expense has a voucher (原始凭证)", rule="R-FIN-8", field="voucher", facts={"code": "voucher_missing"})
    if (worker_id is not None or month is not None) and category != PERSONNEL:
        field = "worker_id" if worker_id is not None else "month"
        raise RuleViolation("only a personnel expense (人员费用) names a worker and a month of wages", rule="R-FIN-4", field=field, facts={"code": "wages_not_personnel", "category": category})
    if worker_id is not None and not worker_id.strip():
        raise RuleViolation("the worker (社工) whose wages these are, by id", rule="R-FIN-4", field="worker_id", facts={"code": "wages_worker_missing"})
    if month is not None and not _MONTH.match(month):
        raise RuleViolation(f"the month of wages is written YYYY-MM (e.g. 2026-03, years 2000–2100), not {month!r}", rule="R-FIN-4", field="month", facts={"code": "wages_month_invalid", "month": month})
    if (worker_id is None) != (month is None):
        field = "month" if month is None else "worker_id"
        raise RuleViolation("a worker's wages (工资) name both the worker and the month (YYYY-MM)", rule="R-FIN-4", field=field, facts={"code": "wages_incomplete", "missing": field})


def minimum_wage_fen(policy: dict[str, Any]) -> int | None:
    """R-FIN-4: the least monthly wage, the county's minimum wage × the policy multiplier (rounded up
    to the fen); None while the county has not configured its minimum wage."""
    local = int(policy.get("local_min_wage_fen") or 0)
    if local <= 0:
        return None
    return int((Decimal(local) * Decimal(str(policy["min_wage_multiplier"]))).to_integral_value(rounding=ROUND_CEILING))


def expense_findings(
    *,
    account: ContractAccount,
    category: str,
    amount_fen: int,
    spent_on: date,
    earlier_uses: list[dict[str, str]],
    received_fen: int,
    contract_amount_fen: int,
    period_start: date,
    period_end: date,
    personnel_min_percent: int,
    operations_max_percent: int | None = None,
    min_wage_fen: int | None = None,
    worker_id: str | None = None,
    month: str | None = None,
) -> list[Finding]:
    """The findings an expense raises against its contract's account (R-FIN-8, R-FIN-4)."""
    found = []
    spent = account.spent_fen() + amount_fen
    if spent > received_fen:
        found.append(
            Finding("R-FIN-8", "beyond_funds_received",
                    f"spending reaches {yuan(spent)} but only {yuan(received_fen)} has been disbursed (paid tranches)")
        )
    if category != PERSONNEL:
        others = account.spent_fen(category) + amount_fen
        # The policy's ceiling on quality assurance and operations (older snapshots: 100 − personnel floor).
        allowed_percent = int(operations_max_percent) if operations_max_percent is not None else 100 - int(personnel_min_percent)
        if others * 100 > contract_amount_fen * allowed_percent:
            found.append(
                Finding("R-FIN-4", "cost_structure",
                        f"{category} spending reaches {yuan(others)}, above the {allowed_percent}% ceiling (运营管理费) of "
                        f"the contract amount {yuan(contract_amount_fen)}; personnel must be ≥ {personnel_min_percent}%")
            )
    if min_wage_fen is not None and worker_id is not None and month is not None:
        wages = account.wages_fen(worker_id, month) + amount_fen
        if wages < min_wage_fen:
            found.append(
                Finding("R-FIN-4", "below_minimum_wage",
                        f"worker {worker_id} is paid {yuan(wages)} for {month}, below the least wage {yuan(min_wage_fen)} "
                        f"(最低工资标准上浮: local minimum × multiplier); {yuan(min_wage_fen - wages)} missing")
            )
    if not period_start <= spent_on <= period_end:
        found.append(
            Finding("R-FIN-8", "outside_contract_period",
                    f"spent on {spent_on}, outside the contract period {period_start} – {period_end}")
        )
    if earlier_uses:
        where = ", ".join(sorted({u["contract_id"] for u in earlier_uses}))
        found.append(
            Finding("R-FIN-8", "duplicate_voucher",
                    f"the voucher was already booked for {len(earlier_uses)} expense(s), contract(s) {where}")
        )
    return found
