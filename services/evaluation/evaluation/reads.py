"""The evaluation service's reads as typed queries, answered on the service's
:class:`~shared.infra.queries.QueryBus` (which checks the county against the caller's scope and
hands each handler the :class:`Viewer`).

Every read narrows by the viewer here, once, whatever route asks: a provider reads only the
evaluations of its own contracts, an evaluator only those assigned to its organisation (R-AUD-6,
R-EVAL-7) — in the county's list, one evaluation, and a contract's view, whose evaluations an
evaluator sees only as far as they are its organisation's (docs/ACCESS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from evaluation import lists
from evaluation.domainmodel import PROVINCE, Evaluation
from evaluation.lookups import EvaluationApplication
from evaluation.views import (
    contract_view,
    evaluation_summary,
    evaluation_view,
    evaluator_view,
    rubric_view,
)
from shared.clock import china_today
from shared.infra.auth import Role
from shared.infra.paging import Page
from shared.infra.queries import Query, QueryBus, Viewer
from shared.rules import Forbidden, NotFound


# --- the queries ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RubricInForce(Query):
    """The rubric version a new evaluation of the county would be bound to now (R-EVAL-2)."""

    county: str


@dataclass(frozen=True, kw_only=True)
class RubricVersion(Query):
    """One published version of a rubric — the province's, or a county's the caller may see."""

    county: None = None
    rubric_id: str
    version: int


@dataclass(frozen=True, kw_only=True)
class Evaluators(Query):
    county: str


@dataclass(frozen=True, kw_only=True)
class EvaluatorDetail(Query):
    county: str
    evaluator_org: str


@dataclass(frozen=True, kw_only=True)
class CountyEvaluations(Query):
    """A page of the county's evaluations (of one contract, if named), overdue steps as of ``as_of``."""

    county: str
    contract_id: str | None
    as_of: date | None
    limit: int
    after: int | None = None


@dataclass(frozen=True, kw_only=True)
class EvaluationDetail(Query):
    county: str
    evaluation_id: str
    as_of: date | None = None


@dataclass(frozen=True, kw_only=True)
class ContractEvaluations(Query):
    """A contract as evaluation sees it: year, stage windows, outcome figures, its evaluations."""

    county: str
    contract_id: str
    as_of: date | None = None


@dataclass(frozen=True)
class ListPage:
    """The page of evaluations (for its cursor) and the rows read from them."""

    page: Page[Evaluation]
    rows: list[dict[str, Any]]


def narrowing(viewer: Viewer) -> tuple[str | None, str | None]:
    """The provider and the evaluator organisation the viewer's answers are limited to (None:
    not limited by it). A provider's or evaluator's token without its claim reads nothing."""
    if viewer.role == Role.PROVIDER and not viewer.provider_id:
        raise Forbidden("a provider's token names its provider_id", rule="R-AUD-6", facts={"code": "token_without_provider"})
    if viewer.role == Role.EVALUATOR and not viewer.evaluator_org:
        raise Forbidden("an evaluator's token names its evaluator_org", rule="R-AUD-6", facts={"code": "token_without_evaluator"})
    return viewer.provider_id, viewer.evaluator_org


# --- the handlers --------------------------------------------------------------------------
class EvaluationReads:
    def __init__(self, store: EvaluationApplication) -> None:
        self.store = store

    def register(self, bus: QueryBus) -> None:
        bus.register(RubricInForce, self.rubric_in_force)
        bus.register(RubricVersion, self.rubric_version)
        bus.register(Evaluators, self.evaluators)
        bus.register(EvaluatorDetail, lambda q, _v: evaluator_view(self.store.evaluator(q.county, q.evaluator_org)))
        bus.register(CountyEvaluations, self.evaluations)
        bus.register(EvaluationDetail, self.evaluation)
        bus.register(ContractEvaluations, self.contract)

    # --- rubrics ---------------------------------------------------------------------------
    def rubric_in_force(self, q: RubricInForce, _viewer: Viewer) -> dict[str, Any]:
        rubric = self.store.rubric_in_force(q.county)
        if rubric is None:
            raise NotFound(f"no rubric is published for county {q.county} or the province", facts={"code": "no_rubric"})
        return rubric_view(rubric, rubric.current_version)

    def rubric_version(self, q: RubricVersion, viewer: Viewer) -> dict[str, Any]:
        """A county's rubric only to a caller granted that county; as unknown otherwise (404)."""
        rubric = self.store.rubric(q.rubric_id)
        if q.version > rubric.current_version or not (rubric.scope == PROVINCE or viewer.sees_county(rubric.scope)):
            raise NotFound(f"rubric {q.rubric_id} has no version {q.version}", facts={"code": "rubric_version_unknown", "version": q.version})
        return rubric_view(rubric, q.version)

    # --- evaluators ------------------------------------------------------------------------
    def evaluators(self, q: Evaluators, _viewer: Viewer) -> list[dict[str, Any]]:
        store = self.store
        return [evaluator_view(store.evaluator(q.county, o)) for o in store.directory(q.county).evaluator_orgs]

    # --- evaluations -----------------------------------------------------------------------
    def evaluations(self, q: CountyEvaluations, viewer: Viewer) -> ListPage:
        provider, org = narrowing(viewer)
        today, calendar = q.as_of or china_today(), self.store.calendar
        found = lists.evaluations(
            self.store, q.county, q.limit, q.after, provider_id=provider, evaluator_org=org, contract_id=q.contract_id
        )
        return ListPage(found, [evaluation_summary(e, today, calendar) for e in found.items])

    def evaluation(self, q: EvaluationDetail, viewer: Viewer) -> dict[str, Any]:
        found = self.store.evaluation(q.county, q.evaluation_id)
        provider, org = narrowing(viewer)
        if provider is not None and provider != found.provider_id:
            raise Forbidden("this is another provider's evaluation", rule="R-AUD-6", facts={"code": "other_providers_evaluation"})
        if org is not None and org != found.evaluator_org:
            raise Forbidden("this evaluation is assigned to another evaluator organisation", rule="R-AUD-6", facts={"code": "other_evaluator"})
        return evaluation_view(self.store, found, q.as_of or china_today())

    def contract(self, q: ContractEvaluations, viewer: Viewer) -> dict[str, Any]:
        """An evaluator sees the contract's evaluations assigned to its organisation only — never
        another organisation's evaluation of the same contract (its steps, status or result)."""
        view = contract_view(self.store, q.county, q.contract_id, q.as_of or china_today())
        provider, org = narrowing(viewer)
        if provider is not None and provider != view["provider_id"]:
            raise Forbidden("this is another provider's contract", rule="R-AUD-6", facts={"code": "other_providers_record"})
        view["evaluations"] = [
            e for e in view["evaluations"]
            if (provider is None or provider == e["provider_id"]) and (org is None or org == e["evaluator_org"])
        ]
        return view
