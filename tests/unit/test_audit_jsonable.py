"""The audit feed's JSON conversion (BENCHMARKS.md §6) gives exactly what ``jsonable_encoder`` gave."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from fastapi.encoders import jsonable_encoder

from shared.infra.audit import jsonable


class Colour(enum.Enum):
    RED = "red"


def test_jsonable_matches_jsonable_encoder():
    values = [
        None, True, 0, -7, 2.5, "", "社会救助 \"quoted\"\n",
        Decimal("2"), Decimal("2.50"), Decimal("-0.5"), Decimal("1E+2"), Decimal("100"), Decimal("NaN"),
        uuid.UUID("0b7f3a52-8e1c-5b9e-a2d4-6c3f0e9d8b71"),
        datetime(2026, 11, 25, 9, 0, tzinfo=UTC), datetime(2026, 11, 25, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 11, 25, 9, 0), date(2026, 10, 5),
        ("a", 1), ["x", [Decimal("1.25"), {"k": date(2026, 1, 1)}]],
        {"nested": {"deep": [{"amount_fen": 36_000_000, "hours": Decimal("12.0")}]}, "ids": ("a", "b")},
        {uuid.UUID(int=1): "uuid key"},
        {"a set": {"only"}, "frozen": frozenset({"x"}), "enum": Colour.RED},
    ]
    for value in values:
        expected = jsonable_encoder(value)
        got = jsonable(value)
        if isinstance(value, Decimal) and value.is_nan():
            assert got != got and expected != expected  # both NaN
            continue
        assert got == expected and type(got) is type(expected), value
        assert repr(got) == repr(expected), value  # int stays int, float stays float, key order kept
