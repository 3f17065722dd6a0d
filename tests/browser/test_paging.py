"""A clerk pages through the county's contracts in the browser (issue #16 item 2): with
SWP_CONSOLE_PAGE_SIZE=5 and 7 contracts, page 1 shows 5, 下一页 the other 2, 上一页 and 首页 the
first 5 again; the dashboard counts the first page only (“5+”)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By

from shared.infra.auth import Role
from tests.browser.conftest import COUNTY, screenshot
from tests.browser.helpers import sign_in, visible, wait
from tests.integration.slice import contract_body

CLERK = "县（区）民政局（购买主体）"
PAGE_SIZE = 5
CONTRACTS = 7


@pytest.fixture(scope="module", autouse=True)
def small_pages() -> Iterator[None]:
    """Before the module's platform starts: pages of 5 rows."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWP_CONSOLE_PAGE_SIZE", str(PAGE_SIZE))
        yield


@pytest.fixture(scope="module")
def contracts(platform) -> list[str]:
    clerk = platform.headers(Role.PURCHASER, COUNTY)
    with platform.api() as api:
        r = api.post(f"/registry/v1/counties/{COUNTY}/providers",
                     json={"name": "原州区明德社会工作服务中心", "uscc": "52640402MJY1000012", "rating": "4A"}, headers=clerk)
        assert r.status_code == 201, r.text
        provider = r.json()["provider_id"]
        r = api.post(f"/registry/v1/counties/{COUNTY}/stations",
                     json={"name": "南关街道社工站", "township": "南关街道", "kind": "street_station"}, headers=clerk)
        assert r.status_code == 201, r.text
        station = r.json()["station_id"]
        for name in ("李娜", "王静"):  # R-REG-2: the station's staffing
            r = api.post(f"/registry/v1/counties/{COUNTY}/workers", headers=clerk, json={
                "provider_id": provider, "station_id": station, "name": name, "birth_date": "1995-05-05", "education": "本科",
                "qualification": "助理社会工作师", "role": "social_worker", "hired_on": "2026-08-01"})
            assert r.status_code == 201, r.text
        ids = []
        for i in range(CONTRACTS):
            r = api.post(f"/registry/v1/counties/{COUNTY}/contracts",
                         json=contract_body(provider, [station], justification=f"第{i}份"), headers=clerk)
            assert r.status_code == 201, r.text
            ids.append(r.json()["contract_id"])
    return ids


def shown(driver) -> list[str]:
    links = driver.find_elements(By.CSS_SELECTOR, "#contracts tbody a")
    return [a.get_attribute("href").rsplit("/", 1)[1] for a in links]


def go(driver, label: str) -> None:
    before = driver.current_url
    driver.find_element(By.XPATH, f'//nav[@class="pager"]//a[normalize-space()="{label}"]').click()
    wait(driver).until(lambda d: d.current_url != before)
    visible(driver, "#contracts")


def disabled(driver, label: str) -> bool:
    spans = driver.find_elements(By.XPATH, f'//nav[@class="pager"]//span[@aria-disabled="true" and normalize-space()="{label}"]')
    return bool(spans)


def test_a_clerk_pages_through_the_contracts(page, platform, contracts):
    base = platform.base_url
    sign_in(page, base, CLERK, name="张科员")

    stat = visible(page, "#stats .stat .num")
    assert stat.text == "5+"  # 7 signed contracts: the dashboard counts the first page only

    page.get(base + "/purchaser/contracts")
    visible(page, "#contracts")
    assert shown(page) == contracts[:PAGE_SIZE]
    assert disabled(page, "首页") and disabled(page, "上一页") and not disabled(page, "下一页")
    assert "第 1 页" in page.find_element(By.CSS_SELECTOR, "nav.pager").text
    screenshot(page, "paging-contracts-page-1")

    go(page, "下一页")
    assert shown(page) == contracts[PAGE_SIZE:]
    assert "cursor=" in page.current_url and disabled(page, "下一页")
    assert "第 2 页" in page.find_element(By.CSS_SELECTOR, "nav.pager").text
    screenshot(page, "paging-contracts-page-2")

    go(page, "上一页")
    assert shown(page) == contracts[:PAGE_SIZE] and "cursor=" not in page.current_url

    go(page, "下一页")
    go(page, "首页")
    assert shown(page) == contracts[:PAGE_SIZE]
