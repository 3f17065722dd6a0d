"""A contract's life after signing: filing (R-REG-5), scope change with approval (R-REG-6), renewal
only after the year's final evaluation passed (R-REG-7, learnt from evaluation's events), fraud →
termination and ban (R-EVAL-9), expiry; optimistic concurrency; replay into a fresh store (R-AUD-3).
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

from eventsourcing.persistence import StoredEvent
from registry.api.contracts import contract_out
from registry.application import RegistryApplication

from shared.events.evaluation import AppealDecided, EvaluationConcluded
from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER, setup_county, sign
from tests.integration.test_registry_helpers import REG, check, publish_evaluation, published, refused, wait_for

CONTRACTS = f"{REG}/{COUNTY}/contracts"


def concluded(contract_id: str, provider_id: str, evaluation_id: str, stage: str, grade: str, on: str, *, fraud: bool = False) -> EvaluationConcluded:
    score = {"优秀": "92", "良好": "85", "合格": "68", "不合格": "55"}[grade]
    return EvaluationConcluded(
        evaluation_id=evaluation_id, county=COUNTY, contract_id=contract_id, provider_id=provider_id, stage=stage,
        score=Decimal(score), grade=grade, passed=grade != "不合格", rubric_id="R-2026", rubric_version=1,
        concluded_on=on, fraud_found=fraud,
    )


async def test_a_contract_year_from_filing_to_renewal_and_a_fraud_finding(gateway, tokens, settings):
    nats_url = settings.nats_url
    setup = await setup_county(gateway, tokens)
    purchaser, provider_id = setup["purchaser"], setup["provider_id"]
    year1 = (await check(sign(gateway, COUNTY, setup), 201))["contract_id"]
    path1 = f"{CONTRACTS}/{year1}"

    # R-REG-5: signed 10 September; the 15th working day is 8 October (国庆 skipped). Filed on the 9th: late.
    filed = await check(gateway.post(f"{path1}/filing", json={"filed_on": "2026-10-09", "filed_with": "固原市民政局"}, headers=purchaser), 200)
    assert (filed["filed_on"], filed["filing_due_on"], filed["filing_late"]) == ("2026-10-09", "2026-10-08", True)
    await refused(gateway, gateway.post(f"{path1}/filing", json={"filed_on": "2026-10-10"}, headers=purchaser), "R-REG-5", "filed_on")
    envelopes = await published(nats_url, COUNTY, "ContractFiled")
    assert envelopes[0]["data"] == {"contract_id": year1, "county": COUNTY, "filed_on": "2026-10-09", "due_on": "2026-10-08", "late": True}

    # R-REG-6: the provider asks to add 养老服务 from 1 November; nothing changes until the purchaser approves.
    provider = tokens(Role.PROVIDER, COUNTY, provider_id=provider_id)
    ask = {"service_areas": ["社会救助", "儿童关爱保护", "养老服务"], "effective_on": "2026-11-01", "reason": "新增高龄老人关爱"}
    r = await gateway.post(f"{path1}/scope-changes", json=ask, headers=tokens(Role.PROVIDER, COUNTY, provider_id="another-provider"))
    assert r.status_code == 403
    await refused(gateway, gateway.post(f"{path1}/scope-changes", json={**ask, "service_areas": ["社会救助", "广场舞"]}, headers=provider),
                  "R-LOG-2", "service_areas.1")
    change_id = (await check(gateway.post(f"{path1}/scope-changes", json=ask, headers=provider), 201))["change_id"]
    contract = await check(gateway.get(path1, headers=purchaser), 200)
    assert contract["service_areas"] == ["社会救助", "儿童关爱保护"] and contract["scope_changes"][0]["status"] == "requested"
    decision = f"{path1}/scope-changes/{change_id}/decision"
    r = await gateway.post(decision, json={"approved": True, "decided_on": "2026-10-20"}, headers=provider)
    assert r.status_code == 403  # the provider cannot approve its own request
    approved = await check(gateway.post(decision, json={"approved": True, "decided_on": "2026-10-20"}, headers=purchaser), 200)
    assert approved["service_areas"] == ask["service_areas"] and approved["scope_changes"][0]["decided_by"] == "原州区民政局"
    await refused(gateway, gateway.post(decision, json={"approved": False, "decided_on": "2026-10-21"}, headers=purchaser), "R-REG-6", "approved")
    changed = (await published(nats_url, COUNTY, "ContractScopeChanged"))[0]["data"]
    assert (changed["service_areas"], changed["effective_on"], changed["approved_by"]) == (ask["service_areas"], "2026-11-01", "原州区民政局")

    # R-REG-7: no renewal before this year's final evaluation.
    renewal = {"signed_on": "2027-09-10"}
    await refused(gateway, gateway.post(f"{path1}/renewal", json=renewal, headers=purchaser), "R-REG-7", None)
    # The final evaluation fails (不合格): the cycle ends — re-procurement.
    await publish_evaluation(nats_url, COUNTY, concluded(year1, provider_id, "EV-final-1", "final", "不合格", "2027-09-01"), "7" * 32, 1)
    await wait_for(gateway, path1, purchaser, lambda c: bool(c["evaluations"]))
    problem = await refused(gateway, gateway.post(f"{path1}/renewal", json=renewal, headers=purchaser), "R-REG-7", None)
    assert "不合格" in problem["detail"]
    # The provider appeals; the appeal is upheld (合格), so the year passed after all.
    upheld = AppealDecided(evaluation_id="EV-final-1", county=COUNTY, contract_id=year1, provider_id=provider_id, stage="final",
                           upheld=True, score=Decimal("61"), grade="合格", passed=True, decided_on="2027-09-08")
    await publish_evaluation(nats_url, COUNTY, upheld, "7" * 32, 2)
    await wait_for(gateway, path1, purchaser, lambda c: c["evaluations"][-1]["passed"])

    # Renewal signs year 2 from year 1's terms, one year on, under the policy in force now.
    year2 = (await check(gateway.post(f"{path1}/renewal", json=renewal, headers=purchaser), 201))["contract_id"]
    second = await check(gateway.get(f"{CONTRACTS}/{year2}", headers=purchaser), 200)
    assert (second["year_index"], second["previous_contract_id"], second["cycle_start"]) == (2, year1, "2026-09-21")
    assert (second["period_start"], second["period_end"], second["signed_on"]) == ("2027-09-21", "2028-09-20", "2027-09-10")
    assert second["service_areas"] == ask["service_areas"] and second["amount_fen"] == 36_000_001
    assert (await check(gateway.get(path1, headers=purchaser), 200))["next_contract_id"] == year2
    await refused(gateway, gateway.post(f"{path1}/renewal", json=renewal, headers=purchaser), "R-REG-7", None)  # once only
    renewed = (await published(nats_url, COUNTY, "ContractRenewed"))[0]["data"]
    assert renewed == {"contract_id": year1, "county": COUNTY, "next_contract_id": year2, "year_index": 2}
    signed = await published(nats_url, COUNTY, "ContractSigned", lambda es: len(es) == 2)
    assert [(e["data"]["year_index"], e["data"]["previous_contract_id"]) for e in signed] == [(1, None), (2, year1)]

    # Year 2's mid-term evaluation finds fraud (弄虚作假): the contract ends and the provider is banned
    # for the county's ban_years (3) from that day (R-EVAL-9).
    await publish_evaluation(nats_url, COUNTY, concluded(year2, provider_id, "EV-mid-2", "midterm", "不合格", "2028-03-20", fraud=True), "8" * 32, 1)
    ended = await wait_for(gateway, f"{CONTRACTS}/{year2}", purchaser, lambda c: c["status"] == "terminated")
    assert (ended["end_kind"], ended["ended_on"]) == ("fraud", "2028-03-20")
    banned = (await published(nats_url, COUNTY, "ProviderBanned"))[0]["data"]
    assert (banned["provider_id"], banned["until"], banned["evaluation_id"]) == (provider_id, "2031-03-20", "EV-mid-2")
    terminated = (await published(nats_url, COUNTY, "ContractTerminated"))[0]["data"]
    assert (terminated["contract_id"], terminated["kind"]) == (year2, "fraud")
    # R-REG-1: a banned provider cannot sign until the ban ends.
    while_banned = {"signed_on": "2028-04-01", "effective_on": "2028-04-01", "period_start": "2028-04-01", "period_end": "2029-03-31"}
    await refused(gateway, sign(gateway, COUNTY, setup, **while_banned), "R-REG-1", "provider_id")

    # Expiry at the period's end: year 1 ends on 20 September 2027 (year 2 was terminated, not expired).
    expiry = f"{CONTRACTS}/expiry"
    assert (await check(gateway.post(expiry, json={"as_of": "2027-09-20"}, headers=purchaser), 200))["expired"] == []
    assert (await check(gateway.post(expiry, json={"as_of": "2027-09-21"}, headers=purchaser), 200))["expired"] == [year1]
    assert (await check(gateway.post(expiry, json={"as_of": "2029-01-01"}, headers=purchaser), 200))["expired"] == []
    expired = (await published(nats_url, COUNTY, "ContractExpired"))[0]["data"]
    assert expired == {"contract_id": year1, "county": COUNTY, "expired_on": "2027-09-20"}
    listed = await check(gateway.get(CONTRACTS, params={"status": "expired"}, headers=purchaser), 200)
    assert [c["contract_id"] for c in listed] == [year1]

    # The public disclosure (no token) shows the ban and the project record with its grades.
    public = await check(gateway.get(f"/registry/public/v1/counties/{COUNTY}/providers", params={"as_of": "2028-06-01"}), 200)
    assert public[0]["banned_until"] == "2031-03-20"
    assert [(p["year_index"], p["status"], [e["grade"] for e in p["evaluations"]]) for p in public[0]["projects"]] == [
        (1, "expired", ["合格"]), (2, "terminated", ["不合格"])
    ]


async def test_a_purchaser_terminates_for_fraud_and_the_provider_is_banned(gateway, tokens, settings):
    setup = await setup_county(gateway, tokens, OTHER)
    purchaser = setup["purchaser"]
    contract_id = (await check(sign(gateway, OTHER, setup), 201))["contract_id"]
    path = f"{REG}/{OTHER}/contracts/{contract_id}"
    await refused(gateway, gateway.post(f"{path}/termination", json={"terminated_on": "2027-01-15", "kind": "whim", "reason": "x"},
                                        headers=purchaser), "R-REG-4", "kind")
    body = {"terminated_on": "2027-01-15", "kind": "fraud", "reason": "虚报服务人次"}
    ended = await check(gateway.post(f"{path}/termination", json=body, headers=purchaser), 200)
    assert (ended["status"], ended["end_kind"], ended["end_reason"]) == ("terminated", "fraud", "虚报服务人次")
    await refused(gateway, gateway.post(f"{path}/termination", json=body, headers=purchaser), "R-REG-4", "terminated_on")
    provider = await check(gateway.get(f"{REG}/{OTHER}/providers/{setup['provider_id']}", params={"as_of": "2027-02-01"}, headers=purchaser), 200)
    assert (provider["banned_on_date"], provider["banned_until"]) == (True, "2030-01-15")
    banned = (await published(settings.nats_url, OTHER, "ProviderBanned"))[0]["data"]
    assert (banned["until"], banned["reason"], banned["evaluation_id"]) == ("2030-01-15", "虚报服务人次", None)
    # A ban can also be imposed directly (serious breach found by an inspection).
    ban = {"banned_on": "2027-02-01", "until": "2031-06-30", "reason": "稽查发现挪用资金"}
    after = await check(gateway.post(f"{REG}/{OTHER}/providers/{setup['provider_id']}/bans", json=ban, headers=purchaser), 201)
    assert after["banned_until"] == "2031-06-30" and len(after["bans"]) == 2


async def test_two_racing_commands_on_one_contract_the_loser_is_decided_again_on_the_new_state(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    contract_id = (await check(sign(gateway, COUNTY, setup), 201))["contract_id"]
    store: RegistryApplication = gateway.app.state.services["registry"].state.store
    # Both commands load version 1 of the contract before either saves (a barrier holds the first
    # two loads there); the one that saves second loses the optimistic-concurrency race.
    barrier = threading.Barrier(2, timeout=10)
    load = store.contract
    loads = []

    def load_then_wait(*args, **kwargs):
        contract = load(*args, **kwargs)
        loads.append(contract.version)
        if len(loads) <= 2:
            barrier.wait()
        return contract

    store.contract = load_then_wait  # type: ignore[method-assign]
    try:
        path = f"{CONTRACTS}/{contract_id}"
        filing = gateway.post(f"{path}/filing", json={"filed_on": "2026-09-30"}, headers=setup["purchaser"])
        ending = gateway.post(f"{path}/termination", json={"terminated_on": "2026-09-30", "kind": "agreement", "reason": "协商解除"},
                              headers=setup["purchaser"])
        filed, ended = await asyncio.gather(filing, ending)
    finally:
        del store.contract
    # The loser was run again on the winner's version (not answered 409): it was decided on the
    # new state — applied if still allowed, refused by its rule otherwise — never half-applied.
    assert loads[:2] == [1, 1] and 2 in loads[2:], loads
    assert {filed.status_code, ended.status_code} <= {200, 422}, [filed.text, ended.text]
    assert 200 in (filed.status_code, ended.status_code)
    for loser in (r for r in (filed, ended) if r.status_code == 422):
        assert loser.headers["content-type"].startswith("application/problem+json") and loser.json()["rule"]
    contract = await check(gateway.get(f"{CONTRACTS}/{contract_id}", headers=setup["purchaser"]), 200)
    assert contract["version"] == 1 + [filed.status_code, ended.status_code].count(200)
    assert (contract["filed_on"] is not None) == (filed.status_code == 200)
    assert (contract["status"] == "terminated") == (ended.status_code == 200)


async def test_replaying_the_registry_log_into_a_fresh_store_gives_the_same_contracts(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    purchaser = setup["purchaser"]
    first = (await check(sign(gateway, COUNTY, setup), 201))["contract_id"]
    second = (await check(sign(gateway, COUNTY, setup, purchaser="南关街道办事处", justification="街道另购的专项服务"), 201))["contract_id"]
    await check(gateway.post(f"{CONTRACTS}/{first}/filing", json={"filed_on": "2026-09-18"}, headers=purchaser), 200)
    ask = {"service_areas": ["社会救助", "社区治理"], "effective_on": "2026-12-01", "reason": "社区治理试点"}
    change = (await check(gateway.post(f"{CONTRACTS}/{first}/scope-changes", json=ask, headers=purchaser), 201))["change_id"]
    await check(gateway.post(f"{CONTRACTS}/{first}/scope-changes/{change}/decision", json={"approved": True, "decided_on": "2026-11-20"},
                             headers=purchaser), 200)
    await check(gateway.post(f"{CONTRACTS}/{second}/termination", json={"terminated_on": "2026-12-31", "kind": "breach", "reason": "驻站人员不足"},
                             headers=purchaser), 200)
    live = await check(gateway.get(CONTRACTS, headers=purchaser), 200)

    # An auditor copies the registry's log, record by record, into an empty in-memory store and replays it.
    source: RegistryApplication = gateway.app.state.services["registry"].state.store
    records = source.process_recorder.select_notifications(1, 100_000)
    fresh = RegistryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    fresh.recorder.insert_events([StoredEvent(r.originator_id, r.originator_version, r.topic, r.state) for r in records])
    replayed = [contract_out(c, fresh.workdays()).model_dump(mode="json") for c in fresh.contracts(COUNTY)]
    assert replayed == live
    assert [c["status"] for c in replayed] == ["signed", "terminated"] and replayed[0]["filed_on"] == "2026-09-18"
