"""What this service keeps of other services' facts, fed only by their events:
contracts and providers from registry, outcome figures from services-log.
Plus the county directory that lists this service's own records per county."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

NS = uuid.UUID("9b4f2d71-6c3e-5a80-b1d2-4e5f6a7b8c9d")


@dataclass(frozen=True)
class Indicator:
    """An outcome indicator of the contract and its target for the service year."""

    code: str
    name: str
    unit: str
    target: int

    @classmethod
    def of(cls, i: Mapping[str, Any]) -> Indicator:
        return cls(i["code"], i.get("name", ""), i.get("unit", ""), int(i["target"]))


@dataclass(frozen=True)
class IndicatorFigure:
    """An indicator as services-log last reported it (R-LOG-8)."""

    code: str
    target: int
    actual: int

    @classmethod
    def of(cls, i: Mapping[str, Any]) -> IndicatorFigure:
        return cls(i["code"], int(i["target"]), int(i["actual"]))


@dataclass(frozen=True)
class ListedEvaluation:
    evaluation_id: str
    contract_id: str
    stage: str


class ContractView(Aggregate):
    """A signed contract as far as evaluation needs it: provider, stations, service year, indicators."""

    @staticmethod
    def create_id(contract_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"contract:{contract_id}")

    @event("Received")
    def __init__(
        self,
        contract_id: str,
        county: str,
        provider_id: str,
        station_ids: list[str],
        period_start: date,
        period_end: date,
        indicators: list[dict[str, Any]],
        year_index: int,
    ) -> None:
        self.contract_id = contract_id
        self.county = county
        self.provider_id = provider_id
        self.station_ids: tuple[str, ...] = tuple(station_ids)
        self.period_start = period_start
        self.period_end = period_end
        self.indicators: tuple[Indicator, ...] = tuple(Indicator.of(i) for i in indicators)
        self.year_index = year_index
        self.terminated_on: date | None = None

    @event("Terminated")
    def terminate(self, terminated_on: date) -> None:
        self.terminated_on = terminated_on


class ProviderView(Aggregate):
    """A provider's public identity (an organisation: its name is not personal data)."""

    @staticmethod
    def create_id(provider_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"provider:{provider_id}")

    @event("Received")
    def __init__(self, provider_id: str, county: str, name: str) -> None:
        self.provider_id = provider_id
        self.county = county
        self.name = name


class ContractOutcomes(Aggregate):
    """The latest outcome figures services-log reported for a contract (R-LOG-8): they are
    read from its ``IndicatorProgressed`` events, never typed in by an evaluator."""

    @staticmethod
    def create_id(contract_id: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"outcomes:{contract_id}")

    @event("Started")
    def __init__(self, contract_id: str, county: str) -> None:
        self.contract_id = contract_id
        self.county = county
        self.as_of: date | None = None
        self.indicators: tuple[IndicatorFigure, ...] = ()
        self.hours_direct = Decimal(0)
        self.hours_other = Decimal(0)
        self.person_times = 0
        self.deliveries = 0

    @event("Progressed")
    def progress(
        self,
        as_of: date,
        indicators: list[dict[str, Any]],
        hours_direct: Decimal,
        hours_other: Decimal,
        person_times: int,
        deliveries: int,
    ) -> None:
        self.as_of = as_of
        self.indicators = tuple(IndicatorFigure.of(i) for i in indicators)
        self.hours_direct = hours_direct
        self.hours_other = hours_other
        self.person_times = person_times
        self.deliveries = deliveries

    def figures(self, contract_indicators: Sequence[Indicator]) -> dict[str, Any]:
        """The figures an evaluation uses (as recorded in a conclusion's breakdown): every indicator
        of the contract (actual 0 until reported)."""
        reported = {i.code: i.actual for i in self.indicators}
        indicators = [
            {"code": i.code, "target": i.target, "actual": reported.get(i.code, 0)} for i in contract_indicators
        ]
        return {
            "as_of": self.as_of,
            "indicators": indicators,
            "hours_direct": self.hours_direct,
            "hours_other": self.hours_other,
            "person_times": self.person_times,
            "deliveries": self.deliveries,
        }


class CountyDirectory(Aggregate):
    """The county's evaluator organisations and evaluations, in the order they were recorded,
    so per-county lists are rebuilt from this service's own events (R-AUD-3)."""

    @staticmethod
    def create_id(county: str) -> uuid.UUID:
        return uuid.uuid5(NS, f"directory:{county}")

    @event("Opened")
    def __init__(self, county: str) -> None:
        self.county = county
        self.evaluator_orgs: tuple[str, ...] = ()
        self.evaluations: tuple[ListedEvaluation, ...] = ()

    @event("EvaluatorListed")
    def list_evaluator(self, evaluator_org: str) -> None:
        self.evaluator_orgs = (*self.evaluator_orgs, evaluator_org)

    @event("EvaluationListed")
    def list_evaluation(self, evaluation_id: str, contract_id: str, stage: str) -> None:
        self.evaluations = (*self.evaluations, ListedEvaluation(evaluation_id, contract_id, stage))

    def evaluations_of(self, contract_id: str) -> list[ListedEvaluation]:
        return [e for e in self.evaluations if e.contract_id == contract_id]
