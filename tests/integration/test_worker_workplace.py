"""What a social worker may log against (``GET /registry/v1/counties/{county}/workers/{worker_id}/workplace``):
its own station on the day and the signed contracts covering it, with their areas and indicator codes —
read with its own token (R-AUD-6). Another worker's, another provider's or another county's is not
its to read: 404 like an unknown id inside its county, 403 outside it."""

from __future__ import annotations

from shared.infra.auth import Role
from tests.integration.slice import OTHER
from tests.integration.test_services_log_support import LOG, OTHER_USCC, check, open_county


async def test_a_worker_reads_its_own_workplace_and_logs_against_it(gateway, tokens):
    place = await open_county(gateway, tokens)
    county, purchaser = place.county, place.headers["purchaser"]
    li, wang, zhang, zhao = (place.workers[n] for n in ("李娜", "王静", "张伟", "赵敏"))
    reg = f"/registry/v1/counties/{county}/workers"

    def worker(worker_id: str, **claims: str) -> dict[str, str]:
        return tokens(Role.WORKER, county, provider_id=place.provider_id, worker_id=worker_id, **claims)

    mine = await check(gateway.get(f"{reg}/{li}/workplace", params={"as_of": "2026-10-05"}, headers=worker(li)), 200)
    assert (mine["worker_id"], mine["name"], mine["employed"], mine["as_of"]) == (li, "李娜", True, "2026-10-05")
    assert [(s["station_id"], s["name"], s["since"]) for s in mine["stations"]] == [(place.station, "南关街道社工站", "2026-08-01")]
    [contract] = mine["contracts"]
    assert contract["contract_id"] == place.contract_id and contract["station_ids"] == [place.station]
    assert contract["service_areas"] == ["社会救助", "儿童关爱保护"]
    assert [(i["code"], i["unit"], i["target"]) for i in contract["indicators"]] == [
        ("assist", "人次", 500), ("school", "期", 1), ("community", "场", 5)]
    assert "amount_fen" not in contract and "funding" not in contract  # what to log against, not the money

    # What it names is what services-log accepts from her token.
    body = place.delivery(contract_id=contract["contract_id"], station_id=mine["stations"][0]["station_id"], worker_ids=[li],
                          area=contract["service_areas"][0], indicator_code=contract["indicators"][0]["code"])
    await check(gateway.post(f"{LOG}/{county}/deliveries", json=body, headers=worker(li)), 201)

    # Another worker of the same provider, another provider, another county, a token without worker_id.
    for other in (wang, zhao):
        r = await gateway.get(f"{reg}/{other}/workplace", headers=worker(li))
        assert r.status_code == 404 and "rule" not in r.json(), r.text
    r = await gateway.get(f"{reg}/not-a-worker/workplace", headers=worker(li))
    assert r.status_code == 404 and "rule" not in r.json(), r.text
    other_provider = (await check(gateway.post(f"/registry/v1/counties/{county}/providers", headers=purchaser,
                                               json={"name": "仁爱社会工作服务中心", "uscc": OTHER_USCC, "rating": "3A"}), 201))["provider_id"]
    for headers in (tokens(Role.PROVIDER, county, provider_id=other_provider),
                    tokens(Role.WORKER, county, provider_id=other_provider, worker_id=li)):
        r = await gateway.get(f"{reg}/{li}/workplace", headers=headers)
        assert r.status_code == 404 and "rule" not in r.json(), r.text
    for headers in (tokens(Role.WORKER, OTHER, provider_id=place.provider_id, worker_id=li),
                    tokens(Role.WORKER, county, provider_id=place.provider_id),
                    tokens(Role.EVALUATOR, county, evaluator_org="华夏评估"), tokens(Role.FINANCE, county)):
        r = await gateway.get(f"{reg}/{li}/workplace", headers=headers)
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", r.text
    # Her provider and the purchaser read it too.
    for headers in (place.headers["provider"], purchaser):
        assert (await check(gateway.get(f"{reg}/{li}/workplace", params={"as_of": "2026-10-05"}, headers=headers), 200)) == mine

    # 赵敏's station has no contract; before the service period there is none; before hiring, nowhere.
    zhaos = await check(gateway.get(f"{reg}/{zhao}/workplace", params={"as_of": "2026-10-05"}, headers=worker(zhao)), 200)
    assert [s["station_id"] for s in zhaos["stations"]] == [place.elsewhere] and zhaos["contracts"] == []
    early = await check(gateway.get(f"{reg}/{li}/workplace", params={"as_of": "2026-09-01"}, headers=worker(li)), 200)
    assert len(early["stations"]) == 1 and early["contracts"] == []
    before = await check(gateway.get(f"{reg}/{zhang}/workplace", params={"as_of": "2026-10-01"}, headers=worker(zhang)), 200)
    assert before["employed"] is False and before["stations"] == [] and before["contracts"] == []

    # Once she moves to 赵敏's station, that is her workplace from the day she moves (and no contract covers it).
    await check(gateway.post(f"{reg}/{li}/move", json={"to_station_id": place.elsewhere, "moved_on": "2026-11-01"},
                             headers=place.headers["provider"]), 200)
    moved = await check(gateway.get(f"{reg}/{li}/workplace", params={"as_of": "2026-11-02"}, headers=worker(li)), 200)
    assert [(s["station_id"], s["since"]) for s in moved["stations"]] == [(place.elsewhere, "2026-11-01")] and moved["contracts"] == []
    assert (await check(gateway.get(f"{reg}/{li}/workplace", params={"as_of": "2026-10-05"}, headers=worker(li)), 200)) == mine

    # Her contracts over a window (`since`): the one that covered her old station is still hers to choose.
    back = {"as_of": "2026-11-02", "since": "2026-09-01"}
    history = await check(gateway.get(f"{reg}/{li}/workplace", params=back, headers=worker(li)), 200)
    assert history["contracts"] == [] and history["worked_total"] == 1
    [worked] = history["worked_under"]
    assert worked == {**contract, "station_ids": [place.station]}
    assert [(s["station_id"], s["name"]) for s in history["worked_stations"]] == [
        (place.station, "南关街道社工站"), (place.elsewhere, zhaos["stations"][0]["name"])]
    assert moved["worked_under"] == [] and moved["worked_stations"] == [] and moved["worked_total"] == 0  # today's only
    # Paged; a window from the day she moved holds none; her provider reads the same, nobody else's.
    paged = await check(gateway.get(f"{reg}/{li}/workplace", params={**back, "offset": 1, "limit": 1}, headers=worker(li)), 200)
    assert (paged["worked_under"], paged["worked_total"]) == ([], 1)
    after = await check(gateway.get(f"{reg}/{li}/workplace", params={**back, "since": "2026-11-01"}, headers=worker(li)), 200)
    assert (after["worked_under"], after["worked_total"]) == ([], 0)
    assert (await check(gateway.get(f"{reg}/{li}/workplace", params=back, headers=place.headers["provider"]), 200)) == history
    zhao_back = await check(gateway.get(f"{reg}/{zhao}/workplace", params=back, headers=worker(zhao)), 200)
    assert zhao_back["worked_under"] == []  # her station never had a contract
    r = await gateway.get(f"{reg}/{wang}/workplace", params=back, headers=worker(li))
    assert r.status_code == 404, r.text
    # The window is bounded: not after as_of, at most 1,096 days before it; a page at most 100.
    for bad in ({"since": "2026-11-03"}, {"since": "2023-11-01"}):
        r = await gateway.get(f"{reg}/{li}/workplace", params={**back, **bad}, headers=worker(li))
        assert r.status_code == 422 and r.json()["rule"] == "R-LOG-3" and r.json()["field"] == "since", r.text
    r = await gateway.get(f"{reg}/{li}/workplace", params={**back, "limit": 101}, headers=worker(li))
    assert r.status_code == 422, r.text


async def test_a_workers_page_of_a_contracts_deliveries_is_filled_with_its_own(gateway, tokens):
    """Her deliveries are every third of the contract's: each page still holds `limit` of hers, and
    the cursor resumes after the last delivery examined, so a walk sees each of hers once, in order."""
    place = await open_county(gateway, tokens)
    county, provider = place.county, place.headers["provider"]
    li, wang, zhao = (place.workers[n] for n in ("李娜", "王静", "赵敏"))
    hers = []
    for day in range(1, 13):
        who = li if day % 3 == 0 else wang
        body = place.delivery(worker_ids=[who], date=f"2026-10-{day + 1:02d}")
        delivery = (await check(gateway.post(f"{LOG}/{county}/deliveries", json=body, headers=provider), 201))["delivery_id"]
        if who == li:
            hers.append(delivery)
    listing = f"{LOG}/{county}/contracts/{place.contract_id}/deliveries"
    li_token = tokens(Role.WORKER, county, provider_id=place.provider_id, worker_id=li)
    seen, pages, cursor = [], [], None
    while True:
        r = await gateway.get(listing, params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=li_token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 12  # the contract's
        pages.append(len(body["items"]))
        seen += [d["delivery_id"] for d in body["items"]]
        assert all(li in d["worker_ids"] for d in body["items"])
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert seen == hers and pages == [3, 1], pages
    # Her provider pages the contract as before: three a page, four pages.
    r = await gateway.get(listing, params={"limit": 3}, headers=provider)
    assert r.status_code == 200 and len(r.json()["items"]) == 3 and r.headers.get("X-Next-Cursor")
    # A worker with none of them: an empty page, and no next.
    zhao_token = tokens(Role.WORKER, county, provider_id=place.provider_id, worker_id=zhao)
    r = await gateway.get(listing, params={"limit": 3}, headers=zhao_token)
    assert r.status_code == 200 and r.json()["items"] == [] and r.headers.get("X-Next-Cursor") is None
