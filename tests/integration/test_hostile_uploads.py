"""Hostile spreadsheets cost a bounded amount (issue 15): the import checks the archive before
parsing (member count, inflated sizes), ignores a sheet's declared dimension, stops at a bounded
number of lines and columns, and answers a damaged archive or sheet XML with 422 problem+json
naming ``file`` — never a plain-text 500, never minutes of one core."""

from __future__ import annotations

import io
import re
import zipfile

from openpyxl import Workbook

from shared.infra.auth import Role
from tests.integration.test_services_log_support import COUNTY, LOG

IMPORT = f"{LOG}/{COUNTY}/deliveries/import"
SHEET = "xl/worksheets/sheet1.xml"


def template_xlsx() -> bytes:
    book = Workbook()
    book.active.append(["服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长", "服务人次"])
    book.active.append(["w1", "帮扶救助", "社会救助", "2026-10-05", "2", "3"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_member(xlsx: bytes, name: str, rewrite) -> bytes:
    """The workbook with one member's bytes replaced by ``rewrite(old bytes)``."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item.filename, rewrite(data) if item.filename == name else data)
    return out.getvalue()


def refused(r, words: str) -> None:
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["field"] == "file" and words in problem["detail"], problem


async def test_hostile_workbooks_are_refused_before_they_cost_much(gateway, tokens):
    provider = tokens(Role.PROVIDER, COUNTY, provider_id="p-1")
    good = template_xlsx()

    # A 5 KB sheet declaring A1:XFD1048576 with one cell in the last row: the reader would pad
    # every row to 16,384 columns and walk a million rows.
    def bomb(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)
        return xml.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>')

    hostile = with_member(good, SHEET, bomb)
    assert len(hostile) < 10_000
    refused(await gateway.post(IMPORT, files={"file": ("bomb.xlsx", hostile)}, headers=provider), "lines")

    # A zip bomb: a member that inflates far beyond any real sheet, refused from the archive's directory.
    zipped = with_member(good, SHEET, lambda xml: xml.replace(b"</worksheet>", b" " * 80_000_000 + b"</worksheet>"))
    assert len(zipped) < 1_000_000
    refused(await gateway.post(IMPORT, files={"file": ("zip.xlsx", zipped)}, headers=provider), "inflate")

    # Damaged sheet XML and a damaged archive: 422 naming the file, not a 500.
    damaged = with_member(good, SHEET, lambda xml: xml[: len(xml) // 2])
    refused(await gateway.post(IMPORT, files={"file": ("damaged.xlsx", damaged)}, headers=provider), "XLSX")
    refused(await gateway.post(IMPORT, files={"file": ("cut.xlsx", good[: len(good) // 2])}, headers=provider), "XLSX")

    # Thousands of columns in one row, in XLSX and in CSV.
    wide = with_member(good, SHEET, lambda xml: xml.replace(
        b"</sheetData>", b'<row r="3">' + b"".join(b'<c t="n"><v>1</v></c>' for _ in range(5000)) + b"</row></sheetData>"))
    r = await gateway.post(IMPORT, files={"file": ("wide.xlsx", wide)}, headers=provider)
    assert r.status_code != 500, r.text  # columns past the limit are never read
    csv_wide = ("服务社工编号,服务类型,服务领域,服务日期,直接服务时长,服务人次\n" + ",".join("1" for _ in range(5000)) + "\n").encode()
    refused(await gateway.post(IMPORT, files={"file": ("wide.csv", csv_wide, "text/csv")}, headers=provider), "columns")
    # A CSV of blank lines is bounded by lines, not only by bytes.
    blank = ("服务社工编号,服务类型,服务领域,服务日期,直接服务时长,服务人次\n" + "\n" * 200_000).encode()
    refused(await gateway.post(IMPORT, files={"file": ("blank.csv", blank, "text/csv")}, headers=provider), "lines")
