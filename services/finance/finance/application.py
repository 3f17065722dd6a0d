"""Finance's persistence: one eventsourcing Application (repository, recorder, outbox) and the
aggregate lookups that commands, reactions and queries read through. It holds no command, reaction
or query: those are separate objects composed around it in ``finance.composition``."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from finance.domainmodel import (
    CALENDAR_BOOK_ID,
    PROVINCE_INDEX_ID,
    CalendarBook,
    ContractAccount,
    CountyBudget,
    CountyIndex,
    ProvinceIndex,
    TrancheSchedule,
    account_id,
    budget_id,
    county_index_id,
    schedule_id,
)
from shared.infra.store import SwpApplication
from shared.rules import Forbidden, NotFound
from shared.workdays import WorkdayCalendar


class FinanceApplication(SwpApplication):
    """Finance's event store: what it records, signs and publishes through its outbox."""

    service = "finance"
    name = "finance"


class FinanceLookups:
    """Loads finance's aggregates (read-only: nothing here saves)."""

    def __init__(self, store: SwpApplication) -> None:
        self.store = store

    def find(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.store.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def workdays(self) -> WorkdayCalendar:
        """The working-day calendar with every official year loaded so far (R-FIN-6)."""
        book: CalendarBook | None = self.find(CALENDAR_BOOK_ID)
        return book.workdays() if book else WorkdayCalendar()

    def calendar_book(self) -> CalendarBook:
        return self.find(CALENDAR_BOOK_ID) or CalendarBook()

    def county_index(self, county: str) -> CountyIndex:
        return self.find(county_index_id(county)) or CountyIndex(county=county)

    def province_index(self) -> ProvinceIndex:
        return self.find(PROVINCE_INDEX_ID) or ProvinceIndex()

    def county_budget(self, county: str, year: int) -> CountyBudget:
        return self.find(budget_id(county, year)) or CountyBudget(county=county, year=year)

    def allocated_fen(self, county: str, year: int, source: str, seen: dict[int, CountyBudget] | None = None) -> int | None:
        """A budget line's allocated amount (the base of a cap), or None while none is entered."""
        budget = (seen or {}).get(year) or self.find(budget_id(county, year))
        line = budget.line(source) if budget else None
        return line.amount_fen if line and line.allocated else None

    # --- county-checked: another county's id is "not found" ---------------------------------
    def schedule(self, county: str, contract_id: str, provider_id: str | None = None) -> TrancheSchedule:
        """``provider_id``: a provider's caller sees only its own contracts."""
        found: TrancheSchedule | None = self.find(schedule_id(contract_id))
        if found is None or found.county != county:
            raise NotFound(f"no contract {contract_id} in county {county} (or finance has not received it yet)")
        if provider_id is not None and provider_id != found.provider_id:
            raise Forbidden("a provider sees and books only its own contracts' accounts", rule="R-FIN-8")
        return found

    def schedules(self, county: str) -> list[TrancheSchedule]:
        return [self.find(schedule_id(c)) for c in self.county_index(county).contract_ids]

    def account(self, schedule: TrancheSchedule) -> ContractAccount:
        return self.find(account_id(schedule.contract_id)) or ContractAccount(
            contract_id=schedule.contract_id, county=schedule.county
        )


def new_breaches(schedule: TrancheSchedule, source: str, breaches: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """One open finding per source and limit: a re-check finds what is not flagged yet."""
    open_limits = {(f.source, f.limit_fen) for f in schedule.findings if f.rule == "R-FIN-2" and f.open}
    fresh, seen = [], set()
    for detail, committed, limit in breaches:
        if (source, limit) not in open_limits and limit not in seen:
            fresh.append((detail, committed, limit))
            seen.add(limit)
    return fresh
