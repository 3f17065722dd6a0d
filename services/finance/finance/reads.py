"""Finance's reads as typed queries, answered on the service's :class:`~shared.infra.queries.QueryBus`
(which checks the county against the caller's scope and hands each handler the :class:`Viewer`).

Every contract-level read narrows by the viewer here, once: a provider's user reads only its own
contracts' schedules, findings, expenses and reconciliation (R-FIN-8), whatever route asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from finance import lists
from finance.domainmodel import TrancheSchedule
from finance.queries import FinanceQueries
from shared.clock import china_today
from shared.infra.paging import Page
from shared.infra.queries import Query, QueryBus, Viewer


# --- the queries ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Budgets(Query):
    county: str
    year: int | None = None


@dataclass(frozen=True, kw_only=True)
class OfficialCalendars(Query):
    county: None = None


@dataclass(frozen=True, kw_only=True)
class ContractTranches(Query):
    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class ContractFindings(Query):
    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class ContractExpenses(Query):
    """A page of the contract's expenses, in booking order."""

    county: str
    contract_id: str
    limit: int
    after: int | None = None


@dataclass(frozen=True, kw_only=True)
class ContractReconciliation(Query):
    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class OverdueTranches(Query):
    """A page of the county's contracts with tranches overdue as of ``as_of`` (R-FIN-9)."""

    county: str
    as_of: date
    limit: int
    after: int | None = None


@dataclass(frozen=True, kw_only=True)
class CountyFindings(Query):
    """A page of the county's contracts with findings, ``status`` ``open``, ``resolved`` or any."""

    county: str
    status: str | None
    limit: int
    after: int | None = None


@dataclass(frozen=True)
class ListPage:
    """The page of contracts (for its cursor) and the rows read from them."""

    page: Page[TrancheSchedule]
    rows: list[dict[str, Any]]


# --- the handlers --------------------------------------------------------------------------
class FinanceReads:
    def __init__(self, store: Any, queries: FinanceQueries) -> None:
        self.store = store
        self.queries = queries

    def register(self, bus: QueryBus) -> None:
        bus.register(Budgets, lambda q, _v: self.queries.budgets(q.county, q.year))
        bus.register(OfficialCalendars, lambda _q, _v: self.queries.calendar_years())
        bus.register(ContractTranches, self.tranches)
        bus.register(ContractFindings, self.contract_findings)
        bus.register(
            ContractExpenses, lambda q, v: self.queries.expenses(q.county, q.contract_id, v.provider_id, q.limit, q.after)
        )
        bus.register(
            ContractReconciliation, lambda q, v: self.queries.reconciliation(q.county, q.contract_id, v.provider_id)
        )
        bus.register(OverdueTranches, self.overdue)
        bus.register(CountyFindings, self.findings)

    def tranches(self, q: ContractTranches, viewer: Viewer) -> list[dict[str, Any]]:
        schedule = self.queries.schedule(q.county, q.contract_id, viewer.provider_id)
        today = china_today()
        return [FinanceQueries.tranche_view(t, today) for t in schedule.tranches]

    def contract_findings(self, q: ContractFindings, viewer: Viewer) -> list[dict[str, Any]]:
        schedule = self.queries.schedule(q.county, q.contract_id, viewer.provider_id)
        return [FinanceQueries.finding_row(schedule, f) for f in schedule.findings]

    def overdue(self, q: OverdueTranches, viewer: Viewer) -> ListPage:
        calendar = self.queries.workdays()

        def rows(s: TrancheSchedule) -> list[dict[str, Any]]:
            return lists.overdue_rows(s, q.as_of, calendar) if viewer.sees_provider(s.provider_id) else []

        found = lists.schedules(self.store, q.county, q.limit, q.after, keep=lambda s: bool(rows(s)))
        return ListPage(found, [row for s in found.items for row in rows(s)])

    def findings(self, q: CountyFindings, viewer: Viewer) -> ListPage:
        def rows(s: TrancheSchedule) -> list[dict[str, Any]]:
            return lists.finding_rows(self.queries, s, q.status) if viewer.sees_provider(s.provider_id) else []

        found = lists.schedules(self.store, q.county, q.limit, q.after, keep=lambda s: bool(rows(s)), name="findings")
        return ListPage(found, [row for s in found.items for row in rows(s)])
