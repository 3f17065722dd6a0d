"""County bureau (购买主体, role ``purchaser``) pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from console.roles import NavItem, RolePages
from console.web import Ctx, signed_in

router = APIRouter(prefix="/purchaser", tags=["purchaser"])
Clerk = Annotated[Ctx, Depends(signed_in("purchaser"))]

PAGES = RolePages(
    roles=("purchaser",),
    title="县（区）民政局",
    router=router,
    nav=[NavItem("工作台", "/purchaser/")],
)


@router.get("/")
async def dashboard(ctx: Clerk) -> Response:
    return ctx.render("purchaser/dashboard.html", title="工作台")
