"""The workbooks this service hands out: the monthly brief (月度工作简报) and the quarterly report
(季度服务数据). Every text cell is written as a text cell, and text that begins like a formula
(``=``, ``+``, ``-``, ``@``, tab, CR) gets the platform's one escape, a leading ``'``
(``shared.text.spreadsheet_text``), so it is never run as a formula — not when opened, nor once
re-edited or saved as CSV (CSV/formula injection)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from services_log.sheets import XLSX
from shared.text import spreadsheet_text

__all__ = ["XLSX", "brief_workbook", "quarterly_workbook"]


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return spreadsheet_text(value)


def _append(sheet: Any, values: list[Any]) -> None:
    sheet.append([_cell(v) for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # text, never a formula, whatever it begins with


def _save(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _summary(book: Any, doc: dict[str, Any], period: tuple[str, str]) -> None:
    summary = book.active
    summary.title = "概况"
    for label, key in (
        ("服务协议", "contract_id"), period, ("起", "first_day"), ("止", "last_day"), ("服务次数", "deliveries"),
        ("服务人次", "person_times"), ("服务人数", "beneficiaries"), ("直接服务工时", "hours_direct"),
        ("其他专业工时", "hours_other"),
    ):
        _append(summary, [label, doc[key]])


def _breakdowns(book: Any, doc: dict[str, Any]) -> None:
    for title, label, rows in (("服务类型", "kind", doc["by_kind"]), ("服务领域", "area", doc["by_area"])):
        sheet = book.create_sheet(title)
        _append(sheet, [title, "服务次数", "服务人次", "工时"])
        for row in rows:
            _append(sheet, [row[label], row["deliveries"], row["person_times"], row["hours"]])


def _indicators(book: Any, report: dict[str, Any], period_zh: str, period: str) -> None:
    """Indicator progress of a brief (本月, ``…_in_month``) or a quarterly report (本季, ``…_in_quarter``)."""
    sheet = book.create_sheet("指标进度")
    _append(sheet, ["指标编号", "指标", "单位", "计数方式", "年度目标", f"本{period_zh}完成", f"本{period_zh}计划",
                    f"本{period_zh}服务人数", "累计完成", "累计计划", "累计服务人数", "是否达到进度"])
    for ind in report["indicators"]:
        _append(sheet, [
            ind["code"], ind["name"], ind["unit"], ind["counting"], ind["target"], ind[f"actual_in_{period}"],
            ind[f"planned_in_{period}"], ind[f"beneficiaries_in_{period}"], ind["actual"], ind["planned_to_date"],
            ind["beneficiaries"], "是" if ind["on_track"] else "否",
        ])


def brief_workbook(brief: dict[str, Any]) -> bytes:
    """The monthly brief as an XLSX workbook: summary, kinds, areas, indicators."""
    from openpyxl import Workbook

    book = Workbook()
    _summary(book, brief, ("月份", "month"))
    _breakdowns(book, brief)
    _indicators(book, brief, "月", "month")
    return _save(book)


def quarterly_workbook(report: dict[str, Any]) -> bytes:
    """The quarterly report as an XLSX workbook: summary, months, kinds, areas, indicators."""
    from openpyxl import Workbook

    book = Workbook()
    _summary(book, report, ("季度", "quarter"))
    months = book.create_sheet("分月")
    _append(months, ["月份", "服务次数", "服务人次", "服务人数", "直接服务工时", "其他专业工时"])
    for m in report["by_month"]:
        _append(months, [m["month"], m["deliveries"], m["person_times"], m["beneficiaries"], m["hours_direct"], m["hours_other"]])
    _breakdowns(book, report)
    _indicators(book, report, "季", "quarter")
    return _save(book)
