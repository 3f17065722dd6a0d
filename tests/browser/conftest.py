"""Browser tests: the real platform (gateway + four services, real NATS, SQLite store) under a
real uvicorn server, driven by Debian's headless Chromium through Selenium.

Chromium and chromedriver come from Debian (``make test`` installs ``chromium`` and
``chromium-driver``); Selenium is pointed at ``/usr/bin/chromedriver`` so Selenium Manager never
downloads anything. Without them the tests skip — with ``CI=true`` they fail instead.
Screenshots of the main pages go to ``var/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from shared.infra.auth import Role, issue_token
from shared.infra.natsserver import NatsServer, free_port
from shared.infra.settings import Settings
from shared.testing.fixtures import make_settings

CHROMEDRIVER = Path(os.environ.get("SWP_CHROMEDRIVER", "/usr/bin/chromedriver"))
CHROMIUM = Path(os.environ.get("SWP_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
COUNTY = "640402"


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMEDRIVER, CHROMIUM) if not p.exists()]
    if missing:
        message = f"headless Chromium missing ({', '.join(missing)}): apt-get install chromium chromium-driver (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Platform:
    base_url: str
    settings: Settings

    def headers(self, role: Role | str, *counties: str, **claims: Any) -> dict[str, str]:
        token = issue_token(self.settings, sub="browser-test-setup", role=role, counties=list(counties), **claims)
        return {"Authorization": f"Bearer {token}"}

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)


class ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform on a free port, shared by the tests of one module."""
    _require_browser()
    from gateway.app import create_app

    tmp = tmp_path_factory.mktemp("platform")
    nats = NatsServer(free_port(), tmp / "nats", log_file=tmp / "nats.log").start()
    settings = make_settings("sqlite", nats.url, tmp / "var")
    port = free_port()
    server = ThreadedServer(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="browser-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the platform did not start"
        time.sleep(0.05)
    platform = Platform(f"http://127.0.0.1:{port}", settings)
    with platform.api() as api:  # the county exists before anyone signs in (a province admin's job)
        r = api.put(f"/registry/v1/counties/{COUNTY}", json={"name": "原州区"}, headers=platform.headers(Role.PROVINCE_ADMIN, "*"))
        assert r.status_code in (200, 201), r.text
    try:
        yield platform
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        nats.stop()


@pytest.fixture(scope="module")
def browser(platform: Platform) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1366,768",
                "--lang=zh-CN", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Any, platform: Platform) -> Iterator[Any]:
    """The browser with no session (cookies cleared) at the platform's origin."""
    browser.get(platform.base_url + "/static/favicon.svg")
    browser.delete_all_cookies()
    browser.set_window_size(1366, 768)
    yield browser


def screenshot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def chromium_available() -> bool:
    return CHROMEDRIVER.exists() and bool(shutil.which(str(CHROMIUM)))
