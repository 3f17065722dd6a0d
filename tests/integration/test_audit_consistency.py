"""Witnessed history (R-AUD-4): a service signs and publishes its tree heads, serves RFC 9162
consistency proofs between any two tree sizes, and `swp audit verify --consistency OLD.json`
proves that today's history extends a head saved earlier. Someone holding the database AND the
writer key rewrites a record and re-signs it: the service's own verification finds nothing, but
the saved head does — and, with the export taken when it was saved, names the rewritten position."""

from __future__ import annotations

import asyncio
import json

import httpx
import jsonschema
import nats
from gateway.cli import app as swp
from typer.testing import CliRunner

from shared import audit_chain, audit_tree
from shared.infra.auth import Role, issue_token
from tests.integration.rewrite import rewrite_history
from tests.integration.serving import serving
from tests.integration.slice import OTHER, setup_county
from tests.integration.test_audit_tamper import history, verified

PROVIDER = 2  # county registered (1), provider registered (2)


async def cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, swp, list(args))
    # stdout only: the in-process services' log lines (stderr) must not mix into the JSON report.
    return result.exit_code, result.stdout


async def test_saved_tree_heads_prove_a_rewrite_with_the_writer_key(settings, tokens, tmp_path, monkeypatch):
    monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor", role=Role.AUDITOR, counties=["*"]))
    auditor = tokens(Role.AUDITOR, "*")
    old, export = tmp_path / "old.json", tmp_path / "export"
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        await history(client, tokens)
        code, out = await cli("audit", "tree-head", "--service", "registry", "--out", str(old), "--base-url", base_url)
        assert code == 0, out
        saved = json.loads(old.read_text())
        key = saved["public_key"]
        size = saved["tree_head"]["tree_size"]
        assert saved["tree_head"]["key_id"] == audit_chain.key_id(bytes.fromhex(key))
        assert audit_tree.head_problems(saved, key, service="registry") == []
        code, out = await cli("audit", "export", "--service", "registry", "--out", str(export), "--base-url", base_url)
        assert code == 0, out

        await setup_county(client, tokens, OTHER)  # the history grows
        await verified(client, tokens)
        r = await client.get("/registry/v1/audit/consistency", params={"from": size}, headers=auditor)
        assert r.status_code == 200, r.text
        body = r.json()
        new_size = body["tree_head"]["tree_size"]
        assert new_size > size and body["from_root"] == saved["tree_head"]["root"]
        assert audit_tree.verify_consistency(size, new_size, saved["tree_head"]["root"], body["tree_head"]["root"], body["proof"])
        assert len(body["proof"]) <= 2 * new_size.bit_length()  # O(log n)
        assert audit_tree.check_consistency(saved, body, body["proof"], key) == []
        # Between two sizes of the past, too.
        r = await client.get("/registry/v1/audit/consistency", params={"from": 1, "to": size}, headers=auditor)
        assert r.json()["tree_head"]["root"] == saved["tree_head"]["root"]

        # Refusals: sizes the tree cannot prove, callers who may not ask.
        r = await client.get("/registry/v1/audit/consistency", params={"from": new_size, "to": size}, headers=auditor)
        assert r.status_code == 422 and r.json()["rule"] == "R-AUD-4" and r.json()["field"] == "from"
        r = await client.get("/registry/v1/audit/consistency", params={"from": 1, "to": new_size + 100}, headers=auditor)
        assert r.status_code == 422 and r.json()["field"] == "to"
        r = await client.get("/registry/v1/audit/consistency", params={"from": 1}, headers=tokens(Role.PURCHASER, OTHER))
        assert r.status_code == 403

        code, out = await cli("audit", "verify", "--service", "registry", "--consistency", str(old), "--public-key", key, "--base-url", base_url)
        assert code == 0, out
        assert json.loads(out)["consistent"] is True

        # The rewrite: the provider's name changed, re-signed with the right key, re-sealed.
        rewrite_history(settings, "registry", PROVIDER, lambda state: state.update(name="冒名顶替的社工机构"))
        body = await verified(client, tokens)
        assert body["verified"] is True  # invisible to the service's own verification …

        code, out = await cli(
            "audit", "verify", "--service", "registry", "--consistency", str(old), "--public-key", key,
            "--export", str(export), "--base-url", base_url,
        )
        report = json.loads(out)
        assert code == 1 and report["consistent"] is False  # … but not to the saved head
        assert {p["kind"] for p in report["problems"]} == {"rewritten"}
        assert report["first_diverging"] == {"leaf_index": PROVIDER - 1, "position": PROVIDER}
        assert report["old_chain_head_intact"] is False


async def test_tree_heads_are_published_on_nats_as_the_asyncapi_documents(gateway, tokens, settings):
    await history(gateway, tokens)
    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.subscribe("swp.audit.registry.TreeHeadSigned")
        # SUB is only queued by the client: wait for the server's PONG, or the registry's publish
        # (another connection) may reach the server first and pass this subscription by.
        await nc.flush()
        r = await gateway.post("/registry/v1/audit/tree-heads", headers=tokens(Role.PROVINCE_ADMIN, "*"))
        assert r.status_code == 200 and r.json()["published"] is True
        msg = await sub.next_msg(timeout=10)
        while json.loads(msg.data)["tree_head"] != r.json()["tree_head"]:  # the interval's own publication
            msg = await sub.next_msg(timeout=10)
    finally:
        await nc.close()
    head = json.loads(msg.data)
    assert head["tree_head"]["service"] == "registry"
    assert msg.headers["Nats-Msg-Id"] == audit_tree.head_digest(head)
    assert audit_tree.head_problems(head, head["public_key"], service="registry") == []
    doc = (await gateway.get("/registry/asyncapi.json")).json()
    channel = next(c for c in doc["channels"].values() if c["address"] == "swp.audit.registry.TreeHeadSigned")
    message = doc["components"]["messages"][next(iter(channel["messages"].values()))["$ref"].rsplit("/", 1)[-1]]
    schema = {**message["payload"], "components": doc["components"]}
    ref = message["payload"].get("$ref")
    if ref:
        schema = {"$ref": ref, "components": doc["components"]}
    jsonschema.validate(head, schema)
    jsonschema.validate(dict(msg.headers), message["headers"])
    forged = dict(head, tree_head=dict(head["tree_head"], tree_size="many"))
    try:
        jsonschema.validate(forged, schema)
        raise AssertionError("a malformed head passed the documented schema")
    except jsonschema.ValidationError:
        pass
    for caller in (tokens(Role.PURCHASER, OTHER), tokens(Role.AUDITOR, "*")):  # province_admin only; auditors never write
        assert (await gateway.post("/registry/v1/audit/tree-heads", headers=caller)).status_code == 403


async def test_each_service_publishes_its_head_on_its_own_when_the_log_grows(settings, tokens):
    from gateway.app import create_app

    from shared.testing.fixtures import client_for, running

    app = create_app(settings.model_copy(update={"tree_head_interval_seconds": 0.2}))
    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.subscribe("swp.audit.registry.TreeHeadSigned")
        await nc.flush()  # registered at the server before the service can publish
        async with running(app), client_for(app) as client:
            size = 0
            await history(client, tokens)
            head = (await client.get("/registry/v1/audit/tree-head", headers=tokens(Role.AUDITOR, "*"))).json()["tree_head"]
            while size < head["tree_size"]:  # nobody asked: the interval publisher catches up
                published = json.loads((await sub.next_msg(timeout=10)).data)
                size = published["tree_head"]["tree_size"]
                assert audit_tree.head_problems(published, published["public_key"], service="registry") == []
            assert published["tree_head"]["root"] == head["root"]
            # The publisher counts a head once JetStream's ack reaches it, which may be after the
            # subscriber here got the message: wait for the count (bounded), do not race it.
            for _ in range(100):
                health = (await client.get("/registry/health")).json()["tree_heads"]
                if health["last_size"] == head["tree_size"]:
                    break
                await asyncio.sleep(0.1)
            assert health["published"] >= 1 and health["last_size"] == head["tree_size"], health
    finally:
        await nc.close()
