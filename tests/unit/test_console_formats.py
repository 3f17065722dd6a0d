"""The console's money, date and paging helpers: exact 元 ↔ fen, Chinese display."""

from __future__ import annotations

import pytest
from console.api import ApiProblem, Refusal
from console.formats import MoneyError, cn_date, fen_to_yuan_text, wan, yuan, yuan_to_fen
from console.paging import paginate
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "fen"),
    [("420000", 42_000_000), ("420,000.00", 42_000_000), ("42万", 42_000_000), ("42.5 万元", 42_500_000),
     ("0.01", 1), ("１２３", 12_300), ("360000元", 36_000_000), ("0.1", 10), ("19.99", 1999)],
)
def test_yuan_text_converts_exactly_to_fen(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["", "abc", "-5", "0.001", "1e3万x", "NaN", "Infinity"])
def test_what_is_not_an_amount_is_refused_in_chinese(text):
    with pytest.raises(MoneyError) as exc:
        yuan_to_fen(text)
    assert any("\u4e00" <= c <= "\u9fff" for c in str(exc.value))


@given(st.integers(min_value=0, max_value=10**13))
def test_every_fen_amount_survives_the_round_trip_through_yuan_text(fen):
    assert yuan_to_fen(fen_to_yuan_text(fen)) == fen
    assert yuan_to_fen(yuan(fen)) == fen


def test_amounts_are_shown_in_wan_and_with_separators():
    assert wan(42_000_000) == "42万元"
    assert wan(36_550_000) == "36.55万元"
    assert yuan(42_000_000) == "420,000.00 元"
    assert wan(123_450) == "1,234.50 元"


def test_dates_are_shown_the_chinese_way():
    assert cn_date("2026-10-22") == "2026年10月22日"
    assert cn_date(None) == "—"


def test_a_long_list_is_cut_into_pages():
    page = paginate(list(range(45)), 3, 20)
    assert (page.items, page.pages, page.has_prev, page.has_next) == (list(range(40, 45)), 3, True, False)
    assert paginate(list(range(45)), 99, 20).page == 3  # past the end: the last page


def test_a_refusal_is_placed_next_to_the_field_it_names_with_the_rule_explained():
    problem = ApiProblem(422, {"status": 422, "detail": "check character is 1, expected 2", "rule": "R-REG-1", "field": "uscc"})
    refusal = Refusal.of(problem, known={"name", "uscc"})
    (message,) = refusal.fields["uscc"]
    # No Chinese sentence for this one: the rule's hint is the message, the English its muted detail.
    assert message.rule == "R-REG-1" and "统一社会信用代码" in message.text
    assert message.detail == "check character is 1, expected 2" and message.hint == ""
    validation = ApiProblem(422, {"status": 422, "detail": "x", "errors": [{"field": "funding.1.amount_fen", "message": "bad"}]})
    refusal = Refusal.of(validation, known={"amount"}, aliases={"funding": "funding_amount"})
    assert "funding_amount" in refusal.fields
    unknown = Refusal.of(ApiProblem(422, {"detail": "no", "field": "elsewhere"}), known={"name"})
    assert unknown.general and not unknown.fields


def test_import_messages_get_a_chinese_wording():
    from console.formats import import_detail_zh

    assert import_detail_zh("服务日期 is empty") == "服务日期未填写"
    assert import_detail_zh("'x' is not a date (YYYY-MM-DD)").startswith("'x' 不是日期")
    assert import_detail_zh("kind '跳舞' is not one of ('个案',)") == "服务类型 '跳舞' 不在规定的服务类型中"
    assert import_detail_zh("something else") == "something else"
