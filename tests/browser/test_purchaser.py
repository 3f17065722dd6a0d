"""A county clerk registers a provider, a station and its workers, and signs a contract in 元."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from selenium.webdriver.common.by import By

from tests.browser.conftest import screenshot
from tests.browser.helpers import check, fill, pick, sign_in, submit, text_in, uscc, visible, wait

CLERK = "县（区）民政局（购买主体）"
PROVIDER = "原州区明德社会工作服务中心"


def test_a_clerk_registers_a_provider_station_workers_and_signs_a_contract_in_yuan(page, platform):
    base = platform.base_url
    sign_in(page, base, CLERK, name="张科员")

    # Provider: a mistyped USCC is flagged as typed, and refused by the platform with the rule.
    page.get(base + "/purchaser/providers")
    good = uscc("52640402MJY100001")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    fill(page, {"name": PROVIDER, "uscc": bad}, "#provider-form")
    text_in(page, "#uscc-hint", "校验位不符")
    pick(page, "#f-rating", "4A")
    page.find_element(By.ID, "f-has_party_org").click()
    submit(page, "#provider-form")
    error = visible(page, '.field-error[data-field="uscc"]')
    assert "R-REG-1" in error.text and f"统一社会信用代码“{bad}”无效" in error.text and "详情" not in error.text
    screenshot(page, "purchaser-provider-refused")
    fill(page, {"uscc": good}, "#provider-form")
    submit(page, "#provider-form")
    text_in(page, "#providers", PROVIDER)

    # Stations and two workers of the provider at the first one.
    page.get(base + "/purchaser/stations")
    for name, township in (("三营镇社工站", "三营镇"), ("彭堡镇社工站", "彭堡镇")):
        fill(page, {"name": name, "township": township, "kind": "乡镇社工站"}, "#station-form")
        submit(page, "#station-form")
        text_in(page, "#stations", name)
    page.get(base + "/purchaser/workers")
    for name, born in (("马晓燕", "1992-03-14"), ("李娜", "1996-07-02")):
        fill(page, {"provider_id": PROVIDER, "station_id": "三营镇社工站", "name": name, "education": "本科",
                    "qualification": "助理社会工作师", "role": "驻站社工"}, "#worker-form")
        for field, value in (("birth_date", born), ("hired_on", "2026-11-01")):
            page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, f"f-{field}"), value)
        submit(page, "#worker-form")
        text_in(page, "#workers", name)
    # Too old at hiring (R-REG-3): refused in a Chinese sentence with her age and the county's limit.
    fill(page, {"provider_id": PROVIDER, "station_id": "三营镇社工站", "name": "王静", "education": "本科",
                "qualification": "社会工作师", "role": "驻站社工"}, "#worker-form")
    for field, value in (("birth_date", "1970-05-01"), ("hired_on", "2026-11-01")):
        page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, f"f-{field}"), value)
    submit(page, "#worker-form")
    error = visible(page, '.field-error[data-field="birth_date"]')
    assert "该社工在2026年11月1日已满56岁，县里规定招聘时年龄不超过40岁" in error.text and "R-REG-3" in error.text
    assert "详情" not in error.text and "worker is" not in page.page_source
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", error)
    screenshot(page, "purchaser-worker-refused")

    # The contract wizard takes 元; the funding shares must add up (R-FIN-2), refused next to them.
    page.get(base + "/purchaser/contracts/new")
    pick(page, "#f-provider_id", PROVIDER)
    check(page, "三营镇社工站（三营镇）", "社会救助", "儿童关爱保护")
    for field, value in (("signed_on", "2026-11-20"), ("effective_on", "2026-12-01"), ("period_start", "2026-12-01"),
                         ("period_end", "2027-11-30")):
        page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, f"f-{field}"), value)
    fill(page, {"amount": "360,000"}, "#contract-form")
    text_in(page, "#amount-preview", "360,000 元")
    pick(page, "#fs-0", "福彩公益金")
    fill(page, {"funding_amount": "160000"}, "#funding-rows tr:nth-child(1)")
    pick(page, "#fs-1", "一般公共预算")
    fill(page, {"funding_amount": "100000"}, "#funding-rows tr:nth-child(2)")  # 100,000 short
    for n, values in enumerate((("assist", "帮扶救助", "人次", "500", "2026-12:50, 2027-01:100, 2027-02:100"),
                                ("community", "社区参与活动", "场", "5", ""))):
        for name, value in zip(("ind_code", "ind_name", "ind_unit", "ind_target", "ind_plan"), values, strict=True):
            if value:
                fill(page, {name: value}, f"#indicator-rows tr:nth-child({n + 1})")
    screenshot(page, "purchaser-contract-wizard")
    submit(page, "#contract-form")
    error = visible(page, '.field-error[data-field="funding"]')
    assert "R-FIN-2" in error.text and "各资金来源合计260,000.00 元，与协议金额360,000.00 元不符" in error.text
    assert "详情" not in error.text
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", error)
    screenshot(page, "purchaser-contract-refused")
    # What was typed is kept: fix the one share and sign.
    assert page.find_element(By.ID, "f-amount").get_attribute("value") == "360,000"
    fill(page, {"funding_amount": "200000"}, "#funding-rows tr:nth-child(2)")
    submit(page, "#contract-form")
    wait(page).until(lambda d: urlsplit(d.current_url).path.startswith("/purchaser/contracts/") and "new" not in d.current_url)
    assert "36万元" in visible(page, "#contract-amount").text
    assert "360,000.00 元" in page.find_element(By.ID, "contract-amount").text
    # Finance schedules tranche 1 from the ContractSigned event (NATS): 50 % = 18万元.
    deadline = time.monotonic() + 30
    while "18万元" not in page.find_element(By.ID, "tranches").text:
        assert time.monotonic() < deadline, "finance never scheduled tranche 1"
        time.sleep(0.3)
        page.refresh()
    screenshot(page, "purchaser-contract")

    # A contract that is not the county's: the error page says so in Chinese, without the id asked for.
    unknown = "0b7e5a4c-2f9d-4c1e-9a57-3d2c8e6f1a90"
    page.get(base + f"/purchaser/contracts/{unknown}")
    text_in(page, "#error-message", "找不到所选服务协议")
    assert unknown not in page.page_source and "详情" not in page.page_source

    page.get(base + "/purchaser/")
    text_in(page, "#contracts", PROVIDER)
    assert "待备案" in page.find_element(By.ID, "contracts").text
    screenshot(page, "purchaser-dashboard")
    page.set_window_size(390, 844)  # phone width: navigation on top, still usable
    page.refresh()
    visible(page, ".sidenav a.active")
    screenshot(page, "purchaser-dashboard-phone")
