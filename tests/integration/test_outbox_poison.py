"""No poison stalls a stream silently (issue 15, item 4): against a real nats-server whose
``max_payload`` is small, a contract whose ContractSigned cannot be published is parked with its
reason instead of retried for ever; the later events of that contract wait behind it (a subscriber
never sees its history with a hole), every other aggregate's events carry on, /health is 503
naming the parked position — and all of that survives a restart of the service."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.js.errors import NotFoundError

from shared.infra.auth import Role
from shared.infra.natsserver import NatsServer, free_port
from shared.testing.fixtures import Tokens, client_for, make_settings, running
from tests.integration.slice import COUNTY, contract_body, setup_county

MAX_PAYLOAD = 16 * 1024


@pytest.fixture
def small_nats(tmp_path):
    conf = tmp_path / "nats.conf"
    conf.write_text(f"max_payload: {MAX_PAYLOAD}\n")
    server = NatsServer(free_port(), tmp_path / "nats", extra_args=["-c", str(conf)], log_file=tmp_path / "nats.log").start()
    try:
        yield server
    finally:
        server.stop()


async def last_on_stream(url: str, subject: str) -> dict | None:
    nc = await nats.connect(url)
    try:
        msg = await nc.jetstream().get_last_msg("SWP", subject)
        return json.loads(msg.data)
    except NotFoundError:
        return None
    finally:
        await nc.close()


async def eventually(check, what: str, timeout: float = 30.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.1)


async def test_an_event_too_large_to_publish_is_parked_its_aggregate_waits_and_the_rest_flows(
    persistence, small_nats, tmp_path, request
):
    from gateway.app import create_app

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, small_nats.url, tmp_path / "var", pg)
    tokens = Tokens(settings)
    app = create_app(settings)
    async with running(app), client_for(app) as gateway:
        setup = await setup_county(gateway, tokens)
        purchaser = setup["purchaser"]
        # Within every schema limit and the body limit, but its event exceeds this server's max_payload.
        body = contract_body(setup["provider_id"], setup["station_ids"])
        body["indicators"] = [
            {"code": f"i{i}", "name": f"指标{i}" + "服" * 150, "unit": "人次", "target": 1} for i in range(60)
        ]
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=body, headers=purchaser)
        assert r.status_code == 201, r.text
        big = r.json()["contract_id"]
        # A later event of the same contract, and events of other aggregates.
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts/{big}/filing", json={"filed_on": "2026-09-15"},
                               headers=purchaser)
        assert r.status_code == 200, r.text
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/stations", headers=purchaser,
                               json={"name": "三营镇社工站", "township": "三营镇", "kind": "township_station"})
        assert r.status_code == 201, r.text
        station = r.json()["station_id"]
        # A second contract of the provider at the same stations needs its justification (R-REG-7).
        parallel = {**contract_body(setup["provider_id"], setup["station_ids"]), "justification": "并行的服务协议（测试）"}
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=purchaser, json=parallel)
        assert r.status_code == 201, r.text
        small = r.json()["contract_id"]

        async def health_names_the_parked_position():
            r = await gateway.get("/registry/health")
            body = r.json()
            return (r, body) if body["outbox"]["parked_count"] >= 2 and body["outbox"]["pending"] == 0 else None

        r, health = await eventually(health_names_the_parked_position, "the relay parks the big contract")
        assert r.status_code == 503 and health["status"] == "stalled" and health["nats"]["ok"] is True
        parked = health["outbox"]["parked"]
        assert [(p["aggregate_id"], p["event_type"], p["reason"]) for p in parked] == [
            (big, "ContractSigned", "too_large"), (big, "ContractFiled", "waiting")
        ], parked
        signed_position = parked[0]["position"]
        assert parked[1]["position"] > signed_position

        # Everything else was published, after the parked position too; nothing of the big contract was.
        async def published(subject: str, key: str, value: str):
            msg = await last_on_stream(small_nats.url, subject)
            return msg if msg and msg["data"].get(key) == value else None

        await eventually(lambda: published(f"swp.{COUNTY}.registry.StationEstablished", "station_id", station), "station published")
        signed = await eventually(lambda: published(f"swp.{COUNTY}.registry.ContractSigned", "contract_id", small), "small contract")
        assert signed["position"] > signed_position
        assert (await last_on_stream(small_nats.url, f"swp.{COUNTY}.registry.ContractFiled")) is None
        # Downstream carries on: finance schedules the small contract's tranches.
        finance = tokens(Role.FINANCE, COUNTY)

        async def scheduled():
            r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{small}/tranches", headers=finance)
            return r.status_code == 200

        await eventually(scheduled, "finance hears of the small contract")
        # The parking is recorded in registry's own history (R-AUD-1), reason and detail included.
        feed = (await gateway.get("/registry/v1/audit/events?limit=1000", headers=tokens(Role.AUDITOR, "*"))).json()
        parkings = [e for e in feed["events"] if e["event_type"] == "OutboxParking.Parked"]
        assert len(parkings) == 2 and all(e["actor"] == "outbox-relay:registry" for e in parkings), parkings

    # Restarted, the service still knows what it parked: nothing is retried, health still names it.
    app = create_app(settings)
    async with running(app), client_for(app) as gateway:

        async def still_parked():
            r = await gateway.get("/registry/health")
            body = r.json()
            return (r, body) if body["nats"]["ok"] and body["outbox"]["pending"] == 0 else None

        r, health = await eventually(still_parked, "the restarted relay catches up")
        assert r.status_code == 503 and health["outbox"]["parked"][0]["position"] == signed_position
        assert (await last_on_stream(small_nats.url, f"swp.{COUNTY}.registry.ContractFiled")) is None


async def test_a_command_whose_event_could_not_be_published_is_refused_before_anything_is_saved(
    persistence, nats_server, tmp_path, request
):
    from gateway.app import create_app

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg, max_event_bytes=MAX_PAYLOAD)
    tokens = Tokens(settings)
    app = create_app(settings)
    async with running(app), client_for(app) as gateway:
        setup = await setup_county(gateway, tokens)
        head = (await gateway.get("/registry/health")).json()["store"]["head"]
        body = contract_body(setup["provider_id"], setup["station_ids"])
        body["indicators"] = [
            {"code": f"i{i}", "name": f"指标{i}" + "服" * 150, "unit": "人次", "target": 1} for i in range(60)
        ]
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=body, headers=setup["purchaser"])
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["rule"] == "R-AUD-5" and "ContractSigned" in r.json()["detail"]
        assert (await gateway.get("/registry/health")).json()["store"]["head"] == head  # nothing recorded
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=setup["purchaser"],
                               json=contract_body(setup["provider_id"], setup["station_ids"]))
        assert r.status_code == 201, r.text
