"""Finance's persistence: one eventsourcing Application (repository, recorder, outbox) and the
aggregate lookups that commands, reactions and queries read through. It holds no command, reaction
or query: those are separate objects composed around it in ``finance.composition``."""

from __future__ import annotations

import logging
import uuid
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.utils import get_topic

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
from shared import clock
from shared.infra.store import CommandContext, SwpApplication
from shared.rules import Forbidden, NotFound
from shared.workdays import WorkdayCalendar

# What the county and province indexes are made of (``FinanceApplication.catch_up_indexes``).
_INDEX_TOPICS = [get_topic(TrancheSchedule.Planned), get_topic(CountyBudget.Opened)]


class FinanceApplication(SwpApplication):
    """Finance's event store: what it records, signs and publishes through its outbox, and the
    county and province indexes it keeps up to date from its own log."""

    service = "finance"
    name = "finance"
    # The account grows by an event or more per expense; its state is a few totals (issue 16), so
    # a snapshot every 100 events bounds a cold load (and an as-of read) to ~100 events of replay.
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {ContractAccount: 100}

    INDEXES = "finance:indexes"  # the position in finance's own log the indexes are up to date with

    def _find(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def catch_up_indexes(self) -> None:
        """Add to the county and province indexes the schedules planned and the budget years opened
        since they were last brought up to date (read from finance's own log by topic), then record
        that position. Runs before each read of an index; a live read only (as-of reads replay
        what the indexes had recorded then). Two processes catching up at once: one saves, the
        other finds the position taken and reads what it saved."""
        if clock.pinned() is not None:
            return
        recorder = self.process_recorder
        position = recorder.max_tracking_id(self.INDEXES) or 0
        head = recorder.max_notification_id() or 0
        if head <= position:
            return
        contracts: dict[str, list[str]] = {}
        years: dict[str, set[int]] = {}
        start = position + 1
        while True:
            page = recorder.select_notifications(start, 500, stop=head, topics=_INDEX_TOPICS)
            for n in page:
                event = self.mapper.to_domain_event(n)
                if isinstance(event, TrancheSchedule.Planned):
                    contracts.setdefault(event.county, []).append(event.contract_id)
                else:
                    years.setdefault(event.county, set()).add(event.year)
            if len(page) < 500:
                break
            start = page[-1].id + 1
        if not contracts and not years and head - position < 1000:
            return  # nothing to add: the position moves on with the next addition (or 1000 records on)
        try:
            for county in sorted(set(contracts) | set(years)):
                index = self._find(county_index_id(county)) or CountyIndex(county=county)
                known = set(index.contract_ids)
                for contract_id in contracts.get(county, []):
                    if contract_id not in known:
                        index.add_contract(contract_id)
                        known.add(contract_id)
                for year in sorted(years.get(county, ())):
                    index.add_budget_year(year)
                with self.command(CommandContext(county=county, actor=f"service:{self.service}")):
                    self.save(index)
            province = self._find(PROVINCE_INDEX_ID) or ProvinceIndex()
            for county in sorted(contracts):
                province.add_county(county)
            with self.command(CommandContext(county="province", actor=f"service:{self.service}")):
                self.record_reaction(Tracking(self.INDEXES, head), province)
        except IntegrityError:
            # Another request or process brought them up to date meanwhile: it saved the same additions.
            log.info("indexes brought up to date elsewhere (position %s)", recorder.max_tracking_id(self.INDEXES))


log = logging.getLogger("swp.finance")


class FinanceLookups:
    """Loads finance's aggregates (read-only: nothing here saves)."""

    def __init__(self, store: FinanceApplication) -> None:
        self.store = store
        self._workdays: tuple[int | None, WorkdayCalendar] | None = None

    def find(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.store.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def workdays(self) -> WorkdayCalendar:
        """The working-day calendar with every official year loaded so far (R-FIN-6). Built once
        per version of the calendar book (building it costs milliseconds; every signing asks)."""
        book: CalendarBook | None = self.find(CALENDAR_BOOK_ID)
        version = book.version if book else None
        cached = self._workdays
        if cached is None or cached[0] != version:
            cached = (version, book.workdays() if book else WorkdayCalendar())
            self._workdays = cached
        return cached[1]

    def calendar_book(self) -> CalendarBook:
        return self.find(CALENDAR_BOOK_ID) or CalendarBook()

    def county_index(self, county: str) -> CountyIndex:
        self.store.catch_up_indexes()
        return self.find(county_index_id(county)) or CountyIndex(county=county)

    def province_index(self) -> ProvinceIndex:
        self.store.catch_up_indexes()
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
            raise NotFound(f"no contract {contract_id} in county {county} (or finance has not received it yet)", facts={"code": "contract_not_in_finance"})
        if provider_id is not None and provider_id != found.provider_id:
            raise Forbidden("a provider sees and books only its own contracts' accounts", rule="R-FIN-8", facts={"code": "other_providers_account"})
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
