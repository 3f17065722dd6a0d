"""Persons served (distinct beneficiaries) kept incrementally, and workbooks that never run text
as a formula. Pure domain and file building (no servers)."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import load_workbook
from services_log.domainmodel.served import ServedPersons, quarter_of
from services_log.workbooks import brief_workbook, quarterly_workbook


def change(ref: str, day: str, delta: int = 1, key: str = "") -> dict:
    return {"key": key, "ref": ref, "date": day, "delta": delta}


def test_one_person_served_five_times_is_one_person_and_counts_follow_voidings():
    served = ServedPersons(contract_id="c", period="year", county="640402")
    served.count(changes=[change("a", f"2026-10-{d:02d}") for d in (5, 12, 19, 26)] + [change("a", "2026-11-02")])
    served.count(changes=[change("b", "2026-11-02"), change("b", "2026-11-02", key="assist")])
    assert (served.persons(), served.persons("assist"), served.persons("school")) == (2, 1, 0)
    assert served.persons(up_to=date(2026, 10, 31)) == 1  # b was first served in November
    # Voiding a's first delivery moves a's first day; voiding all of b's removes b.
    served.count(changes=[change("a", "2026-10-05", -1), change("b", "2026-11-02", -1), change("b", "2026-11-02", -1, "assist")])
    assert (served.persons(), served.persons("assist"), served.persons(up_to=date(2026, 10, 11))) == (1, 0, 0)
    assert served.persons(up_to=date(2026, 10, 12)) == 1
    assert served.firsts == {"": {"2026-10-12": 1}, "assist": {}}  # bounded by persons, not deliveries


def test_quarters_are_calendar_quarters():
    assert [quarter_of(date(2026, m, 1)) for m in (1, 3, 4, 9, 10, 12)] == [
        "2026-Q1", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-Q4"]


HOSTILE = {"code": "=1+1", "name": "@SUM(A1)", "unit": "+场", "counting": "deliveries", "target": 5, "actual": 1,
           "planned_to_date": None, "beneficiaries": 0, "on_track": False}
COMMON = {"contract_id": "-c", "first_day": date(2026, 10, 1), "last_day": date(2026, 12, 31), "deliveries": 1,
          "person_times": 1, "beneficiaries": 0, "hours_direct": 1, "hours_other": 0,
          "by_kind": [{"kind": "=cmd|' /C calc'!A0", "deliveries": 1, "person_times": 1, "hours": 1}], "by_area": []}


def cells(data: bytes) -> list:
    book = load_workbook(io.BytesIO(data))
    return [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]


def test_workbooks_write_formula_like_text_as_text():
    quarterly = {**COMMON, "quarter": "2026-Q4", "by_month": [], "indicators": [
        {**HOSTILE, "actual_in_quarter": 1, "planned_in_quarter": None, "beneficiaries_in_quarter": 0}]}
    brief = {**COMMON, "month": "2026-10", "indicators": [
        {**HOSTILE, "actual_in_month": 1, "planned_in_month": None, "beneficiaries_in_month": 0}]}
    for data in (quarterly_workbook(quarterly), brief_workbook(brief)):
        written = cells(data)
        assert all(c.data_type != "f" for c in written)
        texts = {c.value for c in written}
        assert {"=1+1", "@SUM(A1)", "+场", "=cmd|' /C calc'!A0", "-c"} <= texts
