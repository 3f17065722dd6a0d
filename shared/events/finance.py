"""Events published by the finance service (budgets, tranches, payments, expenses)."""

from __future__ import annotations

from datetime import date

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
