"""Evaluation narratives over the whole platform (real NATS; SQLite and PostgreSQL): a mid-term
evaluation from the unified rubric to the published result, rubric-version pinning, the
evaluator's independence; process visits, a failed final and its one appeal; county isolation."""

from __future__ import annotations

from decimal import Decimal

from shared.infra.auth import Role
from tests.integration.test_evaluation_support import (
    COUNTY,
    EVAL,
    OTHER,
    SECOND_USCC,
    accredit,
    check,
    everyone_says,
    open_county,
    publish_rubric,
    published,
    refused,
    schedule,
    score_all,
    sign,
    wait_for,
)


async def test_a_midterm_evaluation_from_the_unified_rubric_to_the_published_result(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    evaluations = f"{EVAL}/counties/{COUNTY}/evaluations"
    handa = await accredit(gateway, place)
    # An evaluator organisation that shares its legal representative with 明德 (the provider).
    linked = await accredit(gateway, place, "同源评估所", linked_provider_ids=[place.provider_id])

    # Nothing can be scheduled before a rubric is published (R-EVAL-2).
    await refused(schedule(gateway, place, contract, "midterm", handa["org"], "2026-06-01"), 422, "R-EVAL-2", "rubric")
    v1 = await publish_rubric(gateway, tokens)
    assert (v1["scope"], v1["version"]) == ("province", 1)
    rubric = await check(gateway.get(f"{EVAL}/counties/{COUNTY}/rubric", headers=place.purchaser), 200)
    assert [d["name"] for d in rubric["dimensions"]] == ["中心基本设置", "运营管理能力", "项目运作状况", "项目成效", "经费使用及财务管理"]

    # Refusals name their rule and field and record nothing.
    await refused(schedule(gateway, place, contract, "midterm", linked["org"], "2026-06-01"), 422, "R-EVAL-7", "evaluator_org")
    await refused(schedule(gateway, place, contract, "midterm", handa["org"], "2026-04-30"), 422, "R-EVAL-1", "scheduled_on")
    await refused(schedule(gateway, place, contract, "quarterly", handa["org"], "2026-06-01"), 422, "R-EVAL-1", "stage")
    await refused(schedule(gateway, place, "no-such-contract", "midterm", handa["org"], "2026-06-01"), 422, None, "contract_id")
    await refused(schedule(gateway, place, contract, "midterm", "no-such-org", "2026-06-01"), 422, None, "evaluator_org")
    body = {"contract_id": contract, "stage": "midterm", "evaluator_org": handa["org"], "scheduled_on": "2026-06-01"}
    await check(gateway.post(evaluations, json=body, headers=place.provider()), 403)

    # The purchaser schedules the mid-term on the contract's mid-point: bound to rubric version 1,
    # with R-EVAL-3's deadlines in working days.
    scheduled = await check(schedule(gateway, place, contract, "midterm", handa["org"], "2026-06-01"), 201)
    midterm = scheduled["evaluation_id"]
    assert scheduled["rubric_version"] == 1
    assert {s["step"]: s["due_on"] for s in scheduled["steps"]} == {
        "self_evaluation": "2026-05-18", "review": "2026-05-25", "report": "2026-06-30", "feedback": "2026-07-07",
    }
    await refused(schedule(gateway, place, contract, "midterm", handa["org"], "2026-06-02"), 422, "R-EVAL-1", "stage")
    on_may_20 = await check(gateway.get(f"{evaluations}/{midterm}", params={"as_of": "2026-05-20"}, headers=place.purchaser), 200)
    assert on_may_20["overdue"] == ["self_evaluation"]

    # The province publishes a stricter version 2; the scheduled mid-term keeps version 1.
    v2 = await publish_rubric(gateway, tokens, name="统一评估标准(修订)", thresholds={"优秀": 95, "良好": 85, "合格": 70})
    assert v2["version"] == 2

    # 明德 submits its self-evaluation report in time; another provider may not, nor may it score over an item's maximum.
    stranger = (await check(gateway.post(
        f"/registry/v1/counties/{COUNTY}/providers", json={"name": "启航社工", "uscc": SECOND_USCC}, headers=place.purchaser
    ), 201))["provider_id"]
    self_eval = f"{evaluations}/{midterm}/self-evaluation"
    report = {"submitted_on": "2026-05-15", "summary": "上半年完成帮扶救助250人次", "self_scores": {"setup.venue": "5"}}
    await check(gateway.post(self_eval, json=report, headers=place.provider(stranger)), 404)  # not its evaluation: as if unknown
    await refused(gateway.post(self_eval, json={**report, "self_scores": {"setup.venue": "6"}}, headers=place.provider()),
                  422, "R-EVAL-2", "self_scores.setup.venue")
    done = await check(gateway.post(self_eval, json=report, headers=place.provider()), 200)
    assert done["self_evaluation"]["late"] is False

    # Only the assigned organisation reviews — a day late.
    review = {"reviewed_on": "2026-05-26", "notes": "自评报告材料齐全"}
    await check(gateway.post(f"{evaluations}/{midterm}/review", json=review, headers=place.evaluator(linked["org"])), 404)
    reviewed = await check(gateway.post(f"{evaluations}/{midterm}/review", json=review, headers=place.evaluator(handa["org"])), 200)
    assert reviewed["review"]["late"] is True

    # The station logs 250 of its 500 帮扶救助 person-times; evaluation learns the figure from services-log.
    delivery = {
        "contract_id": contract, "station_id": place.station_id, "worker_ids": [place.worker_ids[0]], "kind": "帮扶救助",
        "area": "社会救助", "date": "2026-05-20", "hours_direct": "6", "hours_other": "1", "person_times": 250,
        "indicator_code": "assist",
    }
    log = f"/services-log/v1/counties/{COUNTY}"
    await wait_for(gateway, f"{log}/contracts/{contract}/progress", place.purchaser)
    for worker_id in place.worker_ids:
        await wait_for(gateway, f"{log}/workers/{worker_id}", place.purchaser)
    figures = f"{EVAL}/counties/{COUNTY}/contracts/{contract}"
    before = (await check(gateway.get(figures, headers=place.purchaser), 200))["outcomes"]
    assert (before["indicators"], before["deliveries"]) == ([{"code": "assist", "target": 500, "actual": 0}], 0)
    await check(gateway.post(f"{log}/deliveries", json=delivery, headers=place.provider()), 201)
    after = await wait_for(gateway, figures, place.purchaser,
                           lambda c: c["outcomes"]["indicators"] == [{"code": "assist", "target": 500, "actual": 250}])
    assert (after["outcomes"]["deliveries"], after["outcomes"]["person_times"]) == (1, 250)
    assert (Decimal(after["outcomes"]["hours_direct"]), Decimal(after["outcomes"]["hours_other"])) == (6, 1)

    # Outcome figures and the satisfaction score are computed, never typed in.
    scores = f"{evaluations}/{midterm}/scores"
    evaluator = place.evaluator(handa["org"])
    for item, rule, field in (
        ({"item_code": "outcomes.indicators", "score": "15"}, "R-EVAL-2", "scores.0.item_code"),
        ({"item_code": "outcomes.satisfaction", "score": "10"}, "R-EVAL-4", "scores.0.item_code"),
        ({"item_code": "setup.venue", "score": "5.5"}, "R-EVAL-2", "scores.0.score"),
        ({"item_code": "setup.canteen", "score": "1"}, "R-EVAL-2", "scores.0.item_code"),
    ):
        await refused(gateway.post(scores, json={"scored_on": "2026-06-01", "scores": [item]}, headers=evaluator), 422, rule, field)
    conclusion = f"{evaluations}/{midterm}/conclusion"
    await refused(gateway.post(conclusion, json={"concluded_on": "2026-06-10"}, headers=evaluator), 422, "R-EVAL-2", "scores")
    await score_all(gateway, place, midterm, handa["org"], "0.9", "2026-06-01")  # 67.5 of the 75 points scored on site
    await refused(gateway.post(conclusion, json={"concluded_on": "2026-06-10"}, headers=evaluator), 422, "R-EVAL-4", "surveys")

    # 公众评议 with 不了解 answers, each counted as the mean of the other answers to its question:
    # 服务对象 overall (5+3)/2 → 4, attitude (5+3)/2 → 4; 村居代表 overall 5, cooperation (5+3)/2 → 4.
    survey = {"surveyed_on": "2026-06-01", "responses": [
        {"group": "beneficiaries", "answers": {"overall": "满意", "attitude": "满意"}},
        {"group": "beneficiaries", "answers": {"overall": "基本满意", "attitude": "不了解"}},
        {"group": "beneficiaries", "answers": {"overall": "不了解", "attitude": "基本满意"}},
        {"group": "community", "answers": {"overall": "满意", "cooperation": "满意"}},
        {"group": "community", "answers": {"overall": "不了解", "cooperation": "基本满意"}},
    ]}
    surveyed = await check(gateway.post(f"{evaluations}/{midterm}/surveys", json=survey, headers=evaluator), 200)
    assert surveyed["survey"]["respondents"] == 5
    assert surveyed["survey"]["group_scores"] == {"beneficiaries": "4.00", "community": "4.50"}
    assert surveyed["survey"]["score"] == "4.25"  # the mean of the two groups
    await refused(gateway.post(f"{evaluations}/{midterm}/surveys", json=survey, headers=evaluator), 422, "R-EVAL-4", "surveyed_on")

    # A spot check (察访核验) finds the notice board out of date: 3 points off.
    deduction = {"found_on": "2026-06-05", "points": "3", "reason": "宣传栏信息未更新"}
    await check(gateway.post(f"{evaluations}/{midterm}/deductions", json=deduction, headers=evaluator), 200)

    # Conclusion: 67.5 + indicators 15 × 250/500 + satisfaction 10 × 4.25/5 − 3 = 80.5 → 良好 under
    # version 1 (version 2 would have made it 合格).
    result = await check(gateway.post(conclusion, json={"concluded_on": "2026-06-10"}, headers=evaluator), 200)
    assert (result["score"], result["grade"], result["passed"], result["rubric_version"]) == ("80.50", "良好", True, 1)
    assert result["breakdown"]["items"]["outcomes.indicators"] == "7.50"
    assert result["breakdown"]["dimensions"]["outcomes"] == "16.00"
    await refused(gateway.post(conclusion, json={"concluded_on": "2026-06-11"}, headers=evaluator), 422, "R-EVAL-6", "concluded_on")
    await refused(gateway.post(f"{evaluations}/{midterm}/appeal", json={"appealed_on": "2026-06-11", "reason": "不服"},
                               headers=place.provider()), 422, "R-EVAL-6", "appealed_on")

    # The report was on time; the feedback step (5 working days after it) is overdue until recorded.
    view = await check(gateway.get(f"{evaluations}/{midterm}", headers=place.purchaser), 200)
    assert view["status"] == "concluded"
    assert {s["step"]: (s["status"], s["late"]) for s in view["steps"]} == {
        "self_evaluation": ("done", False), "review": ("done", True), "report": ("done", False), "feedback": ("overdue", False),
    }
    assert view["overdue"] == ["feedback"]
    feedback = {"agreed_on": "2026-06-12", "notes": "双方就评估报告达成共识"}
    view = await check(gateway.post(f"{evaluations}/{midterm}/feedback", json=feedback, headers=place.provider()), 200)
    assert view["overdue"] == []

    # Pinning: the final of the same contract keeps version 1; another contract's first evaluation takes version 2.
    final_body = {"contract_id": contract, "stage": "final", "evaluator_org": handa["org"], "scheduled_on": "2026-11-02"}
    keyed = {**place.purchaser, "Idempotency-Key": "final-2026"}
    final = await check(gateway.post(evaluations, json=final_body, headers=keyed), 201)
    assert final["rubric_version"] == 1
    # Repeating the keyed command returns the first result and records nothing new.
    assert (await check(gateway.post(evaluations, json=final_body, headers=keyed), 201))["evaluation_id"] == final["evaluation_id"]
    listed = await check(gateway.get(evaluations, params={"contract_id": contract, "as_of": "2026-10-20"}, headers=place.purchaser), 200)
    assert [(e["stage"], e["status"], e["overdue"]) for e in listed] == [
        ("midterm", "concluded", []), ("final", "scheduled", ["self_evaluation"]),  # due 2026-10-19
    ]
    second = await sign(gateway, place)
    assert (await check(schedule(gateway, place, second, "midterm", handa["org"], "2026-06-01"), 201))["rubric_version"] == 2

    # Published for the public, without a token and without personal data.
    public = await gateway.get(f"/evaluation/public/v1/counties/{COUNTY}/results")
    assert public.status_code == 200, public.text
    [row] = public.json()
    assert (row["contract_id"], row["provider_name"], row["stage"], row["score"], row["grade"], row["passed"]) == (
        contract, "明德社会工作服务中心", "midterm", "80.50", "良好", True,
    )
    for private in ("王评估", "李娜", "满意", "宣传栏", "共识"):
        assert private not in public.text

    # What the other services hear (R-AUD-5): the conclusion, bound to its rubric version.
    [concluded] = await published(settings.nats_url, COUNTY, "EvaluationConcluded", lambda es: len(es) == 1)
    assert {k: concluded["data"][k] for k in ("contract_id", "provider_id", "stage", "score", "grade", "passed", "rubric_version")} == {
        "contract_id": contract, "provider_id": place.provider_id, "stage": "midterm", "score": "80.50", "grade": "良好",
        "passed": True, "rubric_version": 1,
    }
    [surveyed_event] = await published(settings.nats_url, COUNTY, "SurveyRecorded", lambda es: len(es) == 1)
    assert (surveyed_event["data"]["respondents"], surveyed_event["data"]["score"]) == (5, "4.25")
    rubrics = await published(settings.nats_url, "province", "RubricPublished", lambda es: len(es) == 2)
    assert [e["data"]["version"] for e in rubrics] == [1, 2]


async def test_process_visits_a_failed_final_and_its_one_appeal_with_counties_kept_apart(gateway, tokens, settings):
    place, other = await open_county(gateway, tokens), await open_county(gateway, tokens, OTHER)
    contract, other_contract = await sign(gateway, place), await sign(gateway, other)
    handa, huaxia = await accredit(gateway, place), await accredit(gateway, other, "华夏评估")
    await publish_rubric(gateway, tokens)
    # 原州区 publishes its own rubric: two unannounced visits per station a year instead of four.
    own = await check(gateway.post(
        f"{EVAL}/counties/{COUNTY}/rubric", json={"name": "原州区评估标准", "policy": {"process_visits_per_station": 2}},
        headers=place.purchaser,
    ), 201)
    assert (own["scope"], own["version"]) == (COUNTY, 1)
    evaluations = f"{EVAL}/counties/{COUNTY}/evaluations"
    evaluator = place.evaluator(handa["org"])

    # Process evaluation (过程评估): unannounced visits, credential shown, signed by the centre's staff.
    process = (await check(schedule(gateway, place, contract, "process", handa["org"], "2025-12-01"), 201))["evaluation_id"]
    visits = f"{evaluations}/{process}/visits"
    visit = {
        "station_id": place.station_id, "visited_on": "2026-03-12", "member_id": handa["member"], "credential_shown": True,
        "signed_by": {"name": "张主任", "role": "中心主任"}, "findings": "中心按时开放,宣传栏已更新,在岗社工2名",
    }
    await refused(gateway.post(visits, json={**visit, "credential_shown": False}, headers=evaluator), 422, "R-EVAL-10", "credential_shown")
    await refused(gateway.post(visits, json={**visit, "member_id": "someone"}, headers=evaluator), 422, "R-EVAL-7", "member_id")
    await refused(gateway.post(visits, json={**visit, "visited_on": "2026-12-01"}, headers=evaluator), 422, "R-EVAL-1", "visited_on")
    await refused(gateway.post(visits, json={**visit, "station_id": other.station_id}, headers=evaluator), 422, None, "station_id")
    keyed = {**evaluator, "Idempotency-Key": "visit-2026-03-12"}
    first = await check(gateway.post(visits, json=visit, headers=keyed), 201)
    assert (first["visits_done"], first["visits_required"]) == (1, 2)
    second = await check(gateway.post(visits, json={**visit, "visited_on": "2026-08-20"}, headers=evaluator), 201)
    assert (second["visits_done"], second["visits_required"]) == (2, 2)
    # The first visit repeated with its Idempotency-Key, after the second: its first answer (visit 1 of 2),
    # not the count since.
    assert await check(gateway.post(visits, json=visit, headers=keyed), 201) == first
    # R-EVAL-1: the rubric's number is also the limit — a third visit is refused, not "done 3 of 2".
    beyond = await refused(gateway.post(visits, json={**visit, "visited_on": "2026-09-15"}, headers=evaluator),
                           422, "R-EVAL-1", "station_id")
    assert "2" in beyond["detail"] and "走访" in beyond["detail"]
    view = await check(gateway.get(f"{evaluations}/{process}", headers=place.purchaser), 200)
    assert view["visits"]["stations"] == [{"station_id": place.station_id, "done": 2, "required": 2}]
    assert view["steps"] == [{"step": "visits", "due_on": "2026-11-30", "provisional": False, "done_on": "2026-08-20",
                              "status": "done", "late": False}]
    recorded = await published(settings.nats_url, COUNTY, "ProcessVisitRecorded", lambda es: len(es) == 2)
    assert [e["data"]["visits_done"] for e in recorded] == [1, 2]

    # The final evaluation fails: half marks on site, 不满意 all round, no indicator reached → 37.5.
    final = (await check(schedule(gateway, place, contract, "final", handa["org"], "2026-11-02"), 201))["evaluation_id"]
    await score_all(gateway, place, final, handa["org"], "0.5", "2026-11-02")
    await check(gateway.post(f"{evaluations}/{final}/surveys", json={"surveyed_on": "2026-11-02", "responses": everyone_says("不满意")},
                             headers=evaluator), 200)
    result = await check(gateway.post(f"{evaluations}/{final}/conclusion", json={"concluded_on": "2026-11-09"}, headers=evaluator), 200)
    assert (result["score"], result["grade"], result["passed"]) == ("37.50", "不合格", False)
    assert result["appeal_due_on"] == "2026-11-23"  # 10 working days (the rubric's appeal window)

    # 明德 appeals once, within the window; the purchaser upholds it with a revised score.
    appeal = f"{evaluations}/{final}/appeal"
    await refused(gateway.post(appeal, json={"appealed_on": "2026-11-24", "reason": "迟交"}, headers=place.provider()),
                  422, "R-EVAL-6", "appealed_on")
    await check(gateway.post(appeal, json={"appealed_on": "2026-11-20", "reason": "满意度调查样本不具代表性"}, headers=place.provider()), 200)
    await refused(gateway.post(appeal, json={"appealed_on": "2026-11-21", "reason": "再次申诉"}, headers=place.provider()),
                  422, "R-EVAL-6", "appealed_on")
    decision = {"upheld": True, "revised_score": "62.00", "decided_on": "2026-11-24", "reason": "重新抽样调查后复核"}
    await check(gateway.post(f"{appeal}/decision", json=decision, headers=place.provider()), 403)
    decided = await check(gateway.post(f"{appeal}/decision", json=decision, headers=place.purchaser), 200)
    assert decided["result"] == {"score": "62.00", "grade": "合格", "passed": True, "concluded_on": "2026-11-09", "fraud_found": False,
                                 "serious_breach_found": False}
    [appealed] = await published(settings.nats_url, COUNTY, "AppealDecided", lambda es: len(es) == 1)
    assert (appealed["data"]["upheld"], appealed["data"]["grade"], appealed["data"]["passed"]) == (True, "合格", True)

    # 涿鹿县 uses the province's rubric (four visits), and its mid-term finds fraud (弄虚作假): failed whatever the score.
    other_process = await check(schedule(gateway, other, other_contract, "process", huaxia["org"], "2025-12-01"), 201)
    assert other_process["rubric_version"] == 1
    other_view = await check(gateway.get(f"{EVAL}/counties/{OTHER}/evaluations/{other_process['evaluation_id']}",
                                         headers=other.purchaser), 200)
    assert other_view["visits"]["required_per_station"] == 4
    # 原州区's evaluator is not accredited in 涿鹿县.
    await refused(schedule(gateway, other, other_contract, "midterm", handa["org"], "2026-06-01"), 422, None, "evaluator_org")
    midterm = (await check(schedule(gateway, other, other_contract, "midterm", huaxia["org"], "2026-06-01"), 201))["evaluation_id"]
    await score_all(gateway, other, midterm, huaxia["org"], "1", "2026-06-01")
    other_evaluator = other.evaluator(huaxia["org"])
    await check(gateway.post(f"{EVAL}/counties/{OTHER}/evaluations/{midterm}/surveys",
                             json={"surveyed_on": "2026-06-01", "responses": everyone_says("满意")}, headers=other_evaluator), 200)
    fraud = {"concluded_on": "2026-06-10", "fraud_found": True, "fraud_details": "服务记录签名系代签,虚报服务人次"}
    found = await check(gateway.post(f"{EVAL}/counties/{OTHER}/evaluations/{midterm}/conclusion", json=fraud,
                                     headers=other_evaluator), 200)
    assert (found["grade"], found["passed"], found["fraud_found"]) == ("不合格", False, True)
    [concluded] = await published(settings.nats_url, OTHER, "EvaluationConcluded", lambda es: len(es) == 1)
    assert (concluded["data"]["fraud_found"], concluded["data"]["passed"], concluded["data"]["provider_id"]) == (
        True, False, other.provider_id,
    )

    # Counties stay apart (R-AUD-6): tokens, paths, evaluators and published results.
    await check(gateway.get(f"{EVAL}/counties/{OTHER}/evaluations/{midterm}", headers=place.purchaser), 403)
    await check(gateway.get(f"{EVAL}/counties/{OTHER}/evaluations/{final}", headers=other.purchaser), 404)
    listed = await check(gateway.get(f"{EVAL}/counties/{COUNTY}/evaluators", headers=place.purchaser), 200)
    assert [e["evaluator_org"] for e in listed] == [handa["org"]]
    mine = await check(gateway.get(f"/evaluation/public/v1/counties/{COUNTY}/results"), 200)
    assert [(r["stage"], r["score"], r["grade"], r["passed"], r["appeal"]) for r in mine] == [("final", "62.00", "合格", True, "upheld")]
    theirs = await check(gateway.get(f"/evaluation/public/v1/counties/{OTHER}/results"), 200)
    assert [(r["stage"], r["grade"], r["fraud_found"]) for r in theirs] == [("midterm", "不合格", True)]
    # No person's name (workers, evaluators, the centre staff who signed), no finding, appeal or fraud text.
    for county in (COUNTY, OTHER):
        text = (await gateway.get(f"/evaluation/public/v1/counties/{county}/results")).text
        for private in ("李娜", "王静", "王评估", "张主任", "宣传栏", "不具代表性", "复核", "代签"):
            assert private not in text, (county, private)
    # A provider reads its own evaluations only; an evaluator those assigned to its organisation.
    assert len(await check(gateway.get(evaluations, headers=place.provider()), 200)) == 2
    assert await check(gateway.get(evaluations, headers=place.evaluator("another-org")), 200) == []
    await check(gateway.get(f"{evaluations}/{final}", headers=tokens(Role.PROVIDER, COUNTY, provider_id="someone-else")), 404)


async def test_the_deadlines_keep_their_r_eval_3_order_when_scheduled_repeated_and_read_back(gateway, tokens):
    """`steps` is a list in the order R-EVAL-3 runs them. A repeat of the scheduling command with its
    Idempotency-Key returns the first result, and a read of the evaluation (rebuilt from its stored
    events) lists them the same way — not in the alphabetical order the stored record keeps its keys in."""
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    body = {"contract_id": contract, "stage": "midterm", "evaluator_org": org, "scheduled_on": "2026-06-01"}
    headers = {**place.purchaser, "Idempotency-Key": "schedule-midterm-1"}
    first = await check(gateway.post(f"{EVAL}/counties/{COUNTY}/evaluations", json=body, headers=headers), 201)
    order = ["self_evaluation", "review", "report", "feedback"]
    assert [s["step"] for s in first["steps"]] == order
    again = await check(gateway.post(f"{EVAL}/counties/{COUNTY}/evaluations", json=body, headers=headers), 201)
    assert again == first
    read = await check(gateway.get(f"{EVAL}/counties/{COUNTY}/evaluations/{first['evaluation_id']}", headers=place.purchaser), 200)
    assert [s["step"] for s in read["steps"]] == order
    assert [s["due_on"] for s in read["steps"]] == ["2026-05-18", "2026-05-25", "2026-06-30", "2026-07-07"]
