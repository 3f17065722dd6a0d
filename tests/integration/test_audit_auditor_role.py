"""The auditor role (R-AUD-6, R-AUD-3): an auditor token granted counties A and B reads A's and B's
audit feeds and read models on every service, is refused county C, and is refused every write
route of every service (taken from each service's OpenAPI document, so a new route is covered the
day it is added) — and none of those refusals records anything."""

from __future__ import annotations

import re
import uuid

from shared.infra.auth import Role
from tests.integration.slice import COUNTY as A
from tests.integration.slice import OTHER as B
from tests.integration.slice import setup_county, sign, wait_for_tranches

C = "610102"  # a third county, with history of its own, not granted
SERVICES = ("registry", "services-log", "evaluation", "finance")
WRITES = ("post", "put", "patch", "delete")
# Read routes closed to auditors by design, whatever the county: a beneficiary's personal data is
# for the provider and the purchaser only (R-LOG-5).
NOT_FOR_AUDITORS = {("services-log", "/v1/counties/{county}/beneficiaries/{beneficiary_ref}")}


async def routes(gateway) -> list[tuple[str, str, str]]:
    found = []
    for service in SERVICES:
        doc = (await gateway.get(f"/{service}/openapi.json")).json()
        found += [(service, method, path) for path, ops in doc["paths"].items() for method in ops]
    return found


def fill(path: str, ids: dict[str, str]) -> str:
    """Path parameters from the county's real ids where we have them, else a well-formed unknown one."""
    known = {"year": "2026", "seq": "1", "version": "1", "month": "2026-10", "quarter": "2026-Q4", "position": "1"}
    return re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), known.get(m.group(1), str(uuid.uuid4()))), path)


async def feed_heads(gateway, tokens) -> dict[str, tuple[int, int]]:
    """Each service's store head and audit-feed position, as a province-wide auditor sees them."""
    everyone = tokens(Role.AUDITOR, "*")
    heads = {}
    for service in SERVICES:
        feed = (await gateway.get(f"/{service}/v1/audit/events?limit=1000", headers=everyone)).json()
        heads[service] = ((await gateway.get(f"/{service}/health")).json()["store"]["head"], feed["next_after"])
    return heads


async def test_an_auditor_of_two_counties_reads_them_is_refused_a_third_and_every_write(gateway, tokens):
    ids: dict[str, dict[str, str]] = {}
    for county in (A, B):
        setup = await setup_county(gateway, tokens, county)
        contract = (await sign(gateway, county, setup)).json()["contract_id"]
        await wait_for_tranches(gateway, county, contract, tokens(Role.FINANCE, county))
        workers = (await gateway.get(f"/registry/v1/counties/{county}/workers", headers=setup["purchaser"])).json()
        ids[county] = {"county": county, "contract_id": contract, "provider_id": setup["provider_id"],
                       "station_id": setup["station_ids"][0], "worker_id": workers[0]["worker_id"]}
    r = await gateway.put(f"/registry/v1/counties/{C}", json={"name": "新城区"}, headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert r.status_code == 200, r.text
    ids[C] = {"county": C}
    auditor = tokens(Role.AUDITOR, A, B, sub="auditor-ab")
    every_route = await routes(gateway)

    # Audit feeds: A's and B's on every service; C's refused; unfiltered, only A, B and province-level.
    seen: dict[str, set[str]] = {}
    for service in SERVICES:
        for county in (A, B):
            r = await gateway.get(f"/{service}/v1/audit/events?county={county}&limit=1000", headers=auditor)
            assert r.status_code == 200, (service, r.text)
            assert {e["county"] for e in r.json()["events"]} <= {county}
        r = await gateway.get(f"/{service}/v1/audit/events?county={C}", headers=auditor)
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", (service, r.text)
        r = await gateway.get(f"/{service}/v1/audit/events?limit=1000", headers=auditor)
        seen[service] = {e.get("county") or "province" for e in r.json()["events"]}
        assert seen[service] <= {A, B, "province"}, (service, seen[service])
        # Raw records span counties: a province-wide token only.
        assert (await gateway.get(f"/{service}/v1/audit/records", headers=auditor)).status_code == 403
    assert {A, B} <= seen["registry"] and {A, B} <= seen["finance"] and {A, B} <= seen["services-log"]
    everyone = (await gateway.get("/registry/v1/audit/events?limit=1000", headers=tokens(Role.AUDITOR, "*"))).json()
    c_positions = [e["position"] for e in everyone["events"] if e.get("county") == C]
    assert c_positions, "county C has history"
    r = await gateway.get(f"/registry/v1/audit/proofs/{c_positions[0]}", headers=auditor)
    assert r.status_code == 403, r.text  # nor a proof of C's event
    contract_event = next(e for e in everyone["events"] if e["event_type"] == "ContractSigned" and e["county"] == A)
    assert (await gateway.get(f"/registry/v1/audit/aggregates/{contract_event['aggregate_id']}", headers=auditor)).status_code == 200

    # Read models: every county-scoped GET route of every service answers A and B (200, or 404 for
    # an id we have no real value for) and refuses C; the contract is visible in A and B everywhere.
    answered = 0
    for service, method, path in every_route:
        if method != "get" or "{county}" not in path or path.startswith("/public/"):  # public: no token needed
            continue
        for county in (A, B):
            r = await gateway.get(f"/{service}{fill(path, ids[county])}", headers=auditor)
            if (service, path) in NOT_FOR_AUDITORS:
                assert r.status_code == 403, (service, path, r.text)
                continue
            assert r.status_code in (200, 404), (service, path, county, r.status_code, r.text)
            answered += r.status_code == 200
        r = await gateway.get(f"/{service}{fill(path, ids[C])}", headers=auditor)
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", (service, path, r.text)
    assert answered >= 20, answered
    for county in (A, B):
        cid = ids[county]["contract_id"]
        for url in (f"/registry/v1/counties/{county}/contracts/{cid}", f"/services-log/v1/counties/{county}/contracts/{cid}/progress",
                    f"/finance/v1/counties/{county}/contracts/{cid}/tranches", f"/finance/v1/counties/{county}/contracts/{cid}/reconciliation"):
            assert (await gateway.get(url, headers=auditor)).status_code == 200, url

    # Every write route of every service: 403, in A, B and C, and for a province-wide auditor too.
    before = await feed_heads(gateway, tokens)
    writes = [(s, m, p) for s, m, p in every_route if m in WRITES]
    assert len(writes) >= 40, len(writes)
    for service, method, path in writes:
        for county, token in ((A, auditor), (B, auditor), (C, auditor), (A, tokens(Role.AUDITOR, "*"))):
            r = await gateway.request(method.upper(), f"/{service}{fill(path, ids[county])}", json={}, headers=token)
            assert r.status_code == 403, (service, method, path, county, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    assert await feed_heads(gateway, tokens) == before  # nothing recorded
