"""The official working-day calendars (工作日历) finance has loaded (R-FIN-6).

Each year's 国务院办公厅 holiday notice, once typed in, is an event on this one province-wide
aggregate, so the loaded calendars survive restarts: the working-day calendar deadlines are
counted with is rebuilt from it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from finance.domainmodel.tranches import NS
from shared.rules import RuleViolation
from shared.workdays import WorkdayCalendar, YearCalendar

CALENDAR_BOOK_ID = uuid.uuid5(NS, "calendar-book")


class CalendarBook(Aggregate):
    """Every official year calendar loaded, the latest load of a year winning."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return CALENDAR_BOOK_ID

    @event("Opened")
    def __init__(self) -> None:
        self.years: dict[str, dict[str, Any]] = {}

    def year_calendars(self) -> list[YearCalendar]:
        return [YearCalendar.from_dict(y) for y in self.years.values()]

    def workdays(self) -> WorkdayCalendar:
        return WorkdayCalendar(self.year_calendars())

    def load(self, year: int, holidays: list[date], workdays: list[date]) -> bool:
        """Load one year's notice; False when the same notice is already loaded."""
        try:
            cal = YearCalendar(year=year, holidays=frozenset(holidays), workdays=frozenset(workdays))
        except ValueError as exc:
            field = "workdays" if "workdays outside" in str(exc) else "holidays"
            raise RuleViolation(str(exc), rule="R-FIN-6", field=field, facts={"code": "calendar_invalid", "year": year}) from exc
        if self.years.get(str(year)) == cal.to_dict():
            return False
        self._loaded(year=year, holidays=sorted(cal.holidays), workdays=sorted(cal.workdays))
        return True

    @event("CalendarLoaded")
    def _loaded(self, year: int, holidays: list[date], workdays: list[date]) -> None:
        self.years[str(year)] = YearCalendar(year, frozenset(holidays), frozenset(workdays)).to_dict()
