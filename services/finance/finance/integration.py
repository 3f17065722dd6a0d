"""Finance's side of the integration contract: what it publishes and what it consumes."""

from __future__ import annotations

from typing import Any

from faststream.nats import JStream, NatsBroker

from finance.application import FinanceApplication
from finance.domainmodel import TrancheSchedule
from shared.events import IntegrationEvent
from shared.events import finance as ev
from shared.infra.consumer import ConsumerStats, subscribe_upstream
from shared.infra.store import SwpApplication

PUBLISHED: list[type[IntegrationEvent]] = [ev.TrancheScheduled]


def to_integration(e: Any) -> IntegrationEvent | None:
    if isinstance(e, TrancheSchedule.TrancheScheduled):
        return ev.TrancheScheduled(
            contract_id=e.contract_id,
            seq=e.seq,
            percent=e.percent,
            amount_fen=e.amount_fen,
            trigger=e.trigger,
            due_on=e.due_on,
            provisional=e.provisional,
        )
    return None


def wire_consumers(broker: NatsBroker, app: SwpApplication, stream: JStream) -> dict[str, ConsumerStats]:
    assert isinstance(app, FinanceApplication)
    registry = subscribe_upstream(
        broker,
        app,
        stream,
        "registry",
        {"ContractSigned": app.on_contract_signed},
        description="Finance plans the tranche schedule of every signed contract and schedules tranche 1 (R-FIN-5).",
    )
    return {"registry": registry}
