"""R-FIN-6: working days follow the State Council holiday calendar; years without a
published calendar fall back to Monday–Friday (no holidays, no 调休) and are flagged
provisional until the year's calendar is loaded.

Expected dates were worked out by hand from the 国务院办公厅 notices as shipped in
chinesecalendar's data (2025: Oct 1–8 off, Sep 28 Sun / Oct 11 Sat worked;
2026: Feb 15–23 off, Feb 14 Sat / Feb 28 Sat worked)."""

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.workdays import DueDate, WorkdayCalendar, YearCalendar

D = date.fromisoformat
CAL = WorkdayCalendar()


def test_published_notices_are_what_the_expected_dates_rely_on():
    # Guard: if the library's data changed, the hand-worked dates below are void.
    assert [chinese_calendar.is_workday(D(s)) for s in ("2025-09-28", "2025-10-11")] == [True, True]
    assert not any(chinese_calendar.is_workday(D("2025-10-01") + timedelta(i)) for i in range(8))
    assert [chinese_calendar.is_workday(D(s)) for s in ("2026-02-14", "2026-02-28")] == [True, True]
    assert not any(chinese_calendar.is_workday(D("2026-02-15") + timedelta(i)) for i in range(9))


def test_fifteen_working_days_across_national_day_2025_counts_the_tiaoxiu_weekends():
    # From Fri 2025-09-26: Sep 28 (Sun, 调休) 1, Sep 29 2, Sep 30 3, Oct 1–8 off,
    # Oct 9 4, Oct 10 5, Oct 11 (Sat, 调休) 6, Oct 13–17 7–11, Oct 20–23 12–15.
    due = CAL.add_workdays(D("2025-09-26"), 15)
    assert due == DueDate(D("2025-10-23"), provisional=False)
    # A plain Mon–Fri count would have given Oct 17; the holiday calendar matters.
    assert due.on != D("2025-10-17")


def test_fifteen_working_days_across_spring_festival_2026():
    # From Tue 2026-02-10: Feb 11–13 1–3, Feb 14 (Sat, 调休) 4, Feb 15–23 off,
    # Feb 24–27 5–8, Feb 28 (Sat, 调休) 9, Mar 2–6 10–14, Mar 9 15.
    assert CAL.add_workdays(D("2026-02-10"), 15) == DueDate(D("2026-03-09"), False)


def test_2027_is_monday_to_friday_and_provisional_until_its_notice_is_loaded():
    assert not CAL.is_official(2027)
    # R-FIN-6 as written: no statutory holiday is guessed. National Day 2027 (Fri Oct 1) and
    # Spring Festival 2027 (除夕 Fri Feb 5, 初三 Mon Feb 8) are working days until the notice.
    # From Wed 2027-09-29: Sep 30 1, Oct 1 2, Oct 4–6 3–5.
    before = CAL.add_workdays(D("2027-09-29"), 5)
    assert before == DueDate(D("2027-10-06"), provisional=True)
    # From Wed 2027-02-03: Feb 4 1, Feb 5 2, Feb 8 3.
    assert CAL.add_workdays(D("2027-02-03"), 3) == DueDate(D("2027-02-08"), True)
    for day in ("2027-01-01", "2027-02-05", "2027-02-08", "2027-04-05", "2027-05-03", "2027-06-09",
                "2027-09-15", "2027-10-01"):
        assert CAL.is_workday(D(day)) == (True, True), day
    assert CAL.is_workday(D("2027-10-02")) == (False, True)  # a Saturday

    # A made-up 2027 notice: Oct 1–7 off, Sat Sep 25 and Sat Oct 9 worked.
    notice = YearCalendar(
        2027,
        holidays=frozenset(D("2027-10-01") + timedelta(i) for i in range(7)),
        workdays=frozenset({D("2027-09-25"), D("2027-10-09")}),
    )
    loaded = CAL.with_year(notice)
    assert loaded.is_official(2027)
    # Recomputed: Sep 30 1, Oct 1–7 off, Fri Oct 8 2, Sat Oct 9 3, Oct 11 4, Oct 12 5.
    assert loaded.add_workdays(D("2027-09-29"), 5) == DueDate(D("2027-10-12"), False)
    assert loaded.is_workday(D("2027-10-01")) == (False, False)
    assert loaded.is_workday(D("2027-10-09")) == (True, False)
    # with_year does not mutate the original calendar.
    assert CAL.add_workdays(D("2027-09-29"), 5) == before


def test_the_two_deadlines_across_new_year_2027_are_plain_monday_to_friday():
    # R-REG-5: signed Fri 2026-12-18, filed within 15 working days: Dec 21–25 1–5, Dec 28–31 6–9
    # (2026, official), Fri 2027-01-01 10 (no 元旦 without a notice), Jan 4–8 11–15.
    assert CAL.add_workdays(D("2026-12-18"), 15) == DueDate(D("2027-01-08"), True)
    # R-FIN-5: in effect from Mon 2026-12-21, tranche 1 within 15 working days: Dec 22–25 1–4,
    # Dec 28–31 5–8, Jan 1 9, Jan 4–8 10–14, Mon Jan 11 15.
    assert CAL.add_workdays(D("2026-12-21"), 15) == DueDate(D("2027-01-11"), True)
    # Loading 2027 with 元旦 off moves both by one working day and clears provisional.
    loaded = CAL.with_year(YearCalendar(2027, holidays=frozenset({D("2027-01-01")}), workdays=frozenset()))
    assert loaded.add_workdays(D("2026-12-18"), 15) == DueDate(D("2027-01-11"), False)
    assert loaded.add_workdays(D("2026-12-21"), 15) == DueDate(D("2027-01-12"), False)


def test_loaded_calendar_beats_chinesecalendar_for_a_covered_year():
    corrected = YearCalendar(2026, holidays=frozenset({D("2026-12-31")}), workdays=frozenset())
    assert CAL.is_workday(D("2026-12-31")) == (True, False)
    assert CAL.with_year(corrected).is_workday(D("2026-12-31")) == (False, False)


def test_crossing_from_2026_into_2027_becomes_provisional():
    # From Thu 2026-12-24: Dec 25, 28–31 are 1–5 (all 2026, official).
    assert CAL.add_workdays(D("2026-12-24"), 5) == DueDate(D("2026-12-31"), False)
    # Fri 2027-01-01 counts (Monday–Friday), Jan 4–7 are 7–10; 2027 days make it provisional.
    assert CAL.add_workdays(D("2026-12-24"), 10) == DueDate(D("2027-01-07"), True)


def test_years_before_the_library_data_are_monday_to_friday_and_provisional():
    # chinesecalendar starts in 2004: 国庆 2003 (Wed Oct 1) counts until a 2003 notice is loaded.
    assert not CAL.is_official(2003)
    assert CAL.add_workdays(D("2003-09-30"), 1) == DueDate(D("2003-10-01"), True)
    assert CAL.workdays_between(D("2002-12-31"), D("2003-12-31")) == (261, True)
    # From Thu 2003-12-25 into 2004 (official): Dec 26, 29–31 1–4 provisional; 2004-01-01 is off.
    assert CAL.add_workdays(D("2003-12-25"), 5) == DueDate(D("2004-01-02"), True)


def test_subtract_workdays_goes_backwards_over_holidays():
    # Before Thu 2025-10-09: Oct 1–8 off, so the previous working day is Sep 30.
    assert CAL.subtract_workdays(D("2025-10-09"), 1) == DueDate(D("2025-09-30"), False)
    # Before Mon 2025-10-13: Sat Oct 11 (调休) 1, Oct 10 2, Oct 9 3.
    assert CAL.subtract_workdays(D("2025-10-13"), 3) == DueDate(D("2025-10-09"), False)
    # Without a 2027 notice Fri 2027-01-01 is a working day; counting it makes 2026-12-31 provisional.
    assert CAL.subtract_workdays(D("2027-01-04"), 1) == DueDate(D("2027-01-01"), True)
    assert CAL.subtract_workdays(D("2027-01-04"), 2) == DueDate(D("2026-12-31"), True)
    assert CAL.subtract_workdays(D("2025-10-09"), 0) == DueDate(D("2025-10-09"), False)


def test_workdays_between_counts_the_half_open_interval():
    assert CAL.workdays_between(D("2025-09-26"), D("2025-10-23")) == (15, False)
    assert CAL.workdays_between(D("2025-09-30"), D("2025-10-08")) == (0, False)
    assert CAL.workdays_between(D("2025-10-08"), D("2025-10-08")) == (0, False)
    # Dec 31 (2026) and Jan 1, Jan 4 (2027, Monday–Friday).
    assert CAL.workdays_between(D("2026-12-30"), D("2027-01-04")) == (3, True)
    with pytest.raises(ValueError):
        CAL.workdays_between(D("2025-10-09"), D("2025-10-08"))


def test_zero_and_negative_counts():
    assert CAL.add_workdays(D("2025-10-01"), 0) == DueDate(D("2025-10-01"), False)
    assert CAL.add_workdays(D("2027-10-01"), 0) == DueDate(D("2027-10-01"), True)
    with pytest.raises(ValueError):
        CAL.add_workdays(D("2025-10-01"), -1)


def test_year_calendar_round_trips_through_dict():
    data = {"year": 2027, "holidays": ["2027-10-02", "2027-10-01"], "workdays": ["2027-09-25"]}
    cal = YearCalendar.from_dict(data)
    assert cal.holidays == {D("2027-10-01"), D("2027-10-02")}
    assert YearCalendar.from_dict(cal.to_dict()) == cal
    assert cal.to_dict()["holidays"] == ["2027-10-01", "2027-10-02"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"year": 2027, "holidays": ["2028-01-01"], "workdays": []}, "holidays outside 2027: 2028-01-01"),
        ({"year": 2027, "holidays": [], "workdays": ["2026-12-27"]}, "workdays outside 2027"),
        (
            {"year": 2027, "holidays": ["2027-10-09"], "workdays": ["2027-10-09"]},
            "both holiday and workday: 2027-10-09",
        ),
        ({"year": 2027, "holidays": ["2027-13-01"]}, "not an ISO date: '2027-13-01'"),
        ({"year": 2027, "holidays": "2027-10-01"}, "must be a list"),
        ({"holidays": []}, "missing 'year'"),
        ({"year": "2027", "holidays": []}, "year must be an integer"),
    ],
)
def test_year_calendar_from_dict_rejects_bad_notices(data, message):
    with pytest.raises(ValueError, match=message):
        YearCalendar.from_dict(data)


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    n=st.integers(min_value=1, max_value=40),
)
def test_add_workdays_lands_on_the_nth_working_day(start, n):
    due = CAL.add_workdays(start, n)
    assert due.on > start
    assert CAL.is_workday(due.on)[0]
    assert CAL.workdays_between(start, due.on) == (n, due.provisional)
    # Going back n working days returns to start if it is a working day, otherwise
    # to the last working day before it.
    back = CAL.subtract_workdays(due.on, n)
    if CAL.is_workday(start)[0]:
        assert back.on == start
    else:
        assert back.on < start and CAL.is_workday(back.on)[0]
        assert CAL.workdays_between(back.on, start)[0] == 0


# --- the index agrees with the day-by-day walk (R-FIN-6, O(1)-ish counting) ----------------------


def _walk_add(cal, start, n):
    day, prov = start, False
    while n:
        day += timedelta(1)
        worked, p = cal.is_workday(day)
        prov |= p
        n -= worked
    return DueDate(day, prov)


def _walk_subtract(cal, end, n):
    day, prov = end, False
    while n:
        day -= timedelta(1)
        worked, p = cal.is_workday(day)
        prov |= p
        n -= worked
    return DueDate(day, prov)


def _walk_between(cal, start, end):
    count, prov, day = 0, False, start
    while day < end:
        day += timedelta(1)
        worked, p = cal.is_workday(day)
        count += worked
        prov |= p
    return count, prov


NOTICE_2027 = YearCalendar(
    2027,
    holidays=frozenset(D("2027-10-01") + timedelta(i) for i in range(7)) | {D("2027-02-05"), D("2027-02-08")},
    workdays=frozenset({D("2027-09-25"), D("2027-10-09"), D("2027-02-20")}),
)


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2004, 1, 1), max_value=date(2030, 12, 31)),
    days=st.integers(min_value=0, max_value=800),
    n=st.integers(min_value=0, max_value=300),
    loaded=st.booleans(),
)
def test_the_index_agrees_with_the_day_by_day_walk_2004_to_2030(start, days, n, loaded):
    cal = CAL.with_year(NOTICE_2027) if loaded else CAL
    end = start + timedelta(days)
    assert cal.workdays_between(start, end) == _walk_between(cal, start, end)
    if n:
        assert cal.add_workdays(start, n) == _walk_add(cal, start, n)
        assert cal.subtract_workdays(end, n) == _walk_subtract(cal, end, n)


def test_far_years_are_counted_by_arithmetic_and_agree_with_the_walk():
    # Outside the official years every year is Monday–Friday; near 9999 the index still answers
    # what a walk answers, and any 400-year cycle (146,097 days = 20,871 weeks) holds 104,355.
    for start, n in ((D("9999-11-20"), 20), (D("2100-12-20"), 15), (D("1899-12-20"), 15), (D("0001-01-01"), 20)):
        assert CAL.add_workdays(start, n) == _walk_add(CAL, start, n)
        assert CAL.subtract_workdays(start + timedelta(40), n) == _walk_subtract(CAL, start + timedelta(40), n)
    cycle = CAL.workdays_between(D("2200-12-31"), D("2600-12-31"))
    assert cycle == CAL.workdays_between(D("9200-12-31"), D("9600-12-31")) == (104_355, True)
    count, provisional = CAL.workdays_between(D("2025-01-01"), D("9999-12-31"))
    assert provisional and count == CAL.workdays_between(D("2025-01-01"), D("5000-01-01"))[0] + CAL.workdays_between(
        D("5000-01-01"), D("9999-12-31"))[0]
    with pytest.raises(ValueError, match="after 9999-12-31"):
        CAL.add_workdays(D("9999-12-30"), 5)
    with pytest.raises(ValueError, match="before 0001-01-01"):
        CAL.subtract_workdays(D("0001-01-03"), 5)


def test_loaded_years_lie_in_the_indexed_range():
    with pytest.raises(ValueError, match="1900–2100"):
        WorkdayCalendar([YearCalendar(2101, holidays=frozenset(), workdays=frozenset())])
