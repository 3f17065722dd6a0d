"""`make demo` data is enough for the console's evaluator → finance → auditor walk: after
``load_demo`` the evaluator of 宁夏汉达 concludes the scheduled mid-term in the browser, the
finance officer pays tranche 2 it triggers, the auditor sees it on the contract's timeline."""

from __future__ import annotations

import io
import time

from gateway.demo import load_demo
from rich.console import Console
from selenium.webdriver.common.by import By

from shared.infra.auth import Role
from tests.browser.conftest import COUNTY
from tests.browser.helpers import fill, sign_in, submit, text_in, visible


def test_the_demo_data_carries_the_walk(page, platform):
    demo = load_demo(platform.base_url, platform.settings, Console(file=io.StringIO()))["evaluation"]
    base = platform.base_url

    sign_in(page, base, "第三方评估机构", organisation="宁夏汉达社会工作评估中心", name="王评估")
    page.find_element(By.CSS_SELECTOR, f'a[href="/evaluator/evaluations/{demo["evaluation_id"]}"]').click()
    for box in page.find_elements(By.CSS_SELECTOR, '#survey-form input[name$="-满意"]'):
        if "基本满意" not in box.get_attribute("name") and "不满意" not in box.get_attribute("name"):
            box.send_keys("3")
    submit(page, "#survey-form")
    text_in(page, "#survey-score", "5")
    for box in page.find_elements(By.CSS_SELECTOR, '#scores-form input[name^="score-"]'):
        box.send_keys(box.get_attribute("placeholder").split("–")[1])
    submit(page, "#scores-form")
    visible(page, ".alert-success")
    submit(page, "#conclusion-form")
    assert "通过" in visible(page, "#conclusion-result").text

    with platform.api() as api:  # finance hears EvaluationConcluded through NATS
        path = f"/finance/v1/counties/{COUNTY}/contracts/{demo['contract_id']}/tranches"
        deadline = time.monotonic() + 30
        while api.get(path, headers=platform.headers(Role.FINANCE, COUNTY)).json()[1]["status"] != "scheduled":
            assert time.monotonic() < deadline, "finance never scheduled tranche 2"
            time.sleep(0.2)
    sign_in(page, base, "财务", name="赵会计")
    assert "待拨付" in visible(page, f'#board tr[data-contract="{demo["contract_id"]}"][data-seq="2"]').text
    page.get(f"{base}/finance-office/contracts/{demo['contract_id']}")
    fill(page, {"voucher": "BF-DEMO-0002"}, "#pay-2")
    submit(page, "#pay-2")
    text_in(page, "#tranche-2", "BF-DEMO-0002")

    sign_in(page, base, "审计", name="钱审计")
    page.get(f"{base}/auditor/contracts/{demo['contract_id']}")
    services = {r.get_attribute("data-service") for r in visible(page, "#timeline").find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert {"registry", "evaluation", "finance"} <= services
