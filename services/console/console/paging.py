"""Server-side paging: the browser gets at most one page of any list, and so does the console.

The services' lists are paged by cursor (``shared/infra/paging.py``: ``limit``, ``cursor``, the
next page named in ``X-Next-Cursor``). A console list page asks the API for **one** page of
``SWP_CONSOLE_PAGE_SIZE`` items (:func:`read_page`) — never for the whole list — and shows
navigation 首页 / 上一页 / 下一页. A cursor only leads forward, so the page's query string carries
the chain of cursors that led to it (:class:`Position`):

- ``cursor`` — the API cursor of this page (absent: the first page);
- ``trail`` — the cursors of the earlier pages after the first, oldest first, joined by ``~``
  (not in a cursor's alphabet); 上一页 pops the last one, 下一页 pushes the current cursor;
- ``page`` — the page's number, shown as “第 n 页”.

The chain is bounded (:data:`MAX_TRAIL` cursors, the oldest dropped): deeper than that, 上一页
from the oldest page still kept leads to 首页. A cursor the API refuses (422 naming ``cursor``:
edited, or issued for other filters) sends the reader to the first page.

Dashboards count only the first page of a list (:class:`Count`: “20+” when there is a next page).
Pickers (select boxes) and name lookups read one API page of at most :data:`PICKER_MAX` items
(:func:`read_bounded`).

``paginate`` still pages lists that are small by nature and unpaged in the API (the auditor's
stitched timeline, capped at its own bound).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query

if TYPE_CHECKING:
    from console.api import Api

PICKER_MAX = 500  # a picker or a name lookup reads at most this many items: one API page (the API's own maximum limit)
MAX_TRAIL = 50  # cursors of earlier pages carried in a page's query string
TRAIL_SEP = "~"
MAX_CURSOR = 512  # the API's bound on a cursor's length
_CURSOR = re.compile(r"^[A-Za-z0-9_\-.]{1,512}$")  # base64url + "." + hex MAC: what the API issues


# ---------------------------------------------------------------- cursor paging


def _cursor_or_none(value: str | None) -> str | None:
    return value if value and _CURSOR.match(value) else None


@dataclass(frozen=True)
class Position:
    """Where a list page is: its API cursor, the cursors of the pages before it, its number."""

    cursor: str | None = None
    trail: tuple[str, ...] = ()
    number: int = 1

    @classmethod
    def parse(cls, cursor: str | None = None, trail: str | None = None, page: int | str | None = 1) -> Position:
        """From the query string; anything malformed falls back to the first page."""
        current = _cursor_or_none(cursor)
        if current is None:
            return cls()
        chain = tuple(c for c in (trail or "").split(TRAIL_SEP) if c)
        if any(_cursor_or_none(c) is None for c in chain):
            return cls()
        chain = chain[-MAX_TRAIL:]
        return cls(current, chain, max(page_number(page), len(chain) + 2))

    @property
    def first(self) -> bool:
        return self.cursor is None

    def query(self) -> dict[str, str]:
        if self.cursor is None:
            return {}
        q = {"cursor": self.cursor}
        if self.trail:
            q["trail"] = TRAIL_SEP.join(self.trail)
        q["page"] = str(self.number)
        return q

    def following(self, next_cursor: str) -> Position:
        trail = (*self.trail, self.cursor) if self.cursor else self.trail
        return Position(next_cursor, trail[-MAX_TRAIL:], self.number + 1)

    def preceding(self) -> Position | None:
        """The page before (None on the first page); the first page when the chain was cut."""
        if self.cursor is None:
            return None
        if not self.trail:
            return Position()
        return Position(self.trail[-1], self.trail[:-1], self.number - 1)


def position(
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
    trail: Annotated[str | None, Query(max_length=(MAX_CURSOR + 1) * MAX_TRAIL * 2)] = None,
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Position:
    """FastAPI dependency: the list page's :class:`Position` from its query string."""
    return Position.parse(cursor, trail, page)


At = Annotated[Position, Depends(position)]


def link(base: str, at: Position | None, **params: Any) -> str:
    """``base`` with the filters ``params`` (empty ones left out) and the position ``at``."""
    query = {k: str(v) for k, v in params.items() if v not in (None, "")}
    if at is not None:
        query.update(at.query())
    return f"{base}?{urlencode(query)}" if query else base


@dataclass
class CursorPage:
    """One page of a list as the API gave it, and where it is in the list."""

    items: list[Any]
    size: int
    at: Position = field(default_factory=Position)
    next_cursor: str | None = None

    @property
    def page(self) -> int:
        return self.at.number

    @property
    def has_prev(self) -> bool:
        return not self.at.first

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def count(self) -> Count:
        return Count(len(self.items), self.has_next)

    def links(self, base: str, **params: Any) -> dict[str, str | None]:
        """首页 / 上一页 / 下一页, keeping the filters ``params``; None where there is no such page."""
        before = self.at.preceding()
        return {
            "first": link(base, None, **params) if self.has_prev else None,
            "prev": link(base, before, **params) if before is not None else None,
            "next": link(base, self.at.following(self.next_cursor), **params) if self.next_cursor else None,
        }


@dataclass(frozen=True)
class Count:
    """What a dashboard shows for a list it read one page of: “20”, or “20+” when more follow."""

    n: int
    more: bool = False

    def __str__(self) -> str:
        return f"{self.n}+" if self.more else str(self.n)

    def __bool__(self) -> bool:
        return self.n > 0 or self.more

    def __add__(self, other: Count) -> Count:
        return Count(self.n + other.n, self.more or other.more)


async def read_page(api: Api, path: str, at: Position, size: int, **params: Any) -> CursorPage:
    """One page of ``size`` items of the API's list at ``path`` (filters ``params``) at ``at``.
    A cursor the API refuses (422 naming ``cursor``) reads the first page instead."""
    from console.api import ApiProblem

    try:
        items, next_cursor = await api.get_page(path, at.cursor, limit=size, **params)
    except ApiProblem as exc:
        if at.cursor is None or exc.status != 422 or exc.problem.get("field") != "cursor":
            raise
        at = Position()
        items, next_cursor = await api.get_page(path, None, limit=size, **params)
    return CursorPage(list(items), size, at, next_cursor)


async def read_first(api: Api, path: str, size: int, **params: Any) -> CursorPage:
    """The first page of a list (what a dashboard counts)."""
    return await read_page(api, path, Position(), size, **params)


async def read_bounded(api: Api, path: str, **params: Any) -> list[Any]:
    """A list for a picker or a name lookup: one API page of at most :data:`PICKER_MAX` items
    (the first ones in the list's order; a county has tens of providers and stations)."""
    items, _ = await api.get_page(path, None, limit=PICKER_MAX, **params)
    return list(items)


# ---------------------------------------------------------------- lists read whole (small, unpaged in the API)


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

    def links(self, base: str, **params: Any) -> dict[str, str | None]:
        def to(n: int) -> str:
            return link(base, None, **params, page=n if n > 1 else None)

        return {
            "first": to(1) if self.has_prev else None,
            "prev": to(self.page - 1) if self.has_prev else None,
            "next": to(self.page + 1) if self.has_next else None,
        }


def page_number(value: Any) -> int:
    try:
        return max(1, min(int(value), 10**6))
    except (TypeError, ValueError):
        return 1


def paginate(items: Sequence[Any], page: int, size: int) -> Page:
    """One page of a list read whole because the API does not page it and it is small by nature."""
    page = page_number(page)
    total = len(items)
    last = max(1, -(-total // size))
    page = min(page, last)
    start = (page - 1) * size
    return Page(list(items[start : start + size]), page, size, total)


def api_page(body: dict[str, Any], page: int, size: int) -> Page:
    """A page the API paged itself by offset (``{total, offset, items}``)."""
    return Page(list(body.get("items", [])), page, size, int(body.get("total", 0)))
