"""Each service publishes its OpenAPI and AsyncAPI documents behind the gateway (issue 2)."""

from __future__ import annotations

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
