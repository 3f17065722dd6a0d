"""Documented ranges for the dates and instants requests carry (issue 15).

Every date a request body or query accepts is a :data:`Day` (2000-01-01..2100-12-31) unless it
needs a wider range (a birth date: :func:`day_range` with its own bounds); every instant an
:data:`Instant` within the same years. The range is enforced (422 naming the field) and written
into the OpenAPI document as ``formatMinimum`` / ``formatMaximum``; tests/contract checks that no
request date is left without one. A day like 9999-12-31 is usually a typing error. A query whose
cost does not grow with the date (the overdue tranches, counted by an index over the official
calendar, shared/workdays.py) may accept :data:`AnyDay`, Python's whole range, still documented.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)


def day_range(first: date = FIRST_DAY, last: date = LAST_DAY) -> Any:
    """A ``date`` type limited to ``first``..``last`` (both documented in the JSON schema)."""
    return Annotated[
        date,
        Field(ge=first, le=last, json_schema_extra={"formatMinimum": first.isoformat(), "formatMaximum": last.isoformat()}),
    ]


def _instant_in_range(value: datetime) -> datetime:
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise ValueError(f"must lie between {FIRST_DAY} and {LAST_DAY}")
    return value


# Money in a request (API.md: integer fen in fields ending `_fen`; R-FIN-1, never floats): a JSON
# integer. Strict, so "500" or 500.0 is refused (422 naming the field), never quietly converted.
Fen = Annotated[int, Field(strict=True)]

Day = day_range()
AnyDay = day_range(date.min, date.max)
Instant = Annotated[
    datetime,
    AfterValidator(_instant_in_range),
    Field(json_schema_extra={"formatMinimum": f"{FIRST_DAY}T00:00:00Z", "formatMaximum": f"{LAST_DAY}T23:59:59Z"}),
]
