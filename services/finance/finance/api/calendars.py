"""The official working-day calendars (R-FIN-6): province-wide, loaded by a province admin."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from finance.api.common import Store, Strict
from shared.infra.auth import CountyScope, Principal, Role, require_roles
from shared.infra.service import CommandHeaders, run_command
from shared.subjects import PROVINCE

router = APIRouter(prefix="/v1/calendars", tags=["calendars"])

ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
AnyRole = Annotated[Principal, Depends(require_roles(*Role))]
Year = Annotated[int, Path(ge=2000, le=2100)]


class CalendarIn(Strict):
    holidays: list[date] = Field(max_length=366, description="Days off that would otherwise be working days (法定节假日)")
    workdays: list[date] = Field(
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
def load_calendar(year: Year, body: CalendarIn, principal: ProvinceAdmin, store: Store, headers: CommandHeaders) -> CalendarLoadOut:
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
    run_command(
        store, scope, (key, correlation), {"year": year, **body.model_dump(mode="json")},
        lambda: store.load_calendar(year, body.holidays, body.workdays),
        lambda _ids: store.calendar_book(),
    )
    recomputed = store.recompute_due_dates(year, principal.sub, correlation)
    return CalendarLoadOut(**_year(store, year), recomputed=[RecomputedOut(**r) for r in recomputed])


@router.get("", response_model=list[YearCalendarOut])
def calendars(principal: AnyRole, store: Store) -> list[YearCalendarOut]:
    """The official years loaded so far (years chinesecalendar ships need no load)."""
    return [YearCalendarOut(**_year(store, int(y))) for y in sorted(store.calendar_book().years)]


def _year(store: Any, year: int) -> dict[str, Any]:
    return store.calendar_book().years[str(year)]
