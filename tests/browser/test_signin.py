"""Sign-in, the redirect of a request without a session, sign-out, and same-origin assets."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from selenium.webdriver.common.by import By

from tests.browser.conftest import screenshot
from tests.browser.helpers import sign_in, submit, visible, wait


def test_a_request_without_a_session_is_redirected_to_sign_in(page, platform):
    page.get(platform.base_url + "/")  # a browser at the gateway's root lands on the console's sign-in
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login")
    page.get(platform.base_url + "/purchaser/")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login")
    assert "next=%2Fpurchaser%2F" in page.current_url
    assert page.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    # Every field of the sign-in form has its <label for>.
    for field in page.find_elements(By.CSS_SELECTOR, "#login-form input:not([type=hidden]), #login-form select"):
        assert page.find_elements(By.CSS_SELECTOR, f'label[for="{field.get_attribute("id")}"]'), field.get_attribute("name")
    screenshot(page, "login")


def test_a_clerk_signs_in_sees_the_dashboard_and_signs_out(page, platform):
    page.get(platform.base_url + "/purchaser/")  # via the redirect: back to the page asked for
    wait(page).until(lambda d: "/login" in d.current_url)
    sign_in(page, platform.base_url, "县（区）民政局（购买主体）", name="张科员")
    assert urlsplit(page.current_url).path == "/purchaser/"
    assert "张科员" in visible(page, ".topbar .who").text
    cookie = page.get_cookie("swp_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    # The token never reaches the browser: no storage, no cookie but the random session id.
    stored = page.execute_script(
        "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert "eyJ" not in stored and "Bearer" not in stored
    assert [c["name"] for c in page.get_cookies()] == ["swp_console"]
    assert "eyJ" not in page.page_source  # no JWT in the page
    submit(page, ".topbar form")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login")
    page.get(platform.base_url + "/purchaser/")
    wait(page).until(lambda d: urlsplit(d.current_url).path == "/login")


def test_a_post_without_the_csrf_token_is_refused(page, platform):
    sign_in(page, platform.base_url, "县（区）民政局（购买主体）")
    status = page.execute_script(
        "return fetch('/logout', {method: 'POST', body: new URLSearchParams({csrf_token: 'forged'})}).then(r => r.status)"
    )
    assert status == 403
    page.get(platform.base_url + "/purchaser/")  # still signed in
    assert urlsplit(page.current_url).path == "/purchaser/"


def test_pages_fetch_nothing_from_another_origin(page, platform):
    sign_in(page, platform.base_url, "县（区）民政局（购买主体）")
    origin = platform.base_url
    for path in ("/purchaser/", "/registry/docs", "/finance/redoc", "/login"):
        page.get_log("performance")  # drop what earlier pages fetched
        page.get(origin + path)
        wait(page).until(lambda d: d.execute_script("return document.readyState") == "complete")
        entries = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        requested = [
            json.loads(entry["message"])["message"]["params"]["request"]["url"]
            for entry in page.get_log("performance")
            if json.loads(entry["message"])["message"]["method"] == "Network.requestWillBeSent"
        ]
        urls = [u for u in entries + requested if not u.startswith(("data:", "blob:", "about:"))]
        assert urls, f"{path}: no resource seen (the check would prove nothing)"
        foreign = [u for u in urls if not u.startswith(origin + "/")]
        assert not foreign, f"{path} fetched from another origin: {foreign}"
