"""Lookups over this service's records and read models, county-checked: another county's id is
"not found" (404 when it came from the path, a 422 naming the field when it came from a body)."""

from __future__ import annotations

import uuid
from typing import Any

from evaluation.domainmodel import (
    ContractOutcomes,
    ContractView,
    CountyDirectory,
    Evaluation,
    EvaluatorOrg,
    ProviderView,
)
from evaluation.feed import UpstreamFeed
from shared.rules import NotFound, UnknownReference


class Lookups(UpstreamFeed):
    def _in_county(self, county: str, aggregate_id: uuid.UUID | None, kind: type, label: str, ref: str, field: str | None) -> Any:
        found = self._find(aggregate_id) if aggregate_id is not None else None
        if not isinstance(found, kind) or found.county != county:
            error = NotFound if field is None else UnknownReference
            raise error(f"unknown {label} {ref} in county {county}", field=field)
        return found

    @staticmethod
    def _uuid(ref: str) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(ref))
        except ValueError:
            return None

    def contract(self, county: str, contract_id: str, field: str | None = None) -> ContractView:
        return self._in_county(county, ContractView.create_id(str(contract_id)), ContractView, "contract", contract_id, field)

    def provider(self, county: str, provider_id: str, field: str | None = None) -> ProviderView:
        return self._in_county(county, ProviderView.create_id(str(provider_id)), ProviderView, "provider", provider_id, field)

    def evaluator(self, county: str, org_id: str, field: str | None = None) -> EvaluatorOrg:
        return self._in_county(county, self._uuid(org_id), EvaluatorOrg, "evaluator organisation", org_id, field)

    def evaluation(self, county: str, evaluation_id: str) -> Evaluation:
        return self._in_county(county, self._uuid(evaluation_id), Evaluation, "evaluation", evaluation_id, None)

    def directory(self, county: str) -> CountyDirectory:
        found: CountyDirectory | None = self._find(CountyDirectory.create_id(county))
        return found or CountyDirectory(county=county)

    def outcome_figures(self, county: str, contract_id: str) -> dict[str, Any]:
        contract = self.contract(county, contract_id)
        outcomes: ContractOutcomes | None = self._find(ContractOutcomes.create_id(contract_id))
        return (outcomes or ContractOutcomes(contract_id=contract_id, county=county)).figures(contract.indicators)

    def known_provider(self, provider_id: str) -> ProviderView | None:
        return self._find(ProviderView.create_id(provider_id))
