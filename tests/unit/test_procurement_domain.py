"""Programmes, project applications and bids as pure domain logic (no servers)."""

from __future__ import annotations

import ast
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from registry.domainmodel.policy import DEFAULT_POLICY, merged_policy
from registry.procurement.bidding import (
    allowed_professionals,
    check_bid,
    check_opening,
    family_centre_standard,
    hours_window,
    one_year_from,
    score_bids,
    split_funding,
)
from registry.procurement.domainmodel import Programme, ProgrammeAllocation, Project, check_programme

from shared.rules import RuleViolation

YUAN = 100  # fen


def refusal(fn, *args, **kwargs) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        fn(*args, **kwargs)
    return caught.value


# --- seed 002: 沪民社工发〔2018〕8号 -------------------------------------------------------
SHANGHAI_MILESTONES = [
    {"kind": "mobilisation", "due_on": date(2018, 12, 31)},
    {"kind": "bidding", "due_on": date(2019, 1, 31)},
    {"kind": "service", "starts_on": date(2019, 2, 1), "due_on": date(2019, 11, 30)},
    {"kind": "evaluation", "due_on": date(2019, 12, 31)},
]


def allocations(jingan: int, huangpu: int) -> list[dict]:
    return [
        {"county": "310106", "amount_fen": jingan * YUAN, "pilot_areas": 2},
        {"county": "310101", "amount_fen": huangpu * YUAN, "pilot_areas": 1},
    ]


def test_seed_002_budget_is_split_exactly_between_jingan_and_huangpu():
    # 本项目预算资金共60万元。按照静安区40万元、黄浦区20万元进行资金分配。
    check_programme(600_000 * YUAN, allocations(400_000, 200_000), SHANGHAI_MILESTONES, [])

    over = refusal(check_programme, 600_000 * YUAN, allocations(400_000, 250_000), SHANGHAI_MILESTONES, [])
    assert (over.rule, over.field) == ("R-PRJ-1", "allocations")
    assert "over-allocation" in over.detail

    short = refusal(check_programme, 600_000 * YUAN, allocations(400_000, 100_000), SHANGHAI_MILESTONES, [])
    assert (short.rule, short.field) == ("R-PRJ-1", "allocations")
    assert "10000000 fen left unallocated" in short.detail

    twice = [*allocations(400_000, 200_000)[:1], {"county": "310106", "amount_fen": 200_000 * YUAN}]
    assert refusal(check_programme, 600_000 * YUAN, twice, [], []).field == "allocations.1.county"

    # Bidding cannot be due before mobilisation.
    swapped = [{"kind": "mobilisation", "due_on": date(2019, 2, 1)}, {"kind": "bidding", "due_on": date(2019, 1, 31)}]
    assert refusal(check_programme, 600_000 * YUAN, allocations(400_000, 200_000), swapped, []).field == "milestones.1.due_on"


def test_milestones_are_overdue_once_past_due_and_not_reached():
    p = Programme(
        issuer="上海市民政局", level="city", document_no="沪民社工发〔2018〕8号", title="试点", issued_on=date(2018, 12, 7),
        budget_fen=600_000 * YUAN, allocations=allocations(400_000, 200_000), milestones=SHANGHAI_MILESTONES, themes=[],
    )
    assert p.milestone_status("mobilisation", date(2018, 12, 31)) == "upcoming"
    assert p.milestone_status("mobilisation", date(2019, 1, 1)) == "overdue"
    assert p.milestone_status("service", date(2019, 3, 1)) == "in_progress"
    p.reach_milestone("bidding", date(2019, 1, 25))
    assert p.milestone_status("bidding", date(2019, 1, 24)) == "upcoming"  # as of a day before it was reached
    assert p.milestone_status("bidding", date(2019, 6, 1)) == "done"


def test_a_county_allocation_caps_its_projects_and_pilot_areas():
    jingan = ProgrammeAllocation(programme_id="p", county="310106", amount_fen=400_000 * YUAN, pilot_areas=2)
    jingan.reserve("street-1", 250_000 * YUAN)
    over = refusal(jingan.reserve, "street-2", 150_001 * YUAN)
    assert (over.rule, over.field) == ("R-PRJ-3", "budget_fen")
    jingan.reserve("street-2", 150_000 * YUAN)
    assert jingan.remaining_fen == 0
    third = ProgrammeAllocation(programme_id="p", county="310106", amount_fen=400_000 * YUAN, pilot_areas=2)
    third.reserve("a", 1)
    third.reserve("b", 1)
    assert refusal(third.reserve, "c", 1).field == "programme_id"  # 静安区选择2个试点街道
    third.release("a")
    third.reserve("c", 1)


# --- seed 003: 湖里区 立项申请 ------------------------------------------------------------
def hetong(kind: str = "community") -> Project:
    return Project(
        county="350206", applicant={"kind": kind, "name": "湖里区湖里街道和通社区", "street": "湖里街道"},
        name="和通社区“治”在融“和”社区治理社会工作服务项目", programme_id=None, year_index=1, project_years=3,
        budget_fen=420_000 * YUAN,
        justification={"consultation": "经社区两委会决议", "target_groups": [{"group": "儿童", "number": 300}], "needs": ["社区治理"]},
        service_areas=["社区治理"], applied_on=date(2026, 3, 1),
    )


def test_the_decision_chain_runs_from_the_community_to_the_district():
    project = hetong()
    wrong = refusal(project.decide, "district_approval", "approved", date(2026, 3, 2), "湖里区民政局", None, None)
    assert (wrong.rule, wrong.field) == ("R-PRJ-4", "step")
    project.decide("community_resolution", "approved", date(2026, 3, 2), "和通社区两委会", None, "两委会决议")
    project.decide("street_review", "approved", date(2026, 3, 9), "湖里街道办事处", None, None)
    assert (project.status, project.next_step) == ("applied", "district_approval")
    early = refusal(project.decide, "district_approval", "approved", date(2026, 3, 8), "湖里区民政局", None, None)
    assert early.field == "decided_on"
    project.decide("district_approval", "approved", date(2026, 3, 20), "湖里区民政局", None, None)
    assert (project.status, project.next_step) == ("approved", None)
    assert refusal(project.decide, "district_approval", "approved", date(2026, 3, 21), "x", None, None).rule == "R-PRJ-4"


def test_a_street_starts_at_street_review_and_a_rejection_needs_its_reason():
    project = hetong("street")
    assert project.next_step == "street_review"
    bare = refusal(project.decide, "street_review", "rejected", date(2026, 3, 2), "湖里街道办事处", "  ", None)
    assert (bare.rule, bare.field) == ("R-PRJ-4", "reason")
    project.decide("street_review", "rejected", date(2026, 3, 2), "湖里街道办事处", "与已有项目重复", None)
    assert project.status == "rejected"


def test_a_county_bureau_goes_straight_to_district_approval_and_keeps_the_rejection_reason():
    project = hetong("county_bureau")
    assert project.next_step == "district_approval"
    skipped = refusal(project.decide, "street_review", "approved", date(2026, 3, 2), "湖里街道办事处", None, None)
    assert (skipped.rule, skipped.field) == ("R-PRJ-4", "step")
    project.decide("district_approval", "rejected", date(2026, 3, 5), "湖里区民政局", "预算超出年度安排", None)
    assert (project.status, project.next_step) == ("rejected", None)
    assert project.decisions[-1].reason == "预算超出年度安排"


# --- seed 004: Guangzhou family centres -------------------------------------------------
FAMILY_CENTRE_STANDARD = family_centre_standard(DEFAULT_POLICY)  # the county policy's defaults are Guangzhou's


def test_fourteen_professionals_give_the_guangzhou_hours_window():
    assert hours_window(14, FAMILY_CENTRE_STANDARD) == (22_852, 30_184)
    assert 14 * FAMILY_CENTRE_STANDARD["hours_per_professional"] == 27_440


def test_the_standard_comes_from_the_county_policy_and_old_records_still_read():
    tighter = family_centre_standard(merged_policy({
        "annual_hours_per_staff": 1800, "annual_direct_hours_per_staff": "1500.5", "hours_ceiling_percent": 105,
        "standard_budget_fen": 1_500_000 * YUAN, "extra_worker_per_fen": 50_000 * YUAN,
    }), 2)
    assert hours_window(14, tighter) == (21_007, 26_460)  # 14 × 1,500.5 = 21,007; 14 × 1,800 × 105%
    assert allowed_professionals(14, 1_600_000 * YUAN, tighter) == 16
    assert tighter["policy_version"] == 2
    # A package published before the standard came from policy kept direct hours in tenths.
    legacy = {"hours_per_professional": 1_960, "direct_tenth_hours_per_professional": 16_323, "ceiling_percent": 110,
              "standard_annual_fen": 200_000_000, "fen_per_extra_professional": 10_000_000}
    assert hours_window(14, legacy) == (22_852, 30_184)


def test_the_price_weight_range_is_policy_and_a_range_the_wrong_way_round_is_refused():
    wrong = refusal(merged_policy, {"price_weight_min_percent": 40})
    assert (wrong.rule, wrong.field) == ("R-PRC-1", "policy.price_weight_min_percent")
    assert merged_policy({"price_weight_min_percent": 15, "price_weight_max_percent": 20})["price_weight_max_percent"] == 20


def test_each_further_100000_yuan_above_2000000_allows_one_more_professional():
    assert allowed_professionals(14, 2_000_000 * YUAN, FAMILY_CENTRE_STANDARD) == 14
    assert allowed_professionals(14, 2_099_999 * YUAN, FAMILY_CENTRE_STANDARD) == 14
    assert allowed_professionals(14, 2_100_000 * YUAN, FAMILY_CENTRE_STANDARD) == 15
    assert allowed_professionals(14, 2_500_000 * YUAN, FAMILY_CENTRE_STANDARD) == 19  # 镇龙片区 250万/年
    assert allowed_professionals(14, 1_500_000 * YUAN, FAMILY_CENTRE_STANDARD) == 14


FAMILY_CENTRE = {
    "code": "1", "name": "家庭综合服务中心", "kind": "family_centre", "annual_budget_fen": 2_000_000 * YUAN,
    "station_ids": ["s"], "service_start": date(2026, 10, 1),
    "funding": [{"source": "财政拨款", "amount_fen": 2_000_000 * YUAN}],
    "service_items": [{"code": "case", "name": "个案", "unit": "个", "minimum": 60}],
    "staffing": {"professionals": 14}, "standard": FAMILY_CENTRE_STANDARD,
}
OPEN = SimpleNamespace(invited_provider_ids=[], method="公开招标")


def bid(hours: int | None, professionals: int = 14, **overrides) -> dict:
    return {"provider_id": "p", "annual_price_fen": 1_980_000 * YUAN, "items": [{"code": "case", "planned": 60}],
            "staffing": {"professionals": professionals, "planned_hours": hours}, **overrides}


@pytest.mark.parametrize("hours", [22_852, 30_184])
def test_planned_hours_at_the_boundaries_are_valid(hours):
    check_bid(OPEN, FAMILY_CENTRE, bid(hours))


@pytest.mark.parametrize("hours", [22_851, 30_185, None])
def test_planned_hours_outside_the_window_are_invalid(hours):
    wrong = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(hours))
    assert (wrong.rule, wrong.field) == ("R-LOG-4", "staffing.planned_hours")


def test_a_bid_is_invalid_for_each_published_requirement():
    over = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(27_440, annual_price_fen=2_000_001 * YUAN))
    assert (over.rule, over.field) == ("R-PRC-2", "annual_price_fen")
    free = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(27_440, annual_price_fen=0))
    assert (free.rule, free.field) == ("R-PRC-2", "annual_price_fen")
    partial = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(27_440, items=[]))
    assert (partial.rule, partial.field) == ("R-PRC-2", "items")
    short = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(27_440, items=[{"code": "case", "planned": 59}]))
    assert (short.rule, short.field) == ("R-PRC-2", "items.0.planned")
    thin = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(27_440, professionals=13))
    assert (thin.rule, thin.field) == ("R-PRC-2", "staffing.professionals")
    extra = refusal(check_bid, OPEN, FAMILY_CENTRE, bid(27_440, professionals=15))
    assert (extra.rule, extra.field) == ("R-FIN-10", "staffing.professionals")
    invited = SimpleNamespace(invited_provider_ids=["a", "b", "c"], method="邀请招标")
    assert refusal(check_bid, invited, FAMILY_CENTRE, bid(27_440)).field == "provider_id"


def test_opening_requires_the_method_conditions_and_weights_summing_to_100():
    criteria = [{"code": "price", "name": "价格", "weight": 30, "kind": "price"},
                {"code": "plan", "name": "服务方案", "weight": 70, "kind": "quality"}]
    args = dict(opened_on=date(2026, 9, 1), bid_deadline=date(2026, 9, 20), packages=[FAMILY_CENTRE],
                project_budget_fen=2_000_000 * YUAN)
    check_opening("公开招标", None, [], criteria=criteria, **args)
    single = refusal(check_opening, "单一来源采购", " ", ["p"], criteria=criteria, **args)
    assert (single.rule, single.field) == ("R-PRC-1", "single_source_justification")
    check_opening("单一来源采购", "原承接机构服务连续性", ["p"], criteria=criteria, **args)
    weights = [{**criteria[0], "weight": 40}, {**criteria[1], "weight": 70}]
    assert refusal(check_opening, "公开招标", None, [], criteria=weights, **args).field == "evaluation_criteria"
    cheap = [{**criteria[0], "weight": 40}, {**criteria[1], "weight": 60}]
    assert refusal(check_opening, "公开招标", None, [], criteria=cheap, **args).field == "evaluation_criteria.0.weight"
    token = [{**criteria[0], "weight": 5}, {**criteria[1], "weight": 95}]
    low = refusal(check_opening, "公开招标", None, [], criteria=token, **args)
    assert (low.rule, low.field) == ("R-PRC-1", "evaluation_criteria.0.weight")
    quality_only = [{**criteria[1], "weight": 100}]
    missing = refusal(check_opening, "公开招标", None, [], criteria=quality_only, **args)
    assert (missing.rule, missing.field) == ("R-PRC-1", "evaluation_criteria")
    narrow = merged_policy({"price_weight_min_percent": 10, "price_weight_max_percent": 20})
    assert refusal(check_opening, "公开招标", None, [], criteria=criteria, policy=narrow, **args).field == (
        "evaluation_criteria.0.weight")


def test_quality_outweighs_the_lowest_price():
    criteria = [{"code": "price", "name": "价格", "weight": 30, "kind": "price"},
                {"code": "plan", "name": "服务方案", "weight": 70, "kind": "quality"}]
    bids = [
        {"bid_id": "cheap", "provider_id": "a", "annual_price_fen": 1_600_000 * YUAN, "submitted_on": date(2026, 9, 2)},
        {"bid_id": "good", "provider_id": "b", "annual_price_fen": 2_000_000 * YUAN, "submitted_on": date(2026, 9, 3)},
    ]
    panel = [{"bid_id": "cheap", "criteria": {"plan": 60}}, {"bid_id": "good", "criteria": {"plan": 90}}]
    ranked = score_bids(criteria, bids, panel)
    # cheap: 30 × 100 + 70 × 60 → 72; good: 30 × 80 (1.6/2.0) + 70 × 90 → 87.
    assert [(r["bid_id"], r["total"], r["rank"]) for r in ranked] == [("good", 87.0, 1), ("cheap", 72.0, 2)]
    assert ranked[0]["criteria"] == {"price": 80.0, "plan": 90.0}
    missing = refusal(score_bids, criteria, bids, panel[:1])
    assert (missing.rule, missing.field) == ("R-PRC-3", "scores")
    given_price = [{"bid_id": "cheap", "criteria": {"plan": 60, "price": 100}}, panel[1]]
    assert refusal(score_bids, criteria, bids, given_price).field == "scores.0.criteria.price"


def test_the_drafted_funding_follows_the_price_to_the_fen_and_the_year_ends_the_day_before():
    shares = split_funding([{"source": "福彩公益金", "amount_fen": 100}, {"source": "一般公共预算", "amount_fen": 200}], 299)
    assert shares == [{"source": "福彩公益金", "amount_fen": 99}, {"source": "一般公共预算", "amount_fen": 200}]
    assert one_year_from(date(2026, 10, 1)) == date(2027, 9, 30)
    assert one_year_from(date(2028, 2, 29)) == date(2029, 2, 28)


def test_the_procurement_domain_imports_no_web_messaging_or_infrastructure():
    # registry.procurement.* is not (yet) among import-linter's domain contracts: checked here.
    allowed = ("eventsourcing.domain", "shared.rules", "registry.domainmodel", "registry.procurement.domainmodel")
    here = Path(sys.modules["registry.procurement.domainmodel"].__file__).parent
    for name in ("domainmodel.py", "bidding.py"):
        for node in ast.walk(ast.parse((here / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                assert top in sys.stdlib_module_names or node.module.startswith(allowed), (name, node.module)
