"""A contract's funding counts against the budget years of its service period, pro rata by days,
in integer fen that always sum to the share (R-FIN-1, R-FIN-2)."""

from __future__ import annotations

from datetime import date

from shared.funding import cap_limit_fen, split_by_year


def test_a_share_is_split_over_the_years_of_the_service_period_by_days_in_whole_fen():
    # 21 Sep 2026 – 20 Sep 2027: 102 days in 2026, 263 in 2027 (365 in all).
    assert split_by_year(36_500, date(2026, 9, 21), date(2027, 9, 20)) == {2026: 10_200, 2027: 26_300}
    # Seed 000's year, 10 June 2015 – 10 June 2016 (anniversary included): 205 + 162 days.
    parts = split_by_year(10_000_001, date(2015, 6, 10), date(2016, 6, 10))
    assert sum(parts.values()) == 10_000_001 and parts == {2015: 5_585_832, 2016: 4_414_169}
    assert split_by_year(1, date(2026, 12, 31), date(2027, 1, 1)) == {2026: 1, 2027: 0}  # a tie: the earlier year
    assert split_by_year(500, date(2026, 1, 1), date(2026, 12, 31)) == {2026: 500}


def test_a_ceiling_rounds_down_and_a_floor_up():
    assert cap_limit_fen({"bound": "ceiling", "percent": 2, "source": "x"}, 500_000_001) == 10_000_000
    assert cap_limit_fen({"bound": "floor", "percent": "3", "source": "x"}, 100) == 3
    assert cap_limit_fen({"bound": "floor", "percent": "2.5", "source": "x"}, 101) == 3
