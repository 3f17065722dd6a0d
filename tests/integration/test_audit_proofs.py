"""One event's inclusion, verified without trusting the service (R-AUD-4): the service hands out
an RFC 9162 inclusion proof with a root signed by its writer key; `swp audit verify --proof`
checks it offline with only the public key. An edited record, a proof claimed for another
position, and a forged root all fail. Proofs are county-checked like every audit route (R-AUD-6)."""

from __future__ import annotations

import json

from gateway.cli import app as swp
from typer.testing import CliRunner

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER
from tests.integration.test_audit_tamper import Database, history, verified

PROVIDER = 2  # county registered (1), provider registered (2)


def verify_cli(path, key, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        swp, ["audit", "verify", "--service", "registry", "--proof", str(path), "--public-key", key, *extra]
    )
    return result.exit_code, json.loads(result.output)


async def test_an_events_inclusion_proof_verifies_offline_and_tampering_fails(gateway, tokens, settings, tmp_path):
    head = await history(gateway, tokens)
    auditor = tokens(Role.AUDITOR, COUNTY)
    r = await gateway.get(f"/registry/v1/audit/proofs/{PROVIDER}", headers=auditor)
    assert r.status_code == 200, r.text
    proof = r.json()
    key = proof["public_key"]
    assert proof["county"] == COUNTY and proof["tree_head"]["tree_size"] >= head - 1
    assert proof["tree_head"]["chain_head"]["position"] >= head
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))

    code, report = verify_cli(path, key, "--position", str(PROVIDER))
    assert code == 0 and report["included"] is True and report["problems"] == []

    # Asked about another position: the proof is not evidence for it.
    code, report = verify_cli(path, key, "--position", str(PROVIDER + 1))
    assert code == 1 and {p["kind"] for p in report["problems"]} == {"wrong_position"}
    # The proof relabelled as another position's: the record's leaf no longer matches.
    moved = dict(proof, position=PROVIDER + 1, record=dict(proof["record"], position=PROVIDER + 1))
    path.write_text(json.dumps(moved))
    code, report = verify_cli(path, key, "--position", str(PROVIDER + 1))
    assert code == 1 and "edited" in {p["kind"] for p in report["problems"]}
    # A forged root (e.g. one recomputed after an edit): not signed by the service.
    forged = dict(proof, tree_head=dict(proof["tree_head"], root="ab" * 32))
    path.write_text(json.dumps(forged))
    code, report = verify_cli(path, key)
    assert code == 1 and {p["kind"] for p in report["problems"]} == {"path", "root_forged"}

    # The record edited in the database behind the service's back: the proof the service now
    # serves carries the edited bytes, which are not the sealed leaf, nor signed.
    db = Database(settings)
    state = json.loads(dict(db.rows())[PROVIDER])
    state["name"] = "冒名顶替的社工机构"
    db.set_state(PROVIDER, json.dumps(state).encode())
    r = await gateway.get(f"/registry/v1/audit/proofs/{PROVIDER}", headers=auditor)
    assert r.status_code == 200
    path.write_text(r.text)
    code, report = verify_cli(path, key, "--position", str(PROVIDER))
    assert code == 1 and {p["kind"] for p in report["problems"]} == {"edited", "forged"}


async def test_proofs_are_for_auditors_of_the_county_only(gateway, tokens):
    await history(gateway, tokens)
    assert (await gateway.get(f"/registry/v1/audit/proofs/{PROVIDER}", headers=tokens(Role.AUDITOR, OTHER))).status_code == 403
    assert (await gateway.get(f"/registry/v1/audit/proofs/{PROVIDER}", headers=tokens(Role.PURCHASER, COUNTY))).status_code == 403
    assert (await gateway.get(f"/registry/v1/audit/proofs/{PROVIDER}", headers=tokens(Role.PROVINCE_ADMIN, "*"))).status_code == 200
    missing = await gateway.get("/registry/v1/audit/proofs/999999", headers=tokens(Role.AUDITOR, "*"))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    body = (await verified(gateway, tokens))
    assert body["verified"] is True  # asking for proofs recorded nothing and changed nothing
