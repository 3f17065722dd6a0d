"""Social workers (社工): hired within the county's age and education limits, moved between stations,
qualified, leaving — with the certificate deadline tracked (R-REG-3) and the staffing that contracts
are judged on (R-REG-2). SQLite and PostgreSQL."""

from __future__ import annotations

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, USCC, contract_body
from tests.integration.test_registry_helpers import Cast, check, published, refused, uscc


async def test_workers_over_time_their_certificate_deadlines_and_the_staffing_contracts_see(gateway, tokens, settings):
    cast = Cast(gateway, tokens, COUNTY)
    # This county hires up to 35 (some counties' rule) and gives two years to obtain a certificate.
    await cast.register("原州区", {"worker_max_age_at_hiring": 35, "certificate_deadline_years": 2})
    provider = await cast.provider("明德社会工作服务中心", USCC[COUNTY], rating="4A")
    nanguan = await cast.station("南关街道社工站", "南关街道")
    sanying = await cast.station("三营镇社工站", "三营镇", kind="township_station")
    workers = f"{cast.base}/workers"

    def hiring(**profile):
        body = {"provider_id": provider, "station_id": nanguan, "name": "马丽", "birth_date": "1995-05-05", "education": "本科",
                "qualification": "none", "role": "social_worker", "hired_on": "2026-09-10", **profile}
        return gateway.post(workers, json=body, headers=cast.purchaser)

    # R-REG-3: 36 on the day of hiring is over this county's limit; 中专 is below 大专.
    problem = await refused(gateway, hiring(birth_date="1990-09-01"), "R-REG-3", "birth_date")
    assert "35" in problem["detail"]
    await refused(gateway, hiring(education="中专"), "R-REG-3", "education")
    await refused(gateway, hiring(provider_id="no-such-provider"), None, "provider_id")

    li_na = await cast.hire(provider, nanguan, "李娜", hired_on="2024-08-01")  # 助理社会工作师
    wang_jing = await cast.hire(provider, nanguan, "王静", hired_on="2024-12-01", qualification="none")
    zhang_wei = await cast.hire(provider, sanying, "张伟", hired_on="2025-06-01", qualification="none")
    zhao_min = await cast.hire(provider, sanying, "赵敏", hired_on="2024-09-01", qualification="none")
    hired = await published(settings.nats_url, COUNTY, "WorkerHired", lambda es: len(es) == 4)
    assert {e["data"]["worker_id"]: e["data"]["certificate_due_on"] for e in hired} == {
        li_na: None, wang_jing: "2026-12-01", zhang_wei: "2027-06-01", zhao_min: "2026-09-01"
    }

    # On 25 November 2026: 赵敏's deadline passed unmet (flagged); 王静's falls within 30 days.
    due = await check(gateway.get(workers, params={"certificate_due_within_days": 30, "as_of": "2026-11-25"}, headers=cast.purchaser), 200)
    assert [(w["worker_id"], w["certificate_days_left"], w["certificate_overdue"]) for w in due] == [
        (zhao_min, -85, True), (wang_jing, 6, False)
    ]

    # 王静 obtains 助理社会工作师 in time: her deadline is met.
    qualified = await check(gateway.post(f"{workers}/{wang_jing}/qualification",
                                         json={"qualification": "助理社会工作师", "qualified_on": "2026-11-28"}, headers=cast.purchaser), 200)
    assert (qualified["qualification"], qualified["certificate_due_on"]) == ("助理社会工作师", None)
    await refused(gateway, gateway.post(f"{workers}/{wang_jing}/qualification",
                                        json={"qualification": "助理社会工作师", "qualified_on": "2026-12-01"}, headers=cast.purchaser),
                  "R-REG-3", "qualification")
    due = await check(gateway.get(workers, params={"certificate_due_within_days": 30, "as_of": "2026-11-29"}, headers=cast.purchaser), 200)
    assert [w["worker_id"] for w in due] == [zhao_min]

    # 赵敏 leaves (调整岗位或重新招募); from then on she is neither listed as due nor counted at 三营.
    left = await check(gateway.post(f"{workers}/{zhao_min}/leaving", json={"left_on": "2026-11-30", "reason": "逾期未取得证书"},
                                    headers=cast.purchaser), 200)
    assert left["left_on"] == "2026-11-30"
    await refused(gateway, gateway.post(f"{workers}/{zhao_min}/leaving", json={"left_on": "2026-12-01"}, headers=cast.purchaser),
                  "R-REG-3", "left_on")
    due = await check(gateway.get(workers, params={"certificate_due_within_days": 365, "as_of": "2026-12-01"}, headers=cast.purchaser), 200)
    assert [w["worker_id"] for w in due] == [zhang_wei]

    # 李娜 moves from 南关 to 三营 from 1 December.
    moved = await check(gateway.post(f"{workers}/{li_na}/move", json={"to_station_id": sanying, "moved_on": "2026-12-01"},
                                     headers=cast.purchaser), 200)
    assert [(a["station_id"], a["start"], a["end"]) for a in moved["assignments"]] == [
        (nanguan, "2024-08-01", "2026-11-30"), (sanying, "2026-12-01", None)
    ]
    await refused(gateway, gateway.post(f"{workers}/{li_na}/move", json={"to_station_id": sanying, "moved_on": "2026-12-05"},
                                        headers=cast.purchaser), "R-REG-2", "to_station_id")
    at_sanying = await check(gateway.get(workers, params={"station_id": sanying}, headers=cast.purchaser), 200)
    assert {w["worker_id"] for w in at_sanying} == {li_na, zhang_wei, zhao_min}

    # R-REG-2 on 5 December: 南关 has only 王静 now; 三营 has 李娜 and 张伟 (赵敏 left).
    dates = {"signed_on": "2026-12-05", "effective_on": "2026-12-10", "period_start": "2026-12-10", "period_end": "2027-12-09"}
    contracts = f"{cast.base}/contracts"
    await refused(gateway, gateway.post(contracts, json=contract_body(provider, [sanying, nanguan], **dates), headers=cast.purchaser),
                  "R-REG-2", "station_ids.1")
    await check(gateway.post(contracts, json=contract_body(provider, [sanying], **dates), headers=cast.purchaser), 201)
    # …while a contract signed in November still saw both at 南关.
    november = {"signed_on": "2026-11-20", "effective_on": "2026-12-01", "period_start": "2026-12-01", "period_end": "2027-11-30"}
    await check(gateway.post(contracts, json=contract_body(provider, [nanguan], **november), headers=cast.purchaser), 201)

    # What services-log and others learn of it.
    moves = (await published(settings.nats_url, COUNTY, "WorkerMoved"))[0]["data"]
    assert moves == {"worker_id": li_na, "county": COUNTY, "provider_id": provider, "from_station_id": nanguan,
                     "to_station_id": sanying, "moved_on": "2026-12-01"}
    leaving = (await published(settings.nats_url, COUNTY, "WorkerLeft"))[0]["data"]
    assert leaving == {"worker_id": zhao_min, "county": COUNTY, "provider_id": provider, "station_id": sanying, "left_on": "2026-11-30"}
    qualification = (await published(settings.nats_url, COUNTY, "WorkerQualified"))[0]["data"]
    assert qualification == {"worker_id": wang_jing, "county": COUNTY, "qualification": "助理社会工作师", "qualified_on": "2026-11-28"}


async def test_a_provider_keeps_its_own_staff_only(gateway, tokens):
    cast = Cast(gateway, tokens, COUNTY)
    await cast.register()
    mingde = await cast.provider("明德社会工作服务中心", USCC[COUNTY])
    qihang = await cast.provider("启航社会工作服务中心", uscc("52640402MJY200001"))
    station = await cast.station("南关街道社工站", "南关街道")
    theirs = await cast.hire(qihang, station, "周洁")
    ours = cast.provider_token(mingde)
    body = {"provider_id": mingde, "station_id": station, "name": "李娜", "birth_date": "1995-05-05", "education": "本科",
            "qualification": "社会工作师", "role": "social_worker", "hired_on": "2026-08-01"}
    mine = (await check(gateway.post(f"{cast.base}/workers", json=body, headers=ours), 201))["worker_id"]
    # Hiring, moving or reading another provider's staff is not ours to do.
    r = await gateway.post(f"{cast.base}/workers", json={**body, "provider_id": qihang}, headers=ours)
    assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6"
    r = await gateway.post(f"{cast.base}/workers/{theirs}/leaving", json={"left_on": "2026-09-01"}, headers=ours)
    assert r.status_code == 404  # not its worker: as if unknown (docs/ACCESS.md)
    assert (await gateway.get(f"{cast.base}/workers/{theirs}", headers=ours)).status_code == 404
    assert [w["worker_id"] for w in await check(gateway.get(f"{cast.base}/workers", headers=ours), 200)] == [mine]
    everyone = await check(gateway.get(f"{cast.base}/workers", headers=cast.purchaser), 200)
    assert {w["worker_id"] for w in everyone} == {mine, theirs}
    # Personal data stays with the purchaser, the employer and auditors: finance does not read workers.
    assert (await gateway.get(f"{cast.base}/workers", headers=tokens(Role.FINANCE, COUNTY))).status_code == 403
