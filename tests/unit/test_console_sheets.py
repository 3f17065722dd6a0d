"""The console's pre-filled import workbook: names shown, ids hidden and locked, formula-like text
kept as text, and pre-filled rows left empty dropped before the upload goes to services-log."""

from __future__ import annotations

import io

from console.sheets import drop_unfilled_rows, template
from openpyxl import load_workbook

CONTRACT = {"contract_id": "c-1", "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次"}]}
STATIONS = [{"station_id": "s-1", "name": "南关街道社工站"}]
WORKERS = [{"worker_id": "w-1", "name": "=HYPERLINK(\"x\")", "station_id": "s-1"}, {"worker_id": "w-2", "name": "李娜", "station_id": "s-1"}]


def test_the_template_names_stations_and_workers_and_hides_their_ids():
    book = load_workbook(io.BytesIO(template(CONTRACT, "明德 · 服务记录", STATIONS, WORKERS, ["社会救助"])))
    sheet = book["服务记录"]
    headers = [c.value for c in sheet[2]]
    assert headers[:5] == ["协议编号", "站点编号", "服务社工编号", "站点名称", "社工姓名"]
    assert [c.value for c in sheet[4]][:5] == ["c-1", "s-1", "w-2", "南关街道社工站", "李娜"]
    assert all(sheet.column_dimensions[col].hidden for col in "ABC") and sheet.protection.sheet
    assert sheet["A4"].protection.locked and not sheet["F4"].protection.locked
    # A name that looks like a formula stays text: never evaluated by Excel.
    assert sheet["E3"].value == "'=HYPERLINK(\"x\")" and sheet["E3"].data_type == "s"


def test_prefilled_rows_left_empty_are_dropped_and_filled_ones_kept_on_their_line():
    book = load_workbook(io.BytesIO(template(CONTRACT, "t", STATIONS, WORKERS, ["社会救助"])))
    sheet = book["服务记录"]
    for column, value in zip("FGHIK", ("探访", "社会救助", "2026-12-05", 2, 8), strict=True):
        sheet[f"{column}4"] = value
    out = io.BytesIO()
    book.save(out)
    cleaned = load_workbook(io.BytesIO(drop_unfilled_rows(out.getvalue())))["服务记录"]
    assert all(c.value is None for c in cleaned[3])  # 王…'s row left empty: blanked
    assert cleaned["C4"].value == "w-2" and cleaned["K4"].value == 8
    assert drop_unfilled_rows(b"not a workbook") == b"not a workbook"
