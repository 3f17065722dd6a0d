"""Lists across counties for the province-wide roles (province_admin and auditor with a
``counties: ["*"]`` token): the registered counties, and the contracts of every county (or of
one, with ``county``), paged like every list (:mod:`shared.infra.paging`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from registry import lists
from registry.api.common import Store
from registry.api.contracts import ContractOut, contract_out
from registry.domainmodel import Contract, County
from shared.infra.auth import Principal, Role, require_roles
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, decode_cursor, respond

router = APIRouter(prefix="/v1", tags=["province"])

ProvinceWide = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN, Role.AUDITOR, province_wide=True))]
CountyFilter = Annotated[str | None, Query(pattern=r"^\d{6}$", description="Only this county's (6-digit code)")]


class CountySummary(BaseModel):
    county: str
    name: str
    policy_version: int


@router.get("/counties", response_model=list[CountySummary])
def list_counties(
    request: Request, response: Response, principal: ProvinceWide, store: Store,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[CountySummary]:
    """Every registered county in registration order, paged (`limit`, `cursor`, `X-Next-Cursor`).
    Province-wide tokens only; a county's policy: `GET /v1/counties/{county}`."""
    query: dict[str, str] = {}
    found = lists.page(store, "counties", None, limit, decode_cursor("registry.counties", query, cursor), kind=County)
    respond(request, response, "registry.counties", query, found)
    return [CountySummary(county=c.code, name=c.name, policy_version=c.policy_version) for c in found.items]


@router.get("/contracts", response_model=list[ContractOut])
def list_all_contracts(
    request: Request, response: Response, principal: ProvinceWide, store: Store, county: CountyFilter = None,
    status: str | None = Query(default=None, pattern="^(signed|terminated|expired)$"),
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[ContractOut]:
    """The contracts of every county (or of `county`) in signing order, paged (`limit`, `cursor`,
    `X-Next-Cursor`; with `status` a page may hold fewer than `limit`). Province-wide tokens only."""
    query = {"county": county, "status": status}
    after = decode_cursor("registry.all-contracts", query, cursor)
    keep = (lambda c: c.status == status) if status is not None else None
    found = lists.page(store, "contracts", county, limit, after, keep=keep, kind=Contract)
    respond(request, response, "registry.all-contracts", query, found)
    calendar = store.workdays()
    return [contract_out(c, calendar) for c in found.items]
