"""Finance aggregates. Pure domain: standard library, eventsourcing.domain, shared.rules/workdays."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation
from shared.workdays import WorkdayCalendar

NS = uuid.UUID("c8d0b7a6-1e2f-5a3b-9c4d-7e8f9a0b1c2d")

# Tranche statuses (API.md). `overdue` is derived from `scheduled` and today's date (R-FIN-9).
AWAITING, SCHEDULED, PAID, WITHHELD, CANCELLED = "awaiting_trigger", "scheduled", "paid", "withheld", "cancelled"


def split_amounts(amount_fen: int, percents: list[int]) -> list[int]:
    """R-FIN-5 with R-FIN-1: integer fen per tranche; the last takes the rounding remainder."""
    amounts = [amount_fen * p // 100 for p in percents[:-1]]
    return [*amounts, amount_fen - sum(amounts)]


class TrancheSchedule(Aggregate):
    """The payment schedule (拨付计划) of one contract, created from its ``ContractSigned``."""

    @staticmethod
    def create_id(contract_id: str, **_: Any) -> uuid.UUID:
        return schedule_id(contract_id)

    @event("Planned")
    def __init__(
        self,
        contract_id: str,
        county: str,
        amount_fen: int,
        effective_on: date,
        period_start: date,
        period_end: date,
        tranches: list[dict[str, Any]],
    ) -> None:
        self.contract_id = contract_id
        self.county = county
        self.amount_fen = amount_fen
        self.effective_on = effective_on
        self.period_start = period_start
        self.period_end = period_end
        self.tranches = tranches  # seq, percent, amount_fen, trigger, due_working_days, status, due_on, provisional

    def tranche(self, seq: int) -> dict[str, Any]:
        for t in self.tranches:
            if t["seq"] == seq:
                return t
        raise RuleViolation(f"contract has no tranche {seq}", rule="R-FIN-5", field="seq")

    def schedule_triggered(self, trigger: str, triggered_on: date, calendar: WorkdayCalendar) -> None:
        """Schedule every tranche waiting for ``trigger``: due N working days after it (R-FIN-5/6)."""
        for t in self.tranches:
            if t["trigger"] == trigger and t["status"] == AWAITING:
                due = calendar.add_workdays(triggered_on, int(t["due_working_days"]))
                self._scheduled(
                    contract_id=self.contract_id,
                    seq=t["seq"],
                    percent=t["percent"],
                    amount_fen=t["amount_fen"],
                    trigger=trigger,
                    triggered_on=triggered_on,
                    due_on=due.on,
                    provisional=due.provisional,
                )

    # The event carries the whole tranche so that it reads on its own in an audit trail.
    @event("TrancheScheduled")
    def _scheduled(
        self,
        contract_id: str,
        seq: int,
        percent: int,
        amount_fen: int,
        trigger: str,
        triggered_on: date,
        due_on: date,
        provisional: bool,
    ) -> None:
        t = self.tranche(seq)
        t.update(status=SCHEDULED, triggered_on=triggered_on, due_on=due_on, provisional=provisional)


def schedule_id(contract_id: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"tranche-schedule:{contract_id}")


def plan_tranches(amount_fen: int, plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(plan, key=lambda t: int(t["seq"]))
    amounts = split_amounts(amount_fen, [int(t["percent"]) for t in ordered])
    return [
        {
            "seq": int(t["seq"]),
            "percent": int(t["percent"]),
            "amount_fen": amt,
            "trigger": t["trigger"],
            "due_working_days": int(t.get("due_working_days", 15)),
            "status": AWAITING,
            "triggered_on": None,
            "due_on": None,
            "provisional": False,
        }
        for t, amt in zip(ordered, amounts, strict=True)
    ]
