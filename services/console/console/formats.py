"""Money in 元 (entered and shown) and fen (the API's integer unit), dates as 2026年10月22日.

Conversions are exact: text is parsed with ``Decimal``, never ``float``; more than two decimal
places (a fraction of a fen) is refused rather than rounded.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100
MAX_FEN = 10**13


class MoneyError(ValueError):
    """Text that is not an amount in 元; the message is Chinese, shown next to the field."""


def yuan_to_fen(text: str | int | None, *, allow_zero: bool = True) -> int:
    """'420000', '420,000.00', '42万', '42.5 万元', '１２３' → fen as an int. Refuses negatives,
    fractions of a fen and anything that is not a number."""
    if text is None:
        raise MoneyError("请填写金额（元）")
    raw = str(text).strip().replace(",", "").replace("，", "").replace(" ", "").replace("\u3000", "")
    raw = raw.translate({ord(c): ord("0") + i for i, c in enumerate("０１２３４５６７８９")}).replace("．", ".")
    if raw.endswith("元"):
        raw = raw[:-1]
    multiplier = Decimal(1)
    if raw.endswith("万"):
        raw, multiplier = raw[:-1], Decimal(10_000)
    if not raw:
        raise MoneyError("请填写金额（元）")
    try:
        yuan = Decimal(raw) * multiplier
    except InvalidOperation:
        raise MoneyError(f"“{text}”不是金额：请填写数字，单位为元，如 420000 或 42万") from None
    if not yuan.is_finite():
        raise MoneyError(f"“{text}”不是金额")
    if yuan < 0:
        raise MoneyError("金额不能为负数")
    fen = yuan * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise MoneyError("金额最多精确到分（小数点后两位）")
    if not allow_zero and fen == 0:
        raise MoneyError("金额必须大于零")
    if fen > MAX_FEN:
        raise MoneyError("金额过大")
    return int(fen)


def fen_to_yuan_text(fen: int | None) -> str:
    """Editable form value: 42000000 → '420000', 12345 → '123.45'."""
    if fen is None:
        return ""
    yuan = Decimal(int(fen)) / FEN_PER_YUAN
    return f"{yuan:f}" if fen % FEN_PER_YUAN else str(int(fen) // FEN_PER_YUAN)


def yuan(fen: int | None) -> str:
    """42000000 → '420,000.00 元'."""
    if fen is None:
        return "—"
    value = Decimal(int(fen)) / FEN_PER_YUAN
    return f"{value:,.2f} 元"


def wan(fen: int | None) -> str:
    """42000000 → '42万元'; 36550000 → '36.55万元'; under 1万元 → '1,234.50 元'."""
    if fen is None:
        return "—"
    fen = int(fen)
    if abs(fen) < 10_000 * FEN_PER_YUAN:
        return yuan(fen)
    value = Decimal(fen) / (10_000 * FEN_PER_YUAN)
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}万元"


def cn_date(value: str | dt.date | dt.datetime | None) -> str:
    """'2026-10-22' → '2026年10月22日'; timestamps keep their time (UTC as given)."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
    return f"{value.year}年{value.month}月{value.day}日"


def cn_month(value: str) -> str:
    """'2026-12' → '2026年12月'."""
    try:
        year, month = value.split("-")
        return f"{int(year)}年{int(month)}月"
    except ValueError:
        return value


_IMPORT_DETAILS = (
    (re.compile(r"^(?P<c>.+) is empty$"), "{c}未填写"),
    (re.compile(r"^(?P<v>.+) is not a date \(YYYY-MM-DD\)$"), "{v} 不是日期，请写成 2026-12-05 的格式"),
    (re.compile(r"^(?P<v>.+) is not a number of hours$"), "{v} 不是小时数，请填写数字，如 1.5"),
    (re.compile(r"^(?P<v>.+) is not between 0 and 24 hours$"), "{v} 不在 0 至 24 小时之间"),
    (re.compile(r"^(?P<v>.+) is not a whole number of person-times$"), "{v} 不是整数人次"),
    (re.compile(r"^kind (?P<v>.+) is not one of .*$"), "服务类型 {v} 不在规定的服务类型中"),
)


def import_detail_zh(detail: str) -> str:
    """services-log's per-row messages that have a plain Chinese wording; others are shown as given."""
    for pattern, template in _IMPORT_DETAILS:
        m = pattern.match(detail or "")
        if m:
            return template.format(**m.groupdict())
    return detail
