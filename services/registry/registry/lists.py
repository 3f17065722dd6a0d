"""The registry's county lists as a projection in its own store (issue #16 item 2): providers,
stations, workers and contracts of each county, and the registered counties, in the order they
were recorded. See :mod:`shared.infra.listing` (tracked, rebuilt from the log, as of an instant)
and :mod:`shared.infra.paging` (cursors, limits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.utils import get_topic

from registry.domainmodel import Contract, County, Provider, Station, Worker
from shared.infra.listing import ListIndex, index_for, loader
from shared.infra.paging import Page, keyset_page

SPEC = {
    get_topic(County.Registered): lambda e: [("counties", e.code, str(e.originator_id), None)],
    get_topic(Provider.Registered): lambda e: [("providers", e.county, str(e.originator_id), str(e.originator_id))],
    get_topic(Station.Established): lambda e: [("stations", e.county, str(e.originator_id), None)],
    get_topic(Worker.Hired): lambda e: [("workers", e.county, str(e.originator_id), e.provider_id)],
    get_topic(Contract.Signed): lambda e: [("contracts", e.county, str(e.originator_id), e.provider_id)],
}


def index(store: Any) -> ListIndex:
    return index_for(store, SPEC)


def page(
    store: Any, name: str, county: str | None, limit: int, after: int | None, *, kind: type,
    owner: str | None = None, keep: Callable[[Any], bool] | None = None,
) -> Page[Any]:
    """One page of a list (``county=None``: across counties)."""
    return keyset_page(index(store).fetcher(name, county, owner), loader(store, kind), limit, after, keep)
