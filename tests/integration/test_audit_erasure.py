"""Erasure leaves no plaintext anywhere (R-AUD-2, R-LOG-5): a beneficiary's personal data enters
services-log only as ciphertext under their own key, so once the key is destroyed no byte of any
store file, table, export or read model holds their name, phone or ID number — while the history
still verifies, live and from an export. Idempotency records do not hold it either, not even as an
unkeyed hash a guess could be checked against.

Casework and group-work content citing the person (logged, corrected, imported) is sealed under
the keys of everyone it cites: it is readable by the roles allowed until the erasure, then gone
from every store, export, published event and read (``content_erased``); content citing only
someone else stays readable."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import re
import uuid
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from gateway.cli import app as swp
from services_log.api.deliveries import CorrectionIn, DeliveryIn
from services_log.bulk import IMPORT_NS
from services_log.domainmodel import DeliveryFacts
from typer.testing import CliRunner

from shared.infra.auth import Role, issue_token
from shared.infra.store import fingerprint
from shared.testing.upstream import published
from tests.integration.serving import serving
from tests.integration.test_services_log_support import COUNTY, LOG, check, open_county

PERSON = {"name": "欧阳蔻蔻", "id_number": "64040220150203771X", "phone": "13987654321"}
SERVICES = ("registry", "services-log", "evaluation", "finance")
OTHER_PERSON = {"name": "马建国", "phone": "13811112222"}
# Casework notes citing PERSON (the group-work one also OTHER_PERSON): gone once PERSON is erased.
NOTES = {
    "casework": "欧阳蔻蔻 的母亲反映，孩子近一个月不愿上学",
    "casework, corrected": "欧阳蔻蔻 的母亲反映，孩子近两个月不愿上学，已联系班主任",
    "assistance": "入户走访，了解家庭情况",
    "group work": "亲子小组第三节：蔻蔻与建国分享各自的家庭困难",
    "imported": "电话回访：蔻蔻家已申请临时救助",
}
KEPT_NOTE = "马建国 的低保复核材料已补齐"  # cites OTHER_PERSON only: stays


def needles(texts: dict[str, str]) -> dict[str, bytes]:
    """Every way the plaintext could sit in bytes: UTF-8, and JSON's \\u escapes (both cases)."""
    found = {}
    for what, text in texts.items():
        found[what] = text.encode()
        found[f"{what} (json-escaped)"] = json.dumps(text)[1:-1].encode()
        found[f"{what} (json-escaped, upper)"] = "".join(c if c.isascii() else f"\\u{ord(c):04X}" for c in text).encode()
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


def delivery_rows(export: Path, refs: set[str]) -> list[dict[str, Any]]:
    """The decoded data of the CSV view's delivery events citing any of ``refs``."""
    with (export / "services-log.events.csv").open(encoding="utf-8-sig") as f:
        rows = [json.loads(r["data"]) for r in csv.DictReader(f) if r["event_type"].endswith((".Logged", ".Corrected"))]
    return [r for r in rows if refs & set(r.get("beneficiary_refs") or ())]


async def test_erasure_leaves_no_plaintext_of_the_person_and_the_history_still_verifies(settings, tokens, tmp_path, monkeypatch):
    monkeypatch.setenv("SWP_TOKEN", issue_token(settings, sub="auditor-1", role=Role.AUDITOR, counties=["*"]))
    runner = CliRunner()
    everything = {**PERSON, **NOTES}
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        place = await open_county(client, tokens)
        provider, purchaser = place.headers["provider"], place.headers["purchaser"]
        evaluator = tokens(Role.EVALUATOR, COUNTY)
        base = f"{LOG}/{COUNTY}"
        # Registered with an Idempotency-Key (its request fingerprint is stored) and repeated.
        keyed = {**provider, "Idempotency-Key": "register-ouyang-1"}
        ref = (await check(client.post(f"{base}/beneficiaries", json=PERSON, headers=keyed), 201))["beneficiary_ref"]
        again = await check(client.post(f"{base}/beneficiaries", json=PERSON, headers=keyed), 201)
        assert again["beneficiary_ref"] == ref
        different = await client.post(f"{base}/beneficiaries", json={**PERSON, "phone": "13900000000"}, headers=keyed)
        assert different.status_code in (409, 422), different.text  # same key, other body: refused
        other = (await check(client.post(f"{base}/beneficiaries", json=OTHER_PERSON, headers=provider), 201))["beneficiary_ref"]

        async def log(headers: dict[str, str] = provider, **fields: Any) -> str:
            body = place.delivery(**{"area": "社会救助", "person_times": 1, **fields})
            return (await check(client.post(f"{base}/deliveries", json=body, headers=headers), 201))["delivery_id"]

        # Keyed, so that the idempotency records' fingerprints of the content are stored too.
        casework_fields = {"kind": "个案", "date": "2026-10-05", "indicator_code": None, "beneficiary_refs": [ref],
                           "content": NOTES["casework"]}
        casework = await log({**provider, "Idempotency-Key": "casework-1"}, **casework_fields)
        assistance = await log(kind="帮扶救助", date="2026-10-06", beneficiary_refs=[ref], content=NOTES["assistance"])
        group = await log(kind="小组", date="2026-10-07", indicator_code=None, person_times=2,
                          beneficiary_refs=[other, ref], content=NOTES["group work"])
        kept = await log(kind="个案", date="2026-10-08", indicator_code=None, beneficiary_refs=[other], content=KEPT_NOTE)
        correction = {"reason": "补充情况", "content": NOTES["casework, corrected"]}
        corrected = await check(client.post(f"{base}/deliveries/{casework}/corrections", json=correction,
                                            headers={**provider, "Idempotency-Key": "casework-1-correction"}), 200)
        assert corrected["content"] == NOTES["casework, corrected"] and corrected["content_erased"] is False
        sheet = io.StringIO()
        csv.writer(sheet).writerows([
            ["contract_id", "worker_ids", "kind", "area", "date", "hours_direct", "person_times", "beneficiary_refs", "content"],
            [place.contract_id, place.workers["李娜"], "个案", "社会救助", "2026-10-09", "1", "1", ref, NOTES["imported"]],
        ])
        upload = {"file": ("回访.csv", sheet.getvalue().encode(), "text/csv")}
        report = await check(client.post(f"{base}/deliveries/import", files=upload, headers=provider), 200)
        assert report["recorded"] == 1, report
        listed = await check(client.get(f"{base}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200)
        imported = listed["items"][-1]["delivery_id"]
        citing_person = {casework: NOTES["casework, corrected"], assistance: NOTES["assistance"],
                         group: NOTES["group work"], imported: NOTES["imported"]}

        # Before the erasure the allowed roles read the content; evaluators never read casework (R-LOG-5).
        for delivery_id, note in {**citing_person, kept: KEPT_NOTE}.items():
            shown = await check(client.get(f"{base}/deliveries/{delivery_id}", headers=purchaser), 200)
            assert (shown["content"], shown["content_erased"]) == (note, False)
        withheld = await check(client.get(f"{base}/deliveries/{casework}", headers=evaluator), 200)
        assert withheld["content"] is None and withheld["content_withheld"] is True
        assert {d["delivery_id"]: d["content"] for d in listed["items"]} == {**citing_person, kept: KEPT_NOTE}
        shown = await check(client.get(f"{base}/beneficiaries/{ref}", headers=purchaser), 200)
        assert shown["personal_data"] == PERSON  # readable before erasure (so the scans below can find it if stored)

        before = tmp_path / "before"
        result = await asyncio.to_thread(
            runner.invoke, swp, ["audit", "export", "--service", "services-log", "--out", str(before), "--base-url", base_url]
        )
        assert result.exit_code == 0, result.output

        erased = await check(client.post(f"{base}/beneficiaries/{ref}/erasure", json={"reason": "本人申请删除"}, headers=purchaser), 200)
        assert erased["erased"] is True and erased["personal_data"] is None

        # After it: the content citing the person is gone (never an error, never ciphertext); the rest stays.
        for reader in (purchaser, provider):
            for delivery_id in citing_person:
                shown = await check(client.get(f"{base}/deliveries/{delivery_id}", headers=reader), 200)
                assert (shown["content"], shown["content_erased"], shown["content_withheld"]) == (None, True, False)
            shown = await check(client.get(f"{base}/deliveries/{kept}", headers=reader), 200)
            assert (shown["content"], shown["content_erased"]) == (KEPT_NOTE, False)
        listed = await check(client.get(f"{base}/contracts/{place.contract_id}/deliveries", headers=purchaser), 200)
        assert {d["delivery_id"]: (d["content"], d["content_erased"]) for d in listed["items"]} == {
            **{d: (None, True) for d in citing_person}, kept: (KEPT_NOTE, False)
        }
        refused = await client.post(f"{base}/deliveries", headers=provider, json=place.delivery(
            kind="个案", date="2026-10-10", indicator_code=None, person_times=1, beneficiary_refs=[other, ref], content="再次家访"))
        assert refused.status_code == 422 and refused.json()["rule"] == "R-AUD-2", refused.text
        assert refused.json()["field"] == "beneficiary_refs.1"

        ids = {"county": COUNTY, "contract_id": place.contract_id, "beneficiary_ref": ref, "delivery_id": casework,
               "station_id": place.station, "worker_id": place.workers["李娜"], "provider_id": place.provider_id}
        for role_headers in (purchaser, provider, tokens(Role.AUDITOR, "*"), tokens(Role.PROVINCE_ADMIN, "*")):
            assert leaks(await read_models(client, role_headers, ids), everything) == []
        feed = await check(client.get("/services-log/v1/audit/events?limit=1000", headers=tokens(Role.AUDITOR, "*")), 200)
        assert leaks(json.dumps(feed, ensure_ascii=False).encode(), everything) == []
        live = await check(client.get("/services-log/v1/audit/verify", headers=tokens(Role.AUDITOR, "*")), 200)
        assert live["verified"] is True, live

        # What services-log published: pseudonymous refs, never the content.
        for event_type, count in (("ServiceDelivered", 5), ("DeliveryCorrected", 1)):
            envelopes = await published(settings.nats_url, COUNTY, "services-log", event_type, until=lambda e, n=count: len(e) >= n)
            assert leaks(json.dumps(envelopes, ensure_ascii=False, default=str).encode(), {**everything, "kept": KEPT_NOTE}) == []

        after = tmp_path / "after"
        result = await asyncio.to_thread(
            runner.invoke, swp, ["audit", "export", "--service", "services-log", "--out", str(after), "--base-url", base_url]
        )
        assert result.exit_code == 0, result.output

    # The service is stopped: every byte it left on disk / in its tables, and the fresh export.
    at_rest = store_bytes(settings)
    assert leaks(at_rest, everything) == []
    assert leaks(export_bytes(after), everything) == []
    # Even before erasure the export held only ciphertext — of the content too, and of the one kept.
    assert leaks(export_bytes(before), {**everything, "kept": KEPT_NOTE}) == []
    assert leaks(at_rest, {"kept": KEPT_NOTE}) == []
    # The decoded export views show no content for deliveries citing the person, only its sealed form.
    rows = delivery_rows(after, {ref})
    assert len(rows) == 5 and all(r["content"] is None and r["content_sealed"] for r in rows)
    # The idempotency fingerprint is not an unkeyed hash of the personal data (which anyone holding
    # the log could test guesses against after erasure).
    assert fingerprint(PERSON).encode() not in at_rest
    # Nor of the content: not of the requests that carried it, not as the imported row's id.
    logged = DeliveryIn(**place.delivery(**{"area": "社会救助", "person_times": 1, **casework_fields}))
    assert fingerprint(logged.model_dump(mode="json")).encode() not in at_rest
    correction_payload = {"delivery_id": casework, **CorrectionIn(**correction).model_dump(mode="json", exclude_unset=True)}
    assert fingerprint(correction_payload).encode() not in at_rest
    row = DeliveryFacts(
        contract_id=place.contract_id, station_id=place.station, worker_ids=(place.workers["李娜"],), kind="个案",
        area="社会救助", date=date(2026, 10, 9), hours_direct=Decimal(1), hours_other=Decimal(0), person_times=1,
        beneficiary_refs=(ref,), content=NOTES["imported"],
    )
    assert imported != str(uuid.uuid5(IMPORT_NS, f"{COUNTY}:{row.fingerprint()}:1"))
    assert hashlib.sha256(json.dumps(PERSON, sort_keys=True).encode()).hexdigest().encode() not in at_rest

    key = json.loads((after / "services-log.manifest.json").read_text())["public_key"]
    ok = runner.invoke(swp, ["audit", "verify", "--service", "services-log", "--export", str(after), "--public-key", key])
    assert ok.exit_code == 0 and '"verified": true' in ok.output, ok.output
