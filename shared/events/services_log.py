"""Events published by the services-log service (deliveries, reports, indicator progress)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from shared.events import IntegrationEvent, integration_event

SERVICE = "services-log"


@integration_event(SERVICE)
class ServiceDelivered(IntegrationEvent):
    """A service delivery was logged (R-LOG-1 … R-LOG-3). Beneficiaries appear only as pseudonymous ids."""

    delivery_id: str
    county: str
    contract_id: str
    station_id: str
    worker_ids: list[str]
    kind: str
    area: str
    date: date
    hours_direct: Decimal  # each named worker's hours
    hours_other: Decimal
    person_times: int
    indicator_code: str | None = None


@integration_event(SERVICE)
class DeliveryCorrected(IntegrationEvent):
    """A delivery was corrected by a new event with a reason (R-LOG-6); fields are the corrected values."""

    delivery_id: str
    county: str
    contract_id: str
    station_id: str
    worker_ids: list[str]
    kind: str
    area: str
    date: date
    hours_direct: Decimal
    hours_other: Decimal
    person_times: int
    indicator_code: str | None = None
    reason: str


@integration_event(SERVICE)
class DeliveryVoided(IntegrationEvent):
    """A delivery no longer counts (R-LOG-6)."""

    delivery_id: str
    county: str
    contract_id: str
    reason: str


@integration_event(SERVICE)
class ReportSubmitted(IntegrationEvent):
    """A provider report (R-LOG-7): monthly_brief, needs_survey, midterm, final or self_evaluation."""

    report_id: str
    county: str
    contract_id: str
    kind: str
    period: str | None = None  # YYYY-MM for monthly briefs
    submitted_on: date


@integration_event(SERVICE)
class ScopeComplaintFiled(IntegrationEvent):
    """The provider complains of out-of-contract tasks imposed by a township (行政化, R-LOG-7, R-REG-6)."""

    complaint_id: str
    county: str
    contract_id: str
    station_id: str | None = None
    township: str
    filed_on: date
    description: str


class IndicatorStatus(BaseModel):
    code: str
    target: int
    actual: int
    planned_to_date: int | None = None


@integration_event(SERVICE)
class IndicatorProgressed(IntegrationEvent):
    """A contract's progress after a change (R-LOG-8): consumers need not recompute from deliveries."""

    contract_id: str
    county: str
    as_of: date
    indicators: list[IndicatorStatus]
    # Worker-hours: a delivery's hours count once per named worker (R-LOG-4's professional hours).
    hours_direct: Decimal
    hours_other: Decimal
    person_times: int
    deliveries: int
    # Codes of the indicators whose actual is below the plan (or the target) pro-rated to as_of.
    off_track: list[str] | None = None
