"""The human views of an audit export (CSV, XLSX): one decoded row per record, the transcoder's
type wrappers unwrapped, and no text a spreadsheet would run as a formula."""

from __future__ import annotations

import base64
import csv
import json

from gateway.audit_cli import VIEW_COLUMNS, _write_views
from openpyxl import load_workbook


def record(position: int, state: dict) -> dict:
    return {
        "position": position, "aggregate_id": f"agg-{position}", "version": 1, "topic": "registry.domainmodel:Provider.Registered",
        "state": base64.b64encode(json.dumps(state, ensure_ascii=False).encode()).decode(),
        "link": {"position": position, "prev": "0" * 64, "digest": "1" * 64, "hash": f"{position:064x}"},
    }


def test_views_hold_one_decoded_row_per_record_and_no_formulas(tmp_path):
    hostile = '=HYPERLINK("http://evil.example","点我")'
    records = [
        record(1, {"name": "明德社会工作服务中心", "meta": {"county": "640402", "actor": "u-1", "recorded_at": "2026-10-01T08:00:00+00:00",
                                                 "sig": "ab"}, "timestamp": {"_type_": "datetime_iso", "_data_": "2026-10-01"},
                   "amount": {"_type_": "decimal_str", "_data_": "12.50"}}),
        record(2, {"name": hostile, "meta": {"county": "640402", "actor": "@evil"}}),
    ]
    csv_path, xlsx_path = _write_views("registry", records, tmp_path)

    with csv_path.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["position"]) for r in rows] == [1, 2]
    assert rows[0]["event_type"] == "Provider.Registered" and rows[0]["county"] == "640402"
    assert json.loads(rows[0]["data"]) == {"name": "明德社会工作服务中心", "amount": "12.50"}  # no meta, no wrappers
    assert rows[0]["chain_hash"] == f"{1:064x}"
    assert rows[1]["actor"] == "'@evil"  # would be a formula in Excel otherwise

    sheet = load_workbook(xlsx_path).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == VIEW_COLUMNS and len(values) == 3
    name_cell = sheet.cell(row=3, column=VIEW_COLUMNS.index("actor") + 1)
    assert name_cell.value == "'@evil" and name_cell.data_type == "s"  # the same escape as the CSV
    for cells in sheet.iter_rows(min_row=2):
        assert all(c.data_type != "f" for c in cells)
    assert hostile in json.loads(values[2][VIEW_COLUMNS.index("data")])["name"]


def test_an_empty_export_still_has_headed_views(tmp_path):
    csv_path, xlsx_path = _write_views("finance", [], tmp_path)
    with csv_path.open(encoding="utf-8-sig") as f:
        assert next(csv.reader(f)) == list(VIEW_COLUMNS)
    assert next(load_workbook(xlsx_path).active.iter_rows(values_only=True)) == VIEW_COLUMNS
