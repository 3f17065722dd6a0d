"""Finance's reactions to other services' events (never HTTP calls to them).

Each reaction returns the aggregates to save; the consumer saves them together with the
event's stream position, so each event applies exactly once. A re-published event changes
nothing. Registry and evaluation are read by separate consumers, so an evaluation of a
contract finance has not planned yet is retried later (``RetryLater``), not dropped.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.utils import get_topic

from finance.domainmodel import (
    CALENDAR_BOOK_ID,
    DEFAULT_POLICY,
    PROVINCE_INDEX_ID,
    STAGE_TRIGGERS,
    CalendarBook,
    CountyBudget,
    CountyIndex,
    ProvinceIndex,
    TrancheSchedule,
    budget_id,
    county_index_id,
    plan_tranches,
    policy_cap_breaches,
    schedule_id,
    station_minimum_breach,
)
from shared import clock
from shared.events import evaluation as evl
from shared.events import registry as reg
from shared.funding import split_by_year
from shared.infra.consumer import RetryLater
from shared.infra.store import CommandContext, SwpApplication
from shared.workdays import WorkdayCalendar

log = logging.getLogger("swp.finance")

# What the county and province indexes are made of (``FinanceReactions.catch_up_indexes``).
_INDEX_TOPICS = [get_topic(TrancheSchedule.Planned), get_topic(CountyBudget.Opened)]


class FinanceReactions(SwpApplication):
    """Plans schedules from ``ContractSigned``, moves tranches on evaluations, appeals and
    terminations; plus the lookups every finance command shares."""

    # --- lookups -----------------------------------------------------------------------
    def _find(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def workdays(self) -> WorkdayCalendar:
        """The working-day calendar with every official year loaded so far (R-FIN-6). Built once
        per version of the calendar book (building it costs milliseconds; every signing asks)."""
        book: CalendarBook | None = self._find(CALENDAR_BOOK_ID)
        version = book.version if book else None
        cached = getattr(self, "_workdays", None)
        if cached is None or cached[0] != version:
            cached = (version, book.workdays() if book else WorkdayCalendar())
            self._workdays = cached
        return cached[1]

    def county_index(self, county: str) -> CountyIndex:
        self.catch_up_indexes()
        return self._find(county_index_id(county)) or CountyIndex(county=county)

    def province_index(self) -> ProvinceIndex:
        self.catch_up_indexes()
        return self._find(PROVINCE_INDEX_ID) or ProvinceIndex()

    INDEXES = "finance:indexes"  # the position in finance's own log the indexes are up to date with

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

    def county_budget(self, county: str, year: int) -> CountyBudget:
        return self._find(budget_id(county, year)) or CountyBudget(county=county, year=year)

    def _schedule_seen(self, contract_id: str, county: str) -> TrancheSchedule | None:
        schedule: TrancheSchedule | None = self._find(schedule_id(contract_id))
        if schedule is None:
            raise RetryLater(f"contract {contract_id} not planned yet: its ContractSigned has not been processed")
        if schedule.county != county:
            log.warning("ignoring an event for contract %s under county %s: it belongs to %s", contract_id, county, schedule.county)
            return None
        return schedule

    # --- registry ------------------------------------------------------------------------
    def on_contract_signed(self, e: reg.ContractSigned) -> list[Aggregate]:
        """A signed contract gets its schedule (tranche 1 due 15 working days after it takes
        effect), commits its funding to the year's budget, and is checked against the funding
        rules: a breach is recorded as a finding that blocks payment (R-FIN-2, R-FIN-3)."""
        if self._find(schedule_id(e.contract_id)) is not None:
            return []  # already planned (a re-published event): nothing new
        schedule = TrancheSchedule(
            contract_id=e.contract_id,
            county=e.county,
            amount_fen=e.amount_fen,
            effective_on=e.effective_on,
            period_start=e.period_start,
            period_end=e.period_end,
            tranches=plan_tranches(e.amount_fen, [t.model_dump() for t in e.tranche_plan]),
            provider_id=e.provider_id,
            station_ids=list(e.station_ids),
            signed_on=e.signed_on,
            funding=[f.model_dump() for f in e.funding],
            # The contract keeps the policy it was signed under; DOMAIN.md defaults where absent.
            policy={k: e.policy[k] for k in DEFAULT_POLICY if k in e.policy},
        )
        schedule.schedule_triggered("contract_effective", e.effective_on, self.workdays())
        # The county's and the province's indexes pick the schedule up from the log
        # (``catch_up_indexes``): only what this contract touches is saved here.
        budgets = self.commit_funding(e.county, schedule, None, [(f.source, f.amount_fen) for f in e.funding])
        below = station_minimum_breach(schedule)
        if below is not None:
            detail, per_station, minimum = below
            schedule.flag_funding("R-FIN-3", detail, None, per_station, minimum)
        return [schedule, *budgets]

    def commit_funding(
        self, county: str, schedule: TrancheSchedule, index: CountyIndex | None, funding: list[tuple[str, int]]
    ) -> list[CountyBudget]:
        """Commit each funding share to the budget years of the service period (pro rata by days,
        as registry counts it) and flag what breaks the budget or a cap (R-FIN-2)."""
        # Every signing of the county commits to its budgets: reactions of other partitions wait here
        # (a store lock held until this reaction is saved) rather than race and re-run.
        self.hold_until_saved(f"budgets:{county}")
        per_source: dict[str, int] = {}
        for source, fen in funding:
            if fen > 0:
                per_source[source] = per_source.get(source, 0) + fen
        budgets: dict[int, CountyBudget] = {}
        for source, fen in per_source.items():
            for year, part in split_by_year(fen, schedule.period_start, schedule.period_end).items():
                if part <= 0:
                    continue
                budget = budgets.get(year) or self.county_budget(county, year)
                budgets[year] = budget
                breaches = budget.commit(schedule.contract_id, source, part)
                breaches += policy_cap_breaches(
                    schedule.policy.get("funding_caps") or [], year, source, budget.committed_fen(source),
                    lambda y, s, seen=budgets: self.allocated_fen(county, y, s, seen),
                )
                for detail, committed, limit in self._new_breaches(schedule, source, breaches):
                    schedule.flag_funding("R-FIN-2", detail, source, committed, limit)
                if index is not None:  # else the county index picks the year up from the log
                    index.add_budget_year(year)
        return list(budgets.values())

    def allocated_fen(self, county: str, year: int, source: str, seen: dict[int, CountyBudget] | None = None) -> int | None:
        """A budget line's allocated amount (the base of a cap), or None while none is entered."""
        budget = (seen or {}).get(year) or self._find(budget_id(county, year))
        line = budget.line(source) if budget else None
        return line["amount_fen"] if line and line["allocated"] else None

    @staticmethod
    def _new_breaches(
        schedule: TrancheSchedule, source: str, breaches: list[tuple[str, int, int]]
    ) -> list[tuple[str, int, int]]:
        """One open finding per source and limit: a re-check finds what is not flagged yet."""
        open_limits = {(f["source"], f["limit_fen"]) for f in schedule.findings if f["rule"] == "R-FIN-2" and f["status"] == "open"}
        fresh, seen = [], set()
        for detail, committed, limit in breaches:
            if (source, limit) not in open_limits and limit not in seen:
                fresh.append((detail, committed, limit))
                seen.add(limit)
        return fresh

    def on_contract_terminated(self, e: reg.ContractTerminated) -> list[Aggregate]:
        """The contract ended early: its unpaid tranches are cancelled."""
        schedule = self._schedule_seen(e.contract_id, e.county)
        if schedule is None:
            return []
        schedule.cancel_remaining(e.terminated_on, f"{e.kind}: {e.reason}")
        return [schedule]

    # --- evaluation ----------------------------------------------------------------------
    def on_evaluation_concluded(self, e: evl.EvaluationConcluded) -> list[Aggregate]:
        """Passed: the tranche waiting for that stage is scheduled, due N working days after the
        conclusion. Failed: it is withheld (R-FIN-7). Process visits trigger nothing. A final or an
        annual evaluation is the year-end evaluation: it sets off the plan's year-end tranche whichever
        of `final_passed` / `annual_passed` the plan names (``YEAR_END_TRIGGERS``)."""
        if STAGE_TRIGGERS.get(e.stage) is None:
            return []
        schedule = self._schedule_seen(e.contract_id, e.county)
        if schedule is None:
            return []
        trigger = schedule.trigger_of(e.stage)
        if e.passed:
            schedule.schedule_triggered(trigger, e.concluded_on, self.workdays())
        else:
            schedule.withhold(trigger, e.evaluation_id, e.concluded_on, e.grade)
        return [schedule]

    def on_appeal_decided(self, e: evl.AppealDecided) -> list[Aggregate]:
        """An upheld appeal makes the evaluation a pass: the tranche it withheld is scheduled."""
        if STAGE_TRIGGERS.get(e.stage) is None or not (e.upheld and e.passed):
            return []
        schedule = self._schedule_seen(e.contract_id, e.county)
        if schedule is None:
            return []
        trigger = schedule.trigger_of(e.stage)
        schedule.reschedule_after_appeal(e.evaluation_id, trigger, e.decided_on, self.workdays())
        return [schedule]
