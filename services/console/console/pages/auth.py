"""Sign-in, sign-out and the landing page.

Single sign-on (``SWP_CONSOLE_OIDC_ISSUER`` set): the sign-in page offers the province's identity
provider — authorization code + PKCE, ``/login/oidc`` then ``/login/callback`` (``console/oidc.py``)
— and the session holds the access token the IdP issued. Development (``SWP_ENVIRONMENT``
development or test): the page also has the form that mints a development token with
``shared.infra.auth.issue_token`` — the same as ``swp token`` — for the chosen role, county and
organisation — for a social worker's own account (role ``worker``) also the worker it is, among
the organisation's registered workers (its ``worker_id``). Production refuses that form (403).
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated

import httpx
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console import labels
from console.api import Api, ApiProblem, NoApi
from console.oidc import OidcClient, SignInFailed
from console.pages import pages_for
from console.paging import PICKER_MAX, read_bounded
from console.session import Session
from console.web import check_csrf, redirect, render, session_of, set_session_cookie, state
from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings

router = APIRouter(tags=["sign-in"])
COUNTY = re.compile(r"^\d{6}$")


def dev_sign_in_allowed(request: Request) -> bool:
    settings: Settings = state(request).settings
    return settings.environment != "production"


def oidc_client(request: Request) -> OidcClient | None:
    app_state = state(request)
    if not app_state.console_settings.oidc_issuer:
        return None
    client = getattr(app_state, "oidc_client", None)
    if client is None:
        client = app_state.oidc_client = OidcClient(app_state.settings, app_state.console_settings)
    return client


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


@router.get("/login/oidc", include_in_schema=False)
async def oidc_sign_in(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """To the issuer's authorization endpoint: code + PKCE (S256), state and nonce kept in the session."""
    client = oidc_client(request)
    if client is None:
        return render(request, "error.html", status_code=404, title="未配置统一身份认证", message="本平台未配置统一身份认证（OIDC）。")
    session, _ = anonymous_session(request)
    pending: dict[str, str] = {"next": safe_next(next) or ""}
    try:
        url = await client.authorization_url(origin_of(request), pending)
    except (httpx.HTTPError, SignInFailed, KeyError, ValueError):
        return render(request, "error.html", status_code=502, title="统一身份认证暂不可用", message="无法连接统一身份认证服务，请稍后再试。")
    session.oidc = pending
    response = RedirectResponse(url, status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.get("/login/callback", include_in_schema=False)
async def oidc_callback(
    request: Request,
    code: Annotated[str, Query(max_length=4000)] = "",
    state_: Annotated[str, Query(alias="state", max_length=500)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Back from the issuer: the state must be this session's, the code is exchanged with the
    verifier, both tokens are verified, then the session is signed in (with a new id)."""
    client = oidc_client(request)
    session = session_of(request)
    pending = session.oidc if session is not None else None
    if client is None or session is None or pending is None:
        return render(request, "error.html", status_code=400, title="登录已失效", message="登录请求已过期或不是由本页面发起，请重新登录。")
    session.oidc = None  # one use
    if error or not code or not secrets.compare_digest(state_, pending["state"]):
        return render(request, "error.html", status_code=400, title="登录未完成",
                      message="统一身份认证未完成登录（" + (error or "state 不匹配") + "），请重新登录。")
    try:
        signed = await client.finish(origin_of(request), pending, code)
    except (httpx.HTTPError, SignInFailed, ValueError) as exc:
        return render(request, "error.html", status_code=401, title="登录被拒绝", message=f"统一身份认证的令牌未通过校验：{exc}")
    principal = signed.principal
    fresh = state(request).sessions.rotate(session)
    fresh.token, fresh.role, fresh.user_name = signed.access_token, str(principal.role), signed.name
    named = sorted(c for c in principal.counties if COUNTY.match(c))
    fresh.county = named[0] if len(named) == 1 else None
    fresh.provider_id, fresh.evaluator_org = principal.provider_id, principal.evaluator_org
    fresh.worker_id = principal.worker_id  # the issuer's worker claim (SWP_OIDC_CLAIM_WORKER_ID)
    if fresh.county:
        fresh.county_name = await _county_name(request, signed.access_token, fresh.county)
    pages = pages_for(fresh.role)
    response = redirect(request, pending.get("next") or (pages.home if pages else "/home"))
    set_session_cookie(request, response, fresh)
    return response


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
    sso = bool(state(request).console_settings.oidc_issuer)
    if not sso and not dev_sign_in_allowed(request):
        return render(request, "error.html", status_code=403, title="开发登录已停用", message="生产环境不提供开发登录，请使用统一身份认证。")
    session, fresh = anonymous_session(request)
    response = render(request, "login.html", session=session, title="登录", next=safe_next(next) or "", form={"county": "640402"},
                      sso=sso, dev=dev_sign_in_allowed(request))
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


@router.get("/login/workers", response_class=HTMLResponse)
async def workers(
    request: Request,
    county: Annotated[str, Query(max_length=20)] = "",
    organisation: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """htmx fragment: the chosen provider's social workers, for signing in as one of them (role worker)."""
    if not dev_sign_in_allowed(request):
        return HTMLResponse("", status_code=403)
    choices, error = ([], "")
    if COUNTY.match(county) and organisation:
        choices, error = await _workers(request, county, organisation)
    return render(request, "_workers.html", choices=choices, error=error, form={}, organisation=organisation)


async def _workers(request: Request, county: str, provider_id: str) -> tuple[list[tuple[str, str, str]], str]:
    """The provider's workers still employed (id, label, name), read through the API as the organisations are."""
    settings: Settings = state(request).settings
    token = issue_token(settings, sub="console-sign-in", role=Role.PROVINCE_ADMIN, counties=["*"], ttl_seconds=60)
    try:
        async with state(request).connector.client() as client:
            api = Api(client, token)
            rows = await read_bounded(api, f"/registry/v1/counties/{county}/workers", provider_id=provider_id)
            stations = {s["station_id"]: s["name"] for s in await read_bounded(api, f"/registry/v1/counties/{county}/stations")}
    except ApiProblem as exc:
        return [], f"无法读取社工名单：{exc.detail}"
    except NoApi:
        return [], "未配置平台接口地址（SWP_CONSOLE_API_BASE_URL）"
    choices = [(w["worker_id"], f"{w['name']}（{labels.label(labels.WORKER_ROLES, w['role'])} · {stations.get(w['station_id'], '')}）",
                w["name"]) for w in rows if w["provider_id"] == provider_id and w["left_on"] is None]
    return choices, "" if choices else "该机构尚未登记在岗社工"


async def _organisations(request: Request, role: str, county: str) -> tuple[list[tuple[str, str]], str]:
    settings: Settings = state(request).settings
    token = issue_token(settings, sub="console-sign-in", role=Role.PROVINCE_ADMIN, counties=["*"], ttl_seconds=60)
    try:
        async with state(request).connector.client() as client:
            api = Api(client, token)
            if role in labels.NEEDS_PROVIDER:
                rows = await read_bounded(api, f"/registry/v1/counties/{county}/providers")  # at most PICKER_MAX
                return [(p["provider_id"], p["name"]) for p in rows], ""
            rows = await api.get(f"/evaluation/v1/counties/{county}/evaluators")
            return [(e["evaluator_org"], e["name"]) for e in rows[:PICKER_MAX]], ""
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
    worker_id: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not dev_sign_in_allowed(request):
        return render(request, "error.html", status_code=403, title="开发登录已停用", message="生产环境不提供开发登录，请使用统一身份认证。")
    session, _ = anonymous_session(request)
    await check_csrf(request, session)
    form = {"role": role, "county": county.strip(), "user_name": user_name, "organisation": organisation, "worker_id": worker_id}
    errors: dict[str, str] = {}
    if role not in labels.ROLES:
        errors["role"] = "请选择角色"
    province_wide = role in labels.PROVINCE_WIDE
    if not province_wide and not COUNTY.match(form["county"]):
        errors["county"] = "请填写6位县（区）行政区划代码，如 640402"
    if role in labels.NEEDS_PROVIDER | labels.NEEDS_EVALUATOR and not organisation:
        errors["organisation"] = "请选择所属机构"
    worker_choices: list[tuple[str, str, str]] = []
    if role == Role.WORKER and not errors:
        # A worker's own account is one registered social worker of the organisation (its token's worker_id).
        worker_choices, worker_error = await _workers(request, form["county"], organisation)
        if worker_id not in {c[0] for c in worker_choices}:
            errors["worker_id"] = worker_error or "请选择您本人（该机构登记的在岗社工）"
    if errors:
        pick_again = ("organisation" in errors and "county" not in errors) or "worker_id" in errors
        choices = await _organisations(request, role, form["county"]) if pick_again else ([], "")
        return render(request, "login.html", status_code=422, session=session, title="登录", form=form, errors=errors,
                      next=safe_next(next) or "", choices=choices[0], worker_choices=worker_choices,
                      sso=bool(state(request).console_settings.oidc_issuer), dev=True)
    settings: Settings = state(request).settings
    worker = worker_id if role == Role.WORKER else None
    worker_name = {c[0]: c[2] for c in worker_choices}.get(worker or "", "")  # (``next`` is the form's field here)
    name = user_name.strip() or worker_name or labels.ROLES[role]
    token = issue_token(
        settings, sub=f"console:{name}", role=role, counties=["*"] if province_wide else [form["county"]],
        provider_id=organisation if role in labels.NEEDS_PROVIDER else None,
        evaluator_org=organisation if role in labels.NEEDS_EVALUATOR else None, worker_id=worker,
        ttl_seconds=state(request).console_settings.session_ttl_seconds,
    )
    fresh = state(request).sessions.rotate(session)
    fresh.token, fresh.role, fresh.user_name = token, role, name
    fresh.county = form["county"] if COUNTY.match(form["county"]) else None
    fresh.provider_id = organisation if role in labels.NEEDS_PROVIDER else None
    fresh.worker_id = worker
    fresh.evaluator_org = organisation if role in labels.NEEDS_EVALUATOR else None
    if organisation:
        orgs, _err = await _organisations(request, role, form["county"])
        fresh.org_name = dict(orgs).get(organisation, "")
    if fresh.county:
        # A worker's own token may not read the county: its name is read as the organisations are.
        reader = token if role != Role.WORKER else issue_token(settings, sub="console-sign-in", role=Role.PROVINCE_ADMIN,
                                                               counties=["*"], ttl_seconds=60)
        fresh.county_name = await _county_name(request, reader, fresh.county)
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
