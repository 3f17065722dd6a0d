"""The delivery import workbook the console hands out, pre-filled for one contract, and the
clean-up of an uploaded copy before it goes to services-log's import route.

Template (sheet 服务记录, the name services-log reads): a title line, then the header row with
services-log's Chinese column headers. 协议编号 / 站点编号 / 服务社工编号 hold ids and are hidden
and locked; 站点名称 / 社工姓名 show the names (services-log ignores unknown columns). One row per
worker of the contract's stations is pre-filled; the worker fills in type, area, date, hours and
person-times (drop-down lists for type, area and indicator). Sheet 名单 lists every station,
worker and indicator with its id, for copying further rows. Text that starts like a formula
(= + - @) is written as text, never as a formula.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from console.labels import DELIVERY_KINDS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
SHEET = "服务记录"
# (header, key, hidden id column?, filled in by the worker?)
COLUMNS: list[tuple[str, str, bool, bool]] = [
    ("协议编号", "contract_id", True, False),
    ("站点编号", "station_id", True, False),
    ("服务社工编号", "worker_ids", True, False),
    ("站点名称", "station_name", False, False),
    ("社工姓名", "worker_name", False, False),
    ("服务类型", "kind", False, True),
    ("服务领域", "area", False, True),
    ("服务日期", "date", False, True),
    ("直接服务时长", "hours_direct", False, True),
    ("其他专业时长", "hours_other", False, True),
    ("服务人次", "person_times", False, True),
    ("指标编号", "indicator_code", False, True),
    ("服务内容", "content", False, True),
]
REQUIRED_FILL = ("服务类型", "服务领域", "服务日期", "直接服务时长", "服务人次")
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def text(value: Any) -> Any:
    """A value safe to put in a cell: text that Excel would take for a formula gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_LEAD):
        return "'" + value
    return value


def template(contract: dict[str, Any], title: str, stations: list[dict[str, Any]], workers: list[dict[str, Any]],
             areas: list[str]) -> bytes:
    """``workers``: ``{worker_id, name, station_id}`` of the provider at the contract's stations."""
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append([text(title)])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([header for header, *_ in COLUMNS])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    names = {s["station_id"]: s["name"] for s in stations}
    for w in workers:
        sheet.append([text(contract["contract_id"]), text(w["station_id"]), text(w["worker_id"]),
                      text(names.get(w["station_id"], "")), text(w["name"])])
    last = max(sheet.max_row, 2) + 200  # room for more rows, same protection and lists
    grey = PatternFill("solid", fgColor="F2F2F2")
    for index, (header, _key, hidden, fill) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, len(header) * 2 + 4)
        sheet.column_dimensions[letter].hidden = hidden
        for row in range(3, last + 1):
            cell = sheet.cell(row=row, column=index)
            cell.protection = Protection(locked=not fill)
            if not fill:
                cell.fill = grey
    lists = book.create_sheet("名单")
    lists.append(["类别", "名称", "编号", "所在站点"])
    for s in stations:
        lists.append(["站点", text(s["name"]), text(s["station_id"]), ""])
    for w in workers:
        lists.append(["社工", text(w["name"]), text(w["worker_id"]), text(names.get(w["station_id"], ""))])
    for i in contract.get("indicators") or []:
        lists.append(["指标", text(i["name"]), text(i["code"]), ""])
    lists.append([])
    lists.append(["填写说明：每行一次服务。灰色列已预填，请勿修改；需要更多行时，从“名单”复制站点编号和社工编号到隐藏列（取消隐藏即可见）。"
                  "服务日期写 2026-12-05；时长为每名社工的小时数；未填写服务类型、领域、日期、时长和人次的预填行在上传时视为空行。"])
    for column, values in (("F", list(DELIVERY_KINDS)), ("G", areas), ("L", [i["code"] for i in contract.get("indicators") or []])):
        if values and sum(len(v) + 1 for v in values) < 250:  # Excel's limit for an inline list
            rule = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True)
            rule.add(f"{column}3:{column}{last}")
            sheet.add_data_validation(rule)
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.insertRows = False
    sheet.protection.deleteRows = False
    sheet.freeze_panes = "D3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def drop_unfilled_rows(data: bytes) -> bytes:
    """An uploaded copy of the template with the pre-filled rows the worker left empty (no type,
    area, date, hours or person-times at all) blanked, so they are not reported as errors. Line
    numbers stay as in the file. Files that are not this template are returned untouched."""
    try:
        book = load_workbook(io.BytesIO(data))
    except Exception:
        return data  # services-log reports what is wrong with it
    if SHEET not in book.sheetnames:
        return data
    sheet = book[SHEET]
    header_row, positions = None, {}
    for row in sheet.iter_rows(min_row=1, max_row=12):
        values = [str(c.value).strip() if c.value is not None else "" for c in row]
        if "社工姓名" in values and "服务类型" in values:
            header_row = row[0].row
            positions = {v: i for i, v in enumerate(values) if v}
            break
    if header_row is None:
        return data
    fill = [positions[h] for h in REQUIRED_FILL if h in positions]
    changed = False
    for row in sheet.iter_rows(min_row=header_row + 1):
        if all(row[i].value in (None, "") for i in fill if i < len(row)) and any(c.value not in (None, "") for c in row):
            for cell in row:
                cell.value = None
            changed = True
    if not changed:
        return data
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
