"""The platform's clock: "now" and "today" in China Standard Time (UTC+8, no daylight saving).

An audit view can pin the clock to a past instant (R-AUD-3): inside :func:`pinned_at` every
"today" the services compute — due dates overdue, the progress date, the visits of this year —
is the day of that instant, and :class:`shared.infra.store.SwpApplication` loads every aggregate
as it was recorded at that instant. A read rebuilt that way equals what the live system showed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "CST")

_pinned: ContextVar[datetime | None] = ContextVar("swp_clock_pinned", default=None)


def pinned() -> datetime | None:
    """The instant reads are pinned to, or None for live reads."""
    return _pinned.get()


def now() -> datetime:
    """The current instant (aware, UTC), or the pinned one."""
    return _pinned.get() or datetime.now(UTC)


def china_today() -> date:
    """Today's date in China, or the date of the pinned instant in China."""
    return now().astimezone(CHINA).date()


@contextmanager
def pinned_at(instant: datetime | None) -> Iterator[None]:
    """Pin the clock (and as-of aggregate loads) to ``instant`` for the block; None changes nothing."""
    if instant is None:
        yield
        return
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    token = _pinned.set(instant)
    try:
        yield
    finally:
        _pinned.reset(token)
