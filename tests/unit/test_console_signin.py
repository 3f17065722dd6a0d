"""Development sign-in is refused in production; a POST without the session's CSRF token is refused."""

from __future__ import annotations

import re

import httpx
from console.app import create_console

from shared.infra.settings import Settings


def client(settings: Settings) -> httpx.AsyncClient:
    app = create_console(settings, api_app=None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


async def test_development_sign_in_is_refused_in_production():
    settings = Settings(environment="production", oidc_issuer="https://idp.example", oidc_audience="urn:swp:api", audit_keys={})
    async with client(settings) as c:
        r = await c.get("/login")
        assert r.status_code == 403 and "开发登录已停用" in r.text
        r = await c.post("/login", data={"role": "purchaser", "county": "640402"})
        assert r.status_code == 403
        assert "swp_console" not in r.headers.get("set-cookie", "")


async def test_sign_in_needs_the_csrf_token_of_the_login_page_and_rotates_the_session():
    async with client(Settings(environment="test")) as c:
        page = await c.get("/login")
        first_sid = c.cookies["swp_console"]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = await c.post("/login", data={"role": "purchaser", "county": "640402", "csrf_token": "forged"})
        assert r.status_code == 403
        r = await c.post("/login", data={"role": "purchaser", "county": "640402", "csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/purchaser/"
        assert c.cookies["swp_console"] != first_sid  # no session fixation
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie


async def test_a_page_without_a_session_redirects_to_sign_in():
    async with client(Settings(environment="test")) as c:
        r = await c.get("/provider/")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fprovider%2F"
        r = await c.get("/provider/", headers={"HX-Request": "true"})
        assert r.headers["HX-Redirect"].startswith("/login")


async def test_production_with_single_sign_on_offers_only_the_identity_provider():
    from console.settings import ConsoleSettings

    settings = Settings(environment="production", oidc_issuer="https://idp.example", oidc_audience="urn:swp:api", audit_keys={})
    app = create_console(settings, ConsoleSettings(oidc_issuer="https://idp.example", oidc_client_id="swp-console"), api_app=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as c:
        r = await c.get("/login?next=/purchaser/")
        assert r.status_code == 200
        assert 'id="sso-sign-in"' in r.text and "/login/oidc?next=/purchaser/" in r.text
        assert 'id="login-form"' not in r.text  # no development form in production
        r = await c.post("/login", data={"role": "purchaser", "county": "640402"})
        assert r.status_code == 403
        # A callback without a sign-in under way signs nobody in.
        r = await c.get("/login/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 400
