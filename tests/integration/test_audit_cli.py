"""An auditor exports a service's history and verifies it offline, without trusting the service."""

from __future__ import annotations

import asyncio
import json

from gateway.cli import app as swp
from typer.testing import CliRunner

from shared.infra.auth import Role, issue_token
from tests.integration.serving import export_registry_after_a_signing, serving
from tests.integration.slice import COUNTY, setup_county, sign


async def test_export_then_verify_offline_and_detect_an_edited_export(settings, tokens, tmp_path, monkeypatch):
    monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=["*"]))
    runner = CliRunner()
    result = await export_registry_after_a_signing(settings, tokens, tmp_path)
    assert result.exit_code == 0, result.output
    # The service is gone: verification needs only the export.
    manifest = json.loads((tmp_path / "registry.manifest.json").read_text())
    assert manifest["records"] >= 6 and len(manifest["public_key"]) == 64
    ok = runner.invoke(swp, ["audit", "verify", "--service", "registry", "--export", str(tmp_path), "--public-key", manifest["public_key"]])
    assert ok.exit_code == 0, ok.output
    assert '"verified": true' in ok.output

    # Someone edits one record in the export and fixes up the manifest's file hash: still caught.
    lines = (tmp_path / "registry.records.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    import base64
    import hashlib

    state = json.loads(base64.b64decode(record["state"]))
    state["name"] = "另一家机构"
    record["state"] = base64.b64encode(json.dumps(state).encode()).decode()
    lines[1] = json.dumps(record, sort_keys=True, ensure_ascii=False)
    data = ("\n".join(lines) + "\n").encode()
    (tmp_path / "registry.records.jsonl").write_bytes(data)
    manifest["sha256"] = hashlib.sha256(data).hexdigest()
    (tmp_path / "registry.manifest.json").write_text(json.dumps(manifest))
    bad = runner.invoke(swp, ["audit", "verify", "--service", "registry", "--export", str(tmp_path), "--public-key", manifest["public_key"]])
    assert bad.exit_code == 1
    assert '"verified": false' in bad.output and '"edited"' in bad.output and '"forged"' in bad.output


async def test_contract_timeline_across_services(settings, tokens, monkeypatch):
    import httpx
    from gateway.timeline import contract_timeline, render

    from tests.integration.slice import wait_for_tranches

    monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=[COUNTY]))
    async with serving(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            setup = await setup_county(client, tokens)
            contract_id = (await sign(client, COUNTY, setup)).json()["contract_id"]
            await wait_for_tranches(client, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY))
        auditor = {"Authorization": f"Bearer {issue_token(settings, sub='a', role=Role.AUDITOR, counties=[COUNTY])}"}
        with httpx.Client(base_url=base_url, headers=auditor) as sync_client:
            events = await asyncio.to_thread(contract_timeline, sync_client, contract_id)
        result = await asyncio.to_thread(
            CliRunner().invoke, swp, ["audit", "timeline", "--contract", contract_id, "--base-url", base_url]
        )
    kinds = [(e["service"], e["event_type"]) for e in events]
    assert kinds[0] == ("registry", "ContractSigned")
    assert ("finance", "TrancheScheduled") in kinds
    signed = events[0]
    scheduled = next(e for e in events if e["event_type"] == "TrancheScheduled")
    # Finance's reaction is linked to the signing by causation and shares its correlation id.
    assert scheduled["causation_id"] == str(signed["event_id"])
    assert scheduled["correlation_id"] == signed["correlation_id"]
    report = render(events)
    assert "finance      TrancheScheduled" in report and "← registry.ContractSigned" in report
    assert result.exit_code == 0 and "ContractSigned" in result.output
