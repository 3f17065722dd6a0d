"""No poison stalls a stream silently (issue 15, item 4), the operator's part, on real NATS and each
store: a reaction that keeps failing is parked after ``SWP_REACTION_MAX_ATTEMPTS`` deliveries
instead of blocking its upstream consumer; the later messages of its upstream aggregate are held
behind it while other aggregates flow; an operator (a province-wide province_admin) lists, retries
and skips parked messages — reactions and outbox events alike — each recorded as an event naming
who and why, and a retry or skip releases what was held, in order.

The failures are made deterministic with a test double of the reaction (finance's answer to a
ContractSigned of one marked purchaser) and of registry's outbox mapping: "fixing" them is
switching the double off, as a deployment would ship a fix."""

from __future__ import annotations

import asyncio
import json
import re

import nats
import pytest
from nats.js.errors import NotFoundError

from shared.infra.auth import Role
from shared.infra.published import PublicMapper
from shared.testing.fixtures import Tokens, client_for, make_settings, running
from tests.integration.slice import COUNTY, contract_body, setup_county

POISON = "坏数据测试局"  # the purchaser whose contracts the broken code cannot handle


async def eventually(check, what: str, timeout: float = 60.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.2)


async def on_stream(url: str, subject: str) -> list[dict]:
    """Every message of the stream on ``subject``, in order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True)
        out = []
        try:
            while True:
                msg = await sub.next_msg(timeout=1.0)
                out.append(json.loads(msg.data))
        except (TimeoutError, nats.errors.TimeoutError):
            pass
        return out
    except NotFoundError:
        return []
    finally:
        await nc.close()


def signed_by(setup: dict, purchaser: str, **extra) -> dict:
    # A second contract of the provider at the same stations needs its justification (R-REG-7).
    return {**contract_body(setup["provider_id"], setup["station_ids"], purchaser=purchaser),
            "justification": "并行的服务协议（测试）", **extra}


async def audit_events(gateway, tokens, service: str, prefix: str) -> list[dict]:
    feed = (await gateway.get(f"/{service}/v1/audit/events?limit=1000", headers=tokens(Role.AUDITOR, "*"))).json()
    return [e for e in feed["events"] if e["event_type"].startswith(prefix)]


@pytest.fixture
def broken_reaction(monkeypatch):
    """Finance's reaction to ContractSigned fails for the POISON purchaser while ``on``."""
    from finance.reactions import FinanceReactions

    state = {"on": True, "calls": 0}
    original = FinanceReactions.on_contract_signed

    def on_contract_signed(self, e):
        if state["on"] and e.purchaser == POISON:
            state["calls"] += 1
            raise ValueError("test double: this purchaser breaks the reaction")
        return original(self, e)

    monkeypatch.setattr(FinanceReactions, "on_contract_signed", on_contract_signed)
    return state


async def test_a_failing_reaction_is_parked_its_aggregate_held_and_an_operator_retries_or_skips_it(
    persistence, nats_server, tmp_path, request, broken_reaction
):
    from gateway.app import create_app

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg, reaction_max_attempts=2)
    tokens = Tokens(settings)
    admin = tokens(Role.PROVINCE_ADMIN, "*", sub="ops-wang")
    finance = tokens(Role.FINANCE, COUNTY)
    app = create_app(settings)
    async with running(app), client_for(app) as gateway:
        setup = await setup_county(gateway, tokens)
        purchaser = setup["purchaser"]
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=purchaser, json=signed_by(setup, POISON))
        assert r.status_code == 201, r.text
        bad = r.json()["contract_id"]

        async def parked_in_health():
            r = await gateway.get("/finance/health")
            return (r, r.json()) if r.json()["reactions"]["parked_count"] == 1 else None

        r, health = await eventually(parked_in_health, "finance parks the reaction that keeps failing")
        assert r.status_code == 503 and health["status"] == "stalled", health
        [entry] = health["reactions"]["parked"]
        assert (entry["upstream"], entry["event_type"], entry["aggregate_id"], entry["error_kind"]) == (
            "registry", "ContractSigned", bad, "ValueError")
        assert "test double" not in r.text  # /health shows the kind of failure, never its text
        assert broken_reaction["calls"] == 2  # SWP_REACTION_MAX_ATTEMPTS deliveries, then parked

        # The consumer carries on with other contracts.
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=purchaser, json=signed_by(setup, "原州区民政局"))
        assert r.status_code == 201, r.text
        good = r.json()["contract_id"]

        async def tranches(contract_id):
            r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract_id}/tranches", headers=finance)
            return r.json() if r.status_code == 200 else None

        await eventually(lambda: tranches(good), "finance plans the other contract")
        # A later event of the parked contract is held behind it, not applied out of order.
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts/{bad}/termination", headers=purchaser,
                               json={"terminated_on": "2026-12-31", "kind": "agreement", "reason": "协商解除（测试）"})
        assert r.status_code == 200, r.text

        async def listed(n):
            r = await gateway.get("/finance/v1/ops/parked", headers=admin)
            assert r.status_code == 200, r.text
            return r.json() if r.json()["total"] == n else None

        page = await eventually(lambda: listed(2), "the termination is held behind the parked signing")
        signed, terminated = page["items"]
        assert (signed["status"], signed["event_type"], signed["source"], signed["attempts"]) == (
            "parked", "ContractSigned", "reaction:registry", 2)
        assert "test double" in signed["error"]
        assert (terminated["status"], terminated["event_type"], terminated["aggregate_id"]) == ("held", "ContractTerminated", bad)
        assert terminated["position"] > signed["position"]
        assert await tranches(bad) is None
        assert (await gateway.get("/finance/v1/ops/parked?limit=1&offset=1", headers=admin)).json()["items"] == [terminated]

        # Held, not the head: the operator is told to act on the parked one first.
        r = await gateway.post(f"/finance/v1/ops/parked/{terminated['id']}/retry", headers=admin, json={"reason": "试一下"})
        assert r.status_code == 409, r.text
        # Retried before the fix: it fails again, recorded, still parked.
        r = await gateway.post(f"/finance/v1/ops/parked/{signed['id']}/retry", headers=admin, json={"reason": "重试"})
        assert r.status_code == 200 and r.json()["outcome"] == "failed" and r.json()["error_kind"] == "ValueError", r.text
        assert (await gateway.get("/finance/v1/ops/parked", headers=admin)).json()["items"][0]["attempts"] == 3

        # Fixed: the retry applies the signing, then the held termination, in that order.
        broken_reaction["on"] = False
        r = await gateway.post(f"/finance/v1/ops/parked/{signed['id']}/retry", headers=admin,
                               json={"reason": "已修复合同签订处理（工单 42）"})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "applied" and r.json()["released"] == [terminated["id"]], r.text
        schedule = await tranches(bad)
        assert schedule is not None and {t["status"] for t in schedule} == {"cancelled"}, schedule
        assert (await gateway.get("/finance/v1/ops/parked", headers=admin)).json()["total"] == 0
        r = await gateway.get("/finance/health")
        assert r.status_code == 200 and r.json()["reactions"]["parked_count"] == 0, r.text

        # Another one parked, skipped with a reason: never applied, the reason and who recorded.
        broken_reaction["on"] = True
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=purchaser, json=signed_by(setup, POISON))
        assert r.status_code == 201, r.text
        skipped = r.json()["contract_id"]
        page = await eventually(lambda: listed(1), "the second poisoned signing is parked")
        [entry] = page["items"]
        assert entry["aggregate_id"] == skipped
        r = await gateway.post(f"/finance/v1/ops/parked/{entry['id']}/skip", headers=admin, json={})
        assert r.status_code == 422, r.text  # a skip needs its reason
        r = await gateway.post(f"/finance/v1/ops/parked/{entry['id']}/skip", headers=admin, json={"reason": "合同已作废，另行处理"})
        assert r.status_code == 200 and r.json()["outcome"] == "skipped", r.text
        broken_reaction["on"] = False
        assert await tranches(skipped) is None
        assert (await gateway.get("/finance/health")).status_code == 200
        # It stays skipped: the position was recorded, and another signing still flows.
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=purchaser, json=signed_by(setup, "原州区财政局"))
        third = r.json()["contract_id"]
        await eventually(lambda: tranches(third), "finance plans the next contract")
        assert await tranches(skipped) is None

        # Each step is an event of finance's own history (R-AUD-1): who, and why.
        events = await audit_events(gateway, tokens, "finance", "ReactionParking.")
        kinds = [e["event_type"] for e in events]
        for kind in ("Parked", "Held", "RetryFailed", "ParkedRetried", "Released", "ParkedSkipped"):
            assert f"ReactionParking.{kind}" in kinds, kinds
        retried = next(e for e in events if e["event_type"] == "ReactionParking.ParkedRetried")
        assert retried["actor"] == "ops-wang" and retried["data"]["reason"] == "已修复合同签订处理（工单 42）", retried
        skip = next(e for e in events if e["event_type"] == "ReactionParking.ParkedSkipped")
        assert skip["actor"] == "ops-wang" and skip["data"]["reason"] == "合同已作废，另行处理", skip
        # The metric counts what is parked now (nothing), per source and status.
        metrics = (await gateway.get("/finance/metrics", headers=admin)).text
        assert 'swp_parked_messages{source="reactions",status="parked"} 0.0' in metrics, metrics[-2000:]


class _Lenient(PublicMapper):
    """The store's mapping, recording an event it cannot map instead of refusing the command."""

    def prepare(self, domain_event, *, strict):
        return super().prepare(domain_event, strict=False)


async def test_an_operator_retries_or_skips_an_event_the_relay_parked(persistence, nats_server, tmp_path, request):
    from gateway.app import create_app

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg)
    tokens = Tokens(settings)
    admin = tokens(Role.PROVINCE_ADMIN, "*", sub="ops-li")
    app = create_app(settings)
    async with running(app), client_for(app) as gateway:
        runtime = app.state.services["registry"].state.runtime
        await eventually(lambda: asyncio.sleep(0, runtime.relay is not None), "registry connects to NATS")
        broken = {"on": True}
        mapping = runtime.relay.to_integration

        def to_integration(domain_event):  # registry's mapping, broken for one purchaser's contracts
            body = mapping(domain_event)
            if broken["on"] and body is not None and getattr(body, "purchaser", None) == POISON:
                raise ValueError("test double: cannot map this contract")
            return body

        runtime.relay.to_integration = to_integration
        # Public bytes are fixed when events are saved (issue 16 item 3): the store records these
        # contracts' events as unmappable — as it does a reaction's — for the relay to park.
        runtime.store.public_mapper = _Lenient(runtime.store, to_integration)
        setup = await setup_county(gateway, tokens)
        purchaser = setup["purchaser"]
        contracts = []
        for _ in range(2):
            r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=purchaser, json=signed_by(setup, POISON))
            assert r.status_code == 201, r.text
            contracts.append(r.json()["contract_id"])
            r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts/{contracts[-1]}/filing", headers=purchaser,
                                   json={"filed_on": "2026-09-15"})
            assert r.status_code == 200, r.text
        fixed, given_up = contracts

        async def listed(n):
            r = await gateway.get("/registry/v1/ops/parked", headers=admin)
            assert r.status_code == 200, r.text
            items = [i for i in r.json()["items"] if i["source"] == "outbox"]
            return items if len(items) == n else None

        # Each contract's signing is parked, its later events (the filing; the second's overlap
        # justification, a private event) wait behind it.
        items = await eventually(lambda: listed(5), "the relay parks both contracts and their filings")
        by_contract = {c: [i for i in items if i["aggregate_id"] == c] for c in contracts}
        for c in contracts:
            first, *rest = by_contract[c]
            assert (first["status"], first["error_kind"]) == ("parked", "unmappable"), first
            assert rest and {i["status"] for i in rest} == {"waiting"} and rest[-1]["event_type"] == "ContractFiled", rest
        head = by_contract[fixed][0]["id"]
        assert head.startswith("outbox-") and "test double" in by_contract[fixed][0]["error"]

        r = await gateway.post(f"/registry/v1/ops/parked/{head}/retry", headers=admin, json={"reason": "重试"})
        assert r.status_code == 200 and r.json()["outcome"] == "failed", r.text

        async def published(subject, contract_id):
            return [m for m in await on_stream(nats_server.url, subject) if m["data"].get("contract_id") == contract_id]

        assert await published(f"swp.{COUNTY}.registry.ContractSigned", fixed) == []
        broken["on"] = False
        r = await gateway.post(f"/registry/v1/ops/parked/{head}/retry", headers=admin, json={"reason": "映射已修复"})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "published" and r.json()["released"] == [i["id"] for i in by_contract[fixed][1:]], r.text
        signed = await published(f"swp.{COUNTY}.registry.ContractSigned", fixed)
        filed = await published(f"swp.{COUNTY}.registry.ContractFiled", fixed)
        assert len(signed) == 1 and len(filed) == 1 and signed[0]["position"] < filed[0]["position"]
        # Finance hears of it now.
        finance = tokens(Role.FINANCE, COUNTY)

        async def planned():
            r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{fixed}/tranches", headers=finance)
            return r.status_code == 200

        await eventually(planned, "finance plans the republished contract")

        # The other is skipped with a reason: its signing never published, its filing released after it.
        r = await gateway.post(f"/registry/v1/ops/parked/{by_contract[given_up][0]['id']}/skip", headers=admin,
                               json={"reason": "重复录入的合同，不发布"})
        assert r.status_code == 200 and r.json()["outcome"] == "skipped", r.text
        assert r.json()["released"] == [i["id"] for i in by_contract[given_up][1:]]
        assert await published(f"swp.{COUNTY}.registry.ContractSigned", given_up) == []
        assert len(await published(f"swp.{COUNTY}.registry.ContractFiled", given_up)) == 1
        assert await listed(0) == []

        async def healthy():
            r = await gateway.get("/registry/health")
            return r if r.status_code == 200 else None

        await eventually(healthy, "registry is healthy again")
        events = await audit_events(gateway, tokens, "registry", "OutboxParking.")
        by_kind = {}
        for e in events:
            by_kind.setdefault(e["event_type"], []).append(e)
        assert [e["data"]["reason"] for e in by_kind["OutboxParking.ParkedRetried"]] == ["映射已修复"]
        assert [e["data"]["reason"] for e in by_kind["OutboxParking.ParkedSkipped"]] == ["重复录入的合同，不发布"]
        assert {e["actor"] for e in by_kind["OutboxParking.ParkedSkipped"] + by_kind["OutboxParking.ParkedRetried"]} == {"ops-li"}
        assert len(by_kind["OutboxParking.RetryFailed"]) == 1 and len(by_kind["OutboxParking.Released"]) == 3


async def test_swp_ops_parked_lists_retries_and_skips(persistence, nats_server, tmp_path, request, broken_reaction, monkeypatch):
    import httpx
    from gateway.cli import app as swp
    from typer.testing import CliRunner

    from tests.integration.serving import serving

    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg, reaction_max_attempts=1)
    tokens = Tokens(settings)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("SWP_TOKEN", tokens(Role.PROVINCE_ADMIN, "*", sub="ops-cli")["Authorization"].removeprefix("Bearer "))

    def swp_ops(*args: str):
        return asyncio.to_thread(CliRunner().invoke, swp, ["ops", "parked", *args, "--base-url", base_url])

    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        setup = await setup_county(client, tokens)
        ids = []
        for _ in range(2):
            r = await client.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=setup["purchaser"], json=signed_by(setup, POISON))
            assert r.status_code == 201, r.text
            ids.append(r.json()["contract_id"])

        async def both_parked():
            result = await swp_ops("--service", "finance")
            return result if result.exit_code == 0 and "2 parked or held" in result.output else None

        listing = await eventually(both_parked, "swp ops parked lists both")
        parked_ids = re.findall(r"registry-\d+", listing.output)
        assert len(parked_ids) == 2 and all(i.startswith("registry-") for i in parked_ids), listing.output
        result = await swp_ops("retry", parked_ids[0], "--service", "finance")
        assert result.exit_code == 2 and "--reason" in result.output  # a reason is required
        broken_reaction["on"] = False
        result = await swp_ops("retry", parked_ids[0], "--service", "finance", "--reason", "修复后重试")
        assert result.exit_code == 0 and "applied" in result.output, result.output
        result = await swp_ops("skip", parked_ids[1], "--service", "finance", "--reason", "重复合同")
        assert result.exit_code == 0 and "skipped" in result.output, result.output
        result = await swp_ops()
        assert result.exit_code == 0 and "0 parked or held" in result.output, result.output
        finance = tokens(Role.FINANCE, COUNTY)
        planned = [(await client.get(f"/finance/v1/counties/{COUNTY}/contracts/{c}/tranches", headers=finance)).status_code for c in ids]
        assert sorted(planned) == [200, 404]


async def test_a_transient_failure_is_retried_never_parked(persistence, nats_server, tmp_path, request, monkeypatch):
    """A store that does not answer is not poison: however many deliveries fail with it, the
    message is retried (nothing parked, nothing held) and applied once the store answers."""
    from eventsourcing.persistence import OperationalError
    from finance.reactions import FinanceReactions
    from gateway.app import create_app

    state = {"on": True, "calls": 0}
    original = FinanceReactions.on_contract_signed

    def on_contract_signed(self, e):
        if state["on"]:
            state["calls"] += 1
            raise OperationalError("test double: the store does not answer")
        return original(self, e)

    monkeypatch.setattr(FinanceReactions, "on_contract_signed", on_contract_signed)
    pg = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, nats_server.url, tmp_path / "var", pg, reaction_max_attempts=1)
    tokens = Tokens(settings)
    app = create_app(settings)
    async with running(app), client_for(app) as gateway:
        setup = await setup_county(gateway, tokens)
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", headers=setup["purchaser"], json=signed_by(setup, POISON))
        assert r.status_code == 201, r.text
        contract = r.json()["contract_id"]

        async def failed_three_times():
            return state["calls"] >= 3

        await eventually(failed_three_times, "the reaction is delivered again and again")
        page = (await gateway.get("/finance/v1/ops/parked", headers=tokens(Role.PROVINCE_ADMIN, "*"))).json()
        assert page["total"] == 0, page
        assert (await gateway.get("/finance/health")).json()["reactions"]["parked_count"] == 0
        state["on"] = False

        async def planned():
            r = await gateway.get(f"/finance/v1/counties/{COUNTY}/contracts/{contract}/tranches", headers=tokens(Role.FINANCE, COUNTY))
            return r.status_code == 200

        await eventually(planned, "finance plans the contract once the store answers")
