"""The pure helpers of the evaluator, auditor and province admin pages."""

from __future__ import annotations

import pytest
from console.api import Refusal
from console.pages.auditor import as_of_instant, china_time
from console.pages.evaluator import survey_responses
from console.pages.province import kind_of, parse_dates, parse_value, shown

GROUPS = [
    {"code": "b", "name": "服务对象", "questions": [{"code": "q1", "text": "总体"}, {"code": "q2", "text": "态度"}]},
    {"code": "c", "name": "社区", "questions": [{"code": "q1", "text": "总体"}]},
]


def test_survey_counts_become_one_questionnaire_per_respondent():
    form = {"n-b-q1-满意": "2", "n-b-q1-不了解": "1", "n-b-q2-基本满意": "3", "n-c-q1-不满意": "1"}
    refusal = Refusal()
    responses = survey_responses(form, GROUPS, refusal)
    assert not refusal
    b = [r["answers"] for r in responses if r["group"] == "b"]
    assert len(b) == 3 and sorted(a["q1"] for a in b) == ["不了解", "满意", "满意"] and {a["q2"] for a in b} == {"基本满意"}
    assert [r for r in responses if r["group"] == "c"] == [{"group": "c", "answers": {"q1": "不满意"}}]


def test_survey_counts_that_disagree_within_a_group_are_refused_naming_it():
    refusal = Refusal()
    survey_responses({"n-b-q1-满意": "2", "n-b-q2-满意": "3", "n-c-q1-满意": "x"}, GROUPS, refusal)
    texts = [m.text for m in refusal.fields["survey"]]
    assert any("服务对象" in t and "人数应相同" in t for t in texts) and any("非负整数" in t for t in texts)
    assert all(m.rule == "R-EVAL-4" for m in refusal.fields["survey"])


def test_an_empty_survey_is_refused():
    refusal = Refusal()
    assert survey_responses({}, GROUPS, refusal) == [] and refusal.fields["survey"]


def test_the_as_of_instant_is_china_time_unless_it_says_otherwise():
    assert as_of_instant("2026-12-02T10:30") == "2026-12-02T10:30:00+08:00"
    assert as_of_instant("2026-12-02T10:30:15") == "2026-12-02T10:30:15+08:00"
    assert as_of_instant("2026-12-02T02:30:15Z") == "2026-12-02T02:30:15+00:00"
    assert as_of_instant("") is None and as_of_instant("yesterday") is None


def test_policy_parameters_are_edited_in_their_own_terms():
    assert kind_of("station_min_amount_fen", 12_000_000) == "money"
    assert shown("money", 12_000_000) == "120000" and parse_value("money", "12万") == 12_000_000
    assert kind_of("require_party_org", False) == "bool" and parse_value("bool", "on") is True and parse_value("bool", "") is False
    assert kind_of("ban_years", 3) == "int" and parse_value("int", "5") == 5
    with pytest.raises(ValueError):
        parse_value("int", "三")
    assert kind_of("tranche_plan", []) == "json" and parse_value("json", '[{"seq": 1}]') == [{"seq": 1}]
    assert kind_of("min_wage_multiplier", "1.1") == "decimal" and parse_value("decimal", " 1.2 ") == "1.2"


def test_calendar_dates_are_read_one_per_line_or_comma_separated():
    assert parse_dates("2027-01-01\n2027-02-05, 2027-01-01、2027-02-06") == ["2027-01-01", "2027-02-05", "2027-02-06"]
    with pytest.raises(ValueError, match="2027-1-1"):
        parse_dates("2027-1-1")


def test_recorded_instants_are_shown_in_beijing_time():
    assert china_time("2026-12-02T02:48:07.123456+00:00") == "2026-12-02 10:48:07"
    assert china_time(None) == ""


def test_every_policy_parameter_has_its_meaning_in_chinese():
    from console.pages.province import POLICY_ZH
    from registry.domainmodel import PARAMETERS

    assert set(POLICY_ZH) == set(PARAMETERS)


def test_every_policy_parameter_has_a_chinese_meaning_on_the_admin_page():
    # The admin edits every parameter the registry knows; one added without its Chinese meaning
    # would show an empty explanation to the province admin.
    from console.pages.province import POLICY_ZH
    from registry.domainmodel.policy import PARAMETERS

    assert sorted(set(PARAMETERS) - set(POLICY_ZH)) == []
