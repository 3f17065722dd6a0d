"""Evaluation's county lists as a projection in its own store (issue #16 item 2): the county's
evaluations in scheduling order, also by provider, by evaluator organisation and by contract.
See :mod:`shared.infra.listing` and :mod:`shared.infra.paging`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from evaluation.domainmodel import Evaluation
from shared.infra.listing import ListIndex, index_for, loader
from shared.infra.paging import Page, keyset_page


def _evaluation(e: Any) -> list[tuple[str, str, str, str | None]]:
    oid = str(e.originator_id)
    return [
        ("evaluations", e.county, oid, e.provider_id),
        ("evaluations-by-org", e.county, oid, e.evaluator_org),
        ("evaluations-by-contract", e.county, oid, e.contract_id),
    ]


SPEC = {get_topic(Evaluation.Scheduled): _evaluation}


def index(store: Any) -> ListIndex:
    return index_for(store, SPEC)


def evaluations(
    store: Any, county: str, limit: int, after: int | None, *,
    provider_id: str | None = None, evaluator_org: str | None = None, contract_id: str | None = None,
    keep: Callable[[Evaluation], bool] | None = None,
) -> Page[Evaluation]:
    """Narrowed by an index where one applies (contract, organisation, provider), the rest filtered."""
    if contract_id is not None:
        name, owner = "evaluations-by-contract", contract_id
    elif evaluator_org is not None:
        name, owner = "evaluations-by-org", evaluator_org
    else:
        name, owner = "evaluations", provider_id

    def wanted(e: Evaluation) -> bool:
        return (
            (provider_id is None or e.provider_id == provider_id)
            and (evaluator_org is None or e.evaluator_org == evaluator_org)
            and (keep is None or keep(e))
        )

    extra = (provider_id is not None and name != "evaluations") or (evaluator_org is not None and name == "evaluations-by-contract")
    return keyset_page(
        index(store).fetcher(name, county, owner), loader(store, Evaluation), limit, after,
        wanted if extra or keep is not None else None,
    )
