"""Records ``data/registry_state_untyped.json``: a registry store written by the aggregates as they were while
the registry held its state as dicts (before typed state, #16 item 1), for ``test_registry_old_state.py``.

Run once, from the commit before registry's state was typed (``python tests/integration/record_registry_untyped.py``);
the file is then a fixed fact: what an old store holds. Every event kind of the registry's aggregates is here:
county policy changes, a provider's profile, pass, bans and disclosures, stations, a worker moved, qualified and
gone, contracts filed, filed late, flagged overdue, with scope changes approved and rejected, evaluation results
replaced by an appeal, an overlap justified, renewed, terminated and expired; budgets and a funding ledger; a
programme with a milestone reached, a project approved through its chain and one rejected, a procurement with
bids, a refused bid, an award and its contract draft.

Run with the untyped code on the path (e.g. ``git archive <commit> | tar -x -C /tmp/old`` and ``PYTHONPATH`` set to
``/tmp/old`` and its ``services/*`` folders): the answers of that commit's routes are the reference.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from registry.base import RegistryApplication
from registry.domainmodel import (
    Contract,
    County,
    CountyBudgets,
    FundingLedger,
    Provider,
    Station,
    Worker,
    merged_policy,
)

from shared.infra.store import CommandContext

OUT = Path(__file__).parent / "data" / "registry_state_untyped.json"
# What the routes answered from that store (ProviderOut, WorkerOut, StationOut, ContractOut, the public provider,
# ProgrammeOut, ProjectOut, ProcurementOut) and the audit's state of each aggregate, as the bytes sent.
VIEWS = Path(__file__).parent / "data" / "registry_views_untyped.json"
AS_OF = (date(2026, 12, 1), date(2029, 1, 1))
COUNTY = "640402"
PLAN = [
    {"seq": 1, "percent": 50, "trigger": "contract_effective", "due_working_days": 15},
    {"seq": 2, "percent": 30, "trigger": "midterm_passed", "due_working_days": 15},
    {"seq": 3, "percent": 20, "trigger": "final_passed", "due_working_days": 15},
]
INDICATORS = [{"code": "IND-1", "name": "走访困难群众", "unit": "户", "target": 120, "monthly_plan": {"2026-10": 10}}]


def terms(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        county=COUNTY, station_ids=[], purchaser="惠农区民政局", signed_on=date(2026, 9, 10),
        effective_on=date(2026, 9, 21), period_start=date(2026, 9, 21), period_end=date(2027, 9, 20), amount_fen=36_000_000,
        funding=[{"source": "福彩公益金", "amount_fen": 30_000_000}, {"source": "一般公共预算", "amount_fen": 6_000_000}],
        service_areas=["社会救助", "养老服务"], indicators=INDICATORS, tranche_plan=PLAN, cycle_years=3, year_index=1,
        policy_version=2, policy={}, cycle_start=date(2026, 9, 21), probation=False, previous_contract_id=None,
        supervisor_id=None, filing_due_on=date(2026, 9, 30), filing_due_provisional=False,
    )
    return {**base, **overrides}


def answers(app: RegistryApplication) -> dict[str, Any]:
    """The JSON the routes give for every aggregate of the store, loaded back from it."""
    from registry.api.contracts import contract_out
    from registry.api.providers import provider_out
    from registry.api.public import public_provider
    from registry.api.staffing import station_out, worker_out

    loaded = [app.repository.get(i) for i in dict.fromkeys(n.originator_id for n in app.recorder.select_notifications(1, 1000))]
    workers = [a for a in loaded if isinstance(a, Worker)]
    contracts = [a for a in loaded if isinstance(a, Contract)]
    from fastapi.encoders import jsonable_encoder

    views: dict[str, Any] = {}
    procurement_views(loaded, views)
    for a in loaded:  # GET /audit/v1/aggregates/{id}: the state as the audit answers it
        state = {k: v for k, v in vars(a).items() if not k.startswith("_")}
        views[f"{a.id}:audit"] = json.dumps(jsonable_encoder(state), ensure_ascii=False)
    for a in loaded:
        if isinstance(a, Contract):
            views[str(a.id)] = [contract_out(a).model_dump_json()]
        elif isinstance(a, Provider):
            views[str(a.id)] = [provider_out(a, d).model_dump_json() for d in AS_OF] + [
                public_provider(a, workers, contracts, d).model_dump_json() for d in AS_OF
            ]
        elif isinstance(a, Worker):
            views[str(a.id)] = [worker_out(a, d).model_dump_json() for d in AS_OF]
        elif isinstance(a, Station):
            views[str(a.id)] = [station_out(a).model_dump_json()]
    return views


def procurement_views(loaded: list[Any], views: dict[str, Any]) -> None:
    from registry.procurement.api import award_out, programme_view, project_out
    from registry.procurement.domainmodel import Procurement, Programme, Project
    from registry.procurement.schemas import ProcurementOut
    from registry.reads import ProcurementRead

    def procurement_out(found: ProcurementRead) -> ProcurementOut:  # the body of GET …/procurements/{id} at the untyped commit
        from registry.procurement.api import published_package

        p = found.procurement
        return ProcurementOut(
            procurement_id=str(p.id), county=p.county, version=p.version, status=p.status,
            project_id=p.project["project_id"], method=p.method, single_source_justification=p.single_source_justification,
            invited_provider_ids=p.invited_provider_ids, opened_on=p.opened_on, bid_deadline=p.bid_deadline,
            probation_first_year=p.probation_first_year, packages=[published_package(pk) for pk in p.packages],
            evaluation_criteria=p.evaluation_criteria, bids=found.bids, refused_bids=found.refused_bids,
            awards=[award_out(p, code) for code in found.awards],
        )

    try:
        from registry.procurement.api import procurement_out as route_answer  # type: ignore[attr-defined]
    except ImportError:
        route_answer = procurement_out
    for a in loaded:
        if isinstance(a, Programme):
            views[str(a.id)] = [programme_view(a, [], d).model_dump_json() for d in (date(2026, 3, 15), *AS_OF)]
        elif isinstance(a, Project):
            views[str(a.id)] = [project_out(a).model_dump_json()]
        elif isinstance(a, Procurement):
            found = ProcurementRead(a, list(a.bids), list(a.refused), list(a.awards))
            views[str(a.id)] = [route_answer(found).model_dump_json()]


def record_procurement(provider_id: str, station_id: str) -> list[Any]:
    """A programme, two projects and a procurement, recorded by the aggregates directly."""
    from registry.procurement.domainmodel import Procurement, Programme, ProgrammeAllocation, Project

    programme = Programme(
        issuer="宁夏回族自治区民政厅", level="province", document_no="宁民发〔2026〕1号", title="社工站建设", issued_on=date(2026, 1, 5),
        budget_fen=50_000_000, allocations=[{"county": COUNTY, "name": "惠农区", "amount_fen": 50_000_000, "pilot_areas": 2}],
        milestones=[
            {"kind": "mobilisation", "starts_on": date(2026, 1, 10), "due_on": date(2026, 2, 28), "description": "动员部署"},
            {"kind": "bidding", "starts_on": None, "due_on": date(2026, 5, 31), "description": None},
            {"kind": "service", "starts_on": date(2026, 6, 1), "due_on": date(2027, 5, 31), "description": "服务"},
        ],
        themes=[{"county": COUNTY, "title": "楼组自治", "goal": "", "pilot_areas": 1}],
    )
    programme.reach_milestone("mobilisation", date(2026, 2, 20))
    allocation = ProgrammeAllocation(programme_id=str(programme.id), county=COUNTY, amount_fen=50_000_000, pilot_areas=2)
    justification = {"consultation": "入户走访", "target_groups": [{"group": "困境儿童", "number": 40}], "needs": ["课后照护"],
                     "resolution": "经社区两委会决议，同意申报"}
    project = Project(
        county=COUNTY, applicant={"kind": "community", "name": "和通社区", "street": "湖里街道"}, name="儿童之家",
        programme_id=str(programme.id), year_index=1, project_years=3, budget_fen=20_000_000, justification=justification,
        service_areas=["儿童关爱保护"], applied_on=date(2026, 3, 1),
    )
    rejected = Project(
        county=COUNTY, applicant={"kind": "street", "name": "湖里街道", "street": None}, name="长者饭堂",
        programme_id=str(programme.id), year_index=1, project_years=1, budget_fen=5_000_000, justification=justification,
        service_areas=["养老服务"], applied_on=date(2026, 3, 2),
    )
    allocation.reserve(str(project.id), 20_000_000)
    allocation.reserve(str(rejected.id), 5_000_000)
    project.decide("community_resolution", "approved", date(2026, 3, 5), "和通社区两委", None, "决议1号")
    project.decide("street_review", "approved", date(2026, 3, 10), "湖里街道办事处", None, None)
    project.decide("district_approval", "approved", date(2026, 3, 20), "惠农区民政局", None, "惠民批〔2026〕3号")
    rejected.decide("street_review", "rejected", date(2026, 3, 12), "湖里街道办事处", "预算不足", None)
    allocation.release(str(rejected.id))
    package = {"code": "1", "name": "儿童之家", "kind": "general", "annual_budget_fen": 20_000_000, "station_ids": [station_id],
               "items": [{"code": "I1", "name": "课后照护", "unit": "人次", "minimum": 100}], "staffing": None,
               "funding": [{"source": "福彩公益金", "amount_fen": 20_000_000}]}
    criteria = [{"code": "price", "name": "价格", "weight": 20, "kind": "price"},
                {"code": "plan", "name": "服务方案", "weight": 80, "kind": "quality"}]
    procurement = Procurement(
        county=COUNTY, project={"project_id": str(project.id), "name": "儿童之家", "purchaser": "和通社区",
                                "service_areas": ["儿童关爱保护"], "year_index": 1, "project_years": 3},
        method="公开招标", single_source_justification=None, invited_provider_ids=[], opened_on=date(2026, 3, 25),
        bid_deadline=date(2026, 4, 15), probation_first_year=True, packages=[package], evaluation_criteria=criteria,
    )
    project.start_procurement(str(procurement.id))
    procurement.receive_bid("b-1", provider_id, "1", date(2026, 4, 1))
    procurement.receive_bid("b-2", "p-other", "1", date(2026, 4, 2))
    procurement.refuse_bid("b-3", "p-third", "1", "R-PRC-2", "items.0.planned")
    scores = [{"rank": 1, "bid_id": "b-1", "provider_id": provider_id, "annual_price_fen": 19_000_000,
               "criteria": {"price": 20.0, "plan": 70.0}, "total": 90.0},
              {"rank": 2, "bid_id": "b-2", "provider_id": "p-other", "annual_price_fen": 19_500_000,
               "criteria": {"price": 19.49, "plan": 60.0}, "total": 79.49}]
    procurement.award(str(project.id), "1", "b-1", provider_id, date(2026, 4, 20), scores)
    terms = {"provider_id": provider_id, "station_ids": [station_id], "purchaser": "和通社区", "signed_on": date(2026, 4, 25),
             "effective_on": date(2026, 5, 1), "period_start": date(2026, 5, 1), "period_end": date(2027, 4, 30),
             "amount_fen": 19_000_000, "funding": [{"source": "福彩公益金", "amount_fen": 19_000_000}],
             "service_areas": ["儿童关爱保护"], "indicators": [{"code": "I1", "name": "课后照护", "unit": "人次", "target": 100}],
             "cycle_years": 3, "year_index": 1, "probation": True}
    procurement.draft_contract(str(project.id), "1", "b-1", terms, None)
    return [programme, allocation, project, rejected, procurement]


def record() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    app = RegistryApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with app.command(CommandContext(county=COUNTY, actor="recorder")):
        county = County(code=COUNTY, name="惠农区", policy=merged_policy(None))
        county.revise("惠农区", merged_policy({"ban_years": 2, "funding_caps": [
            {"source": "福彩公益金", "bound": "ceiling", "percent": 50, "base": "一般公共预算", "base_year": "current"}]}))
        policy = county.policy
        provider = Provider(county=COUNTY, name="惠农区阳光社会工作服务中心", uscc="91640200MA76XXXX0A", rating="3A",
                            has_party_org=False, prior_projects=[{"name": "社区养老", "year": 2024, "grade": "良好"}])
        provider.update_profile(rating="4A", has_party_org=True,
                                prior_projects=[{"name": "社区养老", "year": 2024, "grade": "良好"},
                                                {"name": "儿童关爱", "year": 2025, "grade": "不合格"}])
        provider.disclose("d-1", "basic_info", "机构基本信息", None, "章程与登记证书", "https://example.org/d-1", date(2026, 9, 1))
        provider.disclose("d-2", "annual_financial_report", "2025年度财务报告", 2025, "审计后的年报", None, date(2026, 9, 2))
        s1 = Station(county=COUNTY, name="礼和乡社工站", township="礼和乡", kind="township_station")
        s2 = Station(county=COUNTY, name="北街社区社会工作室", township="北街街道", kind="community_room")
        w1 = Worker(county=COUNTY, provider_id=str(provider.id), station_id=str(s1.id), name="马晓燕",
                    birth_date=date(1995, 3, 4), education="本科", qualification="none", role="social_worker",
                    hired_on=date(2026, 3, 1), certificate_due_on=date(2028, 3, 1))
        w1.move_to(str(s2.id), date(2026, 6, 1))
        w1.qualify("助理社会工作师", date(2026, 7, 15))
        w1.leave(date(2026, 12, 31), "个人原因")
        w2 = Worker(county=COUNTY, provider_id=str(provider.id), station_id=str(s1.id), name="李建国",
                    birth_date=date(1988, 11, 20), education="硕士", qualification="社会工作师", role="supervisor",
                    hired_on=date(2026, 1, 5), certificate_due_on=None)
        stations = [str(s1.id), str(s2.id)]
        c1 = Contract(**terms(provider_id=str(provider.id), station_ids=stations, policy=policy, supervisor_id=str(w2.id)))
        c1.file(date(2026, 10, 9), "石嘴山市民政局", date(2026, 9, 30))
        c1.request_scope_change("ch-1", ["社会救助", "养老服务", "社区治理"], date(2027, 1, 1), "新增社区治理", "p-user")
        c1.request_scope_change("ch-2", ["社会救助"], date(2027, 2, 1), "缩减", "p-user")
        c1.decide_scope_change(c1.scope_change("ch-1"), True, "惠农区民政局", date(2026, 12, 1), "同意")
        c1.decide_scope_change(c1.scope_change("ch-2"), False, "惠农区民政局", date(2026, 12, 2), "不同意")
        c1.note_evaluation("E-mid", "midterm", "合格", True, date(2027, 3, 1), False, False)
        c1.note_evaluation("E-fin", "final", "不合格", False, date(2027, 9, 1), False, False)
        c1.note_evaluation("E-fin", "final", "良好", True, date(2027, 9, 20), False, True)
        provider.note_evaluation("E-mid", True)
        provider.note_evaluation("E-fin", True)
        c2 = Contract(**terms(
            provider_id=str(provider.id), station_ids=stations, policy=policy, signed_on=date(2027, 9, 15),
            effective_on=date(2027, 9, 21), period_start=date(2027, 9, 21), period_end=date(2028, 9, 20), year_index=2,
            previous_contract_id=str(c1.id), filing_due_on=date(2027, 10, 13),
        ))
        c1.renewed(next_contract_id=str(c2.id), year_index=2, renewed_on=date(2027, 9, 15))
        c2.justify_overlap(overlapping_contract_ids=["k-other"], justification="过渡期两份协议并行")
        c2.flag_filing_overdue(date(2027, 10, 20), date(2027, 10, 13))
        c2.terminate(date(2028, 3, 1), "fraud", "弄虚作假 found by evaluation E-x (midterm)")
        provider.impose_ban(date(2028, 3, 1), date(2030, 3, 1), "弄虚作假 found by evaluation E-x (midterm)", "E-x", str(c2.id))
        provider.impose_ban(date(2030, 6, 1), date(2031, 6, 1), "严重违约", None, None)
        c3 = Contract(**terms(provider_id=str(provider.id), station_ids=[str(s2.id)], policy=policy,
                              signed_on=date(2025, 9, 1), effective_on=date(2025, 9, 1), period_start=date(2025, 9, 1),
                              period_end=date(2026, 8, 31), cycle_start=date(2025, 9, 1), filing_due_on=date(2025, 9, 22)))
        c3.file(date(2025, 9, 5), "石嘴山市民政局", date(2025, 9, 22))
        c3.expire_if_ended(date(2026, 9, 1))
        budgets = CountyBudgets(county=COUNTY)
        budgets.note(2026, "一般公共预算", 100_000_000)
        budgets.note(2026, "一般公共预算", 120_000_000)
        ledger = FundingLedger(county=COUNTY, year=2026)
        ledger.commit(contract_id=str(c1.id), shares={"福彩公益金": 8_000_000, "一般公共预算": 1_600_000})
        app.save(county, provider, s1, s2, w1, w2, c1, c2, c3, budgets, ledger)
        app.save(*record_procurement(str(provider.id), str(s1.id)))
    recorded = app.recorder.select_notifications(1, 1000)
    views = answers(app)
    app.close()
    return views, [
        {"originator_id": str(n.originator_id), "originator_version": n.originator_version, "topic": n.topic,
         "state": n.state.decode()}
        for n in recorded
    ]


if __name__ == "__main__":
    views, events = record()
    OUT.write_text(json.dumps(events, ensure_ascii=False, indent=1) + "\n")
    VIEWS.write_text(json.dumps(views, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {OUT} and {VIEWS}")
