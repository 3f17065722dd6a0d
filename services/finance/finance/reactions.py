"""Finance's reactions to other services' events (never HTTP calls to them).

Each reaction returns the aggregates to save; the consumer saves them together with the
event's stream position, so each event applies exactly once. A re-published event changes
nothing. Registry and evaluation are read by separate consumers, so an evaluation of a
contract finance has not planned yet is retried later (``RetryLater``), not dropped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate

from finance.application import FinanceLookups, new_breaches
from finance.domainmodel import (
    DEFAULT_POLICY,
    STAGE_TRIGGERS,
    CountyBudget,
    CountyIndex,
    TrancheSchedule,
    plan_tranches,
    policy_cap_breaches,
    schedule_id,
    station_minimum_breach,
)
from shared.envelope import Envelope
from shared.events import evaluation as evl
from shared.events import registry as reg
from shared.funding import split_by_year
from shared.infra.consumer import RetryLater

log = logging.getLogger("swp.finance")


class FinanceReactions:
    """Plans schedules from ``ContractSigned``, moves tranches on evaluations, appeals and
    terminations. Reads through the lookups and saves nothing itself: each reaction returns the
    aggregates the consumer records with the upstream position."""

    def __init__(self, lookups: FinanceLookups) -> None:
        self.lookups = lookups

    @staticmethod
    def looked_up(envelope: Envelope) -> list[uuid.UUID]:
        """What a reaction to this event looks up first: its contract's schedule (a batch of
        reactions learns which exist in one query: shared/infra/consumer.py, ``reads``)."""
        contract_id = envelope.data.get("contract_id") if isinstance(envelope.data, dict) else None
        return [schedule_id(str(contract_id))] if contract_id else []

    def _schedule_seen(self, contract_id: str, county: str) -> TrancheSchedule | None:
        schedule: TrancheSchedule | None = self.lookups.find(schedule_id(contract_id))
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
        if self.lookups.find(schedule_id(e.contract_id)) is not None:
            return []  # already planned (a re-published event): nothing new
        scratch = self.lookups.store.batch_scratch()
        schedule = (scratch.pop(id(e), None) if scratch else None) or self._plan(e)
        # The county's and the province's indexes pick the schedule up from the log
        # (``FinanceApplication.catch_up_indexes``): only what this contract touches is saved here.
        budgets = self.commit_funding(e.county, schedule, None, [(f.source, f.amount_fen) for f in e.funding])
        below = station_minimum_breach(schedule)
        if below is not None:
            detail, per_station, minimum = below
            schedule.flag_funding("R-FIN-3", detail, None, per_station, minimum)
        return [schedule, *budgets]

    def plan_ahead(self, events: list[Any]) -> None:
        """A batch's new schedules, planned before its reactions run (shared/infra/consumer.py,
        ``plan_ahead``): planning needs no lock, while committing to the county's budget holds its
        lock until the batch is saved — planned here, the schedules are not planned under it. The
        first signing of each contract not planned yet gets its schedule, as its reaction would
        plan it (the calendar is the batch's, the same then as now); ``on_contract_signed`` takes
        it up, or plans it itself outside a batch."""
        scratch = self.lookups.store.batch_scratch()
        if scratch is None:
            return
        planned: set[str] = set()
        for e in events:
            if isinstance(e, reg.ContractSigned) and e.contract_id not in planned:
                planned.add(e.contract_id)
                if self.lookups.find(schedule_id(e.contract_id)) is None:
                    scratch[id(e)] = self._plan(e)

    def _plan(self, e: reg.ContractSigned) -> TrancheSchedule:
        """The signed contract's schedule, tranche 1 scheduled (R-FIN-5/6)."""
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
        schedule.schedule_triggered("contract_effective", e.effective_on, self.lookups.workdays())
        return schedule

    def commit_funding(
        self, county: str, schedule: TrancheSchedule, index: CountyIndex | None, funding: list[tuple[str, int]]
    ) -> list[CountyBudget]:
        """Commit each funding share to the budget years of the service period (pro rata by days,
        as registry counts it) and flag what breaks the budget or a cap (R-FIN-2)."""
        # Every signing of the county commits to its budgets: reactions of other partitions wait here
        # (a store lock held until this reaction is saved) rather than race and re-run.
        self.lookups.store.hold_until_saved(f"budgets:{county}")
        per_source: dict[str, int] = {}
        for source, fen in funding:
            if fen > 0:
                per_source[source] = per_source.get(source, 0) + fen
        budgets: dict[int, CountyBudget] = {}
        for source, fen in per_source.items():
            for year, part in split_by_year(fen, schedule.period_start, schedule.period_end).items():
                if part <= 0:
                    continue
                budget = budgets.get(year) or self.lookups.county_budget(county, year)
                budgets[year] = budget
                breaches = budget.commit(schedule.contract_id, source, part)
                breaches += policy_cap_breaches(
                    schedule.policy.get("funding_caps") or [], year, source, budget.committed_fen(source),
                    lambda y, s, seen=budgets: self.lookups.allocated_fen(county, y, s, seen),
                )
                for detail, committed, limit in new_breaches(schedule, source, breaches):
                    schedule.flag_funding("R-FIN-2", detail, source, committed, limit)
                if index is not None:  # else the county index picks the year up from the log
                    index.add_budget_year(year)
        return list(budgets.values())

    def on_contract_terminated(self, e: reg.ContractTerminated) -> list[Aggregate]:
        """The contract ended early: its unpaid tranches are cancelled, and what they came to is
        released from the budget lines the contract committed it to (R-FIN-2): what stays committed
        is what was paid or is still payable. A termination received again cancels and releases nothing."""
        schedule = self._schedule_seen(e.contract_id, e.county)
        if schedule is None:
            return []
        reason = f"{e.kind}: {e.reason}"
        cancelled = schedule.cancel_remaining(e.terminated_on, reason)
        return [schedule, *self.release_funding(e.county, schedule, cancelled, e.terminated_on, reason)]

    def release_funding(
        self, county: str, schedule: TrancheSchedule, cancelled_fen: int, terminated_on: date, reason: str
    ) -> list[CountyBudget]:
        """Release ``cancelled_fen`` of the contract's commitments, spread over the (year, source)
        shares it committed at signing in proportion to them (the same split as
        :meth:`commit_funding`, in integer fen by the largest remainder): O(shares), never a walk of
        the line's other commitments. When the funding falls short of the contract amount, only
        that fraction of the cancelled amount was ever committed, and only it is released."""
        if cancelled_fen <= 0 or schedule.amount_fen <= 0:
            return []
        shares = [
            (year, source, part)
            for source, fen in _per_source(schedule.funding)
            for year, part in split_by_year(fen, schedule.period_start, schedule.period_end).items()
            if part > 0
        ]
        committed = sum(part for _, _, part in shares)
        if committed <= 0:
            return []
        target = min(committed, cancelled_fen * committed // schedule.amount_fen)
        releases = _largest_remainder(target, [part for _, _, part in shares])
        self.lookups.store.hold_until_saved(f"budgets:{county}")  # as a signing does: one writer per county's budgets
        budgets: dict[int, CountyBudget] = {}
        for (year, source, _), fen in zip(shares, releases, strict=True):
            if fen <= 0:
                continue
            budget = budgets.get(year) or self.lookups.county_budget(county, year)
            budgets[year] = budget
            budget.release(schedule.contract_id, source, fen, terminated_on, reason)
        return [b for b in budgets.values() if b.pending_events]

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
            schedule.schedule_triggered(trigger, e.concluded_on, self.lookups.workdays())
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
        schedule.reschedule_after_appeal(e.evaluation_id, trigger, e.decided_on, self.lookups.workdays())
        return [schedule]


def _per_source(funding: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """The contract's positive funding per source, in first-named order (as ``commit_funding`` sums it)."""
    per_source: dict[str, int] = {}
    for share in funding:
        fen = int(share["amount_fen"])
        if fen > 0:
            per_source[share["source"]] = per_source.get(share["source"], 0) + fen
    return list(per_source.items())


def _largest_remainder(total: int, weights: list[int]) -> list[int]:
    """``total`` fen split in proportion to ``weights``, integers summing to ``total``."""
    whole = sum(weights)
    exact = [total * w for w in weights]
    parts = [x // whole for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] % whole), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts
