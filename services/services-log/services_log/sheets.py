"""The spreadsheets stations keep (服务记录台账) and the ones this service hands out.

Import columns (``COLUMNS``): the header row may use the English key or the Chinese header, or a
common variant of it; a unit in brackets such as ``（小时）``, spaces, title lines above the header
and unknown columns are ignored. ``columns_markdown()`` documents them in the OpenAPI text and the
XLSX template carries the same notes in its sheet 填写说明. Hours are each named worker's hours.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services_log.domainmodel import KINDS, SERVICE_AREAS
from shared.rules import DomainError

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 20_000
MAX_TITLE_LINES = 10

COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    # key: (Chinese header of the template, other accepted headers)
    "contract_id": ("协议编号", ("合同编号", "服务协议编号")),
    "station_id": ("站点编号", ("站点", "社工站编号")),
    "worker_ids": ("服务社工编号", ("服务社工", "社工编号", "社工", "workers")),
    "kind": ("服务类型", ("服务类别", "类型")),
    "area": ("服务领域", ("领域",)),
    "date": ("服务日期", ("日期",)),
    "hours_direct": ("直接服务时长", ("直接服务工时", "直接服务小时", "直接工时")),
    "hours_other": ("其他专业时长", ("其他专业工时", "其他工时", "其他时长")),
    "person_times": ("服务人次", ("人次",)),
    "indicator_code": ("指标编号", ("指标", "对应指标")),
    "beneficiary_refs": ("服务对象编号", ("服务对象",)),
    "content": ("服务内容", ("服务记录", "内容")),
}
REQUIRED = ("worker_ids", "kind", "area", "date", "hours_direct", "person_times")
EXAMPLE_ROW = ["", "", "", "帮扶救助", "社会救助", "2026-10-05", "2", "0.5", "12", "", "", "温暖包关爱行入户探访"]


class UnreadableFile(DomainError):
    """The upload is not a CSV or XLSX file with the documented columns."""

    title = "Unreadable file"


@dataclass
class ImportRow:
    """One data row: its line in the file, the values read, and what could not be read."""

    line: int
    values: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, detail)


def _normalise(header: Any) -> str:
    text = re.sub(r"[(（\[【].*?[)）\]】]", "", str(header or ""))
    return re.sub(r"[\s*＊]", "", text).lower()


HEADER_KEYS = {
    _normalise(name): key
    for key, (chinese, others) in COLUMNS.items()
    for name in (key, chinese, *others)
}


def _ids(value: Any) -> list[str]:
    return [part for part in re.split(r"[;；,，、\s]+", str(value or "").strip()) if part]


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if not match:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    return date(*(int(g) for g in match.groups()))


def _hours(value: Any) -> Decimal:
    try:
        hours = Decimal(str(value).strip() or "0")
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number of hours") from exc
    if not hours.is_finite() or hours < 0 or hours > 24:
        raise ValueError(f"{value} is not between 0 and 24 hours")
    return hours.quantize(Decimal("0.01"))


def _count(value: Any) -> int:
    text = str(value).strip()
    number = Decimal(text) if re.fullmatch(r"\d+(\.0+)?", text) else None
    if number is None or number > 1_000_000:
        raise ValueError(f"{value!r} is not a whole number of person-times")
    return int(number)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


READERS = {
    "contract_id": _text,
    "station_id": _text,
    "worker_ids": _ids,
    "kind": _text,
    "area": _text,
    "date": _date,
    "hours_direct": _hours,
    "hours_other": _hours,
    "person_times": _count,
    "indicator_code": _text,
    "beneficiary_refs": _ids,
    "content": _text,
}


def read_rows(table: Iterable[tuple[int, list[Any]]]) -> list[ImportRow]:
    """Typed rows from (line, cells) pairs: the header row is the first naming a known column."""
    rows: list[ImportRow] = []
    columns: dict[int, str] | None = None
    titles = 0
    for line, cells in table:
        if not any(c not in (None, "") and str(c).strip() for c in cells):
            continue
        if columns is None:
            columns = {i: HEADER_KEYS[_normalise(c)] for i, c in enumerate(cells) if _normalise(c) in HEADER_KEYS}
            if not columns:  # a title line above the header row (南关街道社工站服务记录台账 …)
                titles += 1
                columns = None
                if titles > MAX_TITLE_LINES:
                    break
                continue
            missing = [k for k in REQUIRED if k not in columns.values()]
            if missing:
                headers = "、".join(f"{k} ({COLUMNS[k][0]})" for k in missing)
                raise UnreadableFile(f"the header row (line {line}) lacks the columns {headers}", field="file")
            continue
        if len(rows) >= MAX_ROWS:
            raise UnreadableFile(f"more than {MAX_ROWS} rows: split the file", field="file")
        row = ImportRow(line=line, values={})
        for i, key in columns.items():
            cell = cells[i] if i < len(cells) else None
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                if key in REQUIRED:
                    row.errors.append((key, f"{COLUMNS[key][0]} is empty"))
                continue
            try:
                row.values[key] = READERS[key](cell)
            except (ValueError, TypeError) as exc:
                row.errors.append((key, str(exc)))
        rows.append(row)
    if columns is None:
        headers = "、".join(chinese for chinese, _ in COLUMNS.values())
        raise UnreadableFile(f"no header row found (expected the columns {headers})", field="file")
    return rows


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("the CSV file is neither UTF-8 nor GB18030 text", field="file")


def _csv_table(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise UnreadableFile(f"line {reader.line_num}: {exc}", field="file") from exc


def _xlsx_table(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise UnreadableFile(f"not a readable XLSX workbook: {type(exc).__name__}", field="file") from exc
    try:
        sheet = book["服务记录"] if "服务记录" in book.sheetnames else book.worksheets[0]
        for line, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, list(cells)
    finally:
        book.close()


def parse_upload(filename: str, content_type: str | None, data: bytes) -> list[ImportRow]:
    """The rows of an uploaded CSV or XLSX file (by its name, its type or its first bytes)."""
    is_xlsx = filename.lower().endswith(".xlsx") or content_type == XLSX or data[:2] == b"PK"
    return read_rows(_xlsx_table(data) if is_xlsx else _csv_table(data))


# --- files handed out -----------------------------------------------------------------
def template_headers() -> list[str]:
    return [chinese for chinese, _ in COLUMNS.values()]


def csv_template() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(template_headers())
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel then opens it as UTF-8


def xlsx_template() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "服务记录"
    sheet.append(template_headers())
    notes = book.create_sheet("填写说明")
    notes.append(["表头", "字段", "必填", "说明"])
    for key, (chinese, _) in COLUMNS.items():
        notes.append([chinese, key, "是" if key in REQUIRED else "否", _NOTES[key]])
    notes.append([])
    notes.append(["示例", *EXAMPLE_ROW[3:]])
    return _save(book)


_NOTES = {
    "contract_id": "服务协议编号；若上传时已指定协议可留空",
    "station_id": "社工站编号；协议只含一个站点时可留空",
    "worker_ids": "服务社工编号，多人用分号、逗号或顿号分隔",
    "kind": "、".join(KINDS) + "（走访同探访）",
    "area": "、".join(SERVICE_AREAS),
    "date": "YYYY-MM-DD，须在协议服务期内",
    "hours_direct": "每名社工的直接服务时长（小时），如 1.5",
    "hours_other": "每名社工的其他专业服务时长（小时），默认 0",
    "person_times": "服务人次",
    "indicator_code": "对应的协议指标编号（可空）",
    "beneficiary_refs": "服务对象编号（化名编号，可空）",
    "content": "服务内容摘要；个案、小组内容保密",
}


def columns_markdown() -> str:
    """The import columns as a Markdown table (for the OpenAPI description of the import)."""
    lines = ["| key | 中文表头 (also accepted) | required | value |", "|---|---|---|---|"]
    for key, (chinese, others) in COLUMNS.items():
        required = "yes" if key in REQUIRED else ("if not given otherwise" if key in ("contract_id", "station_id") else "no")
        lines.append(f"| `{key}` | {chinese} ({'、'.join(others)}) | {required} | {_NOTES[key]} |")
    return "\n".join(lines)


def _save(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
