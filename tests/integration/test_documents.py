"""Each service publishes its OpenAPI and AsyncAPI documents behind the gateway (issue 2)."""

from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import nats

from shared.infra.auth import Role
from tests.integration.test_evaluation_support import (
    COUNTY,
    EVAL,
    accredit,
    check,
    evaluator_items,
    everyone_says,
    open_county,
    publish_rubric,
    sign,
    wait_for,
)

SERVICES = ("registry", "services-log", "evaluation", "finance")


async def test_openapi_and_asyncapi_documents_are_served(gateway):
    for svc in SERVICES:
        r = await gateway.get(f"/{svc}/openapi.json")
        assert r.status_code == 200
        assert r.json()["openapi"].startswith("3.")
        r = await gateway.get(f"/{svc}/asyncapi.json")
        assert r.status_code == 200
        doc = r.json()
        assert doc["asyncapi"] == "3.0.0"
    # Registry documents ContractSigned with the envelope and its typed data.
    doc = (await gateway.get("/registry/asyncapi.json")).json()
    channels = {c["address"] for c in doc["channels"].values()}
    assert "swp.{county}.registry.ContractSigned" in channels
    schemas = doc["components"]["schemas"]
    assert "ContractSignedEnvelope" in schemas
    assert {"event_id", "correlation_id", "causation_id", "recorded_at", "data"} <= set(schemas["ContractSignedEnvelope"]["properties"])
    # Finance documents both what it publishes and what it consumes.
    doc = (await gateway.get("/finance/asyncapi.json")).json()
    channels = {c["address"] for c in doc["channels"].values()}
    assert "swp.{county}.finance.TrancheScheduled" in channels
    assert "swp.*.registry.ContractSigned" in channels  # what it consumes
    health = await gateway.get("/finance/health")
    assert health.status_code == 200 and health.json()["store"]["ok"] and health.json()["nats"]["ok"]


async def test_every_message_published_matches_its_services_asyncapi_document(gateway, tokens, settings):
    """What a subscriber receives is what the AsyncAPI documents say (API.md Events, R-AUD-1, R-AUD-5):
    over a walk through all four services (sign, deliver, correct, void, evaluate, pay, book, file,
    terminate), every message on stream SWP validates against its service's `<Type>Envelope` schema,
    on a documented channel, its subject `swp.<county>.<service>.<EventType>` names the envelope's own
    county, service and type, and its `Nats-Msg-Id` header is the envelope's event id."""
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    log, fin = f"/services-log/v1/counties/{COUNTY}", tokens(Role.FINANCE, COUNTY)
    body = {"contract_id": contract, "station_id": place.station_id, "worker_ids": place.worker_ids[:1], "kind": "个案",
            "area": "社会救助", "date": "2026-03-02", "hours_direct": 2.5, "hours_other": 0, "person_times": 1, "indicator_code": "assist"}
    delivery = (await check(gateway.post(f"{log}/deliveries", json=body, headers=place.provider()), 201))["delivery_id"]
    await check(gateway.post(f"{log}/deliveries/{delivery}/corrections", json={"reason": "笔误", "hours_direct": 3}, headers=place.provider()), 200)
    await check(gateway.post(f"{log}/deliveries/{delivery}/voiding", json={"reason": "重复"}, headers=place.provider()), 200)
    base = f"{EVAL}/counties/{COUNTY}/evaluations"
    evaluation = (await check(gateway.post(base, headers=place.purchaser, json={
        "contract_id": contract, "stage": "midterm", "evaluator_org": org, "scheduled_on": "2026-06-01"}), 201))["evaluation_id"]
    await check(gateway.post(f"{base}/{evaluation}/self-evaluation", json={"submitted_on": "2026-05-15", "summary": "上半年"},
                             headers=place.provider()), 200)
    rubric = await check(gateway.get(f"{EVAL}/counties/{COUNTY}/rubric", headers=place.purchaser), 200)
    scores = [{"item_code": i["code"], "score": str(Decimal(i["max_score"]))} for i in evaluator_items(rubric)]
    await check(gateway.post(f"{base}/{evaluation}/scores", json={"scored_on": "2026-06-01", "scores": scores}, headers=place.evaluator(org)), 200)
    await check(gateway.post(f"{base}/{evaluation}/surveys", json={"surveyed_on": "2026-06-01", "responses": everyone_says("满意")},
                             headers=place.evaluator(org)), 200)
    await check(gateway.post(f"{base}/{evaluation}/conclusion", json={"concluded_on": "2026-06-10"}, headers=place.evaluator(org)), 200)
    money = f"/finance/v1/counties/{COUNTY}/contracts/{contract}"
    await wait_for(gateway, f"{money}/tranches", fin, lambda ts: ts[1]["status"] != "awaiting_trigger")
    await check(gateway.post(f"{money}/tranches/1/payment", json={"paid_on": "2025-12-10", "voucher": "V-1"}, headers=fin), 201)
    await check(gateway.post(f"{money}/expenses", headers=fin, json={
        "category": "personnel", "amount_fen": 500_000, "spent_on": "2025-12-20", "voucher": "E-1"}), 201)
    registry = f"/registry/v1/counties/{COUNTY}/contracts/{contract}"
    await check(gateway.post(f"{registry}/filing", json={"filed_on": "2025-11-25"}, headers=place.purchaser), 200)
    await check(gateway.post(f"{registry}/termination", headers=place.purchaser,
                             json={"terminated_on": "2026-07-01", "kind": "agreement", "reason": "协商解除"}), 200)
    await wait_for(gateway, f"{money}/tranches", fin, lambda ts: ts[2]["status"] != "awaiting_trigger")  # finance heard it

    docs = {svc: (await gateway.get(f"/{svc}/asyncapi.json")).json() for svc in SERVICES}
    expected = {"ContractSigned", "ServiceDelivered", "DeliveryCorrected", "DeliveryVoided", "EvaluationScheduled",
                "EvaluationConcluded", "TrancheScheduled", "TranchePaid", "ExpenseBooked", "ContractFiled", "ContractTerminated"}
    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.jetstream().subscribe("swp.>", ordered_consumer=True)
        seen: set[str] = set()
        while True:
            try:
                msg = await sub.next_msg(timeout=2)
            except nats.errors.TimeoutError:
                if expected <= seen:
                    break
                raise AssertionError(f"never published: {expected - seen}") from None
            _, county, service, event_type = msg.subject.split(".")
            if county == "audit":  # swp.audit.<service>.TreeHeadSigned: the signed tree heads, tested with the audit
                continue
            envelope = json.loads(msg.data)
            assert (envelope["county"], envelope["service"], envelope["event_type"]) == (county, service, event_type), msg.subject
            assert msg.headers["Nats-Msg-Id"] == envelope["event_id"], msg.subject
            doc = docs[service]
            assert f"swp.{{county}}.{service}.{event_type}" in {c["address"] for c in doc["channels"].values()}, msg.subject
            schema = {"$ref": f"#/components/schemas/{event_type}Envelope", "components": doc["components"]}
            jsonschema.validate(envelope, schema, format_checker=jsonschema.FormatChecker())
            seen.add(event_type)
    finally:
        await nc.close()
