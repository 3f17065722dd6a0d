"""A social worker logs today's service, imports a workbook with one bad row, sees the progress
chart move, corrects and voids; provider A's user never sees provider B's contract."""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from selenium.webdriver.common.by import By

from shared.infra.auth import Role
from tests.browser.conftest import COUNTY, Platform, screenshot
from tests.browser.helpers import check, fill, pick, sign_in, submit, text_in, uscc, visible, wait

NGO = "社工机构 / 驻站社工（承接主体）"
A, B = "原州区明德社会工作服务中心", "原州区阳光社会工作服务中心"


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


@pytest.fixture(scope="module")
def county(platform: Platform) -> dict[str, Any]:
    """Two providers, each with a station, two workers and a contract running today (set up through the API)."""
    today = _today()
    start = today - dt.timedelta(days=20)
    end = start.replace(year=start.year + 1) - dt.timedelta(days=1)
    clerk = platform.headers(Role.PURCHASER, COUNTY)
    out: dict[str, Any] = {}
    with platform.api() as api:
        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            r = api.post(f"/registry/v1/counties/{COUNTY}{path}", json=body, headers=clerk)
            assert r.status_code == 201, r.text
            return r.json()

        for key, name, code, station in (("a", A, "52640402MJY100002", "南关街道社工站"), ("b", B, "52640402MJY100003", "彭堡镇社工站")):
            provider = post("/providers", {"name": name, "uscc": uscc(code), "rating": "4A", "has_party_org": True})["provider_id"]
            station_id = post("/stations", {"name": station, "township": station[:4], "kind": "township_station"})["station_id"]
            workers = [
                post("/workers", {"provider_id": provider, "station_id": station_id, "name": person, "birth_date": "1994-05-01",
                                  "education": "本科", "qualification": "助理社会工作师", "role": "social_worker",
                                  "hired_on": (today - dt.timedelta(days=60)).isoformat()})["worker_id"]
                for person in ((f"{key}杨帆", f"{key}王静") if key == "b" else ("杨帆", "王静"))
            ]
            first_month = f"{start.year}-{start.month:02d}"
            contract = post("/contracts", {
                "provider_id": provider, "station_ids": [station_id], "purchaser": "原州区民政局",
                "signed_on": (today - dt.timedelta(days=30)).isoformat(), "effective_on": start.isoformat(),
                "period_start": start.isoformat(), "period_end": end.isoformat(), "amount_fen": 36_000_000,
                "funding": [{"source": "一般公共预算", "amount_fen": 36_000_000}], "service_areas": ["社会救助", "社区治理"],
                "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500, "monthly_plan": {first_month: 50}},
                               {"code": "community", "name": "社区参与活动", "unit": "场", "target": 5}],
            })["contract_id"]
            out[key] = {"provider_id": provider, "station_id": station_id, "workers": workers, "contract_id": contract}
        for side in out.values():  # services-log hears of the contracts over NATS
            headers = platform.headers(Role.PROVIDER, COUNTY, provider_id=side["provider_id"])
            deadline = time.monotonic() + 30
            while api.get(f"/services-log/v1/counties/{COUNTY}/contracts/{side['contract_id']}", headers=headers).status_code != 200:
                assert time.monotonic() < deadline, "services-log never heard of the contract"
                time.sleep(0.2)
    return out


def console_client(page: Any, platform: Platform) -> httpx.Client:
    """An HTTP client holding the browser's console session (for file downloads)."""
    return httpx.Client(base_url=platform.base_url, cookies={"swp_console": page.get_cookie("swp_console")["value"]}, timeout=30)


def test_a_social_worker_logs_imports_sees_progress_corrects_and_voids(page, platform, county, tmp_path):
    base = platform.base_url
    sign_in(page, base, NGO, organisation=A, name="杨帆")
    assert page.current_url.startswith(base + "/provider/")
    assert "明德" in page.find_element(By.CSS_SELECTOR, ".topbar .who").text

    # 今日服务登记: everything picked by name; 13 hours is over the daily cap, refused next to the workers.
    pick(page, "#f-station_id", "南关街道社工站")
    check(page, "杨帆（南关街道社工站）")
    pick(page, "#f-kind", "帮扶救助")
    pick(page, "#f-area", "社会救助")
    fill(page, {"hours_direct": "13", "person_times": "12"}, "#delivery-form")
    pick(page, "#f-indicator_code", "帮扶救助（人次）")
    submit(page, "#delivery-form")
    error = visible(page, '.field-error[data-field="worker_ids"]')
    assert "R-LOG-4" in error.text
    assert "杨帆" in error.text and "将登记13小时" in error.text and "would log" not in error.text, error.text
    fill(page, {"hours_direct": "2"}, "#delivery-form")
    screenshot(page, "provider-today")
    submit(page, "#delivery-form")
    text_in(page, ".alert-success", "已登记")
    text_in(page, "#deliveries", "杨帆")

    # The Excel route: the template names the stations and workers; one good row, one bad row.
    contract_id = county["a"]["contract_id"]
    with console_client(page, platform) as client:
        r = client.get(f"/provider/import/template.xlsx?contract={contract_id}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["服务记录"]
    headers = [c.value for c in sheet[2]]
    rows = {sheet.cell(row=n, column=headers.index("社工姓名") + 1).value: n for n in range(3, sheet.max_row + 1)}
    assert set(rows) >= {"杨帆", "王静"} and "b杨帆" not in rows  # the contract's own workers only
    assert sheet.column_dimensions["C"].hidden and sheet.protection.sheet  # ids hidden and locked
    day = _today().isoformat()
    good = {"服务类型": "探访", "服务领域": "社区治理", "服务日期": day, "直接服务时长": 1.5, "服务人次": 8, "指标编号": "assist"}
    bad = {**good, "服务类型": "跳舞", "服务人次": 3}
    for name, values in (("王静", good), ("杨帆", bad)):
        for header, value in values.items():
            sheet.cell(row=rows[name], column=headers.index(header) + 1).value = value
    path = tmp_path / "服务记录.xlsx"
    book.save(path)
    page.get(f"{base}/provider/import?contract={contract_id}")
    page.find_element(By.ID, "f-file").send_keys(str(path))
    submit(page, "#import-form")
    errors = visible(page, "#import-errors")
    text_in(page, "#import-errors", f"第{rows['杨帆']}行")
    assert "服务类型" in errors.text and "R-LOG-1" in errors.text and "服务类型须为" in errors.text
    assert "不在规定的服务类型中" in errors.text
    assert page.find_element(By.ID, "import-recorded").text == "1"
    assert page.find_element(By.ID, "import-refused").text == "1"
    page.execute_script("document.getElementById('import-report').scrollIntoView()")
    screenshot(page, "provider-import-report")

    # Progress: 12 logged today + 8 imported = 20 人次 on 帮扶救助, drawn in the chart.
    page.get(f"{base}/provider/progress?contract={contract_id}")
    wait(page).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#progress-chart svg text"))
    labels = [t.text for t in page.find_elements(By.CSS_SELECTOR, "#progress-chart svg text")]
    assert "20" in labels and "500" in labels, labels
    assert "20" in page.find_element(By.ID, "progress-table").text
    screenshot(page, "provider-progress")

    # Corrections and voiding keep history; the totals follow.
    page.get(f"{base}/provider/deliveries?contract={contract_id}")
    page.find_element(By.CSS_SELECTOR, "#deliveries tbody tr:first-child a").click()
    fill(page, {"reason": "人次录入有误", "person_times": "15"}, "#correction-form")
    submit(page, "#correction-form")
    text_in(page, ".alert-success", "已更正")
    text_in(page, "#deliveries", "已更正")
    page.find_element(By.CSS_SELECTOR, "#deliveries tbody tr:last-child a").click()
    fill(page, {"void_reason": "重复登记"}, "#voiding-form")
    submit(page, "#voiding-form")
    text_in(page, "#deliveries", "已作废")
    page.get(f"{base}/provider/progress?contract={contract_id}")
    assist = page.find_element(By.XPATH, "//table[@id='progress-table']//tr[td[1][normalize-space()='帮扶救助']]")
    assert assist.find_element(By.CSS_SELECTOR, "td:nth-child(4)").text == "15"  # 12 corrected to 15; the 8 voided

    # The month's brief, viewed and downloaded as XLSX.
    page.get(f"{base}/provider/briefs?contract={contract_id}")
    text_in(page, "#brief", "工作简报")
    href = page.find_element(By.ID, "brief-download").get_attribute("href")
    with console_client(page, platform) as client:
        r = client.get(href)
    assert r.status_code == 200 and load_workbook(io.BytesIO(r.content)).sheetnames


def test_provider_a_never_sees_provider_b(page, platform, county):
    base = platform.base_url
    sign_in(page, base, NGO, organisation=A)
    for path in ("/provider/", "/provider/deliveries", "/provider/import", "/provider/progress", "/provider/briefs"):
        page.get(base + path)
        options = [o.get_attribute("value") for o in page.find_elements(By.CSS_SELECTOR, "#f-contract option")]
        assert county["a"]["contract_id"] in options and county["b"]["contract_id"] not in options
        assert "b杨帆" not in page.page_source and "彭堡镇社工站" not in page.page_source
    b = county["b"]["contract_id"]
    for path in (f"/provider/deliveries?contract={b}", f"/provider/progress?contract={b}",
                 f"/provider/briefs/download?contract={b}&month=2027-01"):
        page.get(base + path)
        assert "b杨帆" not in page.page_source
        heading = page.find_element(By.TAG_NAME, "h1").text
        assert heading in ("没有可用的服务协议", "无权办理：角色或县（区）不符（R-AUD-6）", "找不到该记录"), heading
