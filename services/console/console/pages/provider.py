"""NGO / social worker (承接主体, role ``provider``) pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from console.roles import NavItem, RolePages
from console.web import Ctx, signed_in

router = APIRouter(prefix="/provider", tags=["provider"])
Ngo = Annotated[Ctx, Depends(signed_in("provider"))]

PAGES = RolePages(
    roles=("provider",),
    title="社工机构",
    router=router,
    nav=[NavItem("今日服务登记", "/provider/")],
)


@router.get("/")
async def today(ctx: Ngo) -> Response:
    return ctx.render("provider/today.html", title="今日服务登记")
