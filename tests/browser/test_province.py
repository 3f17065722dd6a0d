"""A province admin changes a county's policy parameter and sees it in force; publishes the
province rubric; loads next year's working-day calendar."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from shared.infra.auth import Role
from tests.browser.conftest import COUNTY, screenshot
from tests.browser.helpers import fill, sign_in, submit, text_in, visible, wait

ADMIN = "省级管理员"


def test_the_admin_changes_a_county_policy_parameter_and_sees_it_in_force(page, platform):
    base = platform.base_url
    sign_in(page, base, ADMIN, name="省厅管理员")
    assert "/province/" in page.current_url
    fill(page, {"county": COUNTY}, "#open-county-form")
    submit(page, "#open-county-form")
    row = visible(page, '#policy tr[data-parameter="min_workers_per_station"]')
    # Every parameter is there, explained in Chinese, with its rule and the province default.
    assert "每个签约站点至少配备承接机构的社工人数" in row.text and "R-REG-2" in row.text
    assert len(page.find_elements(By.CSS_SELECTOR, "#policy tbody tr")) >= 20
    version = page.find_element(By.ID, "policy-version").text
    assert "已调整" not in row.text

    # A typing error is refused next to the parameter, naming its rule; nothing is recorded.
    fill(page, {"min_workers_per_station": "三"}, "#policy-form")
    submit(page, "#policy-form")
    error = visible(page, '.field-error[data-field="min_workers_per_station"]')
    assert "R-REG-2" in error.text
    assert page.find_element(By.ID, "policy-version").text == version

    fill(page, {"min_workers_per_station": "3", "station_min_amount_fen": "150,000"}, "#policy-form")
    submit(page, "#policy-form")
    text_in(page, ".alert-success", "政策已更新")
    row = page.find_element(By.CSS_SELECTOR, '#policy tr[data-parameter="min_workers_per_station"]')
    assert "已调整" in row.text
    assert page.find_element(By.ID, "p-min_workers_per_station").get_attribute("value") == "3"
    assert page.find_element(By.ID, "p-station_min_amount_fen").get_attribute("value") == "150000"
    assert page.find_element(By.ID, "policy-version").text != version
    screenshot(page, "province-county-policy")

    # In force: the registry's county read (what a new contract is checked against) says so.
    with platform.api() as api:
        county = api.get(f"/registry/v1/counties/{COUNTY}", headers=platform.headers(Role.PURCHASER, COUNTY)).json()
    assert county["policy"]["min_workers_per_station"] == 3
    assert county["policy"]["station_min_amount_fen"] == 15_000_000


def test_the_admin_publishes_the_rubric_and_loads_a_calendar(page, platform):
    base = platform.base_url
    sign_in(page, base, ADMIN, name="省厅管理员")
    page.get(base + "/province/rubric")
    visible(page, "#no-rubric")
    fill(page, {"name": "宁夏社工站项目统一评估标准", "t-合格": "65"}, "#rubric-form")
    submit(page, "#rubric-form")
    text_in(page, ".alert-success", "第1版")
    text_in(page, "#rubric-items", "专款专用")

    page.get(base + "/province/calendars")
    fill(page, {"year": "2031", "holidays": "2031-01-01\n2031-x-02"}, "#calendar-form")
    submit(page, "#calendar-form")
    assert "R-FIN-6" in visible(page, '.field-error[data-field="holidays"]').text
    fill(page, {"holidays": "2031-01-01, 2031-01-02", "workdays": "2031-01-04"}, "#calendar-form")
    submit(page, "#calendar-form")
    text_in(page, ".alert-success", "2031年")
    wait(page).until(lambda d: "2031" in d.find_element(By.ID, "calendars").text)
    screenshot(page, "province-calendars")
