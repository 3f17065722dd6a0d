"""Evaluation results feed the other services through NATS only (R-EVAL-8): a mid-term pass
schedules finance's second tranche (R-FIN-5), a final pass lets registry renew the contract
(R-REG-7), a fraud finding makes registry terminate the contract and ban the provider (R-EVAL-9).
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from shared import clock
from tests.integration.test_evaluation_support import (
    COUNTY,
    EVAL,
    accredit,
    check,
    everyone_says,
    open_county,
    publish_rubric,
    published,
    schedule,
    score_all,
    sign,
    wait_for,
)
from tests.integration.test_registry_helpers import published as registry_published


async def pass_evaluation(gateway, place, contract: str, org: str, stage: str, on: str, concluded_on: str, score: str = "85.00") -> dict:
    """Full marks on site and 满意 all round; with no deliveries logged the indicator item scores 0: 85 → 良好."""
    evaluation = (await check(schedule(gateway, place, contract, stage, org, on), 201))["evaluation_id"]
    await score_all(gateway, place, evaluation, org, "1", on)
    base = f"{EVAL}/counties/{COUNTY}/evaluations/{evaluation}"
    await check(gateway.post(f"{base}/surveys", json={"surveyed_on": on, "responses": everyone_says("满意")},
                             headers=place.evaluator(org)), 200)
    result = await check(gateway.post(f"{base}/conclusion", json={"concluded_on": concluded_on}, headers=place.evaluator(org)), 200)
    assert (result["score"], result["grade"], result["passed"]) == (score, "良好", True)
    return result


def pin_today(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    """Every service's "today" (shared.clock) is ``day`` in China (noon CST), so statuses are known."""
    instant = datetime.fromisoformat(f"{day}T04:00:00").replace(tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: instant)


async def test_a_midterm_pass_schedules_the_second_tranche(gateway, tokens, monkeypatch):
    # The services' clock is pinned: the pass is concluded on 10 June, the schedule read on 20 June.
    pin_today(monkeypatch, "2026-06-20")
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    tranches = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches"
    before = await wait_for(gateway, tranches, place.purchaser)
    assert [(t["seq"], t["trigger"], t["status"]) for t in before][1] == (2, "midterm_passed", "awaiting_trigger")

    await pass_evaluation(gateway, place, contract, org, "midterm", "2026-06-01", "2026-06-10")

    # Finance hears EvaluationConcluded: 30% due 15 working days after the pass (端午, 19 June, skipped).
    after = await wait_for(gateway, tranches, place.purchaser, lambda ts: ts[1]["status"] != "awaiting_trigger")
    second = after[1]
    assert (second["seq"], second["percent"], second["amount_fen"], second["due_on"]) == (2, 30, 10_800_000, "2026-07-02")
    assert second["status"] == "scheduled"  # on 20 June, before its due date
    assert after[2]["status"] == "awaiting_trigger"  # the final has not been evaluated
    # `overdue` is finance's name for a scheduled tranche whose due date has passed (R-FIN-9):
    # on its due date it is still scheduled, the working day after it is overdue.
    pin_today(monkeypatch, "2026-07-02")
    assert (await wait_for(gateway, tranches, place.purchaser))[1]["status"] == "scheduled"
    pin_today(monkeypatch, "2026-07-03")
    assert (await wait_for(gateway, tranches, place.purchaser))[1]["status"] == "overdue"


async def test_a_final_pass_allows_renewal(gateway, tokens):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    renewal = f"/registry/v1/counties/{COUNTY}/contracts/{contract}/renewal"
    refused = await gateway.post(renewal, json={"signed_on": "2026-11-20"}, headers=place.purchaser)
    assert (refused.status_code, refused.json().get("rule")) == (422, "R-REG-7"), refused.text

    await pass_evaluation(gateway, place, contract, org, "final", "2026-11-02", "2026-11-09")

    # Registry learns the result through NATS; until then renewal is refused and records nothing.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        r = await gateway.post(renewal, json={"signed_on": "2026-11-20"}, headers=place.purchaser)
        if r.status_code == 201:
            break
        assert (r.status_code, r.json().get("rule")) == (422, "R-REG-7"), r.text
        assert loop.time() < deadline, f"registry never allowed the renewal: {r.text}"
        await asyncio.sleep(0.1)
    next_year = r.json()["contract_id"]
    # …and evaluation, in turn, learns of the second year of the cycle.
    view = await wait_for(gateway, f"{EVAL}/counties/{COUNTY}/contracts/{next_year}", place.purchaser)
    assert (view["period_start"], view["provider_id"]) == ("2026-12-01", place.provider_id)


async def test_a_fraud_finding_terminates_the_contract_and_bans_the_provider_in_registry(gateway, tokens, settings):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    registry = f"/registry/v1/counties/{COUNTY}"
    provider = f"{registry}/providers/{place.provider_id}"
    assert (await check(gateway.get(provider, headers=place.purchaser), 200))["banned_until"] is None

    # Full marks would pass; the evaluator finds forged service records (弄虚作假) at the mid-term.
    midterm = (await check(schedule(gateway, place, contract, "midterm", org, "2026-06-01"), 201))["evaluation_id"]
    await score_all(gateway, place, midterm, org, "1", "2026-06-01")
    base = f"{EVAL}/counties/{COUNTY}/evaluations/{midterm}"
    await check(gateway.post(f"{base}/surveys", json={"surveyed_on": "2026-06-01", "responses": everyone_says("满意")},
                             headers=place.evaluator(org)), 200)
    fraud = {"concluded_on": "2026-06-10", "fraud_found": True, "fraud_details": "服务记录签名系代签,虚报服务人次"}
    found = await check(gateway.post(f"{base}/conclusion", json=fraud, headers=place.evaluator(org)), 200)
    assert (found["passed"], found["fraud_found"]) == (False, True)

    # Registry hears EvaluationConcluded over NATS: the contract ends for fraud that day and the
    # provider is banned for the county's ban_years (3 by default), citing the evaluation.
    ended = await wait_for(gateway, f"{registry}/contracts/{contract}", place.purchaser, lambda c: c["status"] == "terminated")
    assert (ended["end_kind"], ended["ended_on"]) == ("fraud", "2026-06-10")
    [banned] = await registry_published(settings.nats_url, COUNTY, "ProviderBanned")
    assert {k: banned["data"][k] for k in ("provider_id", "until", "evaluation_id")} == {
        "provider_id": place.provider_id, "until": "2029-06-10", "evaluation_id": midterm,
    }
    [concluded] = await published(settings.nats_url, COUNTY, "EvaluationConcluded", lambda es: len(es) == 1)
    assert banned["causation_id"] == concluded["event_id"]  # the ban is traced to evaluation's event (R-AUD-1)
    shown = await check(gateway.get(provider, params={"as_of": "2026-07-01"}, headers=place.purchaser), 200)
    assert (shown["banned_on_date"], shown["banned_until"]) == (True, "2029-06-10")

    # R-REG-1: the banned provider cannot sign a new contract while the ban lasts.
    body = {
        "provider_id": place.provider_id, "station_ids": [place.station_id], "purchaser": "原州区民政局",
        "signed_on": "2026-11-20", "effective_on": "2026-12-01", "period_start": "2026-12-01", "period_end": "2027-11-30",
        "amount_fen": 36_000_000, "funding": [{"source": "福彩公益金", "amount_fen": 36_000_000}],
        "service_areas": ["社会救助"], "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
    }
    refusal = await check(gateway.post(f"{registry}/contracts", json=body, headers=place.purchaser), 422)
    assert (refusal["rule"], refusal["field"]) == ("R-REG-1", "provider_id")
    # …and evaluation, in turn, learns that the contract ended.
    view = await wait_for(gateway, f"{EVAL}/counties/{COUNTY}/contracts/{contract}", place.purchaser,
                          lambda c: c["terminated_on"] is not None)
    assert view["terminated_on"] == "2026-06-10"
