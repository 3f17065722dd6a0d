"""The one place role pages are registered: add a module's ``PAGES`` to ``REGISTERED``."""

from __future__ import annotations

from console.pages import auditor, evaluator, finance, provider, province, purchaser, purchaser_evaluations, worker
from console.roles import RolePages

REGISTERED: list[RolePages] = [
    purchaser.PAGES,
    purchaser_evaluations.PAGES,  # more purchaser pages (no navigation of its own)
    provider.PAGES,
    worker.PAGES,  # a social worker's own account: the provider's delivery pages, for itself
    evaluator.PAGES,
    finance.PAGES,
    auditor.PAGES,
    province.PAGES,
]


def pages_for(role: str) -> RolePages | None:
    for pages in REGISTERED:
        if role in pages.roles:
            return pages
    return None
