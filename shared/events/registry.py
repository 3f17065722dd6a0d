"""Events published by the registry service (providers, stations, workers, contracts)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel

from shared.events import IntegrationEvent, integration_event

SERVICE = "registry"


class FundingShare(BaseModel):
    source: str
    amount_fen: int


class IndicatorTarget(BaseModel):
    code: str
    name: str
    unit: str
    target: int
    monthly_plan: dict[str, int] = {}


class TranchePlanItem(BaseModel):
    seq: int
    percent: int
    trigger: str
    due_working_days: int = 15


@integration_event(SERVICE)
class CountyRegistered(IntegrationEvent):
    """A county (tenant) was registered with its policy parameters."""

    county: str
    name: str
    policy: dict[str, Any]
    policy_version: int


@integration_event(SERVICE)
class CountyPolicyChanged(IntegrationEvent):
    """A county changed its policy parameters; contracts keep the version they were signed under."""

    county: str
    policy: dict[str, Any]
    policy_version: int


@integration_event(SERVICE)
class ProviderRegistered(IntegrationEvent):
    """A provider (承接主体) was registered."""

    provider_id: str
    county: str
    name: str
    uscc: str
    rating: str | None = None
    has_party_org: bool = False


@integration_event(SERVICE)
class StationEstablished(IntegrationEvent):
    """A station (社工站 / 家综 / 社会工作室) was established in a county."""

    station_id: str
    county: str
    name: str
    township: str
    kind: str


@integration_event(SERVICE)
class ContractSigned(IntegrationEvent):
    """A service contract (服务协议) was signed: everything downstream services need."""

    contract_id: str
    county: str
    provider_id: str
    station_ids: list[str]
    purchaser: str
    signed_on: date
    effective_on: date
    period_start: date
    period_end: date
    amount_fen: int
    funding: list[FundingShare]
    service_areas: list[str]
    indicators: list[IndicatorTarget]
    tranche_plan: list[TranchePlanItem]
    cycle_years: int
    year_index: int
    policy_version: int
    policy: dict[str, Any] = {}
    probation: bool = False
    previous_contract_id: str | None = None


@integration_event(SERVICE)
class ProviderBanned(IntegrationEvent):
    """A provider is banned from government purchase until ``until`` (R-EVAL-9, R-REG-1)."""

    provider_id: str
    county: str
    until: date
    reason: str
    evaluation_id: str | None = None


@integration_event(SERVICE)
class WorkerHired(IntegrationEvent):
    """A social worker was hired by a provider at a station (employment starts ``hired_on``)."""

    worker_id: str
    county: str
    provider_id: str
    station_id: str
    role: str
    qualification: str
    hired_on: date
    certificate_due_on: date | None = None


@integration_event(SERVICE)
class WorkerMoved(IntegrationEvent):
    """A worker moved to another station of the same provider from ``moved_on``."""

    worker_id: str
    county: str
    provider_id: str
    from_station_id: str
    to_station_id: str
    moved_on: date


@integration_event(SERVICE)
class WorkerQualified(IntegrationEvent):
    """A worker obtained a certificate level (全国社会工作者职业水平证书, R-REG-3)."""

    worker_id: str
    county: str
    qualification: str
    qualified_on: date


@integration_event(SERVICE)
class WorkerLeft(IntegrationEvent):
    """A worker left the provider; ``left_on`` is the last day employed."""

    worker_id: str
    county: str
    provider_id: str
    station_id: str
    left_on: date


@integration_event(SERVICE)
class ContractFilingOverdue(IntegrationEvent):
    """The contract was not filed (备案) by its due date (R-REG-5): flagged once, the day the
    registry noticed (a filing later is still accepted, and flagged late)."""

    contract_id: str
    county: str
    signed_on: date
    due_on: date
    detected_on: date


@integration_event(SERVICE)
class ContractFiled(IntegrationEvent):
    """The signed contract was filed (备案) with the city bureau (R-REG-5)."""

    contract_id: str
    county: str
    filed_on: date
    due_on: date
    late: bool


@integration_event(SERVICE)
class ContractScopeChanged(IntegrationEvent):
    """An approved scope change (R-REG-6): the contract's service areas from ``effective_on``."""

    contract_id: str
    county: str
    service_areas: list[str]
    effective_on: date
    approved_by: str
    reason: str


@integration_event(SERVICE)
class ContractRenewed(IntegrationEvent):
    """The next year of the cycle was signed (R-REG-7); the new year also emits ContractSigned."""

    contract_id: str
    county: str
    next_contract_id: str
    year_index: int


@integration_event(SERVICE)
class ContractTerminated(IntegrationEvent):
    """The contract ended early; remaining tranches are cancelled (R-EVAL-9, R-FIN-7)."""

    contract_id: str
    county: str
    terminated_on: date
    kind: str  # breach | serious_breach | fraud | agreement
    reason: str


@integration_event(SERVICE)
class ContractExpired(IntegrationEvent):
    """The contract's period ended."""

    contract_id: str
    county: str
    expired_on: date
