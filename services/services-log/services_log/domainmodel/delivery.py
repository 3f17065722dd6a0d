"""A service delivery (服务记录) and the rules it must meet (R-LOG-1 … R-LOG-4, R-REG-6, R-REG-8)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from eventsourcing.domain import Aggregate, event

from services_log.domainmodel.registry_view import Contract, Employment, Worker
from shared.rules import DomainError, RuleViolation, UnknownReference

# R-LOG-1 delivery kinds, by their Chinese names (as stations write them).
KINDS = ("个案", "小组", "社区活动", "探访", "帮扶救助", "需求调研", "督导培训", "转介", "资源链接", "政策宣传")
KIND_ALIASES = {
    "走访": "探访",
    "casework": "个案",
    "group_work": "小组",
    "community_activity": "社区活动",
    "visit": "探访",
    "assistance": "帮扶救助",
    "needs_survey": "需求调研",
    "supervision_training": "督导培训",
    "referral": "转介",
    "resource_linkage": "资源链接",
    "outreach": "政策宣传",
}
# R-LOG-5: casework and group-work records are confidential (个案、小组资料除外 in spot checks).
CONFIDENTIAL_KINDS = frozenset({"个案", "小组"})

# Indicator units counted in person-times or worker-hours; any other unit counts deliveries (R-LOG-8).
PERSON_TIME_UNITS = frozenset({"人次", "person-times", "person_times"})
HOUR_UNITS = frozenset({"小时", "工时", "h", "hours"})

# R-LOG-2 service areas (服务领域).
SERVICE_AREAS = ("社会救助", "养老服务", "儿童关爱保护", "社区治理", "社会事务", "基层社工人才培养", "乡村振兴", "基层司法")
AREA_ALIASES = {"为老": "养老服务", "为老服务": "养老服务", "儿童关爱": "儿童关爱保护", "留守儿童": "儿童关爱保护", "困境儿童": "儿童关爱保护"}


def canonical_kind(value: str) -> str:
    value = value.strip()
    return KIND_ALIASES.get(value, value)


def canonical_area(value: str) -> str:
    value = value.strip()
    return AREA_ALIASES.get(value, value)


@dataclass(frozen=True)
class DeliveryFacts:
    """What a delivery says happened. ``hours_direct``/``hours_other`` are each named worker's hours."""

    contract_id: str
    station_id: str
    worker_ids: tuple[str, ...]
    kind: str
    area: str
    date: date
    hours_direct: Decimal
    hours_other: Decimal
    person_times: int
    indicator_code: str | None = None
    beneficiary_refs: tuple[str, ...] = ()
    content: str | None = None
    # Content that cites beneficiaries, as the application sealed it for them (R-LOG-5, R-AUD-2):
    # opaque here; ``content`` is then None. Only the application can open it, while the cited
    # persons' keys exist.
    content_sealed: str | None = None
    # How much of its indicator's unit the delivery completes, when it says so (R-LOG-8): an
    # indicator counted by deliveries (场, 期, 次 …) then counts this instead of one.
    indicator_quantity: int | None = None

    @property
    def hours(self) -> Decimal:
        return self.hours_direct + self.hours_other

    @property
    def month(self) -> str:
        return self.date.strftime("%Y-%m")

    def as_args(self) -> dict[str, Any]:
        """As event arguments (lists rather than tuples, so they read back equal)."""
        # Shallow: every field is a str, number, date or tuple of str (``asdict`` deep-copies).
        args = {f.name: getattr(self, f.name) for f in FIELDS}
        args["worker_ids"], args["beneficiary_refs"] = list(self.worker_ids), list(self.beneficiary_refs)
        return args

    def changed(self, **changes: Any) -> DeliveryFacts:
        return replace(self, **changes)

    def fingerprint(self) -> str:
        """Identifies the row's content: the same delivery uploaded twice gets the same id."""
        canonical = {
            **self.as_args(),
            "worker_ids": sorted(self.worker_ids),
            "beneficiary_refs": sorted(self.beneficiary_refs),
            "date": self.date.isoformat(),
            "hours_direct": str(self.hours_direct.normalize()),
            "hours_other": str(self.hours_other.normalize()),
        }
        for later in ("content_sealed", "indicator_quantity"):  # not fields when fingerprints were first pinned
            if canonical[later] is None:
                del canonical[later]
        return hashlib.sha256(_FINGERPRINT_JSON(canonical).encode()).hexdigest()


FIELDS = fields(DeliveryFacts)
# ``json.dumps(…, sort_keys=True, ensure_ascii=False)`` to the byte, without building an encoder per
# call (a bulk import fingerprints every row).
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


def delivery_problems(
    facts: DeliveryFacts,
    contract: Contract,
    workers: Mapping[str, Worker | None],
    booked_hours: Callable[[str, date], Decimal],
    today: date,
    employment: Callable[[Worker, date], Employment | None] | None = None,
) -> list[DomainError]:
    """Every rule the delivery breaks, each naming its field; empty when it may be recorded.

    ``booked_hours(worker_id, day)`` is what the worker already logged that day (not counting
    this delivery), for the daily cap of R-LOG-4. ``employment(worker, day)``: the worker's
    employment that day (default ``worker.employment_on(day)``; a bulk import looks each worker's
    day up once per file).
    """
    problems: list[DomainError] = []
    if facts.kind not in KINDS:
        problems.append(RuleViolation(f"kind {facts.kind!r} is not one of {KINDS}", rule="R-LOG-1", field="kind",
                                      facts={"code": "kind_unknown", "kind": facts.kind}))
    if facts.area not in SERVICE_AREAS:
        problems.append(RuleViolation(f"area {facts.area!r} is not a service area of R-LOG-2", rule="R-LOG-2", field="area",
                                      facts={"code": "area_unknown", "area": facts.area}))
    elif facts.area not in contract.areas_on(facts.date):
        problems.append(
            RuleViolation(
                f"{facts.area} is outside the contract's service areas on {facts.date} "
                f"({'、'.join(contract.areas_on(facts.date))}); it needs an approved scope change",
                rule="R-REG-6",
                field="area",
                facts={"code": "area_out_of_scope", "area": facts.area, "date": facts.date.isoformat(),
                       "areas": list(contract.areas_on(facts.date))},
            )
        )
    if not contract.covers(facts.date):
        ended = f", terminated on {contract.ended_on}" if contract.last_day < contract.period_end else ""
        problems.append(
            RuleViolation(
                f"{facts.date} is outside the contract year {contract.period_start} – {contract.period_end}{ended}",
                rule="R-LOG-3",
                field="date",
                facts={"code": "date_outside_year", "date": facts.date.isoformat(), "period_start": contract.period_start.isoformat(),
                       "period_end": contract.period_end.isoformat(), "ended_on": contract.ended_on.isoformat() if ended else None},
            )
        )
    elif facts.date > today:
        problems.append(RuleViolation(f"{facts.date} is in the future: log a delivery once it happened", rule="R-LOG-3", field="date",
                                      facts={"code": "date_future", "date": facts.date.isoformat()}))
    if facts.station_id not in contract.station_ids:
        problems.append(RuleViolation("the station is not a station of the contract", rule="R-LOG-3", field="station_id",
                                      facts={"code": "station_not_in_contract", "station_id": facts.station_id}))
    problems += _worker_problems(facts, contract, workers, employment or Worker.employment_on)
    if facts.hours <= 0:
        problems.append(RuleViolation("a delivery is counted in hours: give its direct or other hours", rule="R-LOG-3", field="hours_direct",
                                      facts={"code": "no_hours"}))
    cap = contract.max_daily_hours
    for i, worker_id in enumerate(facts.worker_ids):
        already = booked_hours(worker_id, facts.date)
        if workers.get(worker_id) is not None and already + facts.hours > cap:
            problems.append(
                RuleViolation(
                    f"worker {worker_id} would log {already + facts.hours} h on {facts.date} "
                    f"({already} h already); the daily cap is {cap} h",
                    rule="R-LOG-4",
                    field=f"worker_ids.{i}",
                    facts={"code": "daily_cap", "worker_id": worker_id, "date": facts.date.isoformat(),
                           "hours": str(already + facts.hours), "already": str(already), "cap": str(cap)},
                )
            )
    if facts.indicator_code is not None and contract.indicator(facts.indicator_code) is None:
        problems.append(RuleViolation(f"the contract has no indicator {facts.indicator_code!r}", rule="R-LOG-8", field="indicator_code",
                                      facts={"code": "indicator_unknown", "indicator_code": facts.indicator_code}))
    elif facts.indicator_quantity is not None:
        problems += _quantity_problems(facts, contract)
    return problems


def _quantity_problems(facts: DeliveryFacts, contract: Contract) -> list[DomainError]:
    """R-LOG-8: a stated quantity belongs to an indicator counted by deliveries (场, 期, 次 …)."""
    if facts.indicator_code is None:
        return [RuleViolation("a stated quantity (指标完成量) needs the indicator it counts towards", rule="R-LOG-8",
                              field="indicator_quantity", facts={"code": "quantity_needs_indicator"})]
    if facts.indicator_quantity < 0:
        return [RuleViolation("a stated quantity cannot be negative", rule="R-LOG-8", field="indicator_quantity",
                              facts={"code": "quantity_negative"})]
    indicator = contract.indicator(facts.indicator_code)
    unit = "" if indicator is None else indicator.unit_or_blank
    if unit in PERSON_TIME_UNITS or unit in HOUR_UNITS:
        return [RuleViolation(
            f"indicator {facts.indicator_code} counts in {unit}: it adds the delivery's {unit} (人次/工时), not a stated quantity",
            rule="R-LOG-8", field="indicator_quantity",
            facts={"code": "quantity_not_stated", "indicator_code": facts.indicator_code, "unit": unit},
        )]
    return []


def _worker_problems(
    facts: DeliveryFacts, contract: Contract, workers: Mapping[str, Worker | None],
    employment: Callable[[Worker, date], Employment | None],
) -> list[DomainError]:
    """R-LOG-3 and R-REG-8: employed by the contracted provider, at that station, on that date."""
    if not facts.worker_ids:
        return [RuleViolation("a delivery names the workers who delivered it", rule="R-LOG-3", field="worker_ids",
                              facts={"code": "no_workers"})]
    if len(set(facts.worker_ids)) != len(facts.worker_ids):
        return [RuleViolation("a worker is named twice", rule="R-LOG-3", field="worker_ids", facts={"code": "worker_twice"})]
    problems: list[DomainError] = []
    for i, worker_id in enumerate(facts.worker_ids):
        field = f"worker_ids.{i}"
        worker = workers.get(worker_id)
        if worker is None:
            problems.append(
                UnknownReference(f"unknown worker (服务社工) {worker_id} in county {contract.county}", rule="R-LOG-3", field=field,
                                 facts={"code": "worker_unknown", "worker_id": worker_id})
            )
            continue
        job = employment(worker, facts.date)
        if job is not None and job.provider_id != contract.provider_id:
            problems.append(
                RuleViolation(
                    f"worker {worker_id} is employed by another provider on {facts.date}: no subcontracting",
                    rule="R-REG-8",
                    field=field,
                    facts={"code": "worker_other_provider", "worker_id": worker_id, "date": facts.date.isoformat()},
                )
            )
        elif job is None or job.station_id != facts.station_id:
            problems.append(
                RuleViolation(
                    f"worker {worker_id} is not employed at this station on {facts.date}",
                    rule="R-LOG-3",
                    field=field,
                    facts={"code": "worker_not_at_station", "worker_id": worker_id, "date": facts.date.isoformat(),
                           "station_id": facts.station_id},
                )
            )
    return problems


class DeliveryStatus(StrEnum):
    RECORDED = "recorded"
    CORRECTED = "corrected"  # corrected at least once (R-LOG-6)
    VOIDED = "voided"  # no longer counts; its history stays


@dataclass(frozen=True)
class DeliveryChange:
    """One correction or voiding of a delivery and its reason (R-LOG-6)."""

    change: DeliveryStatus  # CORRECTED or VOIDED
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change.value, "reason": self.reason}


class ServiceDelivery(Aggregate):
    """One logged service (服务记录). Never edited: corrected or voided by new events (R-LOG-6)."""

    @staticmethod
    def create_id(delivery_id: str, **_: Any) -> uuid.UUID:
        return uuid.UUID(delivery_id)

    @event("Logged")
    def __init__(
        self,
        delivery_id: str,
        county: str,
        contract_id: str,
        station_id: str,
        worker_ids: list[str],
        kind: str,
        area: str,
        date: date,
        hours_direct: Decimal,
        hours_other: Decimal,
        person_times: int,
        indicator_code: str | None,
        beneficiary_refs: list[str],
        content: str | None,
        source: str,
        content_sealed: str | None = None,
        indicator_quantity: int | None = None,
    ) -> None:
        self.county = county
        self.source = source  # "api" or "import:<file name>:<line>"
        self.status = DeliveryStatus.RECORDED
        self.history: tuple[DeliveryChange, ...] = ()
        self._apply(
            contract_id, station_id, worker_ids, kind, area, date, hours_direct, hours_other, person_times,
            indicator_code, beneficiary_refs, content, content_sealed, indicator_quantity,
        )

    def _apply(
        self, contract_id: str, station_id: str, worker_ids: list[str], kind: str, area: str, date: date,
        hours_direct: Decimal, hours_other: Decimal, person_times: int, indicator_code: str | None,
        beneficiary_refs: list[str], content: str | None, content_sealed: str | None, indicator_quantity: int | None = None,
    ) -> None:
        self.facts = DeliveryFacts(
            contract_id=contract_id,
            station_id=station_id,
            worker_ids=tuple(worker_ids),
            kind=kind,
            area=area,
            date=date,
            hours_direct=hours_direct,
            hours_other=hours_other,
            person_times=person_times,
            indicator_code=indicator_code,
            beneficiary_refs=tuple(beneficiary_refs),
            content=content,
            content_sealed=content_sealed,
            indicator_quantity=indicator_quantity,
        )

    def check_correctable(self, reason: str) -> None:
        if self.status == DeliveryStatus.VOIDED:
            raise RuleViolation("a voided delivery cannot be corrected or voided again", rule="R-LOG-6", field="delivery_id",
                                facts={"code": "already_voided"})
        if not reason.strip():
            raise RuleViolation("a correction or voiding gives its reason", rule="R-LOG-6", field="reason",
                                facts={"code": "reason_missing"})

    def correct(self, facts: DeliveryFacts, reason: str) -> None:
        self.check_correctable(reason)
        if facts == self.facts:
            raise RuleViolation("the correction changes nothing", rule="R-LOG-6", field="reason", facts={"code": "no_change"})
        if facts.contract_id != self.facts.contract_id:
            raise RuleViolation("a delivery stays with its contract; void it and log it again", rule="R-LOG-6", field="contract_id",
                                facts={"code": "contract_change"})
        self._corrected(**facts.as_args(), reason=reason)

    # The event carries every corrected value, so that it reads on its own (and maps to DeliveryCorrected).
    @event("Corrected")
    def _corrected(
        self, contract_id: str, station_id: str, worker_ids: list[str], kind: str, area: str, date: date,
        hours_direct: Decimal, hours_other: Decimal, person_times: int, indicator_code: str | None,
        beneficiary_refs: list[str], content: str | None, reason: str, content_sealed: str | None = None,
        indicator_quantity: int | None = None,
    ) -> None:
        self._apply(
            contract_id, station_id, worker_ids, kind, area, date, hours_direct, hours_other, person_times,
            indicator_code, beneficiary_refs, content, content_sealed, indicator_quantity,
        )
        self.status = DeliveryStatus.CORRECTED
        self.history = (*self.history, DeliveryChange(DeliveryStatus.CORRECTED, reason))

    def void(self, reason: str) -> None:
        self.check_correctable(reason)
        self._voided(contract_id=self.facts.contract_id, reason=reason)

    @event("Voided")
    def _voided(self, contract_id: str, reason: str) -> None:
        self.status = DeliveryStatus.VOIDED
        self.history = (*self.history, DeliveryChange(DeliveryStatus.VOIDED, reason))

    @property
    def counts(self) -> bool:
        return self.status != DeliveryStatus.VOIDED
