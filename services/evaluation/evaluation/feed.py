"""Evaluation's read model of other services, fed by their events (never by HTTP calls).

Each reaction returns the aggregates to save; the consumer saves them together with the event's
stream position, so each event applies exactly once. A re-published event changes nothing.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from evaluation.domainmodel import ContractOutcomes, ContractView, ProviderView
from evaluation.lookups import EvaluationApplication
from shared.calendars import OFFICIAL_CALENDARS_ID, OfficialCalendars
from shared.events import registry as reg
from shared.events import services_log as slog
from shared.events.finance import CalendarLoaded
from shared.infra.consumer import RetryLater


class UpstreamReactions:
    """Contracts (provider, stations, service year, indicators) and providers from registry;
    outcome figures (indicator progress, hours) from services-log; the official calendars from
    finance. Holds the store to read; saves nothing (the consumer records what it returns)."""

    def __init__(self, store: EvaluationApplication) -> None:
        self.store = store

    def on_calendar_loaded(self, e: CalendarLoaded) -> list[Any]:
        """Keep the year's official calendar: every R-EVAL-3 deadline is counted with it from now on
        (read-time: the evaluation keeps its scheduled date, its deadlines follow the calendar)."""
        book = self.store._find(OFFICIAL_CALENDARS_ID)
        if not isinstance(book, OfficialCalendars):
            book = OfficialCalendars()
        book.receive(e.year, e.holidays, e.workdays)
        return [book] if book.pending_events else []


    def on_provider_registered(self, e: reg.ProviderRegistered) -> list[Aggregate]:
        if self.store._find(ProviderView.create_id(e.provider_id)) is not None:
            return []
        return [ProviderView(provider_id=e.provider_id, county=e.county, name=e.name)]

    def on_contract_signed(self, e: reg.ContractSigned) -> list[Aggregate]:
        if self.store._find(ContractView.create_id(e.contract_id)) is not None:
            return []
        return [
            ContractView(
                contract_id=e.contract_id,
                county=e.county,
                provider_id=e.provider_id,
                station_ids=list(e.station_ids),
                period_start=e.period_start,
                period_end=e.period_end,
                indicators=[{"code": i.code, "name": i.name, "unit": i.unit, "target": i.target} for i in e.indicators],
                year_index=e.year_index,
            )
        ]

    def on_contract_terminated(self, e: reg.ContractTerminated) -> list[Aggregate]:
        contract: ContractView | None = self.store._find(ContractView.create_id(e.contract_id))
        if contract is None:
            raise RetryLater(f"contract {e.contract_id} not seen yet")
        if contract.terminated_on is None:
            contract.terminate(terminated_on=e.terminated_on)
        return [contract]

    def on_indicator_progressed(self, e: slog.IndicatorProgressed) -> list[Aggregate]:
        # Kept whether or not the contract has arrived from registry: the two streams are not ordered.
        outcomes: ContractOutcomes | None = self.store._find(ContractOutcomes.create_id(e.contract_id))
        outcomes = outcomes or ContractOutcomes(contract_id=e.contract_id, county=e.county)
        outcomes.progress(
            as_of=e.as_of,
            indicators=[{"code": i.code, "target": i.target, "actual": i.actual} for i in e.indicators],
            hours_direct=e.hours_direct,
            hours_other=e.hours_other,
            person_times=e.person_times,
            deliveries=e.deliveries,
        )
        return [outcomes]
