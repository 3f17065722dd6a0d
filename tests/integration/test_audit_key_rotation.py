"""Writer key rotation (R-AUD-4): a rotation is a record in the log, signed by the retiring key and
naming the new one; later records are signed by the new key. Live and offline verification, exports
and inclusion proofs all work across the rotation from the service's FIRST public key alone, and a
record signed with the retired key after the rotation fails (`retired_key`)."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gateway.cli import app as swp
from typer.testing import CliRunner

from shared import audit_chain
from shared.infra.auth import Role, issue_token
from shared.infra.store import CommandContext, IdempotencyRecord, SwpApplication
from tests.integration.serving import serving
from tests.integration.slice import COUNTY, setup_county, sign


async def sealed_verify(client: httpx.AsyncClient, auditor: dict[str, str]) -> dict:
    for _ in range(200):
        body = (await client.get("/registry/v1/audit/verify", headers=auditor)).json()
        if body["unsealed"] == 0:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the sealer did not catch up")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(swp, list(args))
    return result.exit_code, result.output


async def test_rotation_is_recorded_followed_by_every_verifier_and_a_retired_key_cannot_sign(settings, tokens, tmp_path, monkeypatch):
    auditor = tokens(Role.AUDITOR, "*")
    first_public = Ed25519PrivateKey.from_private_bytes(settings.audit_key("registry")).public_key().public_bytes_raw().hex()
    first_id = audit_chain.key_id(bytes.fromhex(first_public))
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        setup = await setup_county(client, tokens)
        before = await sealed_verify(client, auditor)
        assert before["key_id"] == first_id and before["public_key"] == first_public
        # A tree head saved before the rotation (signed by the first key).
        monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=["*"]))
        saved_head = tmp_path / "head-before.json"
        code, out = await asyncio.to_thread(cli, "audit", "tree-head", "--service", "registry", "--out", str(saved_head), "--base-url", base_url)
        assert code == 0, out
        assert json.loads(saved_head.read_text())["tree_head"]["key_id"] == first_id

        # Only a province_admin may rotate.
        assert (await client.post("/registry/v1/audit/keys/rotate", headers=auditor)).status_code == 403
        monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="admin-1", role=Role.PROVINCE_ADMIN, counties=["*"]))
        # Rotated while concurrent commands are being saved: none of them may be signed by the old
        # key and recorded after the rotation (verify below would name it `retired_key`).
        (code, out), *created = await asyncio.gather(
            asyncio.to_thread(cli, "audit", "rotate-key", "--service", "registry", "--base-url", base_url),
            *(
                client.post(
                    f"/registry/v1/counties/{COUNTY}/stations",
                    json={"name": f"第{i}社工站", "township": f"第{i}镇", "kind": "street_station"},
                    headers=setup["purchaser"],
                )
                for i in range(8)
            ),
        )
        assert code == 0, out
        assert all(r.status_code == 201 for r in created)
        keys = (await client.get("/registry/v1/audit/keys", headers=auditor)).json()
        assert keys["keys"][0]["key_id"] == first_id and len(keys["keys"]) == 2
        new = keys["keys"][1]
        rotation_position = new["rotated_by_position"]
        assert keys["key_id"] == new["key_id"] == audit_chain.key_id(bytes.fromhex(new["public_key"]))
        assert keys["keys"][0]["retired_at_position"] == rotation_position
        # The new key is in the key store, where the service finds it after a restart.
        assert (settings.key_store_dir("registry") / f"{new['key_id']}.seed").is_file()

        # Records after the rotation are signed by the new key, not the old one.
        assert (await sign(client, COUNTY, setup)).status_code == 201
        after = await sealed_verify(client, auditor)
        assert after["verified"] is True, after["problems"]
        assert after["public_key"] == first_public and after["key_id"] == new["key_id"]
        assert after["head"]["position"] > rotation_position
        raw = (await client.get("/registry/v1/audit/records", params={"after": rotation_position, "limit": 1}, headers=auditor)).json()
        rec = raw["records"][0]
        record = audit_chain.Record(rec["position"], rec["aggregate_id"], rec["version"], rec["topic"], base64.b64decode(rec["state"]))
        assert audit_chain.signature_ok(record, new["public_key"]) and not audit_chain.signature_ok(record, first_public)

        # Inclusion proofs before and after the rotation verify offline from the first key.
        for position in (2, after["head"]["position"]):
            monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=["*"]))
            path = tmp_path / f"proof-{position}.json"
            code, out = await asyncio.to_thread(
                cli, "audit", "proof", "--service", "registry", "--position", str(position), "--out", str(path), "--base-url", base_url
            )
            assert code == 0, out
            assert len(json.loads(path.read_text())["key_rotations"]) == 1
            code, out = cli("audit", "verify", "--service", "registry", "--proof", str(path), "--public-key", first_public)
            assert code == 0 and json.loads(out)["included"] is True, out
        # Tree heads after the rotation: signed by the new key, named by its id, carrying the rotation
        # from the first key; today's history still extends the head saved before the rotation.
        head = (await client.get("/registry/v1/audit/tree-head", headers=auditor)).json()
        assert head["tree_head"]["key_id"] == new["key_id"] and head["public_key"] == first_public
        assert [r["position"] for r in head["key_rotations"]] == [rotation_position]
        assert audit_chain.tree_head_ok(head["tree_head"], head["signature"], new["public_key"])
        assert not audit_chain.tree_head_ok(head["tree_head"], head["signature"], first_public)
        code, out = await asyncio.to_thread(
            cli, "audit", "verify", "--service", "registry", "--consistency", str(saved_head), "--public-key", first_public, "--base-url", base_url
        )
        assert code == 0 and json.loads(out)["consistent"] is True, out
        # A rotation record altered to name another key: not signed by the retiring key.
        proof = json.loads(path.read_text())
        rot = proof["key_rotations"][0]
        state = json.loads(base64.b64decode(rot["state"]))
        state["new_public_key"] = first_public
        altered = dict(proof, key_rotations=[dict(rot, state=base64.b64encode(json.dumps(state).encode()).decode())])
        path.write_text(json.dumps(altered))
        code, out = cli("audit", "verify", "--service", "registry", "--proof", str(path), "--public-key", first_public)
        assert code == 1 and "key_chain" in out
        # A proof whose rotation record is dropped does not verify: the head is signed by the new key.
        stripped = dict(proof, key_rotations=[])
        path.write_text(json.dumps(stripped))
        code, out = cli("audit", "verify", "--service", "registry", "--proof", str(path), "--public-key", first_public)
        assert code == 1 and "root_forged" in out

        # An export verifies offline from the first key, across the rotation.
        code, out = await asyncio.to_thread(
            cli, "audit", "export", "--service", "registry", "--out", str(tmp_path / "export"), "--base-url", base_url
        )
        assert code == 0, out
        code, out = cli("audit", "verify", "--service", "registry", "--export", str(tmp_path / "export"), "--public-key", first_public)
        assert code == 0 and '"verified": true' in out, out

        # Whoever still holds the retired key writes a record with it after the rotation.
        forger = type("Forger", (SwpApplication,), {"name": "registry", "service": "registry"})(settings.eventsourcing_env("registry"))
        forger._set_signing_key(Ed25519PrivateKey.from_private_bytes(settings.audit_key("registry")))
        with forger.command(CommandContext(county="province", actor="intruder")):
            forger.save(IdempotencyRecord("registry:province", "forged", "fp", []))
        forged_position = forger.process_recorder.max_notification_id()
        forger.close()
        body = await sealed_verify(client, auditor)
        assert body["verified"] is False
        assert {"position": forged_position, "kind": "retired_key"} in body["problems"]

    # Restarted, the service signs with the key the log says is in force (from the key store).
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/registry/v1/audit/keys", headers=auditor)).json()["key_id"] == new["key_id"]


def test_a_rotation_must_be_signed_by_the_key_it_retires_and_by_the_new_key():
    """Pure: the verifier only follows a rotation signed by the key in force and by the new key."""
    from eventsourcing.utils import get_topic

    from shared.infra.store import WriterKeys

    assert get_topic(WriterKeys.Rotated) == audit_chain.KEY_ROTATION_TOPIC
    app = SwpApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    first, second = bytes(range(32)), bytes(range(1, 33))
    app.use_signing_key(first)
    ctx = CommandContext(county="province", actor="admin")
    with app.command(ctx):
        app.save(IdempotencyRecord("s", "k1", "fp", []))
    app.rotate_signing_key(second, ctx)
    with app.command(ctx):
        app.save(IdempotencyRecord("s", "k2", "fp", []))
    records = [
        audit_chain.Record(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in app.process_recorder.select_notifications(1, 100)
    ]
    first_public = app.audit_first_public_key_hex
    assert first_public and list(audit_chain.signature_problems(records, first_public)) == []
    # Starting from the second key instead: everything up to the rotation is "forged".
    assert app.audit_public_key_hex and list(audit_chain.signature_problems(records, app.audit_public_key_hex))
    # Without the key store the application refuses to start signing with a retired key.
    import pytest

    with pytest.raises(RuntimeError, match="not in the key store"):
        app.use_signing_key(first)
    app.use_signing_key(first, key_ring=lambda key_id: second)
    assert app.audit_key_id == audit_chain.key_id(bytes.fromhex(app.audit_public_key_hex))
