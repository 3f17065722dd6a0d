"""Finance HTTP API (paths fixed by API.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from finance.application import FinanceApplication
from shared.infra.auth import CountyScope, Role, county_scope

CountyCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit administrative division code")]


def get_store(request: Request) -> FinanceApplication:
    return request.app.state.store


Store = Annotated[FinanceApplication, Depends(get_store)]
Reader = Annotated[
    CountyScope,
    Depends(county_scope(Role.PROVINCE_ADMIN, Role.PURCHASER, Role.PROVIDER, Role.FINANCE, Role.AUDITOR)),
]

router = APIRouter(prefix="/v1/counties/{county}", tags=["finance"])


class TrancheOut(BaseModel):
    seq: int
    percent: int
    amount_fen: int
    trigger: str
    status: str
    due_on: date | None
    provisional: bool


@router.get("/contracts/{contract_id}/tranches", response_model=list[TrancheOut])
def tranches(county: CountyCode, contract_id: str, scope: Reader, store: Store) -> list[TrancheOut]:
    """The contract's tranche schedule (R-FIN-5): status `awaiting_trigger`, `scheduled`, `paid`,
    `withheld` or `overdue` (scheduled and past its due date, R-FIN-9). `provisional` marks a due
    date computed without the State Council calendar of its year (R-FIN-6)."""
    schedule = store.schedule(county, contract_id)
    today = date.today()
    return [TrancheOut(**FinanceApplication.tranche_view(t, today)) for t in schedule.tranches]
