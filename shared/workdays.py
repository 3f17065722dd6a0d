"""Working-day calendar (工作日历) for deadlines counted in working days (工作日).

R-FIN-6: working days follow the State Council holiday calendar — statutory holidays
(法定节假日) and the weekend days made working days by 调休 (adjusted-rest workdays).
Years without a published calendar use Monday–Friday and mark the deadline
*provisional* until that year's calendar is loaded; loading it recomputes open deadlines.

Where a year's answer comes from, first match wins:

1. a :class:`YearCalendar` loaded at run time (the 国务院办公厅 notice, typed in when
   published — it beats the library, so a correction never waits for a release);
2. ``chinesecalendar`` (``chinese_calendar.is_workday``), which ships the published
   notices and raises ``NotImplementedError`` for years it has no data for;
3. the fallback, exactly as R-FIN-6 words it: Monday–Friday, no holidays and no 调休.
   Every answer that counts or skips a day of such a year is flagged ``provisional``.

Counting is indexed, not walked (see ``_through``): any query over 0001-01-01 … 9999-12-31
costs a few lookups and a binary search, whatever the distance.

Pure module (standard library, ``chinesecalendar``): no I/O, no clock.
Recomputing open deadlines after loading a year is the caller's job: build a new
calendar with :meth:`WorkdayCalendar.with_year` and call :meth:`add_workdays` again.
"""

from __future__ import annotations

import datetime as _dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

_DAY = timedelta(days=1)


def _as_date(d: date) -> date:
    # datetime is a date subclass but never == a date: normalise so set lookups work.
    if isinstance(d, _dt.datetime):
        return d.date()
    if not isinstance(d, date):
        raise TypeError(f"expected a datetime.date, got {type(d).__name__}")
    return d


@dataclass(frozen=True)
class YearCalendar:
    """An officially published year (国务院办公厅 holiday notice), loaded at run time.

    ``holidays`` are days off that would otherwise be workdays (weekend days inside a
    holiday block may be listed too); ``workdays`` are 调休 weekend days that are
    working days.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise ValueError(f"year must be an integer, got {self.year!r}")
        for name in ("holidays", "workdays"):
            days = frozenset(_as_date(d) for d in getattr(self, name))
            outside = sorted(d for d in days if d.year != self.year)
            if outside:
                listed = ", ".join(d.isoformat() for d in outside)
                raise ValueError(f"{self.year} calendar: {name} outside {self.year}: {listed}")
            object.__setattr__(self, name, days)
        both = sorted(self.holidays & self.workdays)
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"{self.year} calendar: dates both holiday and workday: {listed}")

    @classmethod
    def from_dict(cls, d: Mapping) -> YearCalendar:
        """Parse ``{"year": 2027, "holidays": ["2027-01-01", ...], "workdays": [...]}``."""
        try:
            year = d["year"]
        except KeyError:
            raise ValueError("year calendar: missing 'year'") from None

        def parse(name: str) -> frozenset[date]:
            raw = d.get(name, ())
            if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
                raise ValueError(f"{year} calendar: {name} must be a list of ISO dates")
            out = set()
            for item in raw:
                if isinstance(item, date):
                    out.add(_as_date(item))
                    continue
                try:
                    out.add(date.fromisoformat(item))
                except (TypeError, ValueError):
                    raise ValueError(f"{year} calendar: {name}: not an ISO date: {item!r}") from None
            return frozenset(out)

        return cls(year=year, holidays=parse("holidays"), workdays=parse("workdays"))

    def to_dict(self) -> dict:
        return {
            "year": self.year,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "workdays": sorted(d.isoformat() for d in self.workdays),
        }


@dataclass(frozen=True)
class DueDate:
    """A computed deadline; ``provisional`` if any day counted or skipped lay in a year
    with neither ``chinesecalendar`` data nor a loaded :class:`YearCalendar` (R-FIN-6)."""

    on: date
    provisional: bool


@lru_cache(maxsize=256)
def _library_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


# --- the index ---------------------------------------------------------------------------
# Working days are counted as Monday–Friday (closed-form arithmetic on the proleptic ordinal,
# 0001-01-01 being a Monday) plus a sparse list of exceptions: weekday holidays (-1) and 调休
# weekend workdays (+1). Only official years have exceptions — a loaded notice or
# chinesecalendar's data, both within INDEXED_YEARS — each with a running total per year and a
# running total over the years before it. Every other year is plain Monday–Friday. Counting
# working days up to any date of 0001–9999 is then a few lookups, and the n-th working day a
# binary search over them: no day-by-day walk.
INDEXED_YEARS = (1900, 2100)
_MAX_ORD = date.max.toordinal()


def _weekdays_through(ordinal: int) -> int:
    """Mondays–Fridays in ``[0001-01-01, ordinal]`` (ordinal 1 is a Monday)."""
    weeks, rest = divmod(ordinal, 7)
    return weeks * 5 + min(rest, 5)


def _exceptions(days_off: Iterable[date], days_on: Iterable[date]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted ordinals of a year's exceptions and the running total of their deltas."""
    deltas = {d.toordinal(): -1 for d in days_off if d.weekday() < 5}
    deltas.update({d.toordinal(): 1 for d in days_on if d.weekday() >= 5})
    ordinals = tuple(sorted(deltas))
    running, total = [], 0
    for o in ordinals:
        total += deltas[o]
        running.append(total)
    return ordinals, tuple(running)


@lru_cache(maxsize=512)
def _unloaded_year(year: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A year's exceptions without a loaded notice: chinesecalendar's data, else none (Mon–Fri)."""
    if _library_covers(year):
        first, off, on = date(year, 1, 1), [], []
        for i in range((date(year + 1, 1, 1) - first).days):
            day = first + i * _DAY
            worked = chinese_calendar.is_workday(day)
            if day.weekday() < 5 and not worked:
                off.append(day)
            elif day.weekday() >= 5 and worked:
                on.append(day)
        return _exceptions(off, on)
    return (), ()


@lru_cache(maxsize=1)
def _library_years() -> tuple[int, ...]:
    return tuple(y for y in range(INDEXED_YEARS[0], INDEXED_YEARS[1] + 1) if _library_covers(y))


class WorkdayCalendar:
    """Immutable working-day calendar; ``with_year`` returns a new instance.

    Dates from 0001-01-01 to 9999-12-31 (Python's range) are accepted; every query is a
    handful of lookups (binary search for the n-th working day), whatever the distance. A
    deadline that would fall after 9999-12-31 (or before 0001-01-01) raises ``ValueError``.
    Loaded years must lie in 1900–2100 (the years the index keeps exceptions for).
    """

    def __init__(self, loaded: Iterable[YearCalendar] = ()) -> None:
        self._loaded: dict[int, YearCalendar] = {cal.year: cal for cal in loaded}
        lo, hi = INDEXED_YEARS
        outside = sorted(y for y in self._loaded if not lo <= y <= hi)
        if outside:
            raise ValueError(f"a loaded calendar year must lie in {lo}–{hi}, got {outside[0]}")
        self._years: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
            y: _exceptions(c.holidays, c.workdays) for y, c in self._loaded.items()
        }
        # _before[y - lo]: the exception total of the years lo .. y-1.
        before, total = [0], 0
        for year in range(lo, hi + 1):
            running = self._year(year)[1]
            total += running[-1] if running else 0
            before.append(total)
        self._before = tuple(before)
        self._official = tuple(sorted(set(self._loaded) | set(_library_years())))

    def _year(self, year: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        found = self._years.get(year)
        return found if found is not None else _unloaded_year(year)

    def with_year(self, cal: YearCalendar) -> WorkdayCalendar:
        """A new calendar with ``cal`` loaded (replacing any earlier load of that year)."""
        return WorkdayCalendar([*self._loaded.values(), cal])

    @property
    def loaded_years(self) -> frozenset[int]:
        return frozenset(self._loaded)

    def is_official(self, year: int) -> bool:
        """True if ``year`` is loaded or covered by chinesecalendar (not provisional)."""
        return year in self._loaded or _library_covers(year)

    def is_workday(self, d: date) -> tuple[bool, bool]:
        """``(is_workday, provisional)`` for one day."""
        d = _as_date(d)
        cal = self._loaded.get(d.year)
        if cal is not None:
            return (d in cal.workdays or (d.weekday() < 5 and d not in cal.holidays)), False
        try:
            return chinese_calendar.is_workday(d), False
        except NotImplementedError:
            return d.weekday() < 5, True

    # --- the index -----------------------------------------------------------------------
    def _through(self, ordinal: int) -> int:
        """Working days in ``[0001-01-01, ordinal]`` (0 for ordinal 0)."""
        if ordinal <= 0:
            return 0
        year = date.fromordinal(ordinal).year
        lo, hi = INDEXED_YEARS
        extra = self._before[min(max(year, lo), hi + 1) - lo]
        ordinals, running = self._year(year)
        i = bisect_right(ordinals, ordinal)
        return _weekdays_through(ordinal) + extra + (running[i - 1] if i else 0)

    def _first_reaching(self, target: int, lo: int) -> int:
        """The first ordinal >= ``lo`` with ``_through(ordinal) >= target``."""
        hi = _MAX_ORD
        if self._through(hi) < target:
            raise ValueError("the deadline would fall after 9999-12-31")
        while lo < hi:
            mid = (lo + hi) // 2
            if self._through(mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _provisional(self, first: date, last: date) -> bool:
        """True if a year of ``first``..``last`` has neither a notice nor chinesecalendar data."""
        if last < first:
            return False
        years = last.year - first.year + 1
        official = bisect_right(self._official, last.year) - bisect_left(self._official, first.year)
        return official < years

    def add_workdays(self, start: date, n: int) -> DueDate:
        """The n-th working day strictly after ``start``; "within 15 working days of X"
        is ``add_workdays(X, 15)``. ``n == 0`` returns ``start``."""
        start = _as_date(start)
        if n < 0:
            raise ValueError(f"number of working days must be >= 0, got {n}")
        if n == 0:
            return DueDate(start, not self.is_official(start.year))
        o = start.toordinal()
        if o >= _MAX_ORD:
            raise ValueError("the deadline would fall after 9999-12-31")
        day = date.fromordinal(self._first_reaching(self._through(o) + n, o + 1))
        return DueDate(day, self._provisional(date.fromordinal(o + 1), day))

    def subtract_workdays(self, end: date, n: int) -> DueDate:
        """The n-th working day strictly before ``end`` ("due 10 working days before")."""
        end = _as_date(end)
        if n < 0:
            raise ValueError(f"number of working days must be >= 0, got {n}")
        if n == 0:
            return DueDate(end, not self.is_official(end.year))
        target = self._through(end.toordinal() - 1) - n + 1
        if target < 1:
            raise ValueError("the deadline would fall before 0001-01-01")
        day = date.fromordinal(self._first_reaching(target, 1))
        return DueDate(day, self._provisional(day, end - _DAY))

    def workdays_between(self, start: date, end: date) -> tuple[int, bool]:
        """``(count, provisional)`` of working days in ``(start, end]``; 0 if equal."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        if end == start:
            return 0, False
        count = self._through(end.toordinal()) - self._through(start.toordinal())
        return count, self._provisional(start + _DAY, end)
