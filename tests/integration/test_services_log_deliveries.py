"""Services-log narratives: a station logs its deliveries against the contract registry signed, known
to services-log only through registry's events. Every rule refusal is a 422 naming its rule and
records nothing; corrections and voidings keep history; progress follows seed 000's 进度表;
confidential casework stays with the provider and the purchaser; counties stay apart.
SQLite and PostgreSQL."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from shared.events import registry as reg
from shared.infra.auth import Role
from tests.integration.test_services_log_support import (
    COUNTY,
    LOG,
    OTHER,
    OTHER_USCC,
    check,
    hire,
    open_county,
    publish_registry_event,
    published,
    wait_for,
)


async def refused(client, place, rule: str, field: str, **overrides) -> None:
    r = await client.post(f"{LOG}/{place.county}/deliveries", json=place.delivery(**overrides), headers=place.headers["provider"])
    assert r.status_code == 422, r.text
    problem = r.json()
    assert (problem.get("rule"), problem["field"]) == (rule, field), problem


async def test_each_rule_refusal_is_a_422_naming_its_rule_and_records_nothing(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    li, wang, zhang, zhao = (place.workers[n] for n in ("李娜", "王静", "张伟", "赵敏"))
    deliveries = f"{LOG}/{COUNTY}/deliveries"
    provider = place.headers["provider"]

    # 李娜 visits ten households on 5 October: 8 hours in all.
    await check(gateway.post(deliveries, json=place.delivery(hours_direct="6", hours_other="2"), headers=provider), 201)

    await refused(gateway, place, "R-LOG-3", "station_id", station_id=place.elsewhere)  # wrong station
    await refused(gateway, place, "R-LOG-3", "worker_ids.0", worker_ids=[zhang], date="2026-10-01")  # hired 15 Oct
    await refused(gateway, place, "R-LOG-3", "worker_ids.0", worker_ids=[zhao])  # works at the other station
    await refused(gateway, place, "R-LOG-3", "date", date="2026-09-20")  # the day before the contract year
    await refused(gateway, place, "R-REG-6", "area", area="养老服务")  # not in the contract's scope
    await refused(gateway, place, "R-LOG-2", "area", area="旅游开发")  # not a service area at all
    await refused(gateway, place, "R-LOG-1", "kind", kind="聚餐")
    await refused(gateway, place, "R-LOG-4", "worker_ids.0", hours_direct="3", hours_other="1.5")  # 8 + 4.5 > 12
    await refused(gateway, place, "R-LOG-8", "indicator_code", indicator_code="夏令营")
    r = await gateway.post(deliveries, json=place.delivery(contract_id="no-such-contract"), headers=provider)
    assert r.status_code == 422 and r.json()["field"] == "contract_id", r.text

    # A second provider's worker at the same station cannot deliver for 明德's contract (严禁转包).
    purchaser = place.headers["purchaser"]
    other_provider = (await check(gateway.post(
        f"/registry/v1/counties/{COUNTY}/providers", json={"name": "启航社工", "uscc": OTHER_USCC}, headers=purchaser
    ), 201))["provider_id"]
    stranger = await hire(gateway, COUNTY, purchaser, other_provider, place.station, "孙丽", "2026-08-01", settings.nats_url)
    await wait_for(gateway, f"{LOG}/{COUNTY}/workers/{stranger}", purchaser)
    await refused(gateway, place, "R-REG-8", "worker_ids.0", worker_ids=[stranger])
    # …nor may that provider log for a contract that is not its own.
    r = await gateway.post(deliveries, json=place.delivery(), headers=tokens(Role.PROVIDER, COUNTY, provider_id=other_provider))
    assert r.status_code == 403 and r.json()["rule"] == "R-REG-8", r.text

    # Nothing of the refusals was recorded: one delivery, 8 worker-hours, 10 人次.
    progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert (progress["deliveries"], progress["person_times"]) == (1, 10)
    assert Decimal(progress["hours_direct"]) + Decimal(progress["hours_other"]) == 8
    page = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200)
    assert page["total"] == 1

    # Registry moves 王静 to 三营镇 from 1 November and 李娜 leaves on 10 November; an approved scope
    # change adds 养老服务 from 1 November. (Published here as registry's outbox would.)
    await publish_registry_event(settings.nats_url, COUNTY, reg.WorkerMoved(
        worker_id=wang, county=COUNTY, provider_id=place.provider_id, from_station_id=place.station,
        to_station_id=place.elsewhere, moved_on="2026-11-01"), wang)
    await publish_registry_event(settings.nats_url, COUNTY, reg.WorkerLeft(
        worker_id=li, county=COUNTY, provider_id=place.provider_id, station_id=place.station, left_on="2026-11-10"), li)
    await publish_registry_event(settings.nats_url, COUNTY, reg.ContractScopeChanged(
        contract_id=place.contract_id, county=COUNTY, service_areas=["社会救助", "儿童关爱保护", "养老服务"],
        effective_on="2026-11-01", approved_by="原州区民政局", reason="新增高龄老人关爱"), place.contract_id)
    await wait_for(gateway, f"{LOG}/{COUNTY}/workers/{wang}", purchaser, lambda w: len(w["employments"]) == 2)
    await wait_for(gateway, f"{LOG}/{COUNTY}/workers/{li}", purchaser, lambda w: w["employments"][0]["end"] == "2026-11-10")
    await wait_for(gateway, f"{LOG}/{COUNTY}/contracts/{place.contract_id}", purchaser, lambda c: c["scope_changes"])

    await check(gateway.post(deliveries, json=place.delivery(worker_ids=[wang], date="2026-10-31"), headers=provider), 201)
    await refused(gateway, place, "R-LOG-3", "worker_ids.0", worker_ids=[wang], date="2026-11-02")  # moved away
    await check(gateway.post(deliveries, json=place.delivery(date="2026-11-10"), headers=provider), 201)  # last day
    await refused(gateway, place, "R-LOG-3", "worker_ids.0", date="2026-11-11")  # left
    await check(gateway.post(deliveries, json=place.delivery(area="养老服务", date="2026-11-05"), headers=provider), 201)
    await refused(gateway, place, "R-REG-6", "area", area="养老服务", date="2026-10-20")  # before the change

    # Each recorded delivery was published with the contract's progress after it.
    delivered = await published(settings.nats_url, COUNTY, "ServiceDelivered", lambda es: len(es) >= 4)
    assert len(delivered) == 4 and {e["data"]["contract_id"] for e in delivered} == {place.contract_id}
    assert delivered[0]["data"]["worker_ids"] == [li] and delivered[0]["data"]["kind"] == "帮扶救助"
    progressed = await published(settings.nats_url, COUNTY, "IndicatorProgressed", lambda es: len(es) >= 4)
    assert [e["data"]["deliveries"] for e in progressed] == [1, 2, 3, 4]
    assert progressed[-1]["data"]["indicators"][0]["actual"] == 40


async def test_corrections_and_voidings_keep_history_and_totals_follow(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    base = f"{LOG}/{COUNTY}/deliveries"
    progress = f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress"

    # A retried request with the same Idempotency-Key records the delivery once.
    keyed = {**provider, "Idempotency-Key": "nanguan-2026-10-05-01"}
    delivery_id = (await check(gateway.post(base, json=place.delivery(person_times=10), headers=keyed), 201))["delivery_id"]
    assert (await check(gateway.post(base, json=place.delivery(person_times=10), headers=keyed), 201))["delivery_id"] == delivery_id
    second = (await check(gateway.post(base, json=place.delivery(person_times=5, hours_direct="4", hours_other="0"), headers=provider), 201))["delivery_id"]
    assert (await check(gateway.get(progress, headers=purchaser), 200))["indicators"][0]["actual"] == 15

    # The sign-in sheet showed 12 households, not 10: a correction with its reason.
    corrected = await check(gateway.post(f"{base}/{delivery_id}/corrections", json={"person_times": 12, "reason": "签到表核对为12户"}, headers=provider), 200)
    assert (corrected["status"], corrected["person_times"], corrected["version"]) == ("corrected", 12, 2)
    assert corrected["history"] == [{"change": "corrected", "reason": "签到表核对为12户"}]
    assert (await check(gateway.get(progress, headers=purchaser), 200))["indicators"][0]["actual"] == 17

    # A correction is checked like a new delivery: 李娜 already has 2.5 + 4 hours that day.
    r = await gateway.post(f"{base}/{delivery_id}/corrections", json={"hours_direct": "8", "reason": "补记"}, headers=provider)
    assert r.status_code == 422 and r.json()["rule"] == "R-LOG-4", r.text
    r = await gateway.post(f"{base}/{delivery_id}/corrections", json={"date": "2027-10-01", "reason": "日期"}, headers=provider)
    assert r.status_code == 422 and r.json()["rule"] == "R-LOG-3", r.text
    # Moving it to another day frees that day's hours: the second delivery may now grow.
    await check(gateway.post(f"{base}/{delivery_id}/corrections", json={"date": "2026-10-06", "reason": "日期录错"}, headers=provider), 200)
    await check(gateway.post(f"{base}/{second}/corrections", json={"hours_direct": "11", "reason": "全天入户"}, headers=provider), 200)

    # The second was a duplicate of a paper record: voided, it no longer counts; its history stays.
    voided = await check(gateway.post(f"{base}/{second}/voiding", json={"reason": "与纸质台账重复"}, headers=provider), 200)
    assert voided["status"] == "voided" and [h["change"] for h in voided["history"]] == ["corrected", "voided"]
    now = await check(gateway.get(progress, headers=purchaser), 200)
    assert (now["deliveries"], now["person_times"], now["indicators"][0]["actual"]) == (1, 12, 12)
    assert Decimal(now["hours"]["hours_direct"]) == 2 and Decimal(now["hours"]["hours_other"]) == Decimal("0.5")
    for again in ("voiding", "corrections"):
        r = await gateway.post(f"{base}/{second}/{again}", json={"reason": "再次", "person_times": 1} if again == "corrections" else {"reason": "再次"}, headers=provider)
        assert r.status_code == 422 and r.json()["rule"] == "R-LOG-6", r.text
    r = await gateway.post(f"{base}/{delivery_id}/voiding", json={"reason": "   "}, headers=provider)
    assert r.status_code == 422 and r.json()["rule"] == "R-LOG-6"

    corrections = await published(settings.nats_url, COUNTY, "DeliveryCorrected", lambda es: len(es) >= 3)
    assert [(e["data"]["delivery_id"], e["data"]["reason"]) for e in corrections] == [
        (delivery_id, "签到表核对为12户"), (delivery_id, "日期录错"), (second, "全天入户")]
    assert corrections[1]["data"]["date"] == "2026-10-06" and corrections[1]["data"]["person_times"] == 12
    voids = await published(settings.nats_url, COUNTY, "DeliveryVoided", lambda es: len(es) >= 1)
    assert voids[0]["data"] == {"delivery_id": second, "county": COUNTY, "contract_id": place.contract_id, "reason": "与纸质台账重复"}
    progressed = await published(settings.nats_url, COUNTY, "IndicatorProgressed", lambda es: len(es) >= 6)
    assert progressed[-1]["data"]["deliveries"] == 1 and progressed[-1]["data"]["indicators"][0]["actual"] == 12


async def test_progress_against_seed_000s_plan_the_monthly_brief_reports_and_complaints(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    li, wang, zhang = (place.workers[n] for n in ("李娜", "王静", "张伟"))
    base = f"{LOG}/{COUNTY}"

    # 帮扶救助: 50 人次 in September, 100 in October, 90 so far in November (plan: 50/100/100/200/50/30/20).
    for day, people, who in (("2026-09-25", 50, li), ("2026-10-08", 60, wang), ("2026-10-20", 40, zhang), ("2026-11-20", 90, li)):
        await check(gateway.post(f"{base}/deliveries", json=place.delivery(date=day, person_times=people, worker_ids=[who]), headers=provider), 201)
    # A 五点学堂 group session and two community activities.
    await check(gateway.post(f"{base}/deliveries", json=place.delivery(
        kind="小组", area="儿童关爱保护", indicator_code="school", person_times=12, worker_ids=[li, wang], date="2026-10-12",
        hours_direct="2", hours_other="1", content="五点学堂第一节：认识情绪"), headers=provider), 201)
    for day in ("2026-10-17", "2026-10-24"):
        await check(gateway.post(f"{base}/deliveries", json=place.delivery(
            kind="社区活动", indicator_code="community", person_times=80, date=day, hours_direct="3"), headers=provider), 201)

    end_of_october = await check(gateway.get(f"{base}/contracts/{place.contract_id}/progress?as_of=2026-10-31", headers=purchaser), 200)
    assist, school, community = end_of_october["indicators"]
    assert (assist["target"], assist["actual"], assist["planned_to_date"], assist["on_track"]) == (500, 150, 150, True)
    assert (school["actual"], school["plan_basis"], community["actual"]) == (1, "pro_rata", 2)

    end_of_november = await check(gateway.get(f"{base}/contracts/{place.contract_id}/progress?as_of=2026-11-30", headers=purchaser), 200)
    assist = end_of_november["indicators"][0]
    assert (assist["actual"], assist["planned_to_date"], assist["expected_to_date"], assist["on_track"]) == (240, 250, 250, False)
    mid_november = await check(gateway.get(f"{base}/contracts/{place.contract_id}/progress?as_of=2026-11-15", headers=purchaser), 200)
    assert mid_november["indicators"][0]["actual"] == 150 and mid_november["indicators"][0]["expected_to_date"] == 200
    # R-LOG-4 for the contract's three professional staff at 南关街道 (赵敏 works elsewhere).
    hours = end_of_november["hours"]
    assert hours["staff"] == 3
    assert Decimal(hours["annual_hours_target"]) == 5880 and Decimal(hours["annual_hours_ceiling"]) == 6468
    assert Decimal(hours["annual_direct_hours_minimum"]) == 4896  # 3 × 1,632.3 = 4,896.9, whole hours
    assert Decimal(hours["hours_direct"]) == 4 * 2 + 2 * 2 + 2 * 3  # worker-hours: the group session counts twice
    assert not hours["over_ceiling"] and not hours["direct_minimum_reached"]

    # The provider submits October's brief and the needs survey; a township's extra tasks are complained of.
    for report in ({"kind": "monthly_brief", "period": "2026-10", "submitted_on": "2026-11-05", "title": "10月工作简报"},
                   {"kind": "needs_survey", "submitted_on": "2026-10-30", "title": "南关街道需求调查报告"}):
        await check(gateway.post(f"{base}/contracts/{place.contract_id}/reports", json=report, headers=provider), 201)
    r = await gateway.post(f"{base}/contracts/{place.contract_id}/reports", json={"kind": "monthly_brief", "submitted_on": "2026-11-05", "title": "x"}, headers=provider)
    assert r.status_code == 422 and r.json()["rule"] == "R-LOG-7"
    complaint = {"township": "南关街道", "station_id": place.station, "filed_on": "2026-11-12", "description": "街道要求社工承担创卫检查台账整理"}
    await check(gateway.post(f"{base}/contracts/{place.contract_id}/scope-complaints", json=complaint, headers=provider), 201)
    assert len(await check(gateway.get(f"{base}/contracts/{place.contract_id}/reports", headers=purchaser), 200)) == 2
    assert (await check(gateway.get(f"{base}/contracts/{place.contract_id}/scope-complaints", headers=purchaser), 200))[0]["township"] == "南关街道"

    # October's brief (月度工作简报): counts by kind and area, progress, and the brief submitted for it.
    brief = await check(gateway.get(f"{base}/contracts/{place.contract_id}/briefs/2026-10", headers=purchaser), 200)
    assert (brief["deliveries"], brief["person_times"]) == (5, 60 + 40 + 12 + 160)
    assert {k["kind"]: k["deliveries"] for k in brief["by_kind"]} == {"帮扶救助": 2, "小组": 1, "社区活动": 2}
    assert {a["area"]: a["person_times"] for a in brief["by_area"]} == {"社会救助": 260, "儿童关爱保护": 12}
    assert (brief["indicators"][0]["actual_in_month"], brief["indicators"][0]["planned_in_month"]) == (100, 100)
    assert [r["title"] for r in brief["reports"]] == ["10月工作简报"]
    for request in ({"params": {"format": "xlsx"}}, {"headers": {"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}):
        r = await gateway.get(f"{base}/contracts/{place.contract_id}/briefs/2026-10", headers={**purchaser, **request.get("headers", {})}, params=request.get("params"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = load_workbook(io.BytesIO(r.content))
        assert book.sheetnames == ["概况", "服务类型", "服务领域", "指标进度"]
        assert dict(book["概况"].iter_rows(values_only=True))["服务人次"] == 272
    r = await gateway.get(f"{base}/contracts/{place.contract_id}/briefs/2027-10", headers=purchaser)
    assert r.status_code == 422 and r.json()["rule"] == "R-LOG-7"

    reports = await published(settings.nats_url, COUNTY, "ReportSubmitted", lambda es: len(es) >= 2)
    assert [(e["data"]["kind"], e["data"]["period"]) for e in reports] == [("monthly_brief", "2026-10"), ("needs_survey", None)]
    complaints = await published(settings.nats_url, COUNTY, "ScopeComplaintFiled", lambda es: len(es) >= 1)
    assert complaints[0]["data"]["township"] == "南关街道" and complaints[0]["data"]["contract_id"] == place.contract_id


async def test_casework_content_and_personal_data_stay_with_provider_and_purchaser(gateway, tokens):
    place = await open_county(gateway, tokens)
    provider, purchaser, evaluator = (place.headers[r] for r in ("provider", "purchaser", "evaluator"))
    base = f"{LOG}/{COUNTY}"

    # A child in difficulty is registered under a pseudonym; her personal data is encrypted at rest.
    person = {"name": "马小花", "id_number": "640402201501011234", "phone": "13800000000"}
    ref = (await check(gateway.post(f"{base}/beneficiaries", json=person, headers=provider), 201))["beneficiary_ref"]
    casework = (await check(gateway.post(f"{base}/deliveries", json=place.delivery(
        kind="个案", area="儿童关爱保护", person_times=1, indicator_code=None, beneficiary_refs=[ref],
        content="家访：母亲外出务工，孩子由祖母照顾，情绪低落"), headers=provider), 201))["delivery_id"]
    activity = (await check(gateway.post(f"{base}/deliveries", json=place.delivery(
        kind="社区活动", person_times=40, content="重阳节敬老活动"), headers=provider), 201))["delivery_id"]
    r = await gateway.post(f"{base}/deliveries", json=place.delivery(beneficiary_refs=["not-a-person"]), headers=provider)
    assert r.status_code == 422 and r.json()["field"] == "beneficiary_refs.0"

    for reader in (provider, purchaser):
        seen = await check(gateway.get(f"{base}/deliveries/{casework}", headers=reader), 200)
        assert seen["content"].startswith("家访") and not seen["content_withheld"]
        assert (await check(gateway.get(f"{base}/beneficiaries/{ref}", headers=reader), 200))["personal_data"] == person
    # The evaluator sees that casework happened, not what was said (个案、小组资料除外) — nor who it was.
    seen = await check(gateway.get(f"{base}/deliveries/{casework}", headers=evaluator), 200)
    assert (seen["content"], seen["content_withheld"], seen["beneficiary_refs"]) == (None, True, [ref])
    assert (await check(gateway.get(f"{base}/deliveries/{activity}", headers=evaluator), 200))["content"] == "重阳节敬老活动"
    listed = await check(gateway.get(f"{base}/contracts/{place.contract_id}/deliveries", headers=evaluator), 200)
    assert [d["content_withheld"] for d in listed["items"]] == [True, False]
    assert (await gateway.get(f"{base}/beneficiaries/{ref}", headers=evaluator)).status_code == 403

    # At rest the log holds only ciphertext; erasing destroys the key and the history stays intact.
    feed = await gateway.get("/services-log/v1/audit/events?limit=1000", headers=tokens(Role.AUDITOR, "*"))
    assert feed.status_code == 200 and "马小花" not in feed.text and "640402201501011234" not in feed.text
    erased = await check(gateway.post(f"{base}/beneficiaries/{ref}/erasure", json={"reason": "监护人申请删除"}, headers=purchaser), 200)
    assert erased == {"beneficiary_ref": ref, "erased": True, "personal_data": None}
    assert (await check(gateway.get(f"{base}/beneficiaries/{ref}", headers=provider), 200))["personal_data"] is None
    service = gateway.app.state.services["services-log"].state.service
    store, beneficiary = service.store, service.lookups.beneficiary(COUNTY, ref)
    assert store.vault.open(ref, beneficiary.sealed_personal_data) is None  # the ciphertext is still there, unreadable
    assert (await check(gateway.get(f"{base}/deliveries/{casework}", headers=provider), 200))["beneficiary_refs"] == [ref]
    verify = await check(gateway.get("/services-log/v1/audit/verify", headers=tokens(Role.AUDITOR, "*")), 200)
    assert verify["verified"] is True, verify


async def test_counties_are_isolated(gateway, tokens):
    ours = await open_county(gateway, tokens, COUNTY)
    theirs = await open_county(gateway, tokens, OTHER)
    await check(gateway.post(f"{LOG}/{OTHER}/deliveries", json=theirs.delivery(), headers=theirs.headers["provider"]), 201)

    # Another county's contract or worker named in our county is unknown; its paths are not found.
    r = await gateway.post(f"{LOG}/{COUNTY}/deliveries", json=ours.delivery(contract_id=theirs.contract_id), headers=ours.headers["provider"])
    assert (r.status_code, r.json()["field"]) == (422, "contract_id"), r.text
    r = await gateway.post(f"{LOG}/{COUNTY}/deliveries", json=ours.delivery(worker_ids=[theirs.workers["李娜"]]), headers=ours.headers["provider"])
    assert (r.status_code, r.json()["field"]) == (422, "worker_ids.0"), r.text
    for path in (f"contracts/{theirs.contract_id}/progress", f"contracts/{theirs.contract_id}/briefs/2026-10",
                 f"workers/{theirs.workers['李娜']}"):
        assert (await gateway.get(f"{LOG}/{COUNTY}/{path}", headers=ours.headers["purchaser"])).status_code == 404
    # Our tokens do not open their county at all.
    r = await gateway.get(f"{LOG}/{OTHER}/contracts/{theirs.contract_id}/progress", headers=ours.headers["purchaser"])
    assert r.status_code == 403
    ours_progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{ours.contract_id}/progress", headers=ours.headers["purchaser"]), 200)
    theirs_progress = await check(gateway.get(f"{LOG}/{OTHER}/contracts/{theirs.contract_id}/progress", headers=theirs.headers["purchaser"]), 200)
    assert (ours_progress["deliveries"], theirs_progress["deliveries"]) == (0, 1)


async def test_a_contracts_deliveries_are_walked_by_cursor_in_logged_order(gateway, tokens):
    """Issue 16 item 2: the deliveries list names its next page in X-Next-Cursor, like every list;
    a walk by cursor sees each delivery once, in the order logged; a cursor is bound to its contract."""
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    logged = []
    for day in ("2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08", "2026-10-09"):
        r = await check(gateway.post(f"{LOG}/{COUNTY}/deliveries", json=place.delivery(date=day, hours_direct="1", hours_other="0"), headers=provider), 201)
        logged.append(r["delivery_id"])
    url = f"{LOG}/{COUNTY}/contracts/{place.contract_id}/deliveries"

    seen, cursor, pages = [], None, 0
    while True:
        r = await gateway.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=purchaser)
        assert r.status_code == 200, r.text
        seen += [d["delivery_id"] for d in r.json()["items"]]
        pages += 1
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in r.headers
            break
        assert 'rel="next"' in r.headers["Link"]
    assert (seen, pages) == (logged, 3)

    # The first page's cursor, edited or replayed against another contract, is refused naming `cursor`.
    first = (await gateway.get(url, params={"limit": 2}, headers=purchaser)).headers["X-Next-Cursor"]
    for bad_url, bad in ((url, first[:-3] + "AAA"), (f"{LOG}/{COUNTY}/contracts/another/deliveries", first)):
        r = await gateway.get(bad_url, params={"limit": 2, "cursor": bad}, headers=purchaser)
        assert (r.status_code, r.json()["field"]) == (422, "cursor"), r.text
