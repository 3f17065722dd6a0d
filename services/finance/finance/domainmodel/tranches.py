"""The payment schedule (拨付计划) of one contract: its tranches, and the funding findings that
block paying them.

A tranche moves ``awaiting_trigger`` → ``scheduled`` (its trigger happened: due N working days
later, R-FIN-5/6) → ``paid``; a failed trigger evaluation makes it ``withheld`` (R-FIN-7), an
upheld appeal schedules it again, and a terminated contract ``cancelled``. ``overdue`` is not a
stored status: it is a scheduled tranche past its due date (R-FIN-9).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import NotFound, RuleViolation
from shared.workdays import WorkdayCalendar

NS = uuid.UUID("c8d0b7a6-1e2f-5a3b-9c4d-7e8f9a0b1c2d")



class TrancheStatus(StrEnum):
    """A tranche's stored status (``overdue`` is read, not stored: R-FIN-9). A ``str``: it compares,
    serialises and answers exactly as the plain strings recorded before it."""

    AWAITING = "awaiting_trigger"
    SCHEDULED = "scheduled"
    PAID = "paid"
    WITHHELD = "withheld"
    CANCELLED = "cancelled"


AWAITING, SCHEDULED, PAID, WITHHELD, CANCELLED = (
    TrancheStatus.AWAITING, TrancheStatus.SCHEDULED, TrancheStatus.PAID, TrancheStatus.WITHHELD, TrancheStatus.CANCELLED,
)
OPEN_STATUSES = (AWAITING, SCHEDULED, WITHHELD)


@dataclass(frozen=True)
class Tranche:
    """One tranche of the schedule: the plan's share and what has happened to it. Changed only by
    the schedule's events, each replacing it with a new value."""

    seq: int
    percent: int
    amount_fen: int
    trigger: str
    due_working_days: int = 15
    status: TrancheStatus = TrancheStatus.AWAITING
    triggered_on: date | None = None
    due_on: date | None = None
    provisional: bool = False
    paid_on: date | None = None
    voucher: str | None = None
    evaluation_id: str | None = None
    withheld_on: date | None = None
    cancelled_on: date | None = None
    overdue_since: date | None = None

    @classmethod
    def planned(cls, recorded: Mapping[str, Any]) -> Tranche:
        """From a ``Planned`` event's tranche as recorded (a JSON object; records of every earlier
        shape: a missing ``due_working_days`` is the DOMAIN.md default of 15)."""
        return cls(
            seq=int(recorded["seq"]), percent=int(recorded["percent"]), amount_fen=int(recorded["amount_fen"]),
            trigger=str(recorded["trigger"]), due_working_days=int(recorded.get("due_working_days", 15)),
            status=TrancheStatus(recorded.get("status", AWAITING)), triggered_on=recorded.get("triggered_on"),
            due_on=recorded.get("due_on"), provisional=bool(recorded.get("provisional", False)),
        )


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class FundingFinding:
    """A funding-rule breach (R-FIN-2 caps, R-FIN-3 station minimum) that blocks payment while open."""

    finding_id: str
    rule: str
    source: str | None
    detail: str
    amount_fen: int
    limit_fen: int
    status: FindingStatus = FindingStatus.OPEN
    resolution: str | None = None

    @property
    def open(self) -> bool:
        return self.status == FindingStatus.OPEN

# DOMAIN.md defaults of the policy parameters finance reads from the contract's policy snapshot.
DEFAULT_POLICY: dict[str, Any] = {
    "station_min_amount_fen": 12_000_000,  # R-FIN-3: 120,000 yuan per station and year
    "personnel_min_percent": 90,  # R-FIN-4: personnel ≥ 90% of the contract amount
    "operations_max_percent": 10,  # R-FIN-4: quality assurance and operations ≤ 10%
    "min_wage_multiplier": "1.1",  # R-FIN-4: wages ≥ the local minimum wage × 1.1
    "local_min_wage_fen": 0,  # R-FIN-4: the county's monthly minimum wage; 0 = not configured
    "funding_caps": [],  # R-FIN-2: the county's caps on funding sources (registry's policy)
}

# An evaluation stage (R-EVAL-1) and the tranche trigger its passing sets off (R-FIN-5).
STAGE_TRIGGERS = {"midterm": "midterm_passed", "final": "final_passed", "annual": "annual_passed"}
# 末期评估 (final) and 年度绩效评估 (annual) are the two forms of the year-end evaluation: a county
# holds one or the other. A plan names the one its county holds; when it names the other (the
# default plan says `final_passed`, the county evaluates `annual`), the year-end evaluation held
# releases or withholds that tranche all the same. A plan naming both keeps them apart.
YEAR_END_TRIGGERS = ("final_passed", "annual_passed")


def split_amounts(amount_fen: int, percents: list[int]) -> list[int]:
    """R-FIN-5 with R-FIN-1: integer fen per tranche; the last takes the rounding remainder."""
    amounts = [amount_fen * p // 100 for p in percents[:-1]]
    return [*amounts, amount_fen - sum(amounts)]


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
            "status": AWAITING.value,
            "triggered_on": None,
            "due_on": None,
            "provisional": False,
        }
        for t, amt in zip(ordered, amounts, strict=True)
    ]


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


class TrancheSchedule(Aggregate):
    """The payment schedule of one contract, created from its ``ContractSigned``."""

    @staticmethod
    def create_id(contract_id: str, **_: Any) -> uuid.UUID:
        return schedule_id(contract_id)

    # Fields after ``tranches`` came with the full finance service; defaults keep older records readable.
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
        provider_id: str = "",
        station_ids: list[str] | None = None,
        signed_on: date | None = None,
        funding: list[dict[str, Any]] | None = None,
        policy: dict[str, Any] | None = None,
    ) -> None:
        self.contract_id = contract_id
        self.county = county
        self.amount_fen = amount_fen
        self.effective_on = effective_on
        self.period_start = period_start
        self.period_end = period_end
        # The event keeps the plan as recorded (JSON objects); the state holds typed tranches.
        self.tranches: list[Tranche] = [Tranche.planned(t) for t in tranches]
        self.provider_id = provider_id
        self.station_ids = list(station_ids or [])
        self.signed_on = signed_on or effective_on
        self.funding = list(funding or [])
        self.policy = {**DEFAULT_POLICY, **(policy or {})}
        self.findings: list[FundingFinding] = []
        self.terminated_on: date | None = None

    # --- lookups ----------------------------------------------------------------------
    def tranche(self, seq: int) -> Tranche:
        for t in self.tranches:
            if t.seq == seq:
                return t
        raise NotFound(f"contract {self.contract_id} has no tranche {seq}", facts={"code": "tranche_unknown", "seq": seq})

    def open_findings(self) -> list[FundingFinding]:
        return [f for f in self.findings if f.open]

    def finding(self, finding_id: str) -> FundingFinding:
        for f in self.findings:
            if f.finding_id == finding_id:
                return f
        raise NotFound(f"contract {self.contract_id} has no finding {finding_id}", facts={"code": "finding_unknown", "finding_id": finding_id})

    def _update_tranche(self, seq: int, **changes: Any) -> None:
        self.tranches = [dataclasses.replace(t, **changes) if t.seq == seq else t for t in self.tranches]

    def _update_finding(self, finding_id: str, **changes: Any) -> None:
        self.findings = [dataclasses.replace(f, **changes) if f.finding_id == finding_id else f for f in self.findings]

    # --- triggers: evaluations, appeals, termination ----------------------------------------
    def trigger_of(self, stage: str) -> str | None:
        """The plan's trigger an evaluation of ``stage`` sets off (see ``YEAR_END_TRIGGERS``)."""
        trigger = STAGE_TRIGGERS.get(stage)
        planned = {t.trigger for t in self.tranches}
        if trigger in YEAR_END_TRIGGERS and trigger not in planned:
            other = next(t for t in YEAR_END_TRIGGERS if t != trigger)
            if other in planned:
                return other
        return trigger

    def schedule_triggered(self, trigger: str, triggered_on: date, calendar: WorkdayCalendar) -> None:
        """Schedule every tranche waiting for ``trigger``: due N working days after it (R-FIN-5/6)."""
        for t in self.tranches:
            if t.trigger == trigger and t.status == AWAITING:
                self._schedule(t, triggered_on, calendar)

    def withhold(self, trigger: str, evaluation_id: str, concluded_on: date, grade: str) -> None:
        """R-FIN-7: the trigger evaluation failed, so its tranche is withheld, not paid."""
        for t in self.tranches:
            if t.trigger == trigger and t.status == AWAITING:
                self._withheld(
                    contract_id=self.contract_id, seq=t.seq, amount_fen=t.amount_fen, trigger=trigger,
                    evaluation_id=evaluation_id, concluded_on=concluded_on, grade=grade,
                )

    def reschedule_after_appeal(
        self, evaluation_id: str, trigger: str, decided_on: date, calendar: WorkdayCalendar
    ) -> None:
        """An upheld appeal turns the failed evaluation into a pass: the tranche it withheld is
        scheduled, due N working days after the decision."""
        for t in self.tranches:
            if t.status == WITHHELD and (t.evaluation_id == evaluation_id or t.trigger == trigger):
                self._schedule(t, decided_on, calendar)

    def cancel_remaining(self, terminated_on: date, reason: str) -> int:
        """The contract ended early: nothing more is owed on the tranches not yet paid. Returns the
        fen cancelled now (0 when a termination is received again: nothing is left open)."""
        if self.terminated_on is None:
            self._terminated(terminated_on=terminated_on)
        cancelled = 0
        for t in self.tranches:
            if t.status in OPEN_STATUSES:
                self._cancelled(
                    contract_id=self.contract_id, seq=t.seq, amount_fen=t.amount_fen,
                    previous_status=t.status, terminated_on=terminated_on, reason=reason,
                )
                cancelled += t.amount_fen
        return cancelled

    def _schedule(self, t: Tranche, triggered_on: date, calendar: WorkdayCalendar) -> None:
        due = calendar.add_workdays(triggered_on, int(t.due_working_days))
        self._scheduled(
            contract_id=self.contract_id, seq=t.seq, percent=t.percent, amount_fen=t.amount_fen,
            trigger=t.trigger, triggered_on=triggered_on, due_on=due.on, provisional=due.provisional,
        )

    # --- the working-day calendar changed ------------------------------------------------------
    def recompute_due_dates(self, calendar: WorkdayCalendar, calendar_year: int) -> list[int]:
        """R-FIN-6: every open due date counted again with the calendar now loaded; returns the
        tranches whose date or provisional mark changed."""
        changed = []
        for t in self.tranches:
            if t.status != SCHEDULED or t.triggered_on is None:
                continue
            due = calendar.add_workdays(t.triggered_on, int(t.due_working_days))
            if (due.on, due.provisional) != (t.due_on, t.provisional):
                self._recomputed(
                    contract_id=self.contract_id, seq=t.seq, previous_due_on=t.due_on,
                    due_on=due.on, provisional=due.provisional, calendar_year=calendar_year,
                )
                changed.append(t.seq)
        return changed

    # --- payments (R-FIN-7) and overdue (R-FIN-9) --------------------------------------------
    def check_payable(self, seq: int, paid_on: date) -> Tranche:
        t = self.tranche(seq)
        status = t.status
        if status == PAID:
            raise RuleViolation(
                f"tranche {seq} was already paid on {t.paid_on} (voucher {t.voucher})", rule="R-FIN-7", field="seq",
                facts={"code": "tranche_paid", "seq": seq, "date": None if t.paid_on is None else t.paid_on.isoformat(), "voucher": t.voucher},
            )
        if status == CANCELLED:
            raise RuleViolation(f"tranche {seq} was cancelled: the contract was terminated", rule="R-FIN-7", field="seq", facts={"code": "tranche_cancelled", "seq": seq})
        if status == WITHHELD:
            raise RuleViolation(
                f"tranche {seq} is withheld: its trigger evaluation failed (no upheld appeal)", rule="R-FIN-7", field="seq",
                facts={"code": "tranche_withheld", "seq": seq, "trigger": t.trigger},
            )
        if status == AWAITING:
            raise RuleViolation(
                f"tranche {seq} awaits its trigger {t.trigger}: it cannot be paid before it", rule="R-FIN-7", field="seq",
                facts={"code": "tranche_awaiting", "seq": seq, "trigger": t.trigger},
            )
        blocking = self.open_findings()
        if blocking:
            listed = "; ".join(f"{f.finding_id} ({f.rule}: {f.detail})" for f in blocking)
            raise RuleViolation(
                f"payment is blocked until the funding findings are resolved: {listed}", rule="R-FIN-7", field="contract_id",
                facts={"code": "findings_open", "count": len(blocking), "rules": sorted({f.rule for f in blocking})},
            )
        if paid_on < t.triggered_on:
            raise RuleViolation(
                f"paid_on {paid_on} precedes the trigger {t.trigger} on {t.triggered_on}", rule="R-FIN-7", field="paid_on",
                facts={"code": "paid_before_trigger", "seq": seq, "date": paid_on.isoformat(), "trigger": t.trigger, "triggered_on": None if t.triggered_on is None else t.triggered_on.isoformat()},
            )
        return t

    def pay(self, seq: int, paid_on: date, voucher: str) -> None:
        t = self.check_payable(seq, paid_on)
        self._paid(
            contract_id=self.contract_id, seq=seq, amount_fen=t.amount_fen, paid_on=paid_on, voucher=voucher,
            due_on=t.due_on, late=paid_on > t.due_on,
        )

    def detect_overdue(self, as_of: date) -> list[int]:
        """Record each scheduled tranche past its due date, once (R-FIN-9)."""
        found = []
        for t in self.tranches:
            if t.status == SCHEDULED and t.due_on < as_of and t.overdue_since is None:
                self._overdue(
                    contract_id=self.contract_id, seq=t.seq, amount_fen=t.amount_fen,
                    due_on=t.due_on, detected_on=as_of,
                )
                found.append(t.seq)
        return found

    # --- funding findings (R-FIN-2, R-FIN-3) --------------------------------------------------
    def flag_funding(self, rule: str, detail: str, source: str | None, amount_fen: int, limit_fen: int) -> None:
        """Finance cannot refuse a signed contract; it records the breach, which blocks payment."""
        self._breached(
            contract_id=self.contract_id, finding_id=f"F{len(self.findings) + 1}", rule=rule, source=source,
            detail=detail, amount_fen=amount_fen, limit_fen=limit_fen,
        )

    def resolve_finding(self, finding_id: str, resolution: str) -> None:
        f = self.finding(finding_id)
        if not f.open:
            raise RuleViolation(f"finding {finding_id} is already resolved", rule=f.rule, field="finding_id", facts={"code": "finding_resolved", "finding_id": finding_id})
        self._resolved(contract_id=self.contract_id, finding_id=finding_id, rule=f.rule, resolution=resolution)

    # --- events ---------------------------------------------------------------------------
    # Each event carries the whole fact so that it reads on its own in an audit trail.
    @event("TrancheScheduled")
    def _scheduled(
        self, contract_id: str, seq: int, percent: int, amount_fen: int, trigger: str,
        triggered_on: date, due_on: date, provisional: bool,
    ) -> None:
        self._update_tranche(seq, status=SCHEDULED, triggered_on=triggered_on, due_on=due_on, provisional=provisional)

    @event("TrancheWithheld")
    def _withheld(
        self, contract_id: str, seq: int, amount_fen: int, trigger: str, evaluation_id: str, concluded_on: date, grade: str
    ) -> None:
        self._update_tranche(seq, status=WITHHELD, evaluation_id=evaluation_id, withheld_on=concluded_on)

    @event("Terminated")
    def _terminated(self, terminated_on: date) -> None:
        self.terminated_on = terminated_on

    @event("TrancheCancelled")
    def _cancelled(
        self, contract_id: str, seq: int, amount_fen: int, previous_status: str, terminated_on: date, reason: str
    ) -> None:
        self._update_tranche(seq, status=CANCELLED, cancelled_on=terminated_on)

    @event("DueDateRecomputed")
    def _recomputed(
        self, contract_id: str, seq: int, previous_due_on: date, due_on: date, provisional: bool, calendar_year: int
    ) -> None:
        self._update_tranche(seq, due_on=due_on, provisional=provisional)

    @event("TranchePaid")
    def _paid(
        self, contract_id: str, seq: int, amount_fen: int, paid_on: date, voucher: str, due_on: date, late: bool
    ) -> None:
        self._update_tranche(seq, status=PAID, paid_on=paid_on, voucher=voucher)

    @event("TrancheOverdue")
    def _overdue(self, contract_id: str, seq: int, amount_fen: int, due_on: date, detected_on: date) -> None:
        self._update_tranche(seq, overdue_since=detected_on)

    @event("FundingRuleBreached")
    def _breached(
        self, contract_id: str, finding_id: str, rule: str, source: str | None, detail: str, amount_fen: int, limit_fen: int
    ) -> None:
        self.findings = [
            *self.findings,
            FundingFinding(finding_id=finding_id, rule=rule, source=source, detail=detail, amount_fen=amount_fen, limit_fen=limit_fen),
        ]

    @event("FindingResolved")
    def _resolved(self, contract_id: str, finding_id: str, rule: str, resolution: str) -> None:
        self._update_finding(finding_id, status=FindingStatus.RESOLVED, resolution=resolution)


def station_minimum_breach(schedule: TrancheSchedule) -> tuple[str, int, int] | None:
    """R-FIN-3: each station's annual funding (the contract amount shared by its stations) must
    reach the policy minimum. Returns (detail, per-station amount, minimum) when it does not."""
    stations = len(schedule.station_ids)
    if not stations:
        return None
    minimum = int(schedule.policy["station_min_amount_fen"])
    per_station = schedule.amount_fen // stations
    if per_station >= minimum:
        return None
    detail = (
        f"{yuan(schedule.amount_fen)} for {stations} station(s) is {yuan(per_station)} per station; "
        f"the county's minimum per station is {yuan(minimum)}"
    )
    return detail, per_station, minimum
