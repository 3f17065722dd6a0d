"""Refusals in Chinese: a sentence per refusal the API explains with structured ``facts``.

A domain refusal's problem+json carries ``facts`` (API.md): for the refusals listed here a
``code`` naming which refusal it is, and the figures behind it (dates, hours, the worker's id …).
:func:`sentence` renders the Chinese sentence with those figures, naming people and stations by
the names the page knows (an id it does not know is left out, never shown). The English
``detail`` stays what integrators read; the console shows it only for a refusal it has no
sentence for, muted and without ids (:func:`without_ids`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from console.formats import cn_date, import_detail_zh

UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def without_ids(text: str) -> str:
    """``text`` with every UUID taken out (and the spaces or quotes it leaves tidied)."""
    text = UUID.sub("", text)
    text = re.sub(r"'\s*'|\"\s*\"", "", text)
    return re.sub(r"\s{2,}", " ", text).replace(" ,", ",").replace(" :", ":").replace(" ;", ";").strip()


def hours(value: Any) -> str:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format(d.normalize(), "f")


class Facts:
    """The figures of one refusal, as the sentence shows them: dates in Chinese, names for ids."""

    def __init__(self, facts: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self.facts = facts
        self.names = names

    def __getitem__(self, key: str) -> str:
        value = self.facts.get(key)
        return "" if value is None else str(value)

    def date(self, key: str = "date") -> str:
        value = self.facts.get(key)
        return cn_date(str(value)) if value else ""

    def hours(self, key: str) -> str:
        return hours(self.facts.get(key, ""))

    def name(self, key: str, otherwise: str) -> str:
        """The name of the id under ``key`` if the page knows it, else ``otherwise`` (never the id)."""
        value = self.facts.get(key)
        return self.names.get(str(value), otherwise) if value else otherwise


def _outside_year(f: Facts) -> str:
    ended = f"，协议已于{f.date('ended_on')}终止" if f["ended_on"] else ""
    return f"服务日期{f.date()}不在协议服务期（{f.date('period_start')}至{f.date('period_end')}）内{ended}"


# code → the Chinese sentence. Every ``facts.code`` services-log gives a delivery refusal
# (log, correct, void, import) has one: tests/unit/test_console_refusals.py walks them.
SENTENCES: dict[str, Callable[[Facts], str]] = {
    "kind_unknown": lambda f: f"服务类型“{f['kind']}”不在规定的服务类型中",
    "area_unknown": lambda f: f"服务领域“{f['area']}”不是规定的服务领域",
    "area_out_of_scope": lambda f: (
        f"{f.date()}协议的服务领域为{'、'.join(f.facts.get('areas') or [])}，“{f['area']}”不在其内，须先批准范围变更"
    ),
    "date_outside_year": _outside_year,
    "date_future": lambda f: f"服务日期{f.date()}尚未到来：服务发生后再登记",
    "station_not_in_contract": lambda f: f"{f.name('station_id', '所选站点')}不是该协议的服务站点",
    "no_hours": lambda f: "请填写直接服务时长或其他时长（合计须大于0小时）",
    "daily_cap": lambda f: (
        f"{f.name('worker_id', '该社工')}在{f.date()}将登记{f.hours('hours')}小时（当天已登记{f.hours('already')}小时），"
        f"超过每日{f.hours('cap')}小时的上限"
    ),
    "indicator_unknown": lambda f: f"协议中没有指标“{f['indicator_code']}”",
    "quantity_needs_indicator": lambda f: "填写指标完成量须同时选择所计入的指标",
    "quantity_negative": lambda f: "指标完成量不能为负数",
    "quantity_not_stated": lambda f: (
        f"指标“{f['indicator_code']}”按{f['unit']}计，由本次服务的人次或工时计入，不填写完成量"
    ),
    "no_workers": lambda f: "请选择提供服务的社工",
    "worker_twice": lambda f: "同一名社工被选了两次",
    "worker_unknown": lambda f: "找不到所选社工：本县没有该社工的登记",
    "worker_other_provider": lambda f: (
        f"{f.name('worker_id', '该社工')}在{f.date()}受雇于其他机构，不能为本协议登记服务（严禁转包）"
    ),
    "worker_not_at_station": lambda f: (
        f"{f.name('worker_id', '该社工')}在{f.date()}不在{f.name('station_id', '该站点')}任职"
    ),
    "already_voided": lambda f: "该记录已作废，不能再更正或作废",
    "reason_missing": lambda f: "请填写更正或作废的原因",
    "no_change": lambda f: "本次更正没有改动任何内容",
    "contract_change": lambda f: "服务记录不能改到其他协议：请作废后重新登记",
    "beneficiary_erased": lambda f: "该服务对象的个人信息已销毁，不能再登记涉及其的服务内容",
    "beneficiary_unknown": lambda f: "找不到所选服务对象：本县或本机构没有该服务对象",
    "contract_unknown": lambda f: "找不到该服务协议（或尚未从登记系统同步）",
    "not_contracted_provider": lambda f: "只有签约的承接机构（及其社工）可以为该协议登记服务",
    # registry, signing a contract (the purchaser's wizard)
    "rating_below_3a": lambda f: (
        f"县里要求承接主体评级3A以上，该机构{('评级为' + f['rating']) if f['rating'] else '尚未评级'}"
    ),
    "station_understaffed": lambda f: (
        f"{f.name('station_id', '该站点')}在{f.date()}只有{f['staff']}名本机构社工在岗，县里要求不少于{f['minimum']}名"
    ),
    "contract_overlap": lambda f: (
        f"该机构已有协议在{f.date('period_start')}至{f.date('period_end')}覆盖"
        f"{'、'.join(f.names.get(str(s), '') for s in f.facts.get('station_ids') or []).strip('、') or '所选站点'}："
        "重复签约须说明理由，或作为下一年度续签"
    ),
}

# A request the API could not read (errors[] of a validation refusal), by the validator's ``type``.
VALIDATION_ZH: dict[str, str] = {
    "missing": "此项必填",
    "decimal_parsing": "请填写数字",
    "decimal_type": "请填写数字",
    "float_parsing": "请填写数字",
    "int_parsing": "请填写整数",
    "int_from_float": "请填写整数",
    "date_parsing": "请填写日期，如 2026-12-05",
    "date_from_datetime_parsing": "请填写日期，如 2026-12-05",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than": "数值过大",
    "less_than_equal": "数值过大",
    "string_too_short": "此项必填",
    "string_too_long": "内容过长",
}


def sentence(facts: Mapping[str, Any] | None, names: Mapping[str, str] | None = None) -> str | None:
    """The Chinese sentence of a refusal's ``facts``, or None when the console has none for it."""
    if not isinstance(facts, Mapping):
        return None
    render = SENTENCES.get(str(facts.get("code") or ""))
    return render(Facts(facts, names or {})) if render else None


def import_row_zh(error: Mapping[str, Any], names: Mapping[str, str] | None = None) -> tuple[str, str]:
    """An import report's row error as (Chinese, English detail to show muted, or "" when the
    Chinese says it all): its sentence from ``facts``, else a known wording of the detail."""
    detail = str(error.get("detail") or "")
    zh = sentence(error.get("facts"), names)
    if zh:
        return zh, ""
    worded = import_detail_zh(detail)
    if worded != detail:
        return worded, ""
    return "", without_ids(detail)
