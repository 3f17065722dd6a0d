"""``swp audit``: export a service's history and verify it without trusting the service (R-AUD-4).

``export`` pulls raw records and chain links over the audit API into JSON Lines (the evidence),
CSV and XLSX views of the same records for human auditors, and a manifest of hashes; ``verify`` recomputes the chain and checks every record's Ed25519 signature from the
export alone (or straight from a running service). The public key should be obtained out of band
(``--public-key``); without it the key in the manifest is used and the report says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shared import audit_chain, audit_tree
from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings
from shared.text import spreadsheet_text

audit = typer.Typer(help="Audit exports and independent verification (R-AUD-3, R-AUD-4).", no_args_is_help=True)
console = Console(soft_wrap=True)
SERVICES = ("registry", "services-log", "evaluation", "finance")

ServiceOpt = Annotated[str, typer.Option(help=f"One of {', '.join(SERVICES)}")]
BaseUrlOpt = Annotated[str, typer.Option(help="Gateway URL")]


def _token() -> str:
    token = os.environ.get("SWP_TOKEN")
    if token:
        return token
    # Development convenience: mint a province-wide auditor token with the local secret.
    return issue_token(Settings(), sub="swp-audit-cli", role=Role.AUDITOR, counties=["*"])


def _fetch(service: str, base_url: str) -> tuple[str | None, list[dict[str, Any]]]:
    headers = {"Authorization": f"Bearer {_token()}"}
    records: list[dict[str, Any]] = []
    public_key = None
    with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
        head = client.get(f"/{service}/health").json()["store"]["head"] or 0
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task(f"{service} records", total=head)
            after = 0
            while True:
                r = client.get(f"/{service}/v1/audit/records", params={"after": after, "limit": 2000})
                r.raise_for_status()
                body = r.json()
                public_key = body.get("public_key")
                records.extend(body["records"])
                progress.update(task, completed=len(records))
                if not body["records"]:
                    break
                after = body["next_after"]
    return public_key, records


@audit.command("export")
def export(
    service: ServiceOpt,
    out: Annotated[Path, typer.Option(help="Directory to write into")] = Path("var/audit"),
    base_url: BaseUrlOpt = "http://127.0.0.1:8000",
) -> None:
    """Write <service>.records.jsonl (raw records with their chain links, the evidence),
    <service>.events.csv and .xlsx (the same records decoded, one row each, for human auditors)
    and <service>.manifest.json (the hashes of all three)."""
    public_key, records = _fetch(service, base_url)
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{service}.records.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
    views = _write_views(service, records, out)
    result = _verify_records(records, public_key)
    manifest = {
        "service": service,
        "exported_at": datetime.now(UTC).isoformat(),
        "source": base_url,
        "records": len(records),
        "file": data.name,
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "views": [{"file": v.name, "sha256": hashlib.sha256(v.read_bytes()).hexdigest()} for v in views],
        "public_key": public_key,  # the first key: verification follows the rotations from it
        "head": result.as_dict()["head"],
    }
    (out / f"{service}.manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    console.print(f"exported {len(records)} records of {service} to {data} (head {manifest['head']['hash'][:16]}…)")


# --- human-readable views of an export ----------------------------------------------------
VIEW_COLUMNS = (
    "position", "recorded_at", "county", "actor", "event_type", "topic", "aggregate_id", "version",
    "command_id", "correlation_id", "causation_id", "chain_hash", "data",
)
XLSX_MAX_ROWS = 1_000_000  # per sheet (Excel's limit is 1,048,576)
XLSX_MAX_CELL = 32_000  # Excel's limit is 32,767 characters


def _plain(value: Any) -> Any:
    """The stored JSON without the transcoder's type wrappers ({"_type_": …, "_data_": …})."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            return _plain(value["_data_"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _view_row(rec: dict[str, Any]) -> dict[str, Any]:
    try:
        state = json.loads(base64.b64decode(rec["state"]))
    except ValueError:
        state = {"undecodable": rec["state"]}
    state = _plain(state) if isinstance(state, dict) else {"value": state}
    meta = state.pop("meta", None) or {}
    for key in ("originator_id", "originator_version", "timestamp"):
        state.pop(key, None)
    return {
        "position": int(rec["position"]),
        "recorded_at": meta.get("recorded_at"),
        "county": meta.get("county"),
        "actor": meta.get("actor"),
        "event_type": str(rec["topic"]).rsplit(":", 1)[-1],
        "topic": rec["topic"],
        "aggregate_id": rec["aggregate_id"],
        "version": int(rec["version"]),
        "command_id": meta.get("command_id"),
        "correlation_id": meta.get("correlation_id"),
        "causation_id": meta.get("causation_id"),
        "chain_hash": (rec.get("link") or {}).get("hash"),
        "data": json.dumps(state, ensure_ascii=False, sort_keys=True),
    }


def _cell_text(value: Any) -> Any:
    """Text a spreadsheet will not run as a formula (a leading ' as OWASP advises for CSV)."""
    return spreadsheet_text(value)


def _write_views(service: str, records: list[dict[str, Any]], out: Path) -> list[Path]:
    import csv

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    csv_path, xlsx_path = out / f"{service}.events.csv", out / f"{service}.events.xlsx"
    workbook = Workbook(write_only=True)
    sheet = None
    with (
        csv_path.open("w", encoding="utf-8-sig", newline="") as f,  # with a BOM: Excel reads it as UTF-8
        Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console) as progress,
    ):
        task = progress.add_task(f"{service} views", total=len(records))
        writer = csv.writer(f)
        writer.writerow(VIEW_COLUMNS)
        for i, rec in enumerate(records):
            row = _view_row(rec)
            writer.writerow([_cell_text(row[c]) for c in VIEW_COLUMNS])
            if i % XLSX_MAX_ROWS == 0:
                sheet = workbook.create_sheet(f"events {i // XLSX_MAX_ROWS + 1}")
                sheet.append(list(VIEW_COLUMNS))
            cells = []
            for c in VIEW_COLUMNS:
                value = _cell_text(row[c])  # as in the CSV: the platform's one escape, then a text cell
                if isinstance(value, str) and len(value) > XLSX_MAX_CELL:
                    value = value[:XLSX_MAX_CELL] + "…(truncated: see the JSONL)"
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # never a formula, whatever the text begins with
                cells.append(cell)
            assert sheet is not None
            sheet.append(cells)
            if i % 500 == 0 or i == len(records) - 1:
                progress.update(task, completed=i + 1)
    if sheet is None:
        workbook.create_sheet("events 1").append(list(VIEW_COLUMNS))
    workbook.save(xlsx_path)
    return [csv_path, xlsx_path]


def _verify_records(records: list[dict[str, Any]], public_key: str | None) -> audit_chain.Verification:
    recs = [
        audit_chain.Record(
            position=int(r["position"]),
            aggregate_id=r["aggregate_id"],
            version=int(r["version"]),
            topic=r["topic"],
            state=base64.b64decode(r["state"]),
        )
        for r in records
    ]
    links = [audit_chain.Link(**r["link"]) for r in records if r.get("link")]
    return audit_chain.verify(recs, links, public_key_hex=public_key)


@audit.command("verify")
def verify(
    service: ServiceOpt,
    export_dir: Annotated[Path | None, typer.Option("--export", help="Verify this export instead of a live service")] = None,
    public_key: Annotated[str | None, typer.Option(help="The service's first Ed25519 public key (hex), obtained out of band; key rotations in the log are followed from it")] = None,
    base_url: BaseUrlOpt = "http://127.0.0.1:8000",
    proof: Annotated[
        Path | None, typer.Option(help="Verify one event's inclusion proof (from `swp audit proof`) instead; needs --public-key")
    ] = None,
    position: Annotated[int | None, typer.Option(help="With --proof: the log position the proof must be for")] = None,
    consistency: Annotated[
        Path | None,
        typer.Option(help="A signed tree head saved earlier (`swp audit tree-head --out`): prove today's history extends it"),
    ] = None,
) -> None:
    """Recompute the hash chain and check every signature; exit 1 if anything was tampered with.
    Signatures are checked from the service's first public key (--public-key), following the key
    rotations recorded in the log; a record signed by a retired key after its rotation fails.
    With --proof, check one event's inclusion offline: its record, audit path and signed root.
    With --consistency OLD.json, prove the service's current history extends the tree head saved in
    OLD.json (RFC 9162 consistency proof); a rewritten, truncated or forked history fails, and with
    --export (an export taken when OLD.json was saved) the first diverging position is named. Tree
    heads signed by a rotated key are accepted when their rotation records lead to it from the
    first key."""
    if proof is not None:
        _verify_proof(service, proof, public_key, position)
        return
    if consistency is not None:
        _verify_consistency(service, consistency, public_key, base_url, export_dir)
        return
    if export_dir is not None:
        manifest = json.loads((export_dir / f"{service}.manifest.json").read_text())
        data = (export_dir / manifest["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            console.print("[red]the export file does not match its manifest[/]")
            raise typer.Exit(1)
        for view in manifest.get("views", []):
            path = export_dir / view["file"]
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != view["sha256"]:
                console.print(f"[red]the view {view['file']} does not match its manifest[/]")
                raise typer.Exit(1)
        records = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        key = public_key or manifest.get("public_key")
    else:
        key_from_service, records = _fetch(service, base_url)
        key = public_key or key_from_service
    if public_key is None:
        console.print("[yellow]no --public-key given: using the key the export/service states[/]")
    result = _verify_records(records, key)
    console.print_json(json.dumps({"service": service, **result.as_dict()}))
    if not result.verified:
        raise typer.Exit(1)


@audit.command("proof")
def fetch_proof(
    service: ServiceOpt,
    position: Annotated[int, typer.Option(help="Log position of the event")],
    out: Annotated[Path, typer.Option(help="File to write the proof to")] = Path("proof.json"),
    base_url: BaseUrlOpt = "http://127.0.0.1:8000",
) -> None:
    """Fetch one event's inclusion proof (R-AUD-4) into a file, for `swp audit verify --proof`."""
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {_token()}"}) as client:
        r = client.get(f"/{service}/v1/audit/proofs/{position}")
    if r.status_code != 200:
        console.print(f"[red]{r.status_code}[/] {r.text}", markup=True, highlight=False)
        raise typer.Exit(1)
    out.write_text(json.dumps(r.json(), indent=2, ensure_ascii=False))
    console.print(f"proof of {service} position {position} written to {out}")


def _verify_proof(service: str, proof_file: Path, public_key: str | None, position: int | None) -> None:
    if not public_key:  # a proof checked with the key it carries proves nothing
        console.print("[red]--proof needs --public-key (the service's key, obtained out of band)[/]")
        raise typer.Exit(2)
    try:
        proof = json.loads(proof_file.read_text())
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {proof_file}: {exc}[/]")
        raise typer.Exit(1) from exc
    problems = audit_chain.verify_inclusion_proof(proof, public_key, service=service, position=position)
    head = proof.get("tree_head") if isinstance(proof, dict) else None
    report = {
        "service": service,
        "position": proof.get("position") if isinstance(proof, dict) else None,
        "included": not problems,
        "tree_size": head.get("tree_size") if isinstance(head, dict) else None,
        "root": head.get("root") if isinstance(head, dict) else None,
        "problems": problems,
    }
    console.print_json(json.dumps(report, ensure_ascii=False))
    if problems:
        raise typer.Exit(1)


@audit.command("rotate-key")
def rotate_key(
    service: ServiceOpt,
    base_url: BaseUrlOpt = "http://127.0.0.1:8000",
) -> None:
    """Rotate a service's writer key (R-AUD-4): the running service generates a key, stores it in
    its key store, records the rotation in its log (signed by the retiring key) and signs with the
    new key from then on. Needs a province_admin token in SWP_TOKEN (development mints one)."""
    token = os.environ.get("SWP_TOKEN") or issue_token(Settings(), sub="swp-audit-cli", role=Role.PROVINCE_ADMIN, counties=["*"])
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        r = client.post(f"/{service}/v1/audit/keys/rotate")
    if r.status_code != 201:
        console.print(f"[red]{r.status_code}[/] {r.text}", markup=True, highlight=False)
        raise typer.Exit(1)
    body = r.json()
    console.print(f"{service}: writer key {body['old_key_id']} retired at position {body['position']}; now {body['key_id']} ({body['public_key']})")


@audit.command("timeline")
def timeline(
    contract: Annotated[str, typer.Option(help="Contract id")],
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    base_url: BaseUrlOpt = "http://127.0.0.1:8000",
) -> None:
    """Follow one contract across all four services, by correlation and causation."""
    from gateway.timeline import contract_timeline, render

    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {_token()}"}) as client:
        events = contract_timeline(client, contract)
    if output == "json":
        console.print_json(json.dumps(events, ensure_ascii=False))
    else:
        console.print(render(events), markup=False, highlight=False)


@audit.command("tree-head")
def tree_head(
    service: ServiceOpt,
    out: Annotated[Path, typer.Option(help="File to save the signed tree head to")] = Path("tree-head.json"),
    base_url: BaseUrlOpt = "http://127.0.0.1:8000",
) -> None:
    """Save the service's current signed tree head (R-AUD-4), for `swp audit verify --consistency`."""
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {_token()}"}) as client:
        r = client.get(f"/{service}/v1/audit/tree-head")
    if r.status_code != 200:
        console.print(f"[red]{r.status_code}[/] {r.text}", markup=True, highlight=False)
        raise typer.Exit(1)
    out.write_text(json.dumps(r.json(), indent=2, ensure_ascii=False))
    head = r.json()["tree_head"]
    console.print(f"tree head of {service} (size {head['tree_size']}, root {head['root'][:16]}…) written to {out}")


def _link_hash_at(client: httpx.Client, service: str, position: int) -> str | None:
    r = client.get(f"/{service}/v1/audit/records", params={"after": position - 1, "limit": 1})
    r.raise_for_status()
    recs = [rec for rec in r.json()["records"] if int(rec["position"]) == position]
    return (recs[0].get("link") or {}).get("hash") if recs else None


def first_divergence(client: httpx.Client, service: str, old_links: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Bisect the old history's chain links against the service's current ones: a chain hash
    commits to everything up to its position, so "the same hash at leaf i" holds for a prefix of
    the leaves and fails from the first rewritten one on. O(log n) requests of one record each."""
    lo, hi = 0, len(old_links)  # invariant: leaves < lo agree; leaf hi (if < len) disagrees
    while lo < hi:
        mid = (lo + hi) // 2
        link = old_links[mid]
        if _link_hash_at(client, service, int(link["position"])) == link["hash"]:
            lo = mid + 1
        else:
            hi = mid
    if lo == len(old_links):
        return None
    return {"leaf_index": lo, "position": int(old_links[lo]["position"])}


def _verify_consistency(service: str, old_file: Path, public_key: str | None, base_url: str, export_dir: Path | None) -> None:
    try:
        old = json.loads(old_file.read_text())
        size = int(old["tree_head"]["tree_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        console.print(f"[red]cannot read a signed tree head from {old_file}: {exc}[/]")
        raise typer.Exit(1) from exc
    if public_key is None:
        console.print("[yellow]no --public-key given: using the key the saved head states[/]")
    key = public_key or str(old.get("public_key", ""))
    report: dict[str, Any] = {"service": service, "old": {"tree_size": size, "root": old["tree_head"].get("root")}}
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {_token()}"}) as client:
        current = client.get(f"/{service}/v1/audit/tree-head")
        current.raise_for_status()
        new, proof = current.json(), []
        if size and int(new["tree_head"]["tree_size"]) >= size:
            r = client.get(f"/{service}/v1/audit/consistency", params={"from": size, "to": new["tree_head"]["tree_size"]})
            r.raise_for_status()
            new, proof = r.json(), r.json()["proof"]
        problems = audit_tree.check_consistency(old, new, proof, key)
        report["new"] = {"tree_size": new["tree_head"]["tree_size"], "root": new["tree_head"]["root"]}
        report["proof"] = proof
        if problems and old["tree_head"].get("chain_head"):
            chain_head = old["tree_head"]["chain_head"]
            report["old_chain_head_intact"] = _link_hash_at(client, service, int(chain_head["position"])) == chain_head["hash"]
            report["diverges_at_or_before"] = int(chain_head["position"])
            if export_dir is not None:
                manifest = json.loads((export_dir / f"{service}.manifest.json").read_text())
                rows = [json.loads(line) for line in (export_dir / manifest["file"]).read_text().splitlines() if line.strip()]
                old_links = sorted((r["link"] for r in rows if r.get("link")), key=lambda lk: int(lk["position"]))[:size]
                tree = audit_tree.MerkleTree()
                for lk in old_links:
                    tree.append(audit_chain.leaf_hash(lk["digest"]))
                if tree.size < size or tree.root(size) != old["tree_head"]["root"]:
                    report["export"] = "the export is not the history the saved head signs: cannot locate the divergence"
                else:
                    report["first_diverging"] = first_divergence(client, service, old_links)
    report["consistent"] = not problems
    report["problems"] = problems
    console.print_json(json.dumps(report, ensure_ascii=False))
    if problems:
        raise typer.Exit(1)
