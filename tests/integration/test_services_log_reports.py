"""Services-log reports: persons served (服务人数, distinct beneficiaries) beside person-times (人次)
in progress, monthly briefs and quarterly reports; how each indicator unit counts; the quarterly
report (季度服务数据, seed 001 篇1: 每季度上报服务数据) as JSON and XLSX. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from shared.infra.auth import Role
from tests.integration.test_services_log_support import COUNTY, LOG, check, open_county


async def test_persons_served_beside_person_times_in_progress_briefs_and_quarters(gateway, tokens):
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    base = f"{LOG}/{COUNTY}"
    contract = f"{base}/contracts/{place.contract_id}"
    a, b = [(await check(gateway.post(f"{base}/beneficiaries", json={"name": name}, headers=provider), 201))["beneficiary_ref"]
            for name in ("马奶奶", "小明")]

    async def log(**overrides) -> str:
        body = place.delivery(**{"person_times": len(overrides.get("beneficiary_refs", [])) or 1, **overrides})
        return str((await check(gateway.post(f"{base}/deliveries", json=body, headers=provider), 201))["delivery_id"])

    # 马奶奶 is visited five times (帮扶救助, counted in 人次): 5 person-times, 1 person.
    for day in ("2026-10-05", "2026-10-12", "2026-10-19"):
        await log(date=day, beneficiary_refs=[a])
    both = await log(date="2026-11-03", beneficiary_refs=[a, b])
    fifth = await log(date="2026-11-10", beneficiary_refs=[a])
    # 小明 attends 五点学堂 (counted in 期: one per delivery); a community activity counts 30 anonymous attendees.
    await log(date="2026-11-20", kind="小组", area="儿童关爱保护", indicator_code="school", beneficiary_refs=[b])
    await log(date="2026-11-10", kind="社区活动", indicator_code="community", person_times=30)

    progress = await check(gateway.get(f"{contract}/progress", params={"as_of": "2026-11-30"}, headers=purchaser), 200)
    assert (progress["deliveries"], progress["person_times"], progress["beneficiaries"]) == (7, 1 + 1 + 1 + 2 + 1 + 1 + 30, 2)
    assert [(i["code"], i["counting"], i["actual"], i["beneficiaries"]) for i in progress["indicators"]] == [
        ("assist", "person_times", 6, 2), ("school", "deliveries", 1, 1), ("community", "deliveries", 1, 0)]
    october = await check(gateway.get(f"{contract}/progress", params={"as_of": "2026-10-31"}, headers=purchaser), 200)
    assert (october["person_times"], october["beneficiaries"], october["indicators"][0]["beneficiaries"]) == (3, 1, 1)

    # The monthly briefs: October 3 人次 / 1 person; November 34 人次 / 2 persons.
    oct_brief = await check(gateway.get(f"{contract}/briefs/2026-10", headers=purchaser), 200)
    assert (oct_brief["person_times"], oct_brief["beneficiaries"]) == (3, 1)
    nov_brief = await check(gateway.get(f"{contract}/briefs/2026-11", headers=purchaser), 200)
    assert (nov_brief["person_times"], nov_brief["beneficiaries"]) == (34, 2)
    assert [(i["code"], i["beneficiaries_in_month"], i["counting"]) for i in nov_brief["indicators"]] == [
        ("assist", 2, "person_times"), ("school", 1, "deliveries"), ("community", 0, "deliveries")]

    # Corrections and voidings follow (R-LOG-6): without the joint visit 小明 is served only by 五点学堂.
    await check(gateway.post(f"{base}/deliveries/{both}/corrections", json={"reason": "小明未在场", "beneficiary_refs": [a],
                                                                             "person_times": 1}, headers=provider), 200)
    await check(gateway.post(f"{base}/deliveries/{fifth}/voiding", json={"reason": "重复录入"}, headers=provider), 200)
    progress = await check(gateway.get(f"{contract}/progress", params={"as_of": "2026-11-30"}, headers=purchaser), 200)
    assert (progress["person_times"], progress["beneficiaries"]) == (35, 2)
    assert [(i["actual"], i["beneficiaries"]) for i in progress["indicators"]] == [(4, 1), (1, 1), (1, 0)]

    # An imported sheet counts persons too: 马奶奶 twice more in December (2 人次, still 1 person).
    sheet = io.StringIO()
    writer = csv.writer(sheet)
    writer.writerow(["服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长", "服务人次", "指标编号", "服务对象编号"])
    for day in ("2026-12-01", "2026-12-02"):
        writer.writerow([place.workers["王静"], "探访", "社会救助", day, "1", "1", "assist", a])
    upload = {"file": ("十二月台账.csv", sheet.getvalue().encode("utf-8-sig"), "text/csv")}
    report = await check(gateway.post(f"{base}/deliveries/import", files=upload, params={"contract_id": place.contract_id},
                                      headers=provider), 200)
    assert (report["recorded"], report["refused"]) == (2, 0), report

    # The quarter: persons counted once across its months (2, not 1 + 2 + 1).
    q4 = await check(gateway.get(f"{contract}/quarterly/2026-Q4", headers=purchaser), 200)
    assert (q4["first_day"], q4["last_day"], q4["months"]) == ("2026-10-01", "2026-12-31", ["2026-10", "2026-11", "2026-12"])
    assert (q4["deliveries"], q4["person_times"], q4["beneficiaries"]) == (8, 3 + 1 + 1 + 30 + 2, 2)
    assert [(m["month"], m["deliveries"], m["person_times"], m["beneficiaries"]) for m in q4["by_month"]] == [
        ("2026-10", 3, 3, 1), ("2026-11", 3, 32, 2), ("2026-12", 2, 2, 1)]
    assert {k["kind"]: k["deliveries"] for k in q4["by_kind"]} == {"帮扶救助": 4, "小组": 1, "社区活动": 1, "探访": 2}
    assist = q4["indicators"][0]
    # Seed 000's plan: October 100 + November 100 + December 200.
    assert (assist["actual_in_quarter"], assist["planned_in_quarter"], assist["beneficiaries_in_quarter"]) == (6, 400, 1)
    assert (assist["counting"], assist["planned_to_date"]) == ("person_times", 50 + 100 + 100 + 200)
    # The contract's first, partial quarter; quarters outside the contract year are refused.
    q3 = await check(gateway.get(f"{contract}/quarterly/2026-Q3", headers=purchaser), 200)
    assert (q3["first_day"], q3["last_day"], q3["months"], q3["deliveries"]) == ("2026-09-21", "2026-09-30", ["2026-09"], 0)
    for outside in ("2026-Q2", "2027-Q4"):
        r = await gateway.get(f"{contract}/quarterly/{outside}", headers=purchaser)
        assert (r.status_code, r.json()["rule"], r.json()["field"]) == (422, "R-LOG-7", "quarter"), r.text
    assert (await gateway.get(f"{contract}/quarterly/2026-Q5", headers=purchaser)).status_code == 422

    # As an XLSX workbook, like the briefs.
    xlsx = await gateway.get(f"{contract}/quarterly/2026-Q4", params={"format": "xlsx"}, headers=purchaser)
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content))
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(values_only=True)}
    assert (summary["季度"], summary["服务人次"], summary["服务人数"]) == ("2026-Q4", 37, 2)
    rows = list(book["指标进度"].iter_rows(values_only=True))
    assert rows[1][:8] == ("assist", "帮扶救助", "人次", "person_times", 500, 6, 400, 1)

    # Same access as briefs: the evaluator reads it, another provider does not.
    await check(gateway.get(f"{contract}/quarterly/2026-Q4", headers=place.headers["evaluator"]), 200)
    stranger = tokens(Role.PROVIDER, COUNTY, provider_id="someone-else")
    # Another provider's contract is 404, like an unknown id (R-AUD-6, docs/ACCESS.md).
    assert (await gateway.get(f"{contract}/quarterly/2026-Q4", headers=stranger)).status_code == 404


async def test_deliveries_logged_before_persons_were_counted_are_counted_once(gateway, tokens, monkeypatch):
    from services_log.lookups import ServicesLogLookups
    from services_log.recording import DeliveryRecording

    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    base = f"{LOG}/{COUNTY}"
    contract = f"{base}/contracts/{place.contract_id}"
    a, b = [(await check(gateway.post(f"{base}/beneficiaries", json={"name": name}, headers=provider), 201))["beneficiary_ref"]
            for name in ("马奶奶", "小明")]
    # As the service did before it counted persons (and before its logs kept index pages: a
    # version-1 log): deliveries recorded, no persons counted.
    from services_log.domainmodel import ContractLog

    def version_1_log(self: ServicesLogLookups, contract: Any, read_only: bool = False) -> ContractLog:
        found = self.find(ContractLog.create_id(contract.contract_id), read_only)
        return found or ContractLog(contract_id=contract.contract_id, county=contract.county, indexed=False)

    with monkeypatch.context() as old:
        old.setattr(ServicesLogLookups, "contract_log", version_1_log)
        old.setattr(DeliveryRecording, "migrate_log", lambda self, contract, log, pages: {})
        old.setattr(DeliveryRecording, "index_deliveries", lambda self, log, ids, pages: None)
        old.setattr(DeliveryRecording, "count_served", lambda self, contract, changes: [])
        first = await check(gateway.post(f"{base}/deliveries", json=place.delivery(beneficiary_refs=[a, b], person_times=2),
                                          headers=provider), 201)
        await check(gateway.post(f"{base}/deliveries", json=place.delivery(date="2026-10-06", beneficiary_refs=[a], person_times=1),
                                 headers=provider), 201)
        assert (await check(gateway.get(f"{contract}/progress", headers=purchaser), 200))["beneficiaries"] == 0
    # The first command after the upgrade counts them (here a voiding: 小明 then leaves the count).
    await check(gateway.post(f"{base}/deliveries/{first['delivery_id']}/voiding", json={"reason": "重复"}, headers=provider), 200)
    progress = await check(gateway.get(f"{contract}/progress", headers=purchaser), 200)
    assert (progress["person_times"], progress["beneficiaries"]) == (1, 1)
    await check(gateway.post(f"{base}/deliveries", json=place.delivery(date="2026-10-07", beneficiary_refs=[b], person_times=1),
                             headers=provider), 201)
    october = await check(gateway.get(f"{contract}/briefs/2026-10", headers=purchaser), 200)
    assert (october["person_times"], october["beneficiaries"]) == (2, 2)
    listed = await check(gateway.get(f"{contract}/deliveries", headers=purchaser), 200)
    assert (listed["total"], listed["items"][0]["delivery_id"]) == (3, first["delivery_id"])  # indexed on the upgrade


async def test_how_each_indicator_counts_and_a_delivery_that_states_its_quantity(gateway, tokens):
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    base = f"{LOG}/{COUNTY}"
    progress = f"{base}/contracts/{place.contract_id}/progress"
    school = {"kind": "小组", "area": "儿童关爱保护", "indicator_code": "school", "person_times": 12}

    # 五点学堂 (1 期) runs over many sessions: each session states it completes none of the 期 …
    for day in ("2026-10-05", "2026-10-12", "2026-10-19"):
        await check(gateway.post(f"{base}/deliveries", json=place.delivery(date=day, indicator_quantity=0, **school),
                                 headers=provider), 201)
    seen = await check(gateway.get(progress, params={"as_of": "2026-10-31"}, headers=purchaser), 200)
    assert [(i["code"], i["counting"], i["actual"]) for i in seen["indicators"]] == [
        ("assist", "person_times", 0), ("school", "stated", 0), ("community", "deliveries", 0)]
    # … and the last one completes it; a 场 indicator still counts each delivery as one; 人次 adds person-times.
    last = await check(gateway.post(f"{base}/deliveries", json=place.delivery(date="2026-10-26", indicator_quantity=1, **school),
                                    headers=provider), 201)
    await check(gateway.post(f"{base}/deliveries", json=place.delivery(date="2026-10-26", kind="社区活动", indicator_code="community",
                                                                       person_times=40), headers=provider), 201)
    await check(gateway.post(f"{base}/deliveries", json=place.delivery(date="2026-10-27", person_times=7), headers=provider), 201)
    seen = await check(gateway.get(progress, params={"as_of": "2026-10-31"}, headers=purchaser), 200)
    assert [(i["code"], i["counting"], i["actual"]) for i in seen["indicators"]] == [
        ("assist", "person_times", 7), ("school", "stated", 1), ("community", "deliveries", 1)]
    shown = await check(gateway.get(f"{base}/deliveries/{last['delivery_id']}", headers=purchaser), 200)
    assert shown["indicator_quantity"] == 1

    # A stated quantity belongs to an indicator counted by deliveries (R-LOG-8).
    for wrong, field in (({"indicator_quantity": 3}, "indicator_quantity"),  # 帮扶救助 counts 人次
                         ({"indicator_code": None, "indicator_quantity": 1}, "indicator_quantity")):
        r = await gateway.post(f"{base}/deliveries", json=place.delivery(date="2026-10-28", **wrong), headers=provider)
        assert (r.status_code, r.json()["rule"], r.json()["field"]) == (422, "R-LOG-8", field), r.text
    # Voiding the deliveries that stated a quantity returns the indicator to counting deliveries.
    listed = await check(gateway.get(f"{base}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200)
    for d in listed["items"]:
        if d["indicator_quantity"] is not None:
            await check(gateway.post(f"{base}/deliveries/{d['delivery_id']}/voiding", json={"reason": "测试"}, headers=provider), 200)
    seen = await check(gateway.get(progress, params={"as_of": "2026-10-31"}, headers=purchaser), 200)
    assert [(i["code"], i["counting"], i["actual"]) for i in seen["indicators"]][1] == ("school", "deliveries", 0)
