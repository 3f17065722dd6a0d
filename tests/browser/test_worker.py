"""A social worker signs in with her own account (role worker, a real worker_id picked among her
organisation's workers), logs today's service for herself at her station, is refused with the rule
when over the daily cap, sees it in her own list — not a colleague's — corrects and voids it."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from shared.infra.auth import Role
from tests.browser.conftest import COUNTY, Platform, screenshot
from tests.browser.helpers import fill, pick, sign_in, submit, text_in, uscc, visible, wait

WORKER = "驻站社工（个人账号）"
NGO = "原州区明德社会工作服务中心"


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture(scope="module")
def county(platform: Platform) -> dict[str, Any]:
    """明德 with a station, two workers (杨帆, 王静) and a contract running today; a delivery of 王静's
    logged by the organisation (set up through the API)."""
    today = _today()
    start = today - dt.timedelta(days=20)
    end = start.replace(year=start.year + 1) - dt.timedelta(days=1)
    clerk = platform.headers(Role.PURCHASER, COUNTY)
    with platform.api() as api:
        def post(path: str, body: dict[str, Any], headers: dict[str, str] = clerk, status: int = 201) -> dict[str, Any]:
            r = api.post(path if path.startswith("/services-log") else f"/registry/v1/counties/{COUNTY}{path}", json=body, headers=headers)
            assert r.status_code == status, r.text
            return r.json()

        def hire(station: str, people: tuple[str, ...], birth_date: str) -> dict[str, str]:
            return {person: post("/workers", {"provider_id": provider, "station_id": station, "name": person, "birth_date": birth_date,
                                              "education": "本科", "qualification": "助理社会工作师", "role": "social_worker",
                                              "hired_on": (today - dt.timedelta(days=60)).isoformat()})["worker_id"]
                    for person in people}

        def sign(station: str, amount_fen: int, areas: list[str], indicators: list[dict[str, Any]]) -> str:
            return post("/contracts", {
                "provider_id": provider, "station_ids": [station], "purchaser": "原州区民政局",
                "signed_on": (today - dt.timedelta(days=30)).isoformat(), "effective_on": start.isoformat(),
                "period_start": start.isoformat(), "period_end": end.isoformat(), "amount_fen": amount_fen,
                "funding": [{"source": "一般公共预算", "amount_fen": amount_fen}], "service_areas": areas, "indicators": indicators,
            })["contract_id"]

        def first_delivery(body: dict[str, Any]) -> str:
            deadline = time.monotonic() + 30  # services-log hears of the contract and workers over NATS
            while True:
                r = api.post(f"/services-log/v1/counties/{COUNTY}/deliveries", headers=ngo, json=body)
                if r.status_code == 201:
                    return str(r.json()["delivery_id"])
                assert time.monotonic() < deadline, r.text
                time.sleep(0.2)

        provider = post("/providers", {"name": NGO, "uscc": uscc("52640402MJY100007"), "rating": "4A", "has_party_org": True})["provider_id"]
        station = post("/stations", {"name": "南关街道社工站", "township": "南关街道", "kind": "street_station"})["station_id"]
        workers = hire(station, ("杨帆", "王静"), "1994-05-01")
        contract = sign(station, 36_000_000, ["社会救助", "社区治理"],
                        [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500},
                         {"code": "community", "name": "社区参与活动", "unit": "场", "target": 5}])
        ngo = platform.headers(Role.PROVIDER, COUNTY, provider_id=provider)
        colleagues = first_delivery({
            "contract_id": contract, "station_id": station, "worker_ids": [workers["王静"]], "kind": "探访", "area": "社区治理",
            "date": today.isoformat(), "hours_direct": "1", "person_times": 4})
        # 周敏 worked at 东关 under its own contract, logged a visit there ten days ago, then moved to 南关
        # three days ago: 东关's contract no longer covers her today, her visit under it stays hers.
        east = post("/stations", {"name": "东关街道社工站", "township": "东关街道", "kind": "street_station"})["station_id"]
        zhou = hire(east, ("周敏", "陈晨"), "1992-03-01")["周敏"]  # a station's contract needs two workers there (R-REG-2)
        east_contract = sign(east, 12_000_000, ["社会救助"], [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 200}])
        earlier = first_delivery({
            "contract_id": east_contract, "station_id": east, "worker_ids": [zhou], "kind": "探访", "area": "社会救助",
            "date": (today - dt.timedelta(days=10)).isoformat(), "hours_direct": "1", "person_times": 3})
        r = api.post(f"/registry/v1/counties/{COUNTY}/workers/{zhou}/move", headers=ngo,
                     json={"to_station_id": station, "moved_on": (today - dt.timedelta(days=3)).isoformat()})
        assert r.status_code == 200, r.text
    return {"provider_id": provider, "station_id": station, "workers": workers, "contract_id": contract,
            "colleagues_delivery": colleagues, "east_contract": east_contract, "earlier_delivery": earlier}


def test_a_worker_signs_in_as_herself_logs_sees_her_own_corrects_and_voids(page, platform, county):
    base = platform.base_url
    # The sign-in form offers the organisation's registered workers once the organisation is chosen.
    sign_in(page, base, WORKER, organisation=NGO, worker="杨帆（驻站社工 · 南关街道社工站）", name="")
    assert page.current_url.startswith(base + "/worker/")
    who = page.find_element(By.CSS_SELECTOR, ".topbar .who").text
    assert "杨帆" in who and "明德" in who and "驻站社工" in who
    assert "原州区（640402）" in page.find_element(By.CSS_SELECTOR, ".topbar").text  # her own token reads her county
    nav = [a.text for a in page.find_elements(By.CSS_SELECTOR, ".sidenav a")]
    assert nav == ["今日服务登记", "我的服务记录"]

    # 今日服务登记: she is the worker (no choice of colleagues); her station is preselected.
    assert page.find_element(By.ID, "worker-fixed").text.startswith("杨帆")
    assert not page.find_elements(By.CSS_SELECTOR, "#worker-checks, input[name=worker_ids]") and "王静" not in page.page_source
    assert page.find_element(By.CSS_SELECTOR, "#f-station_id option:checked").text == "南关街道社工站"
    options = [o.get_attribute("value") for o in page.find_elements(By.CSS_SELECTOR, "#f-contract option")]
    assert options == [county["contract_id"]]
    pick(page, "#f-kind", "帮扶救助")
    pick(page, "#f-area", "社会救助")
    pick(page, "#f-indicator_code", "帮扶救助（人次）")
    fill(page, {"hours_direct": "13", "person_times": "6", "content": "入户了解低保家庭近况"}, "#delivery-form")
    submit(page, "#delivery-form")
    error = visible(page, '.field-error[data-field="worker_ids"]')  # over the daily cap: in Chinese, with the rule
    assert "R-LOG-4" in error.text and "12" in error.text, error.text
    # A sentence in Chinese with her name and the hours, never her id (nor the English words).
    assert "杨帆" in error.text and "将登记13小时" in error.text and "超过每日12小时的上限" in error.text, error.text
    assert "would log" not in error.text and not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", error.text), error.text
    assert page.find_element(By.ID, "worker-fixed").text.startswith("杨帆")
    screenshot(page, "worker-today-refused")
    fill(page, {"hours_direct": "2"}, "#delivery-form")
    submit(page, "#delivery-form")
    text_in(page, ".alert-success", "已登记")
    assert "杨帆" in page.find_element(By.CSS_SELECTOR, ".alert-success").text

    # 我的服务记录: hers only — 王静's visit, logged by the organisation, is not in it.
    assert page.current_url.startswith(base + "/worker/deliveries")
    assert page.find_element(By.TAG_NAME, "h1").text == "我的服务记录"
    rows = page.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")
    assert len(rows) == 1 and "杨帆" in rows[0].text and "帮扶救助" in rows[0].text and "6" in rows[0].text, [r.text for r in rows]
    assert "王静" not in page.page_source and "探访" not in page.find_element(By.ID, "deliveries").text
    screenshot(page, "worker-deliveries")

    # A colleague's record is not hers to open (as an unknown id); the organisation's pages are not hers either.
    page.get(f"{base}/worker/deliveries/{county['colleagues_delivery']}")
    assert page.find_element(By.TAG_NAME, "h1").text == "找不到该记录"
    page.get(f"{base}/provider/")
    assert page.find_element(By.TAG_NAME, "h1").text == "无权访问"

    # Correcting and voiding her own record.
    page.get(f"{base}/worker/deliveries")
    page.find_element(By.CSS_SELECTOR, "#deliveries tbody tr:first-child a").click()
    assert page.find_element(By.ID, "worker-fixed").text.startswith("杨帆")
    fill(page, {"reason": "", "person_times": "8"}, "#correction-form")
    page.execute_script("document.getElementById('f-reason').removeAttribute('required')")
    submit(page, "#correction-form")  # no reason: refused, in Chinese beside the field
    visible(page, '.field-error[data-field="reason"]')
    fill(page, {"reason": "人次录入有误", "person_times": "8"}, "#correction-form")
    submit(page, "#correction-form")
    text_in(page, ".alert-success", "已更正")
    text_in(page, "#deliveries", "已更正")
    page.find_element(By.CSS_SELECTOR, "#deliveries tbody tr:first-child a").click()
    fill(page, {"void_reason": "重复登记"}, "#voiding-form")
    submit(page, "#voiding-form")
    text_in(page, ".alert-success", "已作废")
    text_in(page, "#deliveries", "已作废")
    wait(page).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")) == 1)


def test_sign_in_as_a_worker_needs_the_worker_herself(page, platform, county):
    base = platform.base_url
    page.get(base + "/login")
    pick(page, "#f-role", WORKER)
    wait(page).until(lambda d: any(o.text == NGO for o in d.find_elements(By.CSS_SELECTOR, "#f-organisation option")))
    pick(page, "#f-organisation", NGO)
    wait(page).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#f-worker option")) == 5)  # 请选择, 杨帆, 王静, 周敏, 陈晨
    page.execute_script("document.getElementById('f-worker').removeAttribute('required')")
    submit(page, "#login-form")
    error = visible(page, "#worker-slot .field-error")
    assert "请选择您本人" in error.text
    assert page.current_url.startswith(base + "/login")


def test_a_worker_who_moved_finds_her_deliveries_under_her_old_stations_contract(page, platform, county):
    """我的服务记录 offers the contracts she worked under (her old station's, no longer hers to log
    against today) after today's; under the old one her visit there is listed, named by its station."""
    base = platform.base_url
    sign_in(page, base, WORKER, organisation=NGO, worker="周敏（驻站社工 · 南关街道社工站）", name="")
    options = [o.get_attribute("value") for o in page.find_elements(By.CSS_SELECTOR, "#f-contract option")]
    assert options == [county["contract_id"]]  # today: 南关's contract only
    page.get(f"{base}/worker/deliveries")
    options = [o.get_attribute("value") for o in page.find_elements(By.CSS_SELECTOR, "#f-contract option")]
    assert county["contract_id"] in options and county["east_contract"] in options, options
    assert options.index(county["contract_id"]) < options.index(county["east_contract"])
    labels = [o.text for o in page.find_elements(By.CSS_SELECTOR, "#f-contract option")]
    assert "南关街道社工站" in labels[0] and "东关街道社工站" in labels[1], labels  # told apart by station
    assert "尚无服务记录" in page.find_element(By.ID, "deliveries").text  # none under 南关's yet
    page.get(f"{base}/worker/deliveries?contract={county['east_contract']}")
    rows = page.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")
    assert len(rows) == 1 and "东关街道社工站" in rows[0].text and "周敏" in rows[0].text and "探访" in rows[0].text, [r.text for r in rows]
    assert county["earlier_delivery"] in rows[0].find_element(By.TAG_NAME, "a").get_attribute("href")
    screenshot(page, "worker-deliveries-earlier-contract")
