"""Finance's county lists, read page by page along its list projection (``finance.projections``,
issue #16 item 2): the overdue tranches along the contracts finance keeps a tranche schedule for,
in the order they reached finance, the findings along the contracts with findings. See
:mod:`shared.infra.listing` and :mod:`shared.infra.paging`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finance.domainmodel import SCHEDULED, TrancheSchedule
from finance.projections import index
from finance.queries import FinanceQueries
from shared.infra.listing import loader
from shared.infra.paging import Page, keyset_page


def schedules(
    store: Any, county: str, limit: int, after: int | None, keep: Callable[[TrancheSchedule], bool] | None = None,
    name: str = "schedules",
) -> Page[TrancheSchedule]:
    """``name``: ``schedules`` (every contract finance keeps, in the order it received them) or
    ``findings`` (the contracts with a finding, in the order of their first)."""
    return keyset_page(index(store).fetcher(name, county), loader(store, TrancheSchedule), limit, after, keep)


def overdue_rows(s: TrancheSchedule, as_of: Any, calendar: Any) -> list[dict[str, Any]]:
    """The schedule's tranches scheduled but not paid by their due date (R-FIN-9), by seq."""
    return [
        FinanceQueries.overdue_row(s, t, as_of, calendar)
        for t in s.tranches
        if t.status == SCHEDULED and t.due_on is not None and t.due_on < as_of
    ]


def finding_rows(queries: FinanceQueries, s: TrancheSchedule, status: str | None) -> list[dict[str, Any]]:
    """The contract's funding findings (R-FIN-2/3) and, open ones only, its expense findings (R-FIN-4/8)."""
    return queries.finding_rows(s, status)
