"""The subscriber kit (`swp subscribe`, services/subscriber/): a county's system replays its county
from sequence 1 into its own read model (SQLite, or PostgreSQL by URL) equal to the platform's own
reads, keeps up, validates every message against the AsyncAPI documents, survives restarts
without applying anything twice, and witnesses the services' tree heads: a history rewritten and
re-signed with the correct writer key raises the alarm (R-AUD-4, R-AUD-5, R-AUD-6)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway.cli import app as swp
from swp_subscriber import ReadModel, Subscriber, SubscriberConfig
from swp_subscriber.subscriber import InvalidMessage
from typer.testing import CliRunner

from shared.infra.auth import Role, issue_token
from tests.integration.rewrite import rewrite_history
from tests.integration.serving import serving
from tests.integration.slice import COUNTY, OTHER, setup_county, sign, wait_for_tranches
from tests.integration.test_audit_tamper import verified

PROVIDER = 2  # registry's log position of the county's provider


@pytest.fixture
def read_model_url(persistence, tmp_path, request) -> Iterator[str]:
    """The kit's own database: a SQLite file, or a fresh PostgreSQL database (dropped afterwards)."""
    if persistence == "sqlite":
        yield f"sqlite:///{tmp_path / 'kit' / 'county.sqlite'}"
        return
    import psycopg

    pg = request.getfixturevalue("postgres")
    name = f"kit_{uuid.uuid4().hex[:12]}"

    def admin() -> Any:
        return psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname="postgres", autocommit=True)

    with admin() as c:
        c.execute(f"CREATE DATABASE {name}")
    password = f":{pg.password}" if pg.password else ""
    try:
        yield f"postgresql://{pg.user}{password}@{pg.host}:{pg.port}/{name}"
    finally:
        with admin() as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


OVERLAP = {"justification": "同一站点的另一服务项目"}


async def publish_heads(client: httpx.AsyncClient, tokens: Any, *services: str) -> None:
    for service in services:
        await verified_service(client, tokens, service)
        r = await client.post(f"/{service}/v1/audit/tree-heads", headers=tokens(Role.PROVINCE_ADMIN, "*"))
        assert r.status_code == 200 and r.json()["published"] is True, r.text


async def verified_service(client: httpx.AsyncClient, tokens: Any, service: str) -> None:
    for _ in range(200):
        body = (await client.get(f"/{service}/v1/audit/verify", headers=tokens(Role.AUDITOR, "*"))).json()
        if body["unsealed"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{service} never sealed")


def kit(settings: Any, base_url: str, db: str) -> Subscriber:
    token = issue_token(settings, sub="county-system", role=Role.AUDITOR, counties=[COUNTY])
    return Subscriber(SubscriberConfig(county=COUNTY, nats_servers=[settings.nats_url], gateway=base_url, database=db, token=token))


async def platform_view(client: httpx.AsyncClient, tokens: Any, contracts: list[str]) -> dict[str, Any]:
    finance = tokens(Role.FINANCE, COUNTY)
    view = {}
    for cid in contracts:
        tranches = await wait_for_tranches(client, COUNTY, cid, finance)
        view[cid] = sorted((t["seq"], t["amount_fen"], t["due_on"], bool(t["provisional"]), t["status"]) for t in tranches)
    return view


def kit_view(model: ReadModel) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for cid, seq, amount, due, provisional, status in model.query(
        "SELECT contract_id, seq, amount_fen, due_on, provisional, status FROM tranche_board ORDER BY contract_id, seq"
    ):
        view.setdefault(cid, []).append((seq, amount, due, bool(provisional), status))
    return view


async def test_the_kit_rebuilds_the_county_keeps_up_resumes_and_witnesses_a_rewrite(
    settings, tokens, read_model_url, monkeypatch
):
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        ours, theirs = await setup_county(client, tokens, COUNTY), await setup_county(client, tokens, OTHER)
        # The same stations again: an overlapping contract needs its justification (R-REG-7).
        contracts = [(await sign(client, COUNTY, ours, **extra)).json()["contract_id"] for extra in ({}, OVERLAP)]
        await sign(client, OTHER, theirs)
        live = await platform_view(client, tokens, contracts)
        await publish_heads(client, tokens, "registry", "finance")

        # 1. Replay from sequence 1 into the kit's database.
        sub = kit(settings, base_url, read_model_url)
        try:
            await sub.run(until_idle=1.0)
            assert sub.raised == []
            assert kit_view(sub.model) == live  # the platform's own reads, nothing of the other county
            rows = sub.model.query("SELECT contract_id, amount_fen, status, provider_id FROM contracts ORDER BY contract_id")
            assert rows == sorted((cid, 36_000_001, "signed", ours["provider_id"]) for cid in contracts)
            heads = sub.model.query("SELECT service, status FROM tree_heads ORDER BY stream_seq")
            assert sorted(heads) == [("finance", "first"), ("registry", "first")]
            checkpoint = sub.model.checkpoint("events")
            assert checkpoint > 0

            # Every message was validated against its AsyncAPI document: a malformed one would not be.
            with pytest.raises(InvalidMessage):
                await asyncio.to_thread(
                    sub.schemas.validate,
                    "finance", "swp.{county}.finance.TrancheScheduled", {"event_type": "TrancheScheduled", "data": {}}, {},
                )
        finally:
            sub.close()

        # 2. A restart resumes after the last applied message: nothing applied twice.
        sub = kit(settings, base_url, read_model_url)
        try:
            await sub.run(until_idle=0.5)
            assert sub.applied == 0 and sub.model.checkpoint("events") == checkpoint

            # 3. It keeps up: running, it sees a new contract as soon as the platform publishes it.
            follower = asyncio.create_task(sub.run())
            third = (await sign(client, COUNTY, ours, **OVERLAP)).json()["contract_id"]
            live = await platform_view(client, tokens, [*contracts, third])
            await publish_heads(client, tokens, "registry", "finance")
            reader = ReadModel(read_model_url)
            try:
                for _ in range(300):
                    statuses = {s for (s,) in reader.query("SELECT status FROM tree_heads")}
                    if kit_view(reader) == live and "consistent" in statuses and len(reader.query("SELECT 1 FROM tree_heads")) == 4:
                        break
                    await asyncio.sleep(0.1)
                assert kit_view(reader) == live
                assert sorted(reader.query("SELECT service, status FROM tree_heads")) == [
                    ("finance", "consistent"), ("finance", "first"), ("registry", "consistent"), ("registry", "first")
                ]
            finally:
                reader.close()
                follower.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await follower
            assert sub.raised == []
        finally:
            sub.close()

        # 4. Registry's history rewritten with the correct writer key and re-sealed; it goes on.
        rewrite_history(settings, "registry", PROVIDER, lambda state: state.update(name="冒名顶替的社工机构"))
        assert (await verified(client, tokens))["verified"] is True  # the service's own check sees nothing
        await sign(client, OTHER, theirs, **OVERLAP)
        await publish_heads(client, tokens, "registry")

        monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="county-system", role=Role.AUDITOR, counties=[COUNTY]))
        result = await asyncio.to_thread(
            CliRunner().invoke,
            swp,
            ["subscribe", "--county", COUNTY, "--db", read_model_url, "--nats", settings.nats_url, "--gateway", base_url,
             "--until-idle", "1"],
        )
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])  # stdout: log lines go to stderr
    assert [(a["service"], a["kind"]) for a in summary["alarms"]] == [("registry", "rewritten")]
    model = ReadModel(read_model_url)
    try:
        assert [(s, k) for s, _, k, _ in [tuple(a.values()) for a in model.alarms()]] == [("registry", "rewritten")]
        assert ("registry", "rewritten") in model.query("SELECT service, status FROM tree_heads")
        # The witness bisected the heads it holds: the rewritten record (leaf 1) lies before its
        # first registry head, which the rewritten history no longer extends.
        [(first_size,)] = model.query("SELECT tree_size FROM tree_heads WHERE service = 'registry' AND status = 'first'")
        assert f"is leaf 0 or later, below leaf {first_size} " in summary["alarms"][0]["detail"]
    finally:
        model.close()


async def test_the_kit_follows_a_contract_through_all_four_services(settings, tokens, read_model_url):
    """Deliveries (and per month), an evaluation and paid tranches: the kit's tables say what the
    platform's reads say."""
    from tests.integration.test_evaluation_flows import pass_evaluation
    from tests.integration.test_evaluation_support import COUNTY as PLACE
    from tests.integration.test_evaluation_support import accredit, check, open_county, publish_rubric, wait_for
    from tests.integration.test_evaluation_support import sign as sign_contract

    log, fin = f"/services-log/v1/counties/{PLACE}", f"/finance/v1/counties/{PLACE}"
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        place = await open_county(client, tokens)
        contract = await sign_contract(client, place)
        org = (await accredit(client, place))["org"]
        await publish_rubric(client, tokens)
        finance = tokens(Role.FINANCE, PLACE)
        await wait_for(client, f"{log}/contracts/{contract}", place.purchaser)
        await wait_for(client, f"{log}/workers/{place.worker_ids[0]}", place.purchaser)
        for day, people in (("2026-03-03", 6), ("2026-03-20", 4), ("2026-04-02", 5)):
            delivery = {
                "contract_id": contract, "station_id": place.station_id, "worker_ids": [place.worker_ids[0]],
                "kind": "帮扶救助", "area": "社会救助", "date": day, "hours_direct": "2", "hours_other": "0.5",
                "person_times": people, "indicator_code": "assist",
            }
            await check(client.post(f"{log}/deliveries", json=delivery, headers=place.provider()), 201)
        tranches = f"{fin}/contracts/{contract}/tranches"
        await wait_for(client, tranches, finance)
        await check(client.post(f"{tranches}/1/payment", json={"paid_on": "2025-12-22", "voucher": "BF-2025-001"}, headers=finance), 201)
        # 15 of 500 人次 count towards the indicator item: 85 + 0.45.
        await pass_evaluation(client, place, contract, org, "midterm", "2026-06-01", "2026-06-10", score="85.45")
        live = await wait_for(client, tranches, finance, lambda ts: ts[1]["status"] != "awaiting_trigger")
        live_view = sorted((t["seq"], t["amount_fen"], t["due_on"], bool(t["provisional"]), t["status"]) for t in live)

        sub = Subscriber(
            SubscriberConfig(
                county=PLACE, nats_servers=[settings.nats_url], gateway=base_url, database=read_model_url, witness=False
            )
        )
        try:
            for _ in range(50):  # until finance's relay has published the second tranche's schedule
                await sub.run(until_idle=0.5)
                if kit_view(sub.model).get(contract) == live_view:
                    break
            assert kit_view(sub.model) == {contract: live_view}
            assert sub.model.query("SELECT month, deliveries, person_times FROM deliveries_per_month ORDER BY month") == [
                ("2026-03", 2, 10), ("2026-04", 1, 5)
            ]
            [(stage, status, score, passed)] = sub.model.query("SELECT stage, status, score, passed FROM evaluations")
            assert (stage, status, float(score), bool(passed)) == ("midterm", "concluded", 85.45, True)
            paid = sub.model.query("SELECT paid_on FROM tranches WHERE contract_id = ? AND seq = 1", (contract,))
            assert paid == [("2025-12-22",)]
        finally:
            sub.close()


async def test_a_message_its_asyncapi_does_not_describe_stops_the_kit_unapplied(settings, tokens, read_model_url):
    import nats

    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        ours = await setup_county(client, tokens, COUNTY)
        contract = (await sign(client, COUNTY, ours)).json()["contract_id"]
        await wait_for_tranches(client, COUNTY, contract, tokens(Role.FINANCE, COUNTY))
        nc = await nats.connect(settings.nats_url)
        try:  # a ContractSigned without its amount (a broken or forged producer)
            js = nc.jetstream()
            good = await js.get_msg("SWP", subject=f"swp.{COUNTY}.registry.ContractSigned", seq=1, next=True)
            envelope = json.loads(good.data)
            del envelope["data"]["amount_fen"]
            envelope["event_id"] = str(uuid.uuid4())
            headers = {**dict(good.headers), "Nats-Msg-Id": envelope["event_id"]}
            ack = await js.publish(f"swp.{COUNTY}.registry.ContractSigned", json.dumps(envelope).encode(), headers=headers)
            assert not ack.duplicate
        finally:
            await nc.close()
        sub = Subscriber(
            SubscriberConfig(county=COUNTY, nats_servers=[settings.nats_url], gateway=base_url, database=read_model_url, witness=False)
        )
        try:
            with pytest.raises(InvalidMessage, match="amount_fen"):
                await sub.run(until_idle=1.0)
            assert 0 < sub.model.checkpoint("events") < ack.seq  # everything before it, nothing of it
            assert [c for (c,) in sub.model.query("SELECT contract_id FROM contracts")] == [contract]
        finally:
            sub.close()
