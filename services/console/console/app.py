"""The console application: mounted by the gateway at ``/`` (or run on its own against
``SWP_CONSOLE_API_BASE_URL``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from console.api import GENERIC_ZH, ApiConnector, ApiProblem, SessionExpired
from console.pages import REGISTERED, auth
from console.pages.worker import NoWorkerId
from console.refusals import sentence, without_ids
from console.rules import explain
from console.session import SessionStore
from console.settings import ConsoleSettings
from console.web import HERE, CsrfFailed, Forbidden, NeedsSignIn, render, session_of, sign_in_redirect
from shared.infra import hardening
from shared.infra.settings import Settings


def create_console(settings: Settings, console_settings: ConsoleSettings | None = None, api_app: Any = None) -> FastAPI:
    """``api_app``: the ASGI app serving the public API in-process (the gateway), used when
    ``SWP_CONSOLE_API_BASE_URL`` is not set."""
    cs = console_settings or ConsoleSettings()
    app = FastAPI(title="SWP 工作台", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.console_settings = cs
    app.state.sessions = SessionStore(cs.session_ttl_seconds, cs.max_sessions)
    app.state.connector = ApiConnector(cs.api_base_url, api_app, cs.api_timeout_seconds)
    # The platform's security headers (shared/infra/hardening.py), also when the console runs on
    # its own: pages under HTML_CSP (same-origin files only, no inline script), nosniff, DENY,
    # no-referrer, no Server header.
    app.add_middleware(hardening.SecurityHeaders)

    @app.middleware("http")
    async def cache_control(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        else:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NeedsSignIn)
    async def needs_sign_in(request: Request, _: Exception) -> Response:
        return sign_in_redirect(request)

    @app.exception_handler(SessionExpired)
    async def expired(request: Request, _: Exception) -> Response:
        session = session_of(request)
        if session:
            app.state.sessions.drop(session.sid)
        return sign_in_redirect(request)

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: Exception) -> Response:
        # A refusal no page handled (reading another provider's record, an unknown id …).
        assert isinstance(exc, ApiProblem)
        # Its Chinese sentence when the refusal has one; else the rule's hint, the English (ids removed) muted.
        status = exc.status if exc.status in (403, 404, 409, 422) else 502
        title = GENERIC_ZH.get(exc.status, "平台拒绝了该请求")
        zh = sentence(exc.problem.get("facts"))
        return render(request, "error.html", status_code=status, title=title, message=zh or explain(exc.rule) or title,
                      rule=exc.rule, detail="" if zh else without_ids(exc.detail))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _: Exception) -> Response:
        return render(request, "error.html", status_code=403, title="无权访问", message="此页面不属于您的角色。")

    @app.exception_handler(NoWorkerId)
    async def no_worker_id(request: Request, _: Exception) -> Response:
        return render(request, "error.html", status_code=403, title="账号未关联社工",
                      message="您的账号没有社工编号（worker_id），平台无法确定您本人的服务记录（R-AUD-6）。请联系所属社工机构或统一身份认证管理员。")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _: Exception) -> Response:
        return render(
            request, "error.html", status_code=403, title="表单已失效", message="页面已过期或来源不明（CSRF 校验失败），请刷新页面后重新提交。"
        )

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth.router)
    for pages in REGISTERED:
        app.include_router(pages.router)
    return app


def standalone() -> FastAPI:
    """The console on its own, calling the API at ``SWP_CONSOLE_API_BASE_URL``:
    ``SWP_CONSOLE_API_BASE_URL=http://gateway:8000 uvicorn console.app:standalone --factory``."""
    cs = ConsoleSettings()
    if not cs.api_base_url:
        raise SystemExit("set SWP_CONSOLE_API_BASE_URL to the platform's public API")
    return create_console(Settings(), cs)
