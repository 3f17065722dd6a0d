"""Events published by the finance service (budgets, tranches, payments, expenses)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shared.events import IntegrationEvent, integration_event

SERVICE = "finance"


@integration_event(SERVICE)
class TrancheScheduled(IntegrationEvent):
    """A tranche's trigger happened: it is now due on ``due_on`` (R-FIN-5, R-FIN-6)."""

    contract_id: str
    seq: int
    percent: int
    amount_fen: int
    trigger: str
    due_on: date
    provisional: bool
    triggered_on: date | None = None


@integration_event(SERVICE)
class BudgetAllocated(IntegrationEvent):
    """A county allocated (or re-allocated) its budget for one funding source and year (R-FIN-2): the
    allocation and the base of the county policy's ``funding_caps`` on it. The cap rule itself is
    county policy (registry); the ``cap_…`` fields are kept for schema compatibility and are always
    null (finance no longer takes a per-line cap)."""

    county: str
    year: int
    source: str
    amount_fen: int
    cap_kind: str | None = None  # legacy, always null: caps are county policy (funding_caps)
    cap_percent: Decimal | None = None  # legacy, always null
    cap_base_fen: int | None = None  # legacy, always null
    cap_limit_fen: int | None = None  # legacy, always null


@integration_event(SERVICE)
class CommitmentReleased(IntegrationEvent):
    """A terminated contract's unpaid tranches, released from the budget line (county, year,
    funding source) its signing committed them to (R-FIN-2): they no longer count against the
    county's allocation or caps. Paid tranches stay committed; once per contract and line."""

    county: str
    year: int
    source: str
    contract_id: str
    amount_fen: int
    terminated_on: date
    reason: str


@integration_event(SERVICE)
class FundingRuleBreached(IntegrationEvent):
    """A signed contract's funding breaks a cap (R-FIN-2) or a station minimum (R-FIN-3): payment is blocked until resolved."""

    contract_id: str
    finding_id: str
    rule: str
    detail: str
    amount_fen: int
    limit_fen: int
    source: str | None = None


@integration_event(SERVICE)
class FundingFindingResolved(IntegrationEvent):
    """The purchaser or finance resolved a funding finding; payment is no longer blocked by it."""

    contract_id: str
    finding_id: str
    rule: str
    resolution: str


@integration_event(SERVICE)
class TrancheWithheld(IntegrationEvent):
    """The tranche's trigger evaluation failed: it is withheld, not paid (R-FIN-7)."""

    contract_id: str
    seq: int
    amount_fen: int
    trigger: str
    evaluation_id: str
    concluded_on: date
    grade: str


@integration_event(SERVICE)
class TrancheCancelled(IntegrationEvent):
    """The contract was terminated: this unpaid tranche will not be paid."""

    contract_id: str
    seq: int
    amount_fen: int
    previous_status: str
    terminated_on: date
    reason: str


@integration_event(SERVICE)
class TranchePaid(IntegrationEvent):
    """A tranche was paid (拨付), with its voucher; ``late`` when paid after its due date (R-FIN-9)."""

    contract_id: str
    seq: int
    amount_fen: int
    paid_on: date
    voucher: str
    due_on: date
    late: bool


@integration_event(SERVICE)
class TrancheOverdue(IntegrationEvent):
    """A scheduled tranche was found unpaid after its due date (R-FIN-9); recorded once per tranche."""

    contract_id: str
    seq: int
    amount_fen: int
    due_on: date
    detected_on: date


@integration_event(SERVICE)
class CalendarLoaded(IntegrationEvent):
    """A year's official working-day calendar (国务院办公厅 holiday notice) was loaded (R-FIN-6).

    Published under the county token ``province`` (``swp.province.finance.CalendarLoaded``): a
    national calendar belongs to no county. Registry and evaluation keep every year received and
    count their working-day deadlines with it (R-REG-5, R-EVAL-3)."""

    year: int
    holidays: list[date]
    workdays: list[date]


@integration_event(SERVICE)
class DueDateRecomputed(IntegrationEvent):
    """An open due date was counted again after a calendar was loaded (R-FIN-6)."""

    contract_id: str
    seq: int
    previous_due_on: date
    due_on: date
    provisional: bool
    calendar_year: int


@integration_event(SERVICE)
class ExpenseBooked(IntegrationEvent):
    """An expense was booked against the contract's ring-fenced account with its voucher (R-FIN-8)."""

    contract_id: str
    expense_id: str
    category: str
    amount_fen: int
    spent_on: date
    voucher: str
    worker_id: str | None = None  # personnel: whose wages (R-FIN-4)
    month: str | None = None  # personnel: the month of wages, YYYY-MM


@integration_event(SERVICE)
class ExpenseFlagged(IntegrationEvent):
    """A booked expense raised a finding (R-FIN-8 截留、挤占、挪用, or R-FIN-4 cost structure)."""

    contract_id: str
    expense_id: str
    rule: str
    kind: str  # beyond_funds_received | cost_structure | below_minimum_wage | outside_contract_period | duplicate_voucher
    detail: str
