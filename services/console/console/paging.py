"""Server-side paging: the browser gets at most one page of any list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Page:
    items: list[Any]
    page: int  # 1-based
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def page_number(value: Any) -> int:
    try:
        return max(1, min(int(value), 10**6))
    except (TypeError, ValueError):
        return 1


def paginate(items: Sequence[Any], page: int, size: int) -> Page:
    """One page of a list the API returned whole (the API's own lists are not paged yet)."""
    page = page_number(page)
    total = len(items)
    last = max(1, -(-total // size))
    page = min(page, last)
    start = (page - 1) * size
    return Page(list(items[start : start + size]), page, size, total)


def api_page(body: dict[str, Any], page: int, size: int) -> Page:
    """A page the API paged itself (``{total, offset, items}``)."""
    return Page(list(body.get("items", [])), page, size, int(body.get("total", 0)))
