"""Lookups over this service's records and read models, county-checked: another county's id is
"not found" (404 when it came from the path, a 422 naming the field when it came from a body)."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from evaluation.domainmodel import (
    PROVINCE,
    ContractOutcomes,
    ContractView,
    CountyDirectory,
    Evaluation,
    EvaluatorOrg,
    ProviderView,
    Rubric,
    rubric_id,
)
from evaluation.domainmodel.rubric import RubricVersion
from shared.calendars import OFFICIAL_CALENDARS_ID, OfficialCalendars
from shared.infra.store import SwpApplication
from shared.rules import NotFound, UnknownReference
from shared.workdays import WorkdayCalendar


class EvaluationApplication(SwpApplication):
    """The evaluation service's store (repository, recorder, outbox) and its read-only lookups."""

    service = "evaluation"
    name = "evaluation"

    def _find(self, aggregate_id: uuid.UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    @property
    def calendar(self) -> WorkdayCalendar:
        """The official working days (R-FIN-6): chinesecalendar plus every year finance loaded
        (``CalendarLoaded``, kept here as :class:`OfficialCalendars`), as of a pinned read's instant."""
        book = self._find(OFFICIAL_CALENDARS_ID)
        return book.workdays() if isinstance(book, OfficialCalendars) else WorkdayCalendar()

    def rubric(self, rid: str) -> Rubric:
        try:
            found = self._find(uuid.UUID(str(rid)))
        except ValueError:
            found = None
        if not isinstance(found, Rubric):
            raise NotFound(f"unknown rubric {rid}", facts={"code": "unknown_reference", "kind": "rubric"})
        return found

    def rubric_in_force(self, county: str) -> Rubric | None:
        """The county's own rubric if it published one, else the province's."""
        for scope in (county, PROVINCE):
            rubric: Rubric | None = self._find(rubric_id(scope))
            if rubric is not None and rubric.current_version:
                return rubric
        return None

    def pinned(self, evaluation: Evaluation) -> RubricVersion:
        """The rubric version the evaluation was bound to when scheduled (never a later one)."""
        return self.rubric(evaluation.rubric_id).version_content(evaluation.rubric_version)

    def _in_county(self, county: str, aggregate_id: uuid.UUID | None, kind: type, label: str, ref: str, field: str | None) -> Any:
        found = self._find(aggregate_id) if aggregate_id is not None else None
        if not isinstance(found, kind) or found.county != county:
            error = NotFound if field is None else UnknownReference
            raise error(f"unknown {label} {ref} in county {county}", field=field, facts={"code": "unknown_reference", "kind": label})
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
