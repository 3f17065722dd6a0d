"""Sign-in, sign-out and the landing page.

Development (``SWP_ENVIRONMENT`` development or test): the sign-in form mints a development token
with ``shared.infra.auth.issue_token`` — the same as ``swp token`` — for the chosen role, county
and organisation. Production: that form is refused (403); sign-in goes through the province's
identity provider (OIDC authorization code + PKCE) once ``SWP_CONSOLE_OIDC_ISSUER`` is set — the
hook is ``oidc_sign_in`` below, not implemented yet.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from console import labels
from console.api import Api, ApiProblem, NoApi
from console.pages import pages_for
from console.session import Session
from console.web import check_csrf, redirect, render, session_of, set_session_cookie, state
from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings

router = APIRouter(tags=["sign-in"])
COUNTY = re.compile(r"^\d{6}$")


def dev_sign_in_allowed(request: Request) -> bool:
    settings: Settings = state(request).settings
    return settings.environment != "production"


def oidc_sign_in(request: Request) -> Response:
    """Hook: redirect to the OIDC issuer's authorization endpoint (code + PKCE, state and
    verifier kept in the anonymous session), and a ``/login/callback`` route exchanging the
    code for the province IdP's token. Not implemented yet."""
    return render(
        request, "error.html", status_code=501, title="统一身份认证尚未接入",
        message="已配置统一身份认证（OIDC），但本版本尚未实现该登录方式，请联系管理员。",
    )


def anonymous_session(request: Request) -> tuple[Session, bool]:
    session = session_of(request)
    if session is not None:
        return session, False
    return state(request).sessions.new(), True


def safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/", include_in_schema=False)
@router.get("/home", include_in_schema=False)
async def home(request: Request) -> Response:
    session = session_of(request)
    if session is None or not session.signed_in:
        return redirect(request, "/login")
    pages = pages_for(session.role or "")
    if pages is None:
        return render(request, "home.html", title="工作台")
    return redirect(request, pages.home)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    if state(request).console_settings.oidc_issuer:
        return oidc_sign_in(request)
    if not dev_sign_in_allowed(request):
        return render(request, "error.html", status_code=403, title="开发登录已停用", message="生产环境不提供开发登录，请使用统一身份认证。")
    session, fresh = anonymous_session(request)
    response = render(request, "login.html", session=session, title="登录", next=safe_next(next) or "", form={"county": "640402"})
    if fresh:
        set_session_cookie(request, response, session)
    return response


@router.get("/login/organisations", response_class=HTMLResponse)
async def organisations(
    request: Request,
    role: Annotated[str, Query(max_length=40)] = "",
    county: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """htmx fragment: the provider / evaluator picker the chosen role needs, fetched through the API."""
    if not dev_sign_in_allowed(request):
        return HTMLResponse("", status_code=403)
    choices: list[tuple[str, str]] = []
    error = ""
    if role in labels.NEEDS_PROVIDER | labels.NEEDS_EVALUATOR:
        if not COUNTY.match(county):
            error = "请先填写6位县（区）代码"
        else:
            choices, error = await _organisations(request, role, county)
    return render(request, "_organisations.html", role=role, choices=choices, error=error, form={})


async def _organisations(request: Request, role: str, county: str) -> tuple[list[tuple[str, str]], str]:
    settings: Settings = state(request).settings
    token = issue_token(settings, sub="console-sign-in", role=Role.PROVINCE_ADMIN, counties=["*"], ttl_seconds=60)
    try:
        async with state(request).connector.client() as client:
            api = Api(client, token)
            if role in labels.NEEDS_PROVIDER:
                rows = await api.get(f"/registry/v1/counties/{county}/providers")
                return [(p["provider_id"], p["name"]) for p in rows[:500]], ""
            rows = await api.get(f"/evaluation/v1/counties/{county}/evaluators")
            return [(e["evaluator_org"], e["name"]) for e in rows[:500]], ""
    except ApiProblem as exc:
        if exc.status == 404:
            return [], "该县（区）尚未登记"
        return [], f"无法读取机构列表：{exc.detail}"
    except NoApi:
        return [], "未配置平台接口地址（SWP_CONSOLE_API_BASE_URL）"


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    role: Annotated[str, Form(max_length=40)] = "",
    county: Annotated[str, Form(max_length=20)] = "",
    user_name: Annotated[str, Form(max_length=50)] = "",
    organisation: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if state(request).console_settings.oidc_issuer:
        return oidc_sign_in(request)
    if not dev_sign_in_allowed(request):
        return render(request, "error.html", status_code=403, title="开发登录已停用", message="生产环境不提供开发登录，请使用统一身份认证。")
    session, _ = anonymous_session(request)
    await check_csrf(request, session)
    form = {"role": role, "county": county.strip(), "user_name": user_name, "organisation": organisation}
    errors: dict[str, str] = {}
    if role not in labels.ROLES:
        errors["role"] = "请选择角色"
    province_wide = role in labels.PROVINCE_WIDE
    if not province_wide and not COUNTY.match(form["county"]):
        errors["county"] = "请填写6位县（区）行政区划代码，如 640402"
    if role in labels.NEEDS_PROVIDER | labels.NEEDS_EVALUATOR and not organisation:
        errors["organisation"] = "请选择所属机构"
    if errors:
        choices = await _organisations(request, role, form["county"]) if "organisation" in errors and "county" not in errors else ([], "")
        return render(request, "login.html", status_code=422, session=session, title="登录", form=form, errors=errors,
                      next=safe_next(next) or "", choices=choices[0])
    settings: Settings = state(request).settings
    name = user_name.strip() or labels.ROLES[role]
    token = issue_token(
        settings, sub=f"console:{name}", role=role, counties=["*"] if province_wide else [form["county"]],
        provider_id=organisation if role in labels.NEEDS_PROVIDER else None,
        evaluator_org=organisation if role in labels.NEEDS_EVALUATOR else None,
        ttl_seconds=state(request).console_settings.session_ttl_seconds,
    )
    fresh = state(request).sessions.rotate(session)
    fresh.token, fresh.role, fresh.user_name = token, role, name
    fresh.county = form["county"] if COUNTY.match(form["county"]) else None
    fresh.provider_id = organisation if role in labels.NEEDS_PROVIDER else None
    fresh.evaluator_org = organisation if role in labels.NEEDS_EVALUATOR else None
    if organisation:
        orgs, _err = await _organisations(request, role, form["county"])
        fresh.org_name = dict(orgs).get(organisation, "")
    if fresh.county:
        fresh.county_name = await _county_name(request, token, fresh.county)
    pages = pages_for(role)
    response = redirect(request, safe_next(next) or (pages.home if pages else "/home"))
    set_session_cookie(request, response, fresh)
    return response


async def _county_name(request: Request, token: str, county: str) -> str:
    try:
        async with state(request).connector.client() as client:
            return str((await Api(client, token).get(f"/registry/v1/counties/{county}"))["name"])
    except (ApiProblem, KeyError, NoApi):
        return ""  # not registered yet, a role that may not read it, or no API


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = session_of(request)
    if session is not None:
        await check_csrf(request, session)
        state(request).sessions.drop(session.sid)
    response = redirect(request, "/login")
    response.delete_cookie("swp_console", path="/")
    return response
