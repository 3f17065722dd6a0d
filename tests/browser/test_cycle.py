"""The rest of the purchase cycle in the browser: an evaluator concludes a contract's mid-term
(survey entered as counts, the 不了解 rule applied), the finance officer sees tranche 2 scheduled
and records its payment, an auditor opens the contract's timeline across the services.

The county, provider, station, workers, contract, rubric, evaluator organisation and the
mid-term's scheduling are set up through the API (the clerk's part is test_purchaser.py). The
contract's service year is centred on today, so the mid-term falls in its window now and the
tranche it triggers is due in the future (scheduled, not overdue).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By

from shared.clock import china_today
from shared.infra.auth import Role
from tests.browser.conftest import COUNTY, screenshot
from tests.browser.helpers import fill, pick, sign_in, submit, text_in, uscc, visible, wait

PROVIDER = "原州区仁和社会工作服务中心"
EVALUATOR_ORG = "宁夏汉达社会工作评估中心"


def _ok(r: Any, *status: int) -> Any:
    assert r.status_code in status, r.text
    return r.json()


def _poll(api: Any, path: str, headers: dict[str, str], until: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        r = api.get(path, headers=headers)
        if r.status_code == 200 and until(r.json()):
            return r.json()
        assert time.monotonic() < deadline, f"{path} never showed what was expected: {r.text}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cycle(platform: Any) -> dict[str, Any]:
    today = china_today()
    start = today - timedelta(days=182)
    end = start + timedelta(days=364)
    clerk = platform.headers(Role.PURCHASER, COUNTY)
    reg = f"/registry/v1/counties/{COUNTY}"
    with platform.api() as api:
        provider = _ok(api.post(f"{reg}/providers", json={"name": PROVIDER, "uscc": uscc("52640402MJY200001"), "rating": "4A"},
                                headers=clerk), 201)["provider_id"]
        station = _ok(api.post(f"{reg}/stations", json={"name": "开城镇社工站", "township": "开城镇", "kind": "township_station"},
                               headers=clerk), 201)["station_id"]
        for name in ("周敏", "刘洋"):
            _ok(api.post(f"{reg}/workers", json={
                "provider_id": provider, "station_id": station, "name": name, "birth_date": "1995-05-05", "education": "本科",
                "qualification": "助理社会工作师", "role": "social_worker", "hired_on": (start - timedelta(days=30)).isoformat(),
            }, headers=clerk), 201)
        contract = _ok(api.post(f"{reg}/contracts", json={
            "provider_id": provider, "station_ids": [station], "purchaser": "原州区民政局",
            "signed_on": (start - timedelta(days=10)).isoformat(), "effective_on": start.isoformat(),
            "period_start": start.isoformat(), "period_end": end.isoformat(), "amount_fen": 36_000_000,
            "funding": [{"source": "福彩公益金", "amount_fen": 36_000_000}], "service_areas": ["社会救助"],
            "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
        }, headers=clerk), 201)["contract_id"]
        _ok(api.post("/evaluation/v1/rubrics", json={"name": "宁夏社工站项目统一评估标准"},
                     headers=platform.headers(Role.PROVINCE_ADMIN, "*")), 201)
        base = f"/evaluation/v1/counties/{COUNTY}/evaluators"
        org = _ok(api.post(base, json={"name": EVALUATOR_ORG, "certificate_no": "PG-2026-001", "accredited_until": "2099-12-31"},
                           headers=clerk), 201)["evaluator_org"]
        _ok(api.post(f"{base}/{org}/members", json={"name": "王评估", "credential_no": "PJ-001", "valid_until": "2099-06-30"},
                     headers=clerk), 201)
        _poll(api, f"/evaluation/v1/counties/{COUNTY}/contracts/{contract}", clerk, lambda _: True)
        scheduled_on = today - timedelta(days=7)
        evaluation = _ok(api.post(f"/evaluation/v1/counties/{COUNTY}/evaluations", json={
            "contract_id": contract, "stage": "midterm", "evaluator_org": org, "scheduled_on": scheduled_on.isoformat(),
        }, headers=clerk), 201)["evaluation_id"]
        tranches = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches"
        _poll(api, tranches, platform.headers(Role.FINANCE, COUNTY), lambda ts: len(ts) == 3)
    return {"contract": contract, "evaluation": evaluation, "org": org, "today": today, "tranches": tranches,
            "start": start.isoformat(), "end": end.isoformat()}


def _set_date(driver: Any, element_id: str, value: date) -> None:
    driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, element_id), value.isoformat())


def test_an_evaluator_concludes_a_midterm(page, platform, cycle):
    base = platform.base_url
    sign_in(page, base, "第三方评估机构", organisation=EVALUATOR_ORG, name="王评估")
    assert "/evaluator/" in page.current_url
    text_in(page, "#assignments", PROVIDER)
    text_in(page, "#assignments", "中期评估")
    screenshot(page, "evaluator-assignments")
    page.find_element(By.CSS_SELECTOR, f'a[href="/evaluator/evaluations/{cycle["evaluation"]}"]').click()
    text_in(page, "#steps", "承接机构提交自评报告")
    assert "现场评估前10个工作日" in page.find_element(By.ID, "steps").text

    # Concluding before the items are scored is refused, next to the scores (R-EVAL-2).
    submit(page, "#conclusion-form")
    error = visible(page, '#conclusion .field-error[data-field="scores"], #conclusion .alert-error')
    assert "R-EVAL" in error.text

    # Survey as counts per answer; 不了解 counts as the mean of the other answers (R-EVAL-4):
    # 服务对象·总体 2×满意 1×基本满意 1×不了解 → 4.33 (not 3.25), so the total is 4.83 (not 4.56).
    counts = {
        "beneficiaries-overall": {"满意": 2, "基本满意": 1, "不了解": 1},
        "beneficiaries-attitude": {"满意": 4},
        "community-overall": {"满意": 4},
        "community-cooperation": {"满意": 4},
    }
    for question, answers in counts.items():
        for answer, n in answers.items():
            fill(page, {f"n-{question}-{answer}": str(n)}, "#survey-form")
    screenshot(page, "evaluator-survey")
    submit(page, "#survey-form")
    text_in(page, "#survey-score", "4.83")

    # Full marks on every item scored on site.
    for box in page.find_elements(By.CSS_SELECTOR, '#scores-form input[name^="score-"]'):
        top = box.get_attribute("placeholder").split("–")[1]
        box.send_keys(top)
    submit(page, "#scores-form")
    visible(page, ".alert-success")

    _set_date(page, "on-conclusion", cycle["today"])
    submit(page, "#conclusion-form")
    result = visible(page, "#conclusion-result")
    # 75 on site + outcomes 25 × (0 indicators + 4.83 / 5 × 10 satisfaction) / 25 = 84.66 → 良好, passed.
    assert "84.66" in result.text and "良好" in result.text and "通过" in result.text
    screenshot(page, "evaluator-conclusion")


def test_the_finance_officer_sees_tranche_2_scheduled_and_records_its_payment(page, platform, cycle):
    with platform.api() as api:  # finance hears EvaluationConcluded through NATS
        _poll(api, cycle["tranches"], platform.headers(Role.FINANCE, COUNTY), lambda ts: ts[1]["status"] == "scheduled")
    base = platform.base_url
    sign_in(page, base, "财务", name="赵会计")
    row = visible(page, f'#board tr[data-contract="{cycle["contract"]}"][data-seq="2"]')
    assert "待拨付" in row.text and "中期评估合格" in row.text and "108,000.00 元" in row.text
    screenshot(page, "finance-board")
    row.find_element(By.LINK_TEXT, "登记拨付").click()
    wait(page).until(lambda d: f"/finance-office/contracts/{cycle['contract']}" in d.current_url)

    cycle["before_payment"] = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.1)  # the as-of instant (whole seconds) falls strictly before the payments
    # Tranche 1 is paid first (contract effective); then tranche 2 with its voucher.
    for seq, voucher in ((1, "BF-2026-0001"), (2, "BF-2026-0002")):
        _set_date(page, f"paid_on-{seq}", cycle["today"])
        fill(page, {"voucher": voucher}, f"#pay-{seq}")
        submit(page, f"#pay-{seq}")
        text_in(page, f"#tranche-{seq}", voucher)
        assert "已拨付" in page.find_element(By.ID, f"tranche-{seq}").text
    assert "288,000.00 元" in page.find_element(By.ID, "received").text  # 180,000 + 108,000

    # An expense booked in 元 lands in the ring-fenced account.
    pick(page, "#f-category", "人员经费（工资、奖金、社保、个税）")
    fill(page, {"amount": "12,000.50", "voucher": "PZ-0001"}, "#expense-form")
    submit(page, "#expense-form")
    text_in(page, "#expenses", "12,000.50 元")
    assert "275,999.50 元" in page.find_element(By.ID, "balance").text
    screenshot(page, "finance-contract")

    # The overdue check records what is overdue today (R-FIN-9): nothing, both tranches are paid.
    page.get(base + "/finance-office/issues")
    submit(page, "#overdue-check-form")
    text_in(page, ".alert-success", "新记录0笔逾期")


def test_an_auditor_opens_the_contracts_timeline_across_services(page, platform, cycle):
    base = platform.base_url
    sign_in(page, base, "审计", name="钱审计")
    text_in(page, "#verify", "完整")
    screenshot(page, "auditor-overview")
    page.get(base + "/auditor/contracts")
    page.find_element(By.CSS_SELECTOR, f'a[href="/auditor/contracts/{cycle["contract"]}"]').click()
    timeline = visible(page, "#timeline")
    services = {row.get_attribute("data-service") for row in timeline.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert {"registry", "evaluation", "finance"} <= services, services
    assert "Concluded" in timeline.text and "Paid" in timeline.text
    screenshot(page, "auditor-timeline")
    assert "第2笔 已拨付" in page.find_element(By.ID, "tranches-as-of").text

    # As of an instant before the payments (R-AUD-3): tranche 2 was scheduled, not paid.
    page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, "f-recorded_as_of"), cycle["before_payment"])
    submit(page, "#as-of-form")
    text_in(page, "#as-of-banner", "截至")
    shown = page.find_element(By.ID, "tranches-as-of").text
    assert "第2笔 待拨付" in shown and "已拨付" not in shown, shown
    screenshot(page, "auditor-as-of")
    page.get(f"{base}/auditor/contracts/{cycle['contract']}")
    timeline = visible(page, "#timeline")

    # One event's inclusion proof.
    timeline.find_element(By.CSS_SELECTOR, 'tbody tr[data-service="finance"] a').click()
    proof = visible(page, "#proof")
    assert "叶子哈希" in proof.text and "finance" in proof.text

    # Any read as of an instant: the tranche schedule by its path, before the payments.
    page.get(base + "/auditor/as-of")
    fill(page, {"path": f"/finance/v1/counties/{COUNTY}/contracts/{cycle['contract']}/tranches"}, "#as-of-read-form")
    page.execute_script("arguments[0].value = arguments[1]", page.find_element(By.ID, "f-as-of-instant"), cycle["before_payment"])
    submit(page, "#as-of-read-form")
    result = visible(page, "#as-of-result").text
    assert '"seq": 2' in result and '"paid"' not in result, result


def test_pages_fit_a_phone_screen(page, platform, cycle):
    base = platform.base_url
    sign_in(page, base, "财务", name="赵会计")
    page.set_window_size(390, 844)
    for path in ("/finance-office/", f"/finance-office/contracts/{cycle['contract']}"):
        page.get(base + path)
        visible(page, "main h1")
        width = page.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px screen"
    screenshot(page, "finance-contract-phone")


def test_the_clerk_accredits_an_evaluator_and_schedules_an_evaluation(page, platform, cycle):
    base = platform.base_url
    sign_in(page, base, "县（区）民政局（购买主体）", name="张科员")
    page.get(base + "/purchaser/evaluations")
    fill(page, {"name": "固原市社会工作评估所", "certificate_no": "PG-2026-002"}, "#accredit-form")
    _set_date(page, "f-accredited_until", cycle["today"] + timedelta(days=700))
    submit(page, "#accredit-form")
    text_in(page, "#evaluators", "固原市社会工作评估所")
    pick(page, "#f-member-org", "固原市社会工作评估所")
    fill(page, {"name": "马评估", "credential_no": "PJ-002"}, "#member-form")
    _set_date(page, "f-valid_until", cycle["today"] + timedelta(days=365))
    submit(page, "#member-form")
    text_in(page, "#evaluators", "马评估")

    # A mid-term outside its window (a month either side of the mid-point) is refused next to the date.
    pick(page, "#f-contract_id", f"{PROVIDER}（{cycle['start']} 至 {cycle['end']}）")
    pick(page, "#f-stage", "中期评估")
    pick(page, "#f-schedule-org", "固原市社会工作评估所")
    _set_date(page, "f-scheduled_on", cycle["today"] + timedelta(days=60))
    submit(page, "#schedule-form")
    error = visible(page, '.field-error[data-field="scheduled_on"]')
    assert "R-EVAL-1" in error.text
    # A process evaluation (unannounced visits through the service year) starting today is scheduled.
    pick(page, "#f-stage", "过程评估（不打招呼走访）")
    _set_date(page, "f-scheduled_on", cycle["today"])
    submit(page, "#schedule-form")
    text_in(page, ".alert-success", "已安排过程评估")
    rows = page.find_element(By.ID, "evaluations").text
    assert "过程评估" in rows and "固原市社会工作评估所" in rows
    screenshot(page, "purchaser-evaluations")


def test_the_evaluator_records_an_unannounced_visit(page, platform, cycle):
    base = platform.base_url
    sign_in(page, base, "第三方评估机构", organisation="固原市社会工作评估所", name="马评估")
    row = visible(page, "#assignments tbody tr")
    assert "过程评估" in row.text and PROVIDER in row.text  # only this organisation's evaluations
    assert "中期评估" not in page.find_element(By.ID, "assignments").text
    row.find_element(By.LINK_TEXT, "办理").click()
    visible(page, "#visit-form")
    # The member shows the evaluator credential on site (R-EVAL-10): unticked, the visit is refused.
    pick(page, "#f-visit-station", "开城镇社工站")
    pick(page, "#f-visit-member", "马评估")
    fill(page, {"findings": "站内服务台账齐全，现场有两名社工在岗。", "signer_name": "周敏", "signer_role": "中心主任"}, "#visit-form")
    submit(page, "#visit-form")
    assert "R-EVAL-10" in visible(page, "#visits .field-error, #visits .alert-error").text
    assert page.find_element(By.ID, "f-findings").get_attribute("value").startswith("站内服务台账齐全")  # kept
    page.find_element(By.ID, "f-credential_shown").click()
    submit(page, "#visit-form")
    text_in(page, "#visit-counts", "1 / 4")
    screenshot(page, "evaluator-visit")
