"""The registry's county lists as a projection in its own store (issue #16 item 2): providers,
stations, workers and contracts of each county, and the registered counties, in the order they
were recorded. See :mod:`shared.infra.listing` (tracked, rebuilt from the log, as of an instant)
and :mod:`shared.infra.paging` (cursors, limits)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.utils import get_topic

from registry.domainmodel import Contract, County, Provider, Station, Worker
from shared.infra.listing import ListIndex
from shared.infra.paging import Page, keyset_page

T = TypeVar("T")

SPEC = {
    get_topic(County.Registered): lambda e: [("counties", e.code, str(e.originator_id), None)],
    get_topic(Provider.Registered): lambda e: [("providers", e.county, str(e.originator_id), str(e.originator_id))],
    get_topic(Station.Established): lambda e: [("stations", e.county, str(e.originator_id), None)],
    get_topic(Worker.Hired): lambda e: [("workers", e.county, str(e.originator_id), e.provider_id)],
    get_topic(Contract.Signed): lambda e: [("contracts", e.county, str(e.originator_id), e.provider_id)],
}

_lock = threading.Lock()


def index(store: Any) -> ListIndex:
    """The store's list projection (made on first use, in the store's own database)."""
    found = store.__dict__.get("_swp_lists")
    if found is None:
        with _lock:
            found = store.__dict__.get("_swp_lists")
            if found is None:
                found = store.__dict__["_swp_lists"] = ListIndex(store, SPEC)
    return found


def page(
    store: Any, name: str, county: str | None, limit: int, after: int | None,
    owner: str | None = None, keep: Callable[[Any], bool] | None = None, kind: type | None = None,
) -> Page[Any]:
    """One page of a list: the items as loaded by the store's repository (pinned reads: at their
    version of that instant; created later: left out)."""

    def load(item_id: str) -> Any:
        found = store.find(item_id)
        return found if kind is None or isinstance(found, kind) else None

    return keyset_page(index(store).fetcher(name, county, owner), load, limit, after, keep)
