"""A county whose year-end evaluation is the annual one (年度绩效评估, stage `annual`) releases or
withholds the contract's last tranche exactly as a final evaluation (末期评估) does (R-FIN-5, R-FIN-7):
the default plan names `final_passed` for it, and the year-end evaluation the county holds sets it
off whichever of the two it is. Over real NATS, SQLite and PostgreSQL."""

from __future__ import annotations

from shared.testing.upstream import published
from tests.integration.test_evaluation_support import (
    COUNTY,
    EVAL,
    accredit,
    check,
    everyone_says,
    open_county,
    publish_rubric,
    schedule,
    score_all,
    sign,
    wait_for,
)


async def annual_evaluation(gateway, place, contract: str, org: str, ratio: str, answer: str) -> dict:
    """An annual evaluation on site on 2026-11-02, concluded 2026-11-09 (the service year ends 2026-11-30)."""
    evaluation = (await check(schedule(gateway, place, contract, "annual", org, "2026-11-02"), 201))["evaluation_id"]
    await score_all(gateway, place, evaluation, org, ratio, "2026-11-02")
    base = f"{EVAL}/counties/{COUNTY}/evaluations/{evaluation}"
    await check(gateway.post(f"{base}/surveys", json={"surveyed_on": "2026-11-02", "responses": everyone_says(answer)},
                             headers=place.evaluator(org)), 200)
    return await check(gateway.post(f"{base}/conclusion", json={"concluded_on": "2026-11-09"}, headers=place.evaluator(org)), 200)


async def test_a_passed_annual_evaluation_schedules_the_last_tranche_of_the_default_plan(gateway, tokens):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    tranches = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches"
    before = await wait_for(gateway, tranches, place.purchaser)
    assert [(t["seq"], t["trigger"], t["status"]) for t in before][2] == (3, "final_passed", "awaiting_trigger")

    result = await annual_evaluation(gateway, place, contract, org, "1", "满意")
    assert (result["stage"], result["passed"]) == ("annual", True)

    # Finance hears EvaluationConcluded (stage annual): the last 20% is due 15 working days after
    # Mon 2026-11-09 — Mon 2026-11-30.
    after = await wait_for(gateway, tranches, place.purchaser, lambda ts: ts[2]["status"] != "awaiting_trigger")
    last = after[2]
    assert (last["seq"], last["amount_fen"], last["triggered_on"], last["due_on"]) == (3, 7_200_000, "2026-11-09", "2026-11-30")
    assert last["status"] in ("scheduled", "overdue")  # overdue is a scheduled tranche past its date (R-FIN-9)
    assert after[1]["status"] == "awaiting_trigger"  # the mid-term was not evaluated: nothing else moved


async def test_a_failed_annual_evaluation_withholds_the_last_tranche(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    tranches = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches"

    result = await annual_evaluation(gateway, place, contract, org, "0.3", "不满意")
    assert (result["stage"], result["passed"], result["grade"]) == ("annual", False, "不合格")

    after = await wait_for(gateway, tranches, place.purchaser, lambda ts: ts[2]["status"] != "awaiting_trigger")
    assert (after[2]["status"], after[2]["due_on"]) == ("withheld", None)
    [withheld] = await published(settings.nats_url, COUNTY, "finance", "TrancheWithheld")
    assert {k: withheld["data"][k] for k in ("contract_id", "seq", "trigger", "evaluation_id", "grade")} == {
        "contract_id": contract, "seq": 3, "trigger": "final_passed", "evaluation_id": result["evaluation_id"],
        "grade": "不合格",
    }
    paid = await gateway.post(f"{tranches}/3/payment", json={"paid_on": "2026-11-20", "voucher": "BF-2026-0201"},
                              headers=tokens("finance", COUNTY))
    assert (paid.status_code, paid.json().get("rule")) == (422, "R-FIN-7"), paid.text

    # The provider appeals within the window; the purchaser upholds it on Fri 2026-11-20: the withheld
    # year-end tranche is scheduled, due 15 working days later (Fri 2026-12-11).
    base = f"{EVAL}/counties/{COUNTY}/evaluations/{result['evaluation_id']}"
    await check(gateway.post(f"{base}/appeal", json={"appealed_on": "2026-11-12", "reason": "服务台账漏报"},
                             headers=place.provider()), 200)
    await check(gateway.post(f"{base}/appeal/decision", json={"upheld": True, "revised_score": "61.00", "decided_on": "2026-11-20",
                                                               "reason": "补充台账核实"}, headers=place.purchaser), 200)
    again = await wait_for(gateway, tranches, place.purchaser, lambda ts: ts[2]["status"] != "withheld")
    assert (again[2]["triggered_on"], again[2]["due_on"]) == ("2026-11-20", "2026-12-11")
