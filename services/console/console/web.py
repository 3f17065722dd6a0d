"""What every page handler uses: the templates, the signed-in context (session + API client),
CSRF checking and the redirect to sign-in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console import formats, labels, refusals
from console.api import Api, ApiConnector, Refusal
from console.paging import CursorPage, Page
from console.rules import explain
from console.session import COOKIE, Session, SessionStore, csrf_ok
from console.settings import ConsoleSettings

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    yuan=formats.yuan, wan=formats.wan, cn_date=formats.cn_date, cn_month=formats.cn_month,
    yuan_text=formats.fen_to_yuan_text, import_detail=formats.import_detail_zh,
)
templates.env.globals.update(labels=labels, explain=explain, new_key=lambda: str(uuid.uuid4()), import_row_zh=refusals.import_row_zh)


class NeedsSignIn(Exception):
    """No (valid) session: the handler answers with a redirect to /login."""


class Forbidden(Exception):
    """Signed in, but this page is for another role."""


class CsrfFailed(Exception):
    pass


def state(request: Request) -> Any:
    return request.app.state


def session_of(request: Request) -> Session | None:
    store: SessionStore = state(request).sessions
    return store.get(request.cookies.get(COOKIE))


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE, session.sid, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/",
        max_age=state(request).console_settings.session_ttl_seconds,
    )


async def check_csrf(request: Request, session: Session) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    submitted = request.headers.get("X-CSRF-Token")
    if not submitted:
        form = await request.form()
        value = form.get("csrf_token")
        submitted = value if isinstance(value, str) else None
    if not csrf_ok(session, submitted):
        raise CsrfFailed()


@dataclass
class Ctx:
    request: Request
    session: Session
    api: Api
    settings: ConsoleSettings

    @property
    def county(self) -> str:
        assert self.session.county
        return self.session.county

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        return render(self.request, template, status_code=status_code, session=self.session, **values)

    def redirect(self, url: str, flash: str | None = None) -> Response:
        if flash:
            self.session.flash.append(flash)
        return redirect(self.request, url)

    def page_size(self) -> int:
        return self.settings.page_size


def render(request: Request, template: str, status_code: int = 200, session: Session | None = None, **values: Any) -> HTMLResponse:
    from console.pages import pages_for  # the registry imports the page modules, which import this one

    session = session or session_of(request)
    role_pages = pages_for(session.role) if session and session.role else None
    flash = list(session.flash) if session else []
    if session:
        session.flash.clear()
    context = {
        "session": session,
        "csrf": session.csrf if session else "",
        "role_pages": role_pages,
        "flash": flash,
        "refusal": Refusal(),
        "form": {},
        "path": request.url.path,
        **values,
    }
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(request: Request, url: str) -> Response:
    """303 for a normal request; for an htmx request an ``HX-Redirect`` so the whole page moves."""
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return redirect(request, "/login?next=" + quote(target, safe=""))


def signed_in(*roles: str) -> Callable[[Request], AsyncIterator[Ctx]]:
    """Dependency: the signed-in user's context (403 page for another role; CSRF checked on POST)."""

    async def dependency(request: Request) -> AsyncIterator[Ctx]:
        session = session_of(request)
        if session is None or not session.signed_in:
            raise NeedsSignIn()
        if roles and session.role not in roles:
            raise Forbidden()
        await check_csrf(request, session)
        connector: ApiConnector = state(request).connector
        async with connector.client() as client:
            yield Ctx(request, session, Api(client, session.token), state(request).console_settings)

    return dependency


def pager_links(page: Page | CursorPage, base: str, **params: Any) -> dict[str, str | None]:
    """首页 / 上一页 / 下一页 of a list page, keeping the filters ``params`` (None: no such page)."""
    return page.links(base, **params)


templates.env.globals.update(pager_links=pager_links)


async def read_form(request: Request) -> tuple[dict[str, str], Any]:
    """The submitted form: single values (first of each name, stripped) and the raw multi-dict."""
    raw = await request.form()
    single = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
    return single, raw


def today_iso() -> str:
    import datetime as dt
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
