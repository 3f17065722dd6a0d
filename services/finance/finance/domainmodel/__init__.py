"""Finance aggregates. Pure domain: standard library, eventsourcing.domain, shared.rules/workdays.

- ``tranches``: a contract's payment schedule (拨付计划) — tranches, their triggers and due dates,
  payments, and the funding findings that block paying;
- ``funding``: a county's budget per year and funding source, the base of the county policy's caps (R-FIN-2);
- ``expenses``: a contract's ring-fenced account (专款专用) and the county's voucher book (R-FIN-8);
- ``calendar``: the official working-day calendars loaded (R-FIN-6);
- ``indexes``: the county and province lists the county-wide views walk.
"""

from finance.domainmodel.calendar import CALENDAR_BOOK_ID, CalendarBook
from finance.domainmodel.expenses import (
    CATEGORIES,
    OPERATIONS,
    PERSONNEL,
    ContractAccount,
    Expense,
    ExpenseCategory,
    Finding,
    VoucherBook,
    account_id,
    check_expense,
    expense_findings,
    minimum_wage_fen,
    voucher_id,
)
from finance.domainmodel.funding import (
    CEILING,
    FLOOR,
    BudgetLine,
    CountyBudget,
    budget_id,
    policy_cap_breaches,
    policy_caps_on,
)
from finance.domainmodel.indexes import PROVINCE_INDEX_ID, CountyIndex, ProvinceIndex, county_index_id
from finance.domainmodel.tranches import (
    AWAITING,
    CANCELLED,
    DEFAULT_POLICY,
    PAID,
    SCHEDULED,
    STAGE_TRIGGERS,
    WITHHELD,
    FindingStatus,
    FundingFinding,
    Tranche,
    TrancheSchedule,
    TrancheStatus,
    plan_tranches,
    schedule_id,
    split_amounts,
    station_minimum_breach,
    yuan,
)

__all__ = [
    "AWAITING",
    "CALENDAR_BOOK_ID",
    "CANCELLED",
    "CATEGORIES",
    "CEILING",
    "DEFAULT_POLICY",
    "FLOOR",
    "OPERATIONS",
    "PAID",
    "PERSONNEL",
    "PROVINCE_INDEX_ID",
    "SCHEDULED",
    "STAGE_TRIGGERS",
    "WITHHELD",
    "BudgetLine",
    "CalendarBook",
    "ContractAccount",
    "CountyBudget",
    "CountyIndex",
    "Expense",
    "ExpenseCategory",
    "Finding",
    "FindingStatus",
    "FundingFinding",
    "ProvinceIndex",
    "Tranche",
    "TrancheSchedule",
    "TrancheStatus",
    "VoucherBook",
    "account_id",
    "budget_id",
    "check_expense",
    "county_index_id",
    "expense_findings",
    "minimum_wage_fen",
    "plan_tranches",
    "policy_cap_breaches",
    "policy_caps_on",
    "schedule_id",
    "split_amounts",
    "station_minimum_breach",
    "voucher_id",
    "yuan",
]
