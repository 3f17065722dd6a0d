"""Single sign-on in the real browser (issue 15 item 2): the console's authorization-code + PKCE
sign-in at a real OpenID Connect provider (the certified ``oidc-provider`` package, tests/oidc/).

A clerk asks for her dashboard, is sent to sign in, clicks 统一身份认证登录, logs in at the
provider's own interaction page, and lands on the page she asked for with the role and county the
provider's token carries — the console minted nothing: its session holds the provider's access
token, which the services verified with the provider's keys."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from selenium.webdriver.common.by import By

from shared.infra.auth import Role
from shared.infra.natsserver import NatsServer, free_port
from shared.testing.fixtures import make_settings
from tests.browser.conftest import COUNTY, Platform, ThreadedServer, _require_browser, screenshot
from tests.browser.helpers import submit, uscc, visible, wait
from tests.oidc.idp import AUDIENCE, Idp

CLIENT_ID = "swp-console"
CLIENT_SECRET = "console-secret-of-the-test-idp-0123456789"


@pytest.fixture(scope="module")
def idp_and_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Idp, Platform]]:
    _require_browser()
    from gateway.app import create_app

    tmp = tmp_path_factory.mktemp("sso")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    idp = Idp(
        tmp, tmp / "oidc-provider.log",
        web_clients=[{
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_types": ["authorization_code"],
            "response_types": ["code"], "redirect_uris": [base_url + "/login/callback"],
            "token_endpoint_auth_method": "client_secret_basic", "scope": "openid profile api",
        }],
        accounts={
            "zhang": {"name": "张科员", "swp_role": "purchaser", "swp_counties": [COUNTY]},
            "janitor": {"name": "保洁员", "swp_role": "janitor", "swp_counties": [COUNTY]},
        },
    ).start()
    nats = NatsServer(free_port(), tmp / "nats", log_file=tmp / "nats.log").start()
    settings = make_settings("sqlite", nats.url, tmp / "var", oidc_issuer=idp.issuer, oidc_audience=AUDIENCE)
    console_env = {
        "SWP_CONSOLE_OIDC_ISSUER": idp.issuer, "SWP_CONSOLE_OIDC_CLIENT_ID": CLIENT_ID,
        "SWP_CONSOLE_OIDC_CLIENT_SECRET": CLIENT_SECRET,
    }
    saved = {k: os.environ.get(k) for k in console_env}
    os.environ.update(console_env)  # ConsoleSettings read when the gateway builds the console
    try:
        app = create_app(settings)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    server = ThreadedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="sso-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the platform did not start"
        time.sleep(0.05)
    platform = Platform(base_url, settings)
    with platform.api() as api:
        r = api.put(f"/registry/v1/counties/{COUNTY}", json={"name": "原州区"}, headers=platform.headers(Role.PROVINCE_ADMIN, "*"))
        assert r.status_code in (200, 201), r.text
    try:
        yield idp, platform
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        nats.stop()
        idp.stop()


@pytest.fixture(scope="module")
def platform(idp_and_platform: tuple[Idp, Platform]) -> Platform:
    return idp_and_platform[1]


def log_in_at_the_provider(page, idp: Idp, login: str) -> None:
    wait(page).until(lambda d: d.current_url.startswith(idp.issuer + "/interaction/"))
    page.find_element(By.NAME, "login").send_keys(login)
    page.find_element(By.NAME, "password").send_keys("any password")
    submit(page)


def test_a_clerk_signs_in_at_the_provider_and_lands_on_her_dashboard(page, platform, idp_and_platform):
    idp = idp_and_platform[0]
    page.get(platform.base_url + "/purchaser/")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login")
    screenshot(page, "login-sso")
    page.find_element(By.ID, "sso-sign-in").click()
    # At the provider: a code + PKCE request for the console, with state and nonce.
    wait(page).until(lambda d: d.current_url.startswith(idp.issuer))
    log_in_at_the_provider(page, idp, "zhang")
    wait(page).until(lambda d: d.current_url.startswith(platform.base_url + "/purchaser/"))
    assert "张科员" in visible(page, ".topbar .who").text
    assert "原州区" in page.page_source  # the county came from the provider's swp_counties claim
    screenshot(page, "console-after-sso")
    # The token never reaches the browser.
    assert [c["name"] for c in page.get_cookies() if c["domain"] == "127.0.0.1" and c["name"].startswith("swp")] == ["swp_console"]
    assert "eyJ" not in page.page_source


def test_the_authorization_request_carries_pkce_state_and_nonce(platform, idp_and_platform):
    idp = idp_and_platform[0]
    with httpx.Client(base_url=platform.base_url, follow_redirects=False) as client:
        r = client.get("/login/oidc")
    assert r.status_code == 303 and r.headers["location"].startswith(idp.issuer + "/auth?")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    # A callback whose state is not the session's signs nobody in.
    with httpx.Client(base_url=platform.base_url, cookies=r.cookies, follow_redirects=False) as client:
        forged = client.get("/login/callback", params={"code": "stolen", "state": "forged"})
        assert forged.status_code == 400
        assert client.get("/purchaser/").status_code == 303  # still not signed in


def test_an_unknown_role_at_the_provider_is_refused(page, platform, idp_and_platform):
    idp = idp_and_platform[0]
    page.get(platform.base_url + "/login")
    page.find_element(By.ID, "sso-sign-in").click()
    log_in_at_the_provider(page, idp, "janitor")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login/callback")
    assert "登录被拒绝" in page.page_source and "swp_role" in page.page_source
    page.get(platform.base_url + "/purchaser/")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login")


def test_a_social_worker_signs_in_at_the_provider_as_herself(page, platform, idp_and_platform):
    """The provider's swp_worker_id claim is the worker the console's worker pages are about: her
    station comes from registry's workplace read under her own token. Without the claim, the
    worker pages say so instead of failing at every API call."""
    idp = idp_and_platform[0]
    clerk = platform.headers(Role.PURCHASER, COUNTY)
    with platform.api() as api:
        def post(path: str, body: dict) -> dict:
            r = api.post(f"/registry/v1/counties/{COUNTY}{path}", json=body, headers=clerk)
            assert r.status_code == 201, r.text
            return r.json()

        provider = post("/providers", {"name": "原州区明德社会工作服务中心", "uscc": uscc("52640402MJY100009"), "rating": "4A"})["provider_id"]
        station = post("/stations", {"name": "南关街道社工站", "township": "南关街道", "kind": "street_station"})["station_id"]
        worker = post("/workers", {"provider_id": provider, "station_id": station, "name": "杨帆", "birth_date": "1994-05-01",
                                   "education": "本科", "qualification": "助理社会工作师", "role": "social_worker",
                                   "hired_on": "2026-01-05"})["worker_id"]
    idp.stop()  # the province's directory learns of her (same issuer, same keys)
    idp.accounts.update({
        "yangfan": {"name": "杨帆", "swp_role": "worker", "swp_counties": [COUNTY], "swp_provider_id": provider,
                    "swp_worker_id": worker},
        "nobody": {"name": "无编号", "swp_role": "worker", "swp_counties": [COUNTY], "swp_provider_id": provider},
    })
    idp.start()
    page.get(platform.base_url + "/login")
    page.find_element(By.ID, "sso-sign-in").click()
    log_in_at_the_provider(page, idp, "yangfan")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/worker/")
    assert "杨帆" in visible(page, ".topbar .who").text
    # No contract covers her station yet: the page names the station her own workplace read gave.
    assert page.find_element(By.TAG_NAME, "h1").text == "没有可用的服务协议"
    assert "南关街道社工站" in page.find_element(By.ID, "main").text
    page.delete_all_cookies()  # the console's session and the provider's (cookies are per host, not port)
    page.get(platform.base_url + "/login")
    page.find_element(By.ID, "sso-sign-in").click()
    log_in_at_the_provider(page, idp, "nobody")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/worker/")
    assert page.find_element(By.TAG_NAME, "h1").text == "账号未关联社工"
