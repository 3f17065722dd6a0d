"""The official working-day calendars a service has received (R-FIN-6), as its own aggregate.

Finance records each year's 国务院办公厅 notice when a province admin loads it and publishes
``CalendarLoaded`` (subject ``swp.province.finance.CalendarLoaded``: a national calendar belongs
to no county, so it travels under the ``province`` token of :mod:`shared.subjects`). Registry
and evaluation consume that event into an :class:`OfficialCalendars` aggregate in their own
store — never a shared file — so their working days are the official data (chinesecalendar)
plus every year loaded so far, the same as finance's, and the history of what each service knew
when is in its own log (``recorded_as_of`` reads use the calendar as it stood then).

Domain-level: eventsourcing's domain module and :mod:`shared.workdays` only.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.workdays import WorkdayCalendar, YearCalendar

OFFICIAL_CALENDARS_ID = uuid.uuid5(uuid.UUID("5b1f7c3e-2d4a-5e6b-9c8d-0a1b2c3d4e5f"), "official-calendars")


class OfficialCalendars(Aggregate):
    """Every official year calendar received, the latest notice of a year winning."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return OFFICIAL_CALENDARS_ID

    @event("Opened")
    def __init__(self) -> None:
        self.years: dict[str, dict[str, Any]] = {}

    def receive(self, year: int, holidays: list[date], workdays: list[date]) -> bool:
        """Take one year's notice; False (nothing recorded) when the same notice is already held."""
        cal = YearCalendar(year=year, holidays=frozenset(holidays), workdays=frozenset(workdays))
        if self.years.get(str(year)) == cal.to_dict():
            return False
        self._received(year=year, holidays=sorted(cal.holidays), workdays=sorted(cal.workdays))
        return True

    @event("YearReceived")
    def _received(self, year: int, holidays: list[date], workdays: list[date]) -> None:
        self.years[str(year)] = YearCalendar(year, frozenset(holidays), frozenset(workdays)).to_dict()

    def workdays(self) -> WorkdayCalendar:
        return WorkdayCalendar(YearCalendar.from_dict(y) for y in self.years.values())
