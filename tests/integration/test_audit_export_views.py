"""`swp audit export` writes the evidence (JSON Lines + manifest of hashes) and, for human auditors,
CSV and XLSX views of the same records, all hashed in the manifest, with a progress bar; `verify`
refuses an export whose views were changed."""

from __future__ import annotations

import csv
import json

from gateway.cli import app as swp
from openpyxl import load_workbook
from typer.testing import CliRunner

from shared.infra.auth import Role, issue_token
from tests.integration.serving import export_registry_after_a_signing
from tests.integration.slice import COUNTY


async def test_export_writes_jsonl_manifest_and_csv_xlsx_views(settings, tokens, tmp_path, monkeypatch):
    monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=["*"]))
    runner = CliRunner()
    result = await export_registry_after_a_signing(settings, tokens, tmp_path)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "registry.manifest.json").read_text())
    n = manifest["records"]
    assert f"{n}/{n}" in result.output  # the progress bars ran to completion
    assert {v["file"] for v in manifest["views"]} == {"registry.events.csv", "registry.events.xlsx"}

    records = [json.loads(line) for line in (tmp_path / "registry.records.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader((tmp_path / "registry.events.csv").open(encoding="utf-8-sig")))
    assert [int(r["position"]) for r in rows] == [r["position"] for r in records] and len(rows) == n
    assert [r["chain_hash"] for r in rows] == [r["link"]["hash"] for r in records]
    provider = next(r for r in rows if r["event_type"].startswith("Provider"))
    assert provider["county"] == COUNTY and json.loads(provider["data"])["name"] == "明德社会工作服务中心"
    assert provider["actor"] and provider["recorded_at"] and provider["correlation_id"]
    sheet_rows = list(load_workbook(tmp_path / "registry.events.xlsx").active.iter_rows(values_only=True))
    assert len(sheet_rows) == n + 1
    assert [["" if v is None else str(v) for v in r] for r in sheet_rows[1:]] == [list(r.values()) for r in rows]

    args = ["audit", "verify", "--service", "registry", "--export", str(tmp_path), "--public-key", manifest["public_key"]]
    ok = runner.invoke(swp, args)
    assert ok.exit_code == 0 and '"verified": true' in ok.output, ok.output
    # A view edited after export (say, a row removed) no longer matches the manifest.
    lines = (tmp_path / "registry.events.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    (tmp_path / "registry.events.csv").write_text("".join(lines[:2] + lines[3:]), encoding="utf-8-sig")
    bad = runner.invoke(swp, args)
    assert bad.exit_code == 1 and "registry.events.csv does not match" in bad.output
