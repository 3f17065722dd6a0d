"""`swp demo` data works in the console: the clerk sees the demo contract, the NGO logs against it."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from gateway.demo import load_demo
from rich.console import Console
from selenium.webdriver.common.by import By

from tests.browser.conftest import screenshot
from tests.browser.helpers import check, fill, pick, sign_in, submit, text_in, visible

DEMO_PROVIDER = "固原市原州区明德社会工作服务中心"


def test_the_demo_county_in_the_console(page, platform):
    demo = load_demo(platform.base_url, platform.settings, Console(file=io.StringIO()))
    sign_in(page, platform.base_url, "县（区）民政局（购买主体）", name="张科员")
    text_in(page, "#contracts", DEMO_PROVIDER)
    assert "36万元" in page.find_element(By.ID, "contracts").text
    assert "原州区" in page.find_element(By.TAG_NAME, "h1").text
    screenshot(page, "demo-purchaser-dashboard")

    sign_in(page, platform.base_url, "社工机构 / 驻站社工（承接主体）", organisation=DEMO_PROVIDER, name="马晓燕")
    assert demo["contract_id"] in [o.get_attribute("value") for o in page.find_elements(By.CSS_SELECTOR, "#f-contract option")]
    pick(page, "#f-station_id", "南关街道社工站")
    check(page, "马晓燕（南关街道社工站）", "李娜（南关街道社工站）")
    pick(page, "#f-kind", "帮扶救助")
    pick(page, "#f-area", "社会救助")
    fill(page, {"hours_direct": "2", "person_times": "30"}, "#delivery-form")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    day = min(max(today, dt.date(2026, 12, 1)), dt.date(2027, 11, 30))  # inside the demo contract's year
    page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, "f-date"), day.isoformat())
    pick(page, "#f-indicator_code", "帮扶救助（人次）")
    submit(page, "#delivery-form")
    text_in(page, ".alert-success", "已登记")
    page.get(platform.base_url + "/provider/progress")
    visible(page, "#progress-chart svg")
    assert "30" in [t.text for t in page.find_elements(By.CSS_SELECTOR, "#progress-chart svg text")]
    screenshot(page, "demo-provider-progress")
