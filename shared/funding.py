"""How a contract's funding counts against budget years (R-FIN-2), shared by registry (which
refuses a contract over a cap at signing) and finance (which re-checks when a budget is entered).

A commitment counts against the budget year(s) of the contract's service period
(``period_start``..``period_end``, both days included), not the year it was signed: a share is
split pro rata by the days of the period in each calendar year, in integer fen (R-FIN-1) by the
largest-remainder method, so the parts always sum to the share exactly (a leftover fen goes to
the year with the larger remainder; on a tie, the earlier year).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any


def split_by_year(amount_fen: int, period_start: date, period_end: date) -> dict[int, int]:
    """``amount_fen`` spread over the calendar years of the period, pro rata by days."""
    if period_end < period_start:
        raise ValueError("period_end precedes period_start")
    days = {
        year: (min(period_end, date(year, 12, 31)) - max(period_start, date(year, 1, 1))).days + 1
        for year in range(period_start.year, period_end.year + 1)
    }
    total = sum(days.values())
    shares = {year: amount_fen * n // total for year, n in days.items()}
    leftover = amount_fen - sum(shares.values())
    by_remainder = sorted(days, key=lambda year: (-(amount_fen * days[year] % total), year))
    for year in by_remainder[:leftover]:
        shares[year] += 1
    return shares


def yuan_text(fen: int) -> str:
    """Fen as 元 for a readable detail: 12,345.67元."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}元"


def cap_limit_fen(cap: dict[str, Any], base_fen: int) -> int:
    """A county cap (policy ``funding_caps`` entry) in integer fen: ``percent`` of ``base_fen``, a
    ceiling rounded down, a floor rounded up (R-FIN-1)."""
    exact = Decimal(str(cap["percent"])) * base_fen / 100
    return int(exact.to_integral_value(rounding=ROUND_FLOOR if cap["bound"] == "ceiling" else ROUND_CEILING))


def cap_base_year(cap: dict[str, Any], year: int) -> int:
    """The budget year whose base a cap reads for commitments of ``year``: the same (当年) or the previous (上年度)."""
    return year - 1 if cap.get("base_year") == "previous" else year
