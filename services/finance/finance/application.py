"""Finance commands, queries and reactions to other services' events."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from finance.domainmodel import SCHEDULED, TrancheSchedule, plan_tranches, schedule_id
from shared.events import registry as reg
from shared.infra.store import SwpApplication
from shared.rules import NotFound
from shared.workdays import WorkdayCalendar


class FinanceApplication(SwpApplication):
    service = "finance"
    name = "finance"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.calendar = WorkdayCalendar()

    # --- reactions ------------------------------------------------------------------
    def on_contract_signed(self, e: reg.ContractSigned) -> list[TrancheSchedule]:
        """A signed contract gets its schedule; tranche 1 is due 15 working days after it takes effect."""
        try:
            self.repository.get(schedule_id(e.contract_id))
            return []  # already planned (a re-published event): nothing new
        except AggregateNotFoundError:
            pass
        schedule = TrancheSchedule(
            contract_id=e.contract_id,
            county=e.county,
            amount_fen=e.amount_fen,
            effective_on=e.effective_on,
            period_start=e.period_start,
            period_end=e.period_end,
            tranches=plan_tranches(e.amount_fen, [t.model_dump() for t in e.tranche_plan]),
        )
        schedule.schedule_triggered("contract_effective", e.effective_on, self.calendar)
        return [schedule]

    # --- queries --------------------------------------------------------------------
    def schedule(self, county: str, contract_id: str) -> TrancheSchedule:
        try:
            s: TrancheSchedule = self.repository.get(schedule_id(contract_id))
        except AggregateNotFoundError as exc:
            raise NotFound(f"no tranche schedule for contract {contract_id} in county {county}") from exc
        if s.county != county:
            raise NotFound(f"no tranche schedule for contract {contract_id} in county {county}")
        return s

    @staticmethod
    def tranche_view(t: dict[str, Any], today: date) -> dict[str, Any]:
        status = t["status"]
        if status == SCHEDULED and t["due_on"] is not None and t["due_on"] < today:
            status = "overdue"  # R-FIN-9
        return {
            "seq": t["seq"],
            "percent": t["percent"],
            "amount_fen": t["amount_fen"],
            "trigger": t["trigger"],
            "status": status,
            "due_on": t["due_on"],
            "provisional": t["provisional"],
        }
