"""Lists across counties for the province-wide roles (province_admin and auditor with a
``counties: ["*"]`` token): the registered counties, and the contracts of every county (or of
one, with ``county``), paged like every list (:mod:`shared.infra.paging`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from registry.api.common import Service
from registry.api.contracts import ContractOut, contract_out
from registry.reads import CountyList, ProvinceContracts
from shared.infra.auth import Principal, Role, require_roles
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, respond

router = APIRouter(prefix="/v1", tags=["province"])

ProvinceWide = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN, Role.AUDITOR, province_wide=True))]
CountyFilter = Annotated[str | None, Query(pattern=r"^\d{6}$", description="Only this county's (6-digit code)")]


class CountySummary(BaseModel):
    county: str
    name: str
    policy_version: int


@router.get("/counties", response_model=list[CountySummary])
def list_counties(
    request: Request, response: Response, principal: ProvinceWide, registry: Service,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[CountySummary]:
    """Every registered county in registration order, paged (`limit`, `cursor`, `X-Next-Cursor`).
    Province-wide tokens only; a county's policy: `GET /v1/counties/{county}`."""
    found = registry.reads.ask(CountyList(limit=limit, cursor=cursor), principal)
    respond(request, response, found.name, found.query, found.page)
    return [CountySummary(county=c.code, name=c.name, policy_version=c.policy_version) for c in found.page.items]


@router.get("/contracts", response_model=list[ContractOut])
def list_all_contracts(
    request: Request, response: Response, principal: ProvinceWide, registry: Service, county: CountyFilter = None,
    status: str | None = Query(default=None, pattern="^(signed|terminated|expired)$"),
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[ContractOut]:
    """The contracts of every county (or of `county`) in signing order, paged (`limit`, `cursor`,
    `X-Next-Cursor`; with `status` a page may hold fewer than `limit`). Province-wide tokens only."""
    found = registry.reads.ask(ProvinceContracts(in_county=county, status=status, limit=limit, cursor=cursor), principal)
    respond(request, response, found.name, found.query, found.page)
    return [contract_out(c, found.calendar) for c in found.page.items]
