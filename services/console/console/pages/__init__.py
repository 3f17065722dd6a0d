"""The one place role pages are registered: add a module's ``PAGES`` to ``REGISTERED``."""

from __future__ import annotations

from console.pages import provider, purchaser
from console.roles import RolePages

REGISTERED: list[RolePages] = [
    purchaser.PAGES,
    provider.PAGES,
]


def pages_for(role: str) -> RolePages | None:
    for pages in REGISTERED:
        if role in pages.roles:
            return pages
    return None
