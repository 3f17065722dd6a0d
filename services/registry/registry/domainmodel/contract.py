"""The service contract (服务协议) and its lifecycle: signed → filed (备案) → scope changes →
evaluation results → renewed for the next year, terminated, or expired (R-REG-4 … R-REG-7).

Its state is typed (#16 item 1): a :class:`ContractStatus`, :class:`FundingShare`s, :class:`ScopeChange`s,
:class:`EvaluationResult`s and an :class:`Overlap`, frozen values each event replaces. The events keep
their recorded fields and values (the enums are ``str``s), so stores recorded before load as they are.
The indicators, the tranche plan and the policy stay the mappings the contract was signed with: terms
handed on as recorded (``ContractSigned``) to finance and services-log, which read them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation


class ContractStatus(StrEnum):
    """A ``str``: it compares, serialises and answers as the plain strings recorded before it."""

    SIGNED = "signed"
    TERMINATED = "terminated"
    EXPIRED = "expired"


class TerminationKind(StrEnum):
    BREACH = "breach"  # 违约
    SERIOUS_BREACH = "serious_breach"  # 严重违约 (→ ban, R-EVAL-9)
    FRAUD = "fraud"  # 弄虚作假 (→ ban, R-EVAL-9)
    AGREEMENT = "agreement"  # 协商解除


class ScopeChangeStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


TERMINATION_KINDS = tuple(k.value for k in TerminationKind)
BANNING_KINDS = (TerminationKind.SERIOUS_BREACH.value, TerminationKind.FRAUD.value)  # R-EVAL-9: they ban the provider
YEAR_END_STAGES = ("final", "annual")  # the evaluations that decide renewal (R-REG-7)


def plain(value: Any) -> dict[str, Any]:
    """A state value as the mapping the untyped aggregate held (what the routes answer): enums as
    their strings, tuples as lists."""

    def untyped(v: Any) -> Any:
        if isinstance(v, StrEnum):
            return v.value
        if isinstance(v, tuple | list):
            return [untyped(x) for x in v]
        return v

    return {f.name: untyped(getattr(value, f.name)) for f in dataclasses.fields(value)}


@dataclass(frozen=True)
class FundingShare:
    """R-FIN-2: one funding source's share of the contract amount."""

    source: str
    amount_fen: int

    @classmethod
    def recorded(cls, share: Mapping[str, Any]) -> FundingShare:
        return cls(source=str(share["source"]), amount_fen=int(share["amount_fen"]))


@dataclass(frozen=True)
class ScopeChange:
    """R-REG-6: a change of the service areas, requested by the provider, then approved or rejected."""

    change_id: str
    service_areas: tuple[str, ...]
    effective_on: date
    reason: str
    requested_by: str
    status: ScopeChangeStatus = ScopeChangeStatus.REQUESTED
    decided_by: str | None = None
    decided_on: date | None = None
    note: str | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """The latest result of one evaluation of the contract (after any appeal), as evaluation published it."""

    evaluation_id: str
    stage: str
    grade: str
    passed: bool
    on: date
    fraud_found: bool
    appealed: bool


@dataclass(frozen=True)
class Overlap:
    """R-REG-7: the overlapping contracts and the justification recorded for signing anyway."""

    contract_ids: tuple[str, ...]
    justification: str


def _replaced(items: Iterable[Any], key: str, value: Any, new: Any) -> tuple[Any, ...]:
    return tuple(new if getattr(i, key) == value else i for i in items)


class Contract(Aggregate):
    """A service contract, signed one year at a time (一年一签, R-REG-4)."""

    # Set by events added later than Signed; class defaults keep older snapshots loading.
    overlap: Overlap | None = None  # R-REG-7: the overlapping contracts and the justification recorded
    filing_overdue_on: date | None = None  # R-REG-5: the day the registry noticed the filing was overdue

    @event("Signed")
    def __init__(
        self,
        county: str,
        provider_id: str,
        station_ids: list[str],
        purchaser: str,
        signed_on: date,
        effective_on: date,
        period_start: date,
        period_end: date,
        amount_fen: int,
        funding: list[dict[str, Any]],
        service_areas: list[str],
        indicators: list[dict[str, Any]],
        tranche_plan: list[dict[str, Any]],
        cycle_years: int,
        year_index: int,
        policy_version: int,
        policy: dict[str, Any],
        cycle_start: date,
        probation: bool,
        previous_contract_id: str | None,
        supervisor_id: str | None,
        filing_due_on: date,
        filing_due_provisional: bool,
    ) -> None:
        self.county = county
        self.provider_id = provider_id
        self.station_ids: tuple[str, ...] = tuple(station_ids)
        self.purchaser = purchaser
        self.signed_on = signed_on
        self.effective_on = effective_on
        self.period_start = period_start
        self.period_end = period_end
        self.amount_fen = amount_fen
        self.funding: tuple[FundingShare, ...] = tuple(FundingShare.recorded(f) for f in funding)
        self.service_areas: tuple[str, ...] = tuple(service_areas)
        self.indicators = indicators
        self.tranche_plan = tranche_plan
        self.cycle_years = cycle_years
        self.year_index = year_index
        self.policy_version = policy_version
        self.policy = policy
        self.cycle_start = cycle_start
        self.probation = probation
        self.previous_contract_id = previous_contract_id
        self.supervisor_id = supervisor_id
        self.filing_due_on = filing_due_on
        self.filing_due_provisional = filing_due_provisional
        self.filed_on: date | None = None
        self.filing_late: bool | None = None
        self.scope_changes: tuple[ScopeChange, ...] = ()
        self.evaluations: tuple[EvaluationResult, ...] = ()  # latest result per evaluation, in the order last recorded
        self.next_contract_id: str | None = None
        self.status = ContractStatus.SIGNED
        self.ended_on: date | None = None
        self.end_kind: TerminationKind | None = None
        self.end_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.status == ContractStatus.SIGNED

    def _must_be_active(self, rule: str, field: str | None = None) -> None:
        if not self.active:
            raise RuleViolation(
                f"the contract is {self.status} since {self.ended_on}", rule=rule, field=field,
                facts={"code": "contract_ended", "status": str(self.status),
                       "date": None if self.ended_on is None else self.ended_on.isoformat()},
            )

    # --- R-REG-5 filing (备案) ----------------------------------------------------------------
    def file(self, filed_on: date, filed_with: str, due_on: date) -> None:
        if self.filed_on is not None:
            raise RuleViolation(
                f"already filed on {self.filed_on}", rule="R-REG-5", field="filed_on",
                facts={"code": "already_filed", "date": self.filed_on.isoformat()},
            )
        if filed_on < self.signed_on:
            raise RuleViolation(
                f"a contract is filed after it is signed ({self.signed_on})", rule="R-REG-5", field="filed_on",
                facts={"code": "filed_before_signed", "date": filed_on.isoformat(), "signed_on": self.signed_on.isoformat()},
            )
        self._filed(filed_on=filed_on, filed_with=filed_with, due_on=due_on, late=filed_on > due_on)

    def filing_overdue(self, as_of: date) -> bool:
        """R-REG-5: not filed, and the due date (the last day allowed) has passed."""
        return self.filed_on is None and self.filing_due_on < as_of

    def flag_filing_overdue(self, as_of: date, due_on: date) -> bool:
        """Record, once, that the filing was not made by ``due_on``; false when there is nothing to flag."""
        if self.filed_on is not None or self.filing_overdue_on is not None or as_of <= due_on:
            return False
        self._filing_overdue(signed_on=self.signed_on, due_on=due_on, detected_on=as_of)
        return True

    @event("FilingOverdue")
    def _filing_overdue(self, signed_on: date, due_on: date, detected_on: date) -> None:
        self.filing_due_on = due_on
        self.filing_late = True
        self.filing_overdue_on = detected_on

    @event("Filed")
    def _filed(self, filed_on: date, filed_with: str, due_on: date, late: bool) -> None:
        self.filed_on = filed_on
        self.filing_due_on = due_on
        self.filing_late = late

    # --- R-REG-6 scope changes, requested then decided -----------------------------------------
    def request_scope_change(
        self, change_id: str, service_areas: list[str], effective_on: date, reason: str, requested_by: str
    ) -> None:
        self._must_be_active("R-REG-6")
        if sorted(service_areas) == sorted(self.service_areas):
            raise RuleViolation(
                "the requested areas are the contract's current scope", rule="R-REG-6", field="service_areas",
                facts={"code": "scope_unchanged", "areas": list(self.service_areas)},
            )
        if not self.period_start <= effective_on <= self.period_end:
            raise RuleViolation(
                "a scope change takes effect inside the contract year", rule="R-REG-6", field="effective_on",
                facts={"code": "scope_outside_year", "date": effective_on.isoformat(),
                       "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat()},
            )
        self._scope_change_requested(
            change_id=change_id, service_areas=service_areas, effective_on=effective_on, reason=reason, requested_by=requested_by
        )

    @event("ScopeChangeRequested")
    def _scope_change_requested(
        self, change_id: str, service_areas: list[str], effective_on: date, reason: str, requested_by: str
    ) -> None:
        self.scope_changes = (
            *self.scope_changes,
            ScopeChange(change_id, tuple(service_areas), effective_on, reason, requested_by),
        )

    def scope_change(self, change_id: str) -> ScopeChange | None:
        return next((c for c in self.scope_changes if c.change_id == change_id), None)

    def decide_scope_change(self, change: ScopeChange, approved: bool, decided_by: str, decided_on: date, note: str) -> None:
        self._must_be_active("R-REG-6")
        if change.status != ScopeChangeStatus.REQUESTED:
            raise RuleViolation(
                f"the scope change was already {change.status}", rule="R-REG-6", field="approved",
                facts={"code": "scope_already_decided", "status": str(change.status)},
            )
        if approved:
            self._scope_changed(
                change_id=change.change_id, service_areas=list(change.service_areas), effective_on=change.effective_on,
                reason=change.reason, approved_by=decided_by, decided_on=decided_on, note=note,
            )
        else:
            self._scope_change_rejected(change_id=change.change_id, decided_by=decided_by, decided_on=decided_on, note=note)

    def _decided(self, change_id: str, status: ScopeChangeStatus, decided_by: str, decided_on: date, note: str) -> None:
        change = self.scope_change(change_id)
        if change is not None:
            decided = dataclasses.replace(change, status=status, decided_by=decided_by, decided_on=decided_on, note=note)
            self.scope_changes = _replaced(self.scope_changes, "change_id", change_id, decided)

    @event("ScopeChanged")
    def _scope_changed(
        self, change_id: str, service_areas: list[str], effective_on: date, reason: str, approved_by: str, decided_on: date, note: str
    ) -> None:
        self._decided(change_id, ScopeChangeStatus.APPROVED, approved_by, decided_on, note)
        self.service_areas = tuple(service_areas)

    @event("ScopeChangeRejected")
    def _scope_change_rejected(self, change_id: str, decided_by: str, decided_on: date, note: str) -> None:
        self._decided(change_id, ScopeChangeStatus.REJECTED, decided_by, decided_on, note)

    # --- evaluation results, learnt from the evaluation service ------------------------------
    def note_evaluation(
        self, evaluation_id: str, stage: str, grade: str, passed: bool, on: date, fraud_found: bool, appealed: bool
    ) -> None:
        result = EvaluationResult(evaluation_id, stage, grade, passed, on, fraud_found, appealed)
        if self.evaluations and self.evaluations[-1] == result:
            return
        self._evaluation_recorded(**dataclasses.asdict(result))

    @event("EvaluationRecorded")
    def _evaluation_recorded(
        self, evaluation_id: str, stage: str, grade: str, passed: bool, on: date, fraud_found: bool, appealed: bool
    ) -> None:
        self.evaluations = (
            *(e for e in self.evaluations if e.evaluation_id != evaluation_id),
            EvaluationResult(evaluation_id, stage, grade, passed, on, fraud_found, appealed),
        )

    def evaluation(self, evaluation_id: str) -> EvaluationResult | None:
        return next((e for e in self.evaluations if e.evaluation_id == evaluation_id), None)

    def year_result(self) -> EvaluationResult | None:
        """The latest final/annual evaluation result of this contract year (after any appeal)."""
        return next((e for e in reversed(self.evaluations) if e.stage in YEAR_END_STAGES), None)

    # --- R-REG-7 renewal ------------------------------------------------------------------------
    def check_renewable(self, field: str | None = None) -> None:
        if self.status == ContractStatus.TERMINATED:
            raise RuleViolation(
                f"the contract was terminated on {self.ended_on}", rule="R-REG-7", field=field,
                facts={"code": "renewal_terminated", "date": None if self.ended_on is None else self.ended_on.isoformat()},
            )
        if self.next_contract_id is not None:
            raise RuleViolation(
                f"year {self.year_index + 1} was already signed: {self.next_contract_id}", rule="R-REG-7", field=field,
                facts={"code": "renewal_already_signed", "year": self.year_index + 1},
            )
        if self.year_index >= self.cycle_years:
            raise RuleViolation(
                f"year {self.year_index} is the last of the {self.cycle_years}-year cycle: re-procure", rule="R-REG-7", field=field,
                facts={"code": "cycle_last_year", "year": self.year_index, "cycle_years": self.cycle_years},
            )
        result = self.year_result()
        if result is None:
            raise RuleViolation(
                f"renewal waits for year {self.year_index}'s final/annual evaluation (末期/年度评估) to pass", rule="R-REG-7",
                field=field, facts={"code": "renewal_awaits_evaluation", "year": self.year_index},
            )
        if not result.passed:
            raise RuleViolation(
                f"this year's {result.stage} evaluation was {result.grade}: the cycle ends, re-procure", rule="R-REG-7",
                field=field, facts={"code": "renewal_evaluation_failed", "stage": result.stage, "grade": result.grade},
            )

    # --- R-REG-7 overlapping contracts, signed only with a recorded justification --------------
    @event("OverlapJustified")
    def justify_overlap(self, overlapping_contract_ids: list[str], justification: str) -> None:
        self.overlap = Overlap(tuple(overlapping_contract_ids), justification)

    @event("Renewed")
    def renewed(self, next_contract_id: str, year_index: int, renewed_on: date) -> None:
        self.next_contract_id = next_contract_id

    # --- the end: termination or expiry ---------------------------------------------------------
    def terminate(self, terminated_on: date, kind: str, reason: str) -> None:
        self._must_be_active("R-REG-4", "terminated_on")
        if kind not in TERMINATION_KINDS:
            raise RuleViolation(
                f"kind must be one of {TERMINATION_KINDS}", rule="R-REG-4", field="kind",
                facts={"code": "termination_kind_unknown", "kind": kind},
            )
        if terminated_on < self.signed_on:
            raise RuleViolation(
                "a contract ends after it is signed", rule="R-REG-4", field="terminated_on",
                facts={"code": "terminated_before_signed", "date": terminated_on.isoformat(), "signed_on": self.signed_on.isoformat()},
            )
        self._terminated(terminated_on=terminated_on, kind=kind, reason=reason)

    @event("Terminated")
    def _terminated(self, terminated_on: date, kind: str, reason: str) -> None:
        self.status = ContractStatus.TERMINATED
        self.ended_on = terminated_on
        self.end_kind = TerminationKind(kind)
        self.end_reason = reason

    def expire_if_ended(self, as_of: date) -> bool:
        """Expire at the end of the period: true if the period ended before ``as_of`` and it was active."""
        if not self.active or self.period_end >= as_of:
            return False
        self._expired(expired_on=self.period_end)
        return True

    @event("Expired")
    def _expired(self, expired_on: date) -> None:
        self.status = ContractStatus.EXPIRED
        self.ended_on = expired_on
