"""Finance's side of the integration contract: what it publishes and what it consumes."""

from __future__ import annotations

from typing import Any

from faststream.nats import JStream, NatsBroker

from finance.composition import Finance
from finance.domainmodel import CalendarBook, ContractAccount, CountyBudget, TrancheSchedule
from shared.events import IntegrationEvent
from shared.events import finance as ev
from shared.infra.consumer import ConsumerStats, subscribe_upstream
from shared.workdays import WorkdayCalendar

PUBLISHED: list[type[IntegrationEvent]] = [
    ev.BudgetAllocated,
    ev.CommitmentReleased,
    ev.FundingRuleBreached,
    ev.FundingFindingResolved,
    ev.TrancheScheduled,
    ev.TrancheWithheld,
    ev.TrancheCancelled,
    ev.TranchePaid,
    ev.TrancheOverdue,
    ev.CalendarLoaded,
    ev.DueDateRecomputed,
    ev.ExpenseBooked,
    ev.ExpenseFlagged,
]

# Domain events whose fields are exactly the integration event's.
SAME_FIELDS: dict[type, type[IntegrationEvent]] = {
    TrancheSchedule.TrancheScheduled: ev.TrancheScheduled,
    TrancheSchedule.TrancheWithheld: ev.TrancheWithheld,
    TrancheSchedule.TrancheCancelled: ev.TrancheCancelled,
    TrancheSchedule.TranchePaid: ev.TranchePaid,
    TrancheSchedule.TrancheOverdue: ev.TrancheOverdue,
    TrancheSchedule.DueDateRecomputed: ev.DueDateRecomputed,
    TrancheSchedule.FundingRuleBreached: ev.FundingRuleBreached,
    TrancheSchedule.FindingResolved: ev.FundingFindingResolved,
    CountyBudget.CommitmentReleased: ev.CommitmentReleased,
    CalendarBook.CalendarLoaded: ev.CalendarLoaded,
    ContractAccount.ExpenseBooked: ev.ExpenseBooked,
    ContractAccount.ExpenseFlagged: ev.ExpenseFlagged,
}


def to_integration(e: Any) -> IntegrationEvent | None:
    schema = SAME_FIELDS.get(type(e))
    if schema is not None:
        return schema.model_validate({name: getattr(e, name) for name in schema.model_fields if hasattr(e, name)})
    if isinstance(e, CountyBudget.BudgetAllocated):
        return ev.BudgetAllocated(
            county=e.county,
            year=e.year,
            source=e.source,
            amount_fen=e.amount_fen,
        )  # the cap_… fields stay null: caps are county policy (registry's funding_caps), not finance's
    return None


def wire_consumers(broker: NatsBroker, finance: Finance, stream: JStream) -> dict[str, ConsumerStats]:
    app, react = finance.store, finance.reactions
    # Every signing asks the working-day calendar; working out its years costs ~0.7 s of CPU once per
    # process (module caches): done here, at start-up, rather than by the first reaction of a burst.
    WorkdayCalendar()
    registry = subscribe_upstream(
        broker,
        app,
        stream,
        "registry",
        {"ContractSigned": react.on_contract_signed, "ContractTerminated": react.on_contract_terminated},
        reads=react.looked_up,
        plan_ahead=react.plan_ahead,
        description="Finance plans the tranche schedule of every signed contract and schedules tranche 1 "
        "(R-FIN-5), commits its funding to the year's budget and flags funding-rule breaches (R-FIN-2, R-FIN-3); "
        "a terminated contract's unpaid tranches are cancelled and released from the budget lines it committed them to "
        "(CommitmentReleased).",
    )
    evaluation = subscribe_upstream(
        broker,
        app,
        stream,
        "evaluation",
        {"EvaluationConcluded": react.on_evaluation_concluded, "AppealDecided": react.on_appeal_decided},
        reads=react.looked_up,
        description="A passed mid-term, final or annual evaluation schedules the tranche waiting for it, due N "
        "working days after the conclusion; a failed one withholds it (R-FIN-7); an upheld appeal schedules it. "
        "An evaluation of a contract finance has not planned yet is retried until its ContractSigned arrives.",
    )
    return {"registry": registry, "evaluation": evaluation}
