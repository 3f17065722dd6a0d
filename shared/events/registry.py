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
