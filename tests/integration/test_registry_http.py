"""Every registry route checks the token, the role and the county (R-AUD-6): 401 without a valid
token, 403 for a role or county not granted, 404 for another county's ids under our county. The
public provider list needs no token and shows no personal data (R-REG-9). SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from registry.api import ROUTERS as REGISTRY_ROUTERS

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER, setup_county, sign
from tests.integration.test_registry_helpers import REG, check

C = f"{REG}/{{county}}"
# (method, path, body, a role that may call it); {provider} {station} {worker} {contract} {change} are
# filled with ids of the county in the path.
ROUTES: list[tuple[str, str, dict[str, Any] | None, Role]] = [
    ("GET", REG, None, Role.PROVINCE_ADMIN),  # every county: province-wide tokens only
    ("PUT", C, {"name": "县"}, Role.PROVINCE_ADMIN),
    ("GET", C, None, Role.PURCHASER),
    ("GET", f"{C}/funding", None, Role.PURCHASER),
    ("POST", f"{C}/providers", {"name": "x", "uscc": "52640402MJY1000012"}, Role.PURCHASER),
    ("GET", f"{C}/providers", None, Role.PURCHASER),
    ("GET", f"{C}/providers/{{provider}}", None, Role.PURCHASER),
    ("POST", f"{C}/providers/{{provider}}/profile", {"rating": "5A", "has_party_org": True}, Role.PURCHASER),
    ("POST", f"{C}/providers/{{provider}}/bans", {"banned_on": "2026-01-01", "until": "2026-01-02", "reason": "x"}, Role.PURCHASER),
    ("POST", f"{C}/providers/{{provider}}/disclosures",
     {"kind": "basic_info", "title": "机构简介", "published_on": "2026-01-01"}, Role.PURCHASER),
    ("POST", f"{C}/stations", {"name": "x", "township": "x", "kind": "street_station"}, Role.PURCHASER),
    ("GET", f"{C}/stations", None, Role.PURCHASER),
    ("POST", f"{C}/workers", {"provider_id": "{provider}", "station_id": "{station}", "name": "x", "birth_date": "1995-01-01",
                              "education": "本科", "qualification": "none", "role": "social_worker", "hired_on": "2026-01-01"}, Role.PURCHASER),
    ("GET", f"{C}/workers", None, Role.PURCHASER),
    ("GET", f"{C}/workers/{{worker}}", None, Role.PURCHASER),
    ("GET", f"{C}/workers/{{worker}}/workplace", None, Role.PURCHASER),
    ("POST", f"{C}/workers/{{worker}}/move", {"to_station_id": "{station}", "moved_on": "2026-12-01"}, Role.PURCHASER),
    ("POST", f"{C}/workers/{{worker}}/qualification", {"qualification": "高级社会工作师", "qualified_on": "2026-12-01"}, Role.PURCHASER),
    ("POST", f"{C}/workers/{{worker}}/leaving", {"left_on": "2026-12-31"}, Role.PURCHASER),
    ("POST", f"{C}/contracts", {}, Role.PURCHASER),
    ("GET", f"{C}/contracts", None, Role.PURCHASER),
    ("POST", f"{C}/contracts/expiry", {"as_of": "2026-01-01"}, Role.PURCHASER),
    ("GET", f"{C}/contracts/{{contract}}", None, Role.PURCHASER),
    ("POST", f"{C}/contracts/{{contract}}/filing", {"filed_on": "2026-09-30"}, Role.PURCHASER),
    ("POST", f"{C}/contracts/{{contract}}/scope-changes",
     {"service_areas": ["社会救助"], "effective_on": "2026-12-01", "reason": "x"}, Role.PURCHASER),
    ("POST", f"{C}/contracts/{{contract}}/scope-changes/{{change}}/decision", {"approved": True, "decided_on": "2026-12-01"}, Role.PURCHASER),
    ("POST", f"{C}/contracts/{{contract}}/renewal", {"signed_on": "2027-09-10"}, Role.PURCHASER),
    ("POST", f"{C}/contracts/{{contract}}/termination", {"terminated_on": "2026-12-31", "kind": "agreement", "reason": "x"}, Role.PURCHASER),
]
HAS_IDS = ("{provider}", "{station}", "{worker}", "{contract}", "{change}")


def fill(template: Any, county: str, ids: dict[str, str]) -> Any:
    text = json.dumps(template).replace("{county}", county)
    for name, value in ids.items():
        text = text.replace("{" + name + "}", value)
    return json.loads(text)


async def cast_of(gateway, tokens, county: str) -> dict[str, str]:
    setup = await setup_county(gateway, tokens, county)
    contract = (await check(sign(gateway, county, setup), 201))["contract_id"]
    workers = await check(gateway.get(f"{REG}/{county}/workers", headers=setup["purchaser"]), 200)
    ask = {"service_areas": ["社会救助", "养老服务"], "effective_on": "2026-12-01", "reason": "为老服务"}
    change = (await check(gateway.post(f"{REG}/{county}/contracts/{contract}/scope-changes", json=ask, headers=setup["purchaser"]), 201))
    return {"provider": setup["provider_id"], "station": setup["station_ids"][0], "worker": workers[0]["worker_id"],
            "contract": contract, "change": change["change_id"]}


async def test_every_route_checks_token_role_and_county(gateway, tokens):
    ours, theirs = await cast_of(gateway, tokens, COUNTY), await cast_of(gateway, tokens, OTHER)
    head = (await gateway.get("/registry/health")).json()["store"]["head"]
    for method, path, body, role in ROUTES:
        url, payload = fill(path, COUNTY, ours), fill(body, COUNTY, ours)
        label = f"{method} {path}"
        # No token, or one that is not ours: 401.
        r = await gateway.request(method, url, json=payload)
        assert r.status_code == 401, label
        r = await gateway.request(method, url, json=payload, headers={"Authorization": "Bearer forged.token.value"})
        assert r.status_code == 401, label
        # A role the route does not serve: 403 (a social worker's token; for writes also an auditor's).
        r = await gateway.request(method, url, json=payload, headers=tokens(Role.WORKER, COUNTY))
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", label
        if method != "GET":
            r = await gateway.request(method, url, json=payload, headers=tokens(Role.AUDITOR, "*"))
            assert r.status_code == 403, label
        # The right role for another county: 403.
        r = await gateway.request(method, url, json=payload, headers=tokens(role, OTHER))
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", label
        # Their ids under our county are unknown here: 404 (never their data).
        if any(marker in path for marker in HAS_IDS):
            r = await gateway.request(method, fill(path, COUNTY, theirs), json=fill(body, COUNTY, ours), headers=tokens(role, COUNTY))
            assert r.status_code == 404, f"{label}: {r.text}"
    # None of that recorded anything.
    assert (await gateway.get("/registry/health")).json()["store"]["head"] == head

    # Reads are open to the county's other roles, including auditors; a province-wide token sees every county.
    for role in (Role.PURCHASER, Role.FINANCE, Role.EVALUATOR, Role.AUDITOR):
        await check(gateway.get(f"{REG}/{COUNTY}/contracts/{ours['contract']}", headers=tokens(role, COUNTY)), 200)
    await check(gateway.get(f"{REG}/{OTHER}/contracts/{theirs['contract']}", headers=tokens(Role.PROVINCE_ADMIN, "*")), 200)
    # A body naming another county's records is refused naming the field.
    body = {"to_station_id": theirs["station"], "moved_on": "2026-12-01"}
    r = await gateway.post(f"{REG}/{COUNTY}/workers/{ours['worker']}/move", json=body, headers=tokens(Role.PURCHASER, COUNTY))
    assert r.status_code == 422 and r.json()["field"] == "to_station_id"


async def test_the_public_provider_list_needs_no_token_and_shows_no_personal_data(gateway, tokens):
    ours = await cast_of(gateway, tokens, COUNTY)
    purchaser = tokens(Role.PURCHASER, COUNTY)
    provider = tokens(Role.PROVIDER, COUNTY, provider_id=ours["provider"])
    reports = f"{REG}/{COUNTY}/providers/{ours['provider']}/disclosures"
    report = {"kind": "annual_financial_report", "title": "2025年度财务审计报告", "year": 2025, "summary": "收入 98 万元，支出 95 万元",
              "url": "https://example.org/mingde/2025.pdf", "published_on": "2026-04-30"}
    await check(gateway.post(reports, json=report, headers=provider), 201)
    r = await gateway.post(reports, json={**report, "year": None}, headers=provider)
    assert r.status_code == 422 and (r.json()["rule"], r.json()["field"]) == ("R-REG-9", "year")
    r = await gateway.post(reports, json=report, headers=tokens(Role.PROVIDER, COUNTY, provider_id="someone-else"))
    assert r.status_code == 404  # another provider's record: as if unknown (docs/ACCESS.md)

    listed = await check(gateway.get(f"/registry/public/v1/counties/{COUNTY}/providers", params={"as_of": "2026-10-01"}), 200)
    (mingde,) = listed
    assert (mingde["name"], mingde["rating"], mingde["banned_until"]) == ("明德社会工作服务中心", "4A", None)
    assert (mingde["staff"], mingde["staff_by_qualification"]) == (2, {"助理社会工作师": 2})
    assert [d["title"] for d in mingde["disclosures"]] == ["2025年度财务审计报告"]
    assert [(p["contract_id"], p["status"]) for p in mingde["projects"]] == [(ours["contract"], "signed")]
    # No worker's name, birth date or id appears anywhere.
    workers = await check(gateway.get(f"{REG}/{COUNTY}/workers", headers=purchaser), 200)
    text = json.dumps(listed, ensure_ascii=False)
    for w in workers:
        assert w["name"] not in text and w["birth_date"] not in text and w["worker_id"] not in text
    # An unregistered county has no list.
    r = await gateway.get("/registry/public/v1/counties/441602/providers")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_every_registry_route_is_covered_here():
    # A new route must join ROUTES above (so it is checked for 401/403/404 too).
    app = FastAPI()
    for router in REGISTRY_ROUTERS:
        app.include_router(router)
    paths = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops if p.startswith("/v1/counties")}
    covered = {(m, p.replace(REG, "/v1/counties").replace("{{", "{").replace("}}", "}")) for m, p, _, _ in ROUTES}
    named = {(m, p.replace("{provider}", "{provider_id}").replace("{station}", "{station_id}").replace("{worker}", "{worker_id}")
              .replace("{contract}", "{contract_id}").replace("{change}", "{change_id}")) for m, p in covered}
    assert paths == named
