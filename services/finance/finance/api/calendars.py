"""The official working-day calendars (R-FIN-6): province-wide, loaded by a province admin."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from finance.api.common import Service, Strict
from finance.commands import LoadCalendar, RecomputeDueDates
from finance.reads import OfficialCalendars
from shared.bounds import Day as BoundedDay
from shared.infra.auth import CountyScope, Principal, Role, require_roles
from shared.infra.service import CommandHeaders
from shared.subjects import PROVINCE

router = APIRouter(prefix="/v1/calendars", tags=["calendars"])

ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
AnyRole = Annotated[Principal, Depends(require_roles(*Role))]
Year = Annotated[int, Path(ge=2000, le=2100)]


class CalendarIn(Strict):
    holidays: list[BoundedDay] = Field(max_length=366, description="Days off that would otherwise be working days (法定节假日)")
    workdays: list[BoundedDay] = Field(
        default_factory=list, max_length=366, description="Weekend days made working days (调休上班)"
    )


class YearCalendarOut(BaseModel):
    year: int
    holidays: list[date]
    workdays: list[date]


class RecomputedOut(BaseModel):
    county: str
    contract_id: str
    seq: int
    due_on: date | None
    provisional: bool


class CalendarLoadOut(YearCalendarOut):
    recomputed: list[RecomputedOut] = Field(description="Open due dates that changed (`DueDateRecomputed`)")


@router.post("/{year}", response_model=CalendarLoadOut)
def load_calendar(year: Year, body: CalendarIn, principal: ProvinceAdmin, finance: Service, headers: CommandHeaders) -> CalendarLoadOut:
    """Load a year's official calendar (the 国务院办公厅 holiday notice), replacing an earlier load
    of that year; province admins only. Publishes `CalendarLoaded` (county `province`), then counts
    every open due date again with it: each that changes — a provisional date becoming firm —
    publishes `DueDateRecomputed` under its contract's county. Repeating the load repeats the
    recount, which records nothing when nothing changes. Registry and evaluation consume
    `CalendarLoaded` (subject `swp.province.finance.CalendarLoaded`) into their own stores: their
    filing (R-REG-5) and R-EVAL-3 deadlines are counted with it from then on, and stop being
    provisional. Years 2000–2100; the dates must lie in the year (R-FIN-6)."""
    key, correlation = headers
    correlation = correlation or str(uuid.uuid4())
    scope = CountyScope(county=PROVINCE, principal=principal)
    load = LoadCalendar(county=PROVINCE, year=year, holidays=body.holidays, workdays=body.workdays)
    finance.bus.run(load, scope, (key, correlation))
    # Then every open due date again, one county at a time: each county's events carry its own
    # county (R-AUD-6), under the load's correlation id. It records nothing when nothing changes;
    # keyed when the load is, so a repeat answers the dates the first run moved (API.md).
    recomputed: list[dict[str, Any]] = []
    recount_key = f"{key}:recount" if key else None
    for other in finance.queries.counties():
        recount = RecomputeDueDates(county=other, year=year)
        recomputed += finance.bus.run(recount, CountyScope(county=other, principal=principal), (recount_key, correlation))
    return CalendarLoadOut(**_year(finance, year), recomputed=[RecomputedOut(**r) for r in recomputed])


@router.get("", response_model=list[YearCalendarOut])
def calendars(principal: AnyRole, finance: Service) -> list[YearCalendarOut]:
    """The official years loaded so far (years chinesecalendar ships need no load)."""
    years = finance.reads.ask(OfficialCalendars(), principal)
    return [YearCalendarOut(**years[y]) for y in sorted(years, key=int)]


def _year(finance: Any, year: int) -> dict[str, Any]:
    return finance.queries.calendar_years()[str(year)]
