"""A social worker's own token (role worker, claim worker_id) sees and touches only its own
deliveries — those naming it among their workers — and its own worker record (issue 15, R-AUD-6).
Its provider's token still sees all of the provider's."""

from __future__ import annotations

import io

from console.refusals import import_row_zh
from openpyxl import Workbook

from shared.infra.auth import Role
from tests.integration.test_services_log_support import LOG, check, open_county


def sheet(rows: list[list[str]]) -> bytes:
    book = Workbook()
    book.active.append(["服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长", "服务人次", "协议编号", "站点编号"])
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_a_worker_sees_and_touches_only_its_own_deliveries(gateway, tokens):
    place = await open_county(gateway, tokens)
    county, provider = place.county, place.headers["provider"]
    li, wang = place.workers["李娜"], place.workers["王静"]
    li_token = tokens(Role.WORKER, county, provider_id=place.provider_id, worker_id=li)

    # 李娜 logs her own visit; one naming only 王静 is not hers to record.
    mine = (await check(gateway.post(f"{LOG}/{county}/deliveries", json=place.delivery(worker_ids=[li]), headers=li_token), 201))["delivery_id"]
    r = await gateway.post(f"{LOG}/{county}/deliveries", json=place.delivery(worker_ids=[wang]), headers=li_token)
    assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6" and r.json()["field"] == "worker_ids", r.text
    # 王静's delivery, logged by the provider, is hidden from 李娜 like an unknown id.
    theirs = (await check(gateway.post(f"{LOG}/{county}/deliveries", json=place.delivery(worker_ids=[wang], date="2026-10-06"),
                                       headers=provider), 201))["delivery_id"]
    assert (await gateway.get(f"{LOG}/{county}/deliveries/{mine}", headers=li_token)).status_code == 200
    for method, path, body in (("GET", "", None), ("POST", "/corrections", {"reason": "改", "person_times": 3}),
                               ("POST", "/voiding", {"reason": "作废"})):
        r = await gateway.request(method, f"{LOG}/{county}/deliveries/{theirs}{path}", json=body, headers=li_token)
        assert r.status_code == 404 and "rule" not in r.json(), (path, r.text)
    # She cannot correct herself out of her own delivery (it would become someone else's).
    r = await gateway.post(f"{LOG}/{county}/deliveries/{mine}/corrections", json={"reason": "改", "worker_ids": [wang]}, headers=li_token)
    assert r.status_code == 403 and r.json()["field"] == "worker_ids", r.text
    # The contract's list shows her only hers; her provider sees both.
    listing = f"{LOG}/{county}/contracts/{place.contract_id}/deliveries"
    assert [d["delivery_id"] for d in (await check(gateway.get(listing, headers=li_token), 200))["items"]] == [mine]
    assert {d["delivery_id"] for d in (await check(gateway.get(listing, headers=provider), 200))["items"]} == {mine, theirs}

    # An import by 李娜: her row is recorded, 王静's row is refused with the rule.
    rows = [[li, "帮扶救助", "社会救助", "2026-10-07", "2", "3", place.contract_id, place.station],
            [wang, "帮扶救助", "社会救助", "2026-10-07", "2", "3", place.contract_id, place.station]]
    report = await check(gateway.post(f"{LOG}/{county}/deliveries/import", files={"file": ("mine.xlsx", sheet(rows))}, headers=li_token), 200)
    assert report["recorded"] == 1 and report["refused"] == 1, report
    assert report["errors"][0]["line"] == 3 and report["errors"][0]["rule"] == "R-AUD-6", report
    assert import_row_zh(report["errors"][0]) == ("社工个人账号只能登记本人参与的服务：请在服务社工中填写或选择自己", "")

    # Her own worker record, in services-log and in registry; not 王静's.
    for service in ("services-log", "registry"):
        base = f"/{service}/v1/counties/{county}/workers"
        assert (await gateway.get(f"{base}/{li}", headers=li_token)).status_code == 200, service
        assert (await gateway.get(f"{base}/{wang}", headers=li_token)).status_code == 404, service

    # A worker's token without worker_id is refused everywhere, as one without provider_id is.
    nameless = tokens(Role.WORKER, county, provider_id=place.provider_id)
    r = await gateway.get(f"{LOG}/{county}/deliveries/{mine}", headers=nameless)
    assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6" and "worker_id" in r.json()["detail"], r.text
