"""Bulk import of a station's delivery sheet (服务记录台账), CSV and XLSX: every row checked, each
bad row reported with its line, field and rule, good rows recorded once however often the file is
uploaded, and a 10,000-row file in one request. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timedelta

import nats
from console.refusals import import_row_zh
from openpyxl import Workbook, load_workbook

from shared.infra.auth import Role
from shared.infra.settings import Settings
from tests.integration.test_services_log_support import COUNTY, LOG, OTHER_USCC, check, open_county, published

IMPORT = f"{LOG}/{COUNTY}/deliveries/import"
HEADER = ["协议编号", "站点编号", "服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长（小时）", "其他专业时长（小时）", "服务人次", "指标编号", "服务内容"]


def csv_file(rows: list[list[object]], encoding: str = "utf-8-sig", header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


async def delivered_on_stream(settings: Settings) -> int:
    """ServiceDelivered events of the county on the JetStream stream."""
    nc = await nats.connect(settings.nats_url)
    try:
        subject = f"swp.{COUNTY}.services-log.ServiceDelivered"
        info = await nc.jetstream().stream_info("SWP", subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))
    finally:
        await nc.close()


async def test_a_csv_sheet_with_good_and_bad_rows_then_the_same_sheet_again(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    li, wang, zhang = (place.workers[n] for n in ("李娜", "王静", "张伟"))
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]

    # The station's sheet, saved from Excel as GB18030; 协议编号 left blank (given with the upload)
    # and 站点编号 left blank (the contract has one station).
    visit = ["", "", li, "帮扶救助", "社会救助", "2026-10-05", "2", "0.5", "10", "assist", "入户慰问"]
    sheet = csv_file([
        visit,                                                                                       # line 2: good
        ["", "", f"{wang}；{li}", "小组", "儿童关爱保护", "2026/10/06", "2", "1", "8", "school", ""],   # 3: good, two workers
        ["", "", li, "帮扶救助", "社会救助", "2026-09-01", "2", "0", "5", "assist", ""],                # 4: before the year
        ["", "", li, "帮扶救助", "养老服务", "2026-10-07", "2", "0", "5", "", ""],                      # 5: out of scope
        ["", "", zhang, "探访", "社会救助", "2026-10-01", "1", "0", "1", "", ""],                       # 6: not yet hired
        ["", "", li, "帮扶救助", "社会救助", "2026-10-08", "两小时", "0", "5", "", ""],                 # 7: unreadable hours
        ["", place.elsewhere, li, "帮扶救助", "社会救助", "2026-10-08", "1", "0", "5", "", ""],         # 8: wrong station
        visit,                                                                                       # 9: a second, identical visit
        ["", "", li, "帮扶救助", "社会救助", "2026-10-05", "6", "1.5", "3", "assist", ""],              # 10: 5 + 7.5 > 12 h
        ["", "", wang, "走访", "社会救助", "2026-10-09", "1.5", "", "4", "assist", ""],                 # 11: good (走访 = 探访)
        ["", "", "无此社工", "探访", "社会救助", "2026-10-09", "1", "0", "1", "", ""],                  # 12: unknown worker
        ["", "", wang, "探访", "社会救助", "2026-10-09", "-1", "0", "1", "", ""],                       # 13: negative hours
        ["无此协议", "", wang, "探访", "社会救助", "2026-10-09", "1", "0", "1", "", ""],                # 14: unknown contract
        ["", "", wang, "", "社会救助", "2026-10-09", "1", "0", "1", "", ""],                            # 15: no kind
        ["", "", wang, "探访", "社会救助", "2026-10-09", "1", "0", "三", "", ""],                       # 16: unreadable person-times
    ], encoding="gb18030")
    upload = {"file": ("南关街道服务台账.csv", sheet, "text/csv")}

    report = await check(gateway.post(IMPORT, files=upload, params={"contract_id": place.contract_id}, headers=provider), 200)
    assert (report["rows"], report["recorded"], report["duplicates"], report["refused"]) == (15, 4, 0, 11)
    # Every refused row cites its rule and the column (its Chinese header), also when a value cannot be read.
    assert [(e["line"], e["field"], e["column"], e["rule"]) for e in report["errors"]] == [
        (4, "date", "服务日期", "R-LOG-3"),
        (5, "area", "服务领域", "R-REG-6"),
        (6, "worker_ids.0", "服务社工编号", "R-LOG-3"),
        (7, "hours_direct", "直接服务时长", "R-LOG-3"),
        (8, "station_id", "站点编号", "R-LOG-3"),
        (8, "worker_ids.0", "服务社工编号", "R-LOG-3"),  # 李娜 works at 南关街道, not there
        (10, "worker_ids.0", "服务社工编号", "R-LOG-4"),
        (12, "worker_ids.0", "服务社工编号", "R-LOG-3"),
        (13, "hours_direct", "直接服务时长", "R-LOG-3"),
        (14, "contract_id", "协议编号", "R-LOG-3"),
        (15, "kind", "服务类型", "R-LOG-1"),
        (16, "person_times", "服务人次", "R-LOG-3"),
    ]
    assert "无此社工" in report["errors"][7]["detail"] and "无此协议" in report["errors"][9]["detail"]
    # …and each reads in Chinese on the console's import page, the English detail not needed.
    assert all(import_row_zh(e)[0] and not import_row_zh(e)[1] for e in report["errors"]), report["errors"]
    assert import_row_zh(report["errors"][9])[0] == "找不到该服务协议（或尚未从登记系统同步）"
    assert report["contracts"] == [{"contract_id": place.contract_id, "recorded": 4}]
    progress = f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress"
    after_first = await check(gateway.get(progress, headers=purchaser), 200)
    assert (after_first["deliveries"], after_first["person_times"]) == (4, 10 + 8 + 10 + 4)
    assert [i["actual"] for i in after_first["indicators"]] == [24, 1, 0]
    kinds = [d["kind"] for d in (await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200))["items"]]
    assert kinds == ["帮扶救助", "小组", "帮扶救助", "探访"]

    # The same sheet uploaded again records nothing new; its bad rows are reported again.
    again = await check(gateway.post(IMPORT, files=upload, params={"contract_id": place.contract_id}, headers=provider), 200)
    assert (again["recorded"], again["duplicates"], again["refused"]) == (0, 4, 11)
    assert (await check(gateway.get(progress, headers=purchaser), 200))["deliveries"] == 4

    # One IndicatorProgressed for the first upload, none for the second: the next one is a single delivery's.
    await check(gateway.post(f"{LOG}/{COUNTY}/deliveries", json=place.delivery(date="2026-10-10"), headers=provider), 201)
    progressed = await published(settings.nats_url, COUNTY, "IndicatorProgressed", lambda es: es and es[-1]["data"]["deliveries"] == 5)
    assert [e["data"]["deliveries"] for e in progressed] == [4, 5]
    delivered = await published(settings.nats_url, COUNTY, "ServiceDelivered", lambda es: len(es) >= 5)
    assert len(delivered) == 5


async def test_an_upload_repeated_with_its_idempotency_key_returns_the_first_report_and_records_nothing(gateway, tokens, settings):
    """API.md: a command repeated with its Idempotency-Key returns the first result and records
    nothing new — the import too (its rows are recorded once anyway; the repeat once answered 500)."""
    place = await open_county(gateway, tokens)
    li, wang = place.workers["李娜"], place.workers["王静"]
    provider = {**place.headers["provider"], "Idempotency-Key": "upload-october-1"}
    sheet = csv_file([
        [place.contract_id, "", li, "帮扶救助", "社会救助", "2026-10-05", "2", "0", "10", "assist", ""],
        [place.contract_id, "", wang, "聚餐", "社会救助", "2026-10-06", "1", "0", "3", "", ""],  # refused: R-LOG-1
    ])
    upload = {"file": ("台账.csv", sheet, "text/csv")}
    first = await check(gateway.post(IMPORT, files=upload, headers=provider), 200)
    assert (first["rows"], first["recorded"], first["duplicates"], first["refused"]) == (2, 1, 0, 1)
    head = (await gateway.get("/services-log/health")).json()["store"]["head"]
    again = await check(gateway.post(IMPORT, files=upload, headers=provider), 200)
    assert again == first
    assert (await gateway.get("/services-log/health")).json()["store"]["head"] == head  # nothing new recorded
    # Without the key the same sheet is read again: its good row is a duplicate now.
    unkeyed = await check(gateway.post(IMPORT, files=upload, headers=place.headers["provider"]), 200)
    assert (unkeyed["recorded"], unkeyed["duplicates"], unkeyed["refused"]) == (0, 1, 1)


async def test_the_sheet_may_come_as_the_request_body_or_under_another_form_field(gateway, tokens):
    """API.md says only "CSV or XLSX upload": besides the documented multipart part `file`, the sheet is
    read from a multipart form's only file under another name, or from the body itself sent as
    text/csv or XLSX. A request carrying no sheet at all is refused naming `file`."""
    place = await open_county(gateway, tokens)
    li = place.workers["李娜"]
    provider = place.headers["provider"]
    sheet = csv_file([[place.contract_id, "", li, "帮扶救助", "社会救助", "2026-10-05", "2", "0", "10", "assist", ""]])

    raw = await check(gateway.post(IMPORT, content=sheet, headers={**provider, "Content-Type": "text/csv"}), 200)
    assert (raw["rows"], raw["recorded"], raw["refused"]) == (1, 1, 0)
    named = await check(gateway.post(IMPORT, files={"upload": ("台账.csv", sheet, "text/csv")}, headers=provider), 200)
    assert (named["rows"], named["recorded"], named["duplicates"]) == (1, 0, 1)  # the same row: recorded once

    book = Workbook()
    book.active.append(HEADER)
    book.active.append([place.contract_id, "", li, "探访", "社会救助", "2026-10-06", 1, 0, 1, None, None])
    out = io.BytesIO()
    book.save(out)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    report = await check(gateway.post(IMPORT, content=out.getvalue(), headers={**provider, "Content-Type": xlsx}), 200)
    assert (report["rows"], report["recorded"]) == (1, 1)

    for empty in ({"content": b"", "headers": {**provider, "Content-Type": "text/csv"}},
                  {"data": {"note": "x"}, "files": {"other": ("a.txt", b"", "text/plain")}, "headers": provider},
                  {"json": {"rows": []}, "headers": provider}):
        r = await gateway.post(IMPORT, **empty)
        assert r.status_code == 422 and r.json()["field"] == "file", r.text


async def test_an_xlsx_sheet_from_the_template(gateway, tokens):
    place = await open_county(gateway, tokens)
    li, wang = place.workers["李娜"], place.workers["王静"]
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]

    # The template documents the columns; the CSV one is just the header row, ready for Excel.
    r = await gateway.get(f"{IMPORT}/template", params={"format": "xlsx"}, headers=provider)
    assert r.status_code == 200
    template = load_workbook(io.BytesIO(r.content))
    assert template.sheetnames == ["服务记录", "填写说明"]
    headers = next(template["服务记录"].iter_rows(values_only=True))
    assert headers[:6] == ("协议编号", "站点编号", "服务社工编号", "服务类型", "服务领域", "服务日期")
    r = await gateway.get(f"{IMPORT}/template", params={"format": "csv"}, headers=provider)
    assert r.status_code == 200 and r.content.decode("utf-8-sig").splitlines()[0].split(",") == list(headers)

    # Filled in with real date and number cells, 协议编号 on every row.
    sheet = template["服务记录"]
    cid, station = place.contract_id, place.station
    sheet.append([cid, station, li, "个案", "儿童关爱保护", datetime(2026, 10, 12), 1.5, 0.5, 1, None, None, "家访"])
    sheet.append([cid, station, wang, "社区活动", "社会救助", datetime(2026, 10, 17), 3, 1, 60, "community", None, "重阳节活动"])
    sheet.append([cid, station, wang, "聚餐", "社会救助", datetime(2026, 10, 18), 2, 0, 20, None, None, None])
    sheet.append([cid, station, li, "个案", "儿童关爱保护", datetime(2026, 10, 19), 1, 0, 1, None, "no-such-person", None])
    sheet.append([None] * 12)  # blank rows are skipped
    out = io.BytesIO()
    template.save(out)
    upload = {"file": ("台账.xlsx", out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}

    report = await check(gateway.post(IMPORT, files=upload, headers=provider), 200)
    assert (report["rows"], report["recorded"], report["refused"]) == (4, 2, 2)
    assert [(e["line"], e["field"], e["rule"]) for e in report["errors"]] == [(4, "kind", "R-LOG-1"), (5, "beneficiary_refs.0", "R-LOG-5")]
    again = await check(gateway.post(IMPORT, files=upload, headers=provider), 200)
    assert (again["recorded"], again["duplicates"]) == (0, 2)
    progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert progress["deliveries"] == 2 and progress["indicators"][2]["actual"] == 1

    # A sheet without the required columns is refused as a whole.
    book = Workbook()
    book.active.append(["姓名", "日期"])
    out = io.BytesIO()
    book.save(out)
    r = await gateway.post(IMPORT, files={"file": ("x.xlsx", out.getvalue())}, headers=provider)
    assert r.status_code == 422 and r.json()["field"] == "file" and "服务社工编号" in r.json()["detail"]
    r = await gateway.post(IMPORT, files={"file": ("x.xlsx", b"PK\x03\x04 not really a workbook")}, headers=provider)
    assert r.status_code == 422 and r.json()["field"] == "file"


async def test_ten_thousand_rows_in_one_request(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    workers = [place.workers["李娜"], place.workers["王静"]]
    first = date(2026, 9, 21)
    kinds = [("帮扶救助", "assist"), ("探访", "assist"), ("社区活动", "community")]
    rows = []
    for i in range(10_000):
        kind, indicator = kinds[i % 3]
        day = first + timedelta(days=i % 61)  # 21 Sep – 20 Nov; at most 82 rows × 0.1 h per worker a day
        rows.append(["", "", workers[(i // 61) % 2], kind, "社会救助", day.isoformat(), "0.1", "0", str(1 + i % 4), indicator, ""])
    sheet = csv_file(rows)

    report = await check(gateway.post(IMPORT, files={"file": ("year.csv", sheet, "text/csv")},
                                      params={"contract_id": place.contract_id}, headers=provider), 200)
    assert (report["rows"], report["recorded"], report["refused"]) == (10_000, 10_000, 0), report["errors"][:5]

    person_times = sum(1 + i % 4 for i in range(10_000))
    progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert (progress["deliveries"], progress["person_times"]) == (10_000, person_times)
    assert progress["indicators"][2]["actual"] == len(range(2, 10_000, 3))  # one per community activity

    # One IndicatorProgressed for the whole file, after every ServiceDelivered.
    progressed = await published(settings.nats_url, COUNTY, "IndicatorProgressed", lambda es: len(es) >= 1, timeout=60)
    assert len(progressed) == 1 and progressed[0]["data"]["deliveries"] == 10_000
    assert progressed[0]["data"]["person_times"] == person_times
    assert await delivered_on_stream(settings) == 10_000


async def test_a_sheet_citing_another_providers_beneficiary_refuses_those_rows_as_unknown(gateway, tokens, settings):
    """R-LOG-5, R-AUD-6: an import row may cite only the contract's provider's beneficiaries; another
    provider's is refused per row exactly as an unknown reference is (line, field, rule), and a
    refused row records nothing — no delivery, no hours, no progress, nothing published."""
    place = await open_county(gateway, tokens)
    li, provider, purchaser = place.workers["李娜"], place.headers["provider"], place.headers["purchaser"]
    base = f"{LOG}/{COUNTY}"
    other = (await check(gateway.post(f"/registry/v1/counties/{COUNTY}/providers", json={"name": "仁爱社会工作服务中心", "uscc": OTHER_USCC,
                                                                                       "rating": "3A"}, headers=purchaser), 201))["provider_id"]
    ours = (await check(gateway.post(f"{base}/beneficiaries", json={"name": "欧阳某"}, headers=provider), 201))["beneficiary_ref"]
    theirs = (await check(gateway.post(f"{base}/beneficiaries", json={"name": "司马某"},
                                       headers=tokens(Role.PROVIDER, COUNTY, provider_id=other)), 201))["beneficiary_ref"]
    unknown = str(uuid.uuid4())

    def row(day: str, refs: str) -> list[object]:
        return ["", "", li, "个案", "儿童关爱保护", day, "1", "0", "1", "", refs, "家访"]

    sheet = csv_file([
        row("2026-10-05", ours),                 # line 2: good
        row("2026-10-06", theirs),               # 3: another provider's person
        row("2026-10-07", f"{ours}；{theirs}"),  # 4: ours, then theirs
        row("2026-10-08", unknown),              # 5: no such person
    ], header=[*HEADER[:-1], "服务对象编号", "服务内容"])
    report = await check(gateway.post(IMPORT, files={"file": ("台账.csv", sheet, "text/csv")},
                                      params={"contract_id": place.contract_id}, headers=provider), 200)
    assert (report["rows"], report["recorded"], report["refused"]) == (4, 1, 3), [e["detail"] for e in report["errors"]]
    errors = [(e["line"], e["field"], e["column"], e["rule"]) for e in report["errors"]]
    assert errors == [(3, "beneficiary_refs.0", "服务对象编号", "R-LOG-5"), (4, "beneficiary_refs.1", "服务对象编号", "R-LOG-5"),
                      (5, "beneficiary_refs.0", "服务对象编号", "R-LOG-5")]
    # Worded as an unknown reference: the refusal does not tell that the person exists.
    details = [e["detail"].replace(ref, "<ref>") for e, ref in zip(report["errors"], (theirs, theirs, unknown), strict=True)]
    assert details[0] == details[1] == details[2] and details[0].startswith("unknown beneficiary")

    # A single delivery citing them is refused in the same shape (problem+json: field, rule, same words).
    single = []
    for ref in (theirs, unknown):
        r = await gateway.post(f"{base}/deliveries", json=place.delivery(beneficiary_refs=[ref]), headers=provider)
        assert r.status_code == 422, r.text
        single.append((r.json()["field"], r.json()["rule"], r.json()["detail"].replace(ref, "<ref>")))
    assert single[0] == single[1] and single[0][:2] == ("beneficiary_refs.0", "R-LOG-5")

    # Only line 2 is recorded: its delivery, its hour, its progress and its one ServiceDelivered.
    progress = await check(gateway.get(f"{base}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert progress["deliveries"] == 1
    listed = await check(gateway.get(f"{base}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200)
    assert [d["beneficiary_refs"] for d in listed["items"]] == [[ours]]
    delivered = await published(settings.nats_url, COUNTY, "ServiceDelivered", lambda es: len(es) >= 1)
    assert [e["data"]["date"] for e in delivered] == ["2026-10-05"]

    # The other provider cannot import into our contract at all (R-REG-8), whoever its rows cite.
    r = await gateway.post(IMPORT, files={"file": ("台账.csv", sheet, "text/csv")}, params={"contract_id": place.contract_id},
                           headers=tokens(Role.PROVIDER, COUNTY, provider_id=other))
    assert (r.status_code, r.json()["recorded"], r.json()["refused"]) == (200, 0, 4), r.text
    assert {e["rule"] for e in r.json()["errors"]} == {"R-REG-8"}  # not its contract at all
    assert {import_row_zh(e) for e in r.json()["errors"]} == {("只有签约的承接机构（及其社工）可以为该协议登记服务", "")}


async def test_a_longer_sheet_again_with_new_rows_between_the_old_ones(gateway, tokens, settings):
    """A file of several batches whose every batch holds rows recorded before: every batch's first
    save is refused by the store and the batch read again asking for each row. Each new row is
    recorded once, each old one reported as a duplicate, the ledger and the published events count
    each delivery once."""
    place = await open_county(gateway, tokens)
    provider, purchaser = place.headers["provider"], place.headers["purchaser"]
    li = place.workers["李娜"]

    def row(i: int) -> list[object]:  # 0.01 h each: the daily cap is never reached
        day = date(2026, 10, 1) + timedelta(days=i % 40)
        return ["", "", li, "帮扶救助", "社会救助", day.isoformat(), "0.01", "0", "1", "assist", f"第{i}次入户"]

    old, new = [row(i) for i in range(1_000)], [row(i) for i in range(1_000, 1_750)]
    first = await check(gateway.post(IMPORT, files={"file": ("上旬.csv", csv_file(old), "text/csv")},
                                     params={"contract_id": place.contract_id}, headers=provider), 200)
    assert (first["recorded"], first["duplicates"], first["refused"]) == (1_000, 0, 0), first["errors"][:3]
    # Batches of 500: new 0–249 + old 0–249, old 250–499 + new 250–499, new 500–749 + old 500–749, old 750–999.
    mixed = new[:250] + old[:250] + old[250:500] + new[250:500] + new[500:] + old[500:750] + old[750:]
    again = await check(gateway.post(IMPORT, files={"file": ("全月.csv", csv_file(mixed), "text/csv")},
                                     params={"contract_id": place.contract_id}, headers=provider), 200)
    assert (again["rows"], again["recorded"], again["duplicates"], again["refused"]) == (1_750, 750, 1_000, 0), again["errors"][:3]
    assert again["contracts"] == [{"contract_id": place.contract_id, "recorded": 750}]

    progress = await check(gateway.get(f"{LOG}/{COUNTY}/contracts/{place.contract_id}/progress", headers=purchaser), 200)
    assert (progress["deliveries"], progress["person_times"]) == (1_750, 1_750)
    progressed = await published(settings.nats_url, COUNTY, "IndicatorProgressed", lambda es: len(es) >= 2, timeout=60)
    assert [e["data"]["deliveries"] for e in progressed] == [1_000, 1_750]
    assert await delivered_on_stream(settings) == 1_750
