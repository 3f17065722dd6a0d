"""Erasure leaves no plaintext anywhere (R-AUD-2, R-LOG-5): a beneficiary's personal data enters
services-log only as ciphertext under their own key, so once the key is destroyed no byte of any
store file, table, export or read model holds their name, phone or ID number — while the history
still verifies, live and from an export. Idempotency records do not hold it either, not even as an
unkeyed hash a guess could be checked against."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
from gateway.cli import app as swp
from typer.testing import CliRunner

from shared.infra.auth import Role, issue_token
from shared.infra.store import fingerprint
from tests.integration.serving import serving
from tests.integration.test_services_log_support import COUNTY, LOG, check, open_county

PERSON = {"name": "欧阳蔻蔻", "id_number": "64040220150203771X", "phone": "13987654321"}
SERVICES = ("registry", "services-log", "evaluation", "finance")


def needles(person: dict[str, str]) -> dict[str, bytes]:
    """Every way the plaintext could sit in bytes: UTF-8, and JSON's \\u escapes of the name."""
    found = {k: v.encode() for k, v in person.items()}
    found["name (json-escaped)"] = json.dumps(person["name"])[1:-1].encode()
    found["name (json-escaped, upper)"] = "".join(f"\\u{ord(c):04X}" for c in person["name"]).encode()
    return found


def leaks(blob: bytes, person: dict[str, str]) -> list[str]:
    return [what for what, needle in needles(person).items() if needle in blob]


def expanded(path: Path) -> bytes:
    """A file's bytes, and for zip containers (XLSX) their members' inflated bytes too."""
    data = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data += b"".join(z.read(name) for name in z.namelist())
    return data


def export_bytes(directory: Path) -> bytes:
    """Every exported file, with the base64 record states decoded (plaintext could hide in them)."""
    blob = b""
    for path in sorted(directory.iterdir()):
        blob += expanded(path)
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                blob += base64.b64decode(json.loads(line)["state"])
    return blob


def postgres_bytes(settings: Any) -> bytes:
    """Every row of every table of the test's schemas (all four services), values as raw bytes,
    plus each table's COPY TO STDOUT text."""
    import psycopg
    from psycopg import sql

    blob = bytearray()
    with psycopg.connect(
        host=settings.postgres_host, port=settings.postgres_port, user=settings.postgres_user,
        password=settings.postgres_password.get_secret_value(), dbname=settings.postgres_dbname, autocommit=True,
    ) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE %s",
            (settings.postgres_schema_prefix + "%",),
        ).fetchall()
        assert len({s for s, _ in tables}) == 4, tables
        for schema, table in tables:
            name = sql.Identifier(schema, table)
            for row in conn.execute(sql.SQL("SELECT * FROM {}").format(name)):
                for value in row:
                    blob += bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
            with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(name)) as copy:
                for chunk in copy:
                    blob += bytes(chunk)
    return bytes(blob)


def store_bytes(settings: Any) -> bytes:
    blob = b"".join(p.read_bytes() for p in sorted(Path(settings.var_dir).rglob("*")) if p.is_file())
    if settings.persistence == "postgres":
        blob += postgres_bytes(settings)
    else:
        assert any(p.name.endswith(".sqlite") for p in Path(settings.var_dir).rglob("*")), "no store files found"
    return blob


async def read_models(client: httpx.AsyncClient, headers: dict[str, str], ids: dict[str, str]) -> bytes:
    """Every GET route of every service, path parameters filled from ``ids`` (routes with a
    parameter we have no value for are skipped)."""
    blob = b""
    answered = 0
    for service in SERVICES:
        doc = (await client.get(f"/{service}/openapi.json")).json()
        for path, ops in doc["paths"].items():
            if "get" not in ops:
                continue
            params = re.findall(r"{(\w+)}", path)
            if any(p not in ids for p in params):
                continue
            r = await client.get(f"/{service}{path.format(**{p: ids[p] for p in params})}", headers=headers)
            blob += r.content
            answered += r.status_code == 200
    assert answered >= 10, answered
    return blob


async def test_erasure_leaves_no_plaintext_of_the_person_and_the_history_still_verifies(settings, tokens, tmp_path, monkeypatch):
    monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=["*"]))
    runner = CliRunner()
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        place = await open_county(client, tokens)
        provider, purchaser = place.headers["provider"], place.headers["purchaser"]
        base = f"{LOG}/{COUNTY}"
        # Registered with an Idempotency-Key (its request fingerprint is stored) and repeated.
        keyed = {**provider, "Idempotency-Key": "register-ouyang-1"}
        ref = (await check(client.post(f"{base}/beneficiaries", json=PERSON, headers=keyed), 201))["beneficiary_ref"]
        again = await check(client.post(f"{base}/beneficiaries", json=PERSON, headers=keyed), 201)
        assert again["beneficiary_ref"] == ref
        different = await client.post(f"{base}/beneficiaries", json={**PERSON, "phone": "13900000000"}, headers=keyed)
        assert different.status_code in (409, 422), different.text  # same key, other body: refused
        deliveries = []
        for day, kind in (("2026-10-05", "个案"), ("2026-10-06", "帮扶救助")):
            body = place.delivery(kind=kind, date=day, area="社会救助", person_times=1, beneficiary_refs=[ref],
                                  content="入户走访，了解家庭情况", **({"indicator_code": None} if kind == "个案" else {}))
            deliveries.append((await check(client.post(f"{base}/deliveries", json=body, headers=provider), 201))["delivery_id"])
        shown = await check(client.get(f"{base}/beneficiaries/{ref}", headers=purchaser), 200)
        assert shown["personal_data"] == PERSON  # readable before erasure (so the scans below can find it if stored)

        before = tmp_path / "before"
        result = await asyncio.to_thread(
            runner.invoke, swp, ["audit", "export", "--service", "services-log", "--out", str(before), "--base-url", base_url]
        )
        assert result.exit_code == 0, result.output

        erased = await check(client.post(f"{base}/beneficiaries/{ref}/erasure", json={"reason": "本人申请删除"}, headers=purchaser), 200)
        assert erased["erased"] is True and erased["personal_data"] is None

        ids = {"county": COUNTY, "contract_id": place.contract_id, "beneficiary_ref": ref, "delivery_id": deliveries[0],
               "station_id": place.station, "worker_id": place.workers["李娜"], "provider_id": place.provider_id}
        for role_headers in (purchaser, provider, tokens(Role.AUDITOR, "*"), tokens(Role.PROVINCE_ADMIN, "*")):
            assert leaks(await read_models(client, role_headers, ids), PERSON) == []
        feed = await check(client.get("/services-log/v1/audit/events?limit=1000", headers=tokens(Role.AUDITOR, "*")), 200)
        assert leaks(json.dumps(feed, ensure_ascii=False).encode(), PERSON) == []
        live = await check(client.get("/services-log/v1/audit/verify", headers=tokens(Role.AUDITOR, "*")), 200)
        assert live["verified"] is True, live

        after = tmp_path / "after"
        result = await asyncio.to_thread(
            runner.invoke, swp, ["audit", "export", "--service", "services-log", "--out", str(after), "--base-url", base_url]
        )
        assert result.exit_code == 0, result.output

    # The service is stopped: every byte it left on disk / in its tables, and the fresh export.
    at_rest = store_bytes(settings)
    assert leaks(at_rest, PERSON) == []
    assert leaks(export_bytes(after), PERSON) == []
    # Even before erasure the export held only ciphertext.
    assert leaks(export_bytes(before), PERSON) == []
    # The idempotency fingerprint is not an unkeyed hash of the personal data (which anyone holding
    # the log could test guesses against after erasure).
    assert fingerprint(PERSON).encode() not in at_rest
    assert hashlib.sha256(json.dumps(PERSON, sort_keys=True).encode()).hexdigest().encode() not in at_rest

    key = json.loads((after / "services-log.manifest.json").read_text())["public_key"]
    ok = runner.invoke(swp, ["audit", "verify", "--service", "services-log", "--export", str(after), "--public-key", key])
    assert ok.exit_code == 0 and '"verified": true' in ok.output, ok.output
