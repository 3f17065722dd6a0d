"""Every route × every role × own/other county × own/other party × own/other worker × province-wide token, against
the policy table in docs/ACCESS.md (R-AUD-6). Routes are taken from each service's OpenAPI
document, so a new route fails this test until the table lists it; a stale row fails it too.

Resources of the path are real where the test has them (county A's contract, worker, delivery,
evaluation and provider, all of provider P1 and evaluator organisation E1), so a party's own
resource must answer and another party's must be 404 — shaped like an unknown id's. Writes send a
body that is never valid (``[]``): an admitted caller gets past the access policy (422 or a 404 of
an unknown id), a refused one is 403, and nothing is recorded."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.infra.auth import PROVINCE_WIDE_ROLES, Role
from tests.integration.slice import OTHER as B
from tests.integration.test_evaluation_support import check, wait_for
from tests.integration.test_services_log_support import LOG, OTHER_USCC, open_county

# Routes asked again with query parameters that widen what they answer (each set through every role
# and party too): the worker's workplace over a window of days (its contracts worked under).
QUERIES: dict[tuple[str, str, str], list[dict[str, str] | None]] = {
    ("registry", "GET", "/v1/counties/{county}/workers/{worker_id}/workplace"): [
        None,
        {"as_of": "2026-11-02", "since": "2026-09-01", "limit": "5"},
    ],
}
TABLE = Path(__file__).resolve().parents[2] / "docs" / "ACCESS.md"
SERVICES = ("registry", "services-log", "evaluation", "finance")
# The roles an owner check limits, per kind of resource (docs/ACCESS.md, "Ownership").
PARTY_ROLES = {Role.PROVIDER, Role.WORKER}
# Resources a worker's token reaches only when they name its worker_id (its deliveries, its record).
WORKER_OWNED = {("services-log", "delivery"), ("services-log", "worker"), ("registry", "worker")}
# Routes that act without any body: an admitted caller really acts (a writer key rotation, a tree
# head published now), so it must succeed, and what it records is expected (every other admitted
# write is refused).
ACTS_WITHOUT_BODY = {("POST", "/v1/audit/keys/rotate"), ("POST", "/v1/audit/tree-heads")}


@dataclass(frozen=True)
class Row:
    roles: frozenset[str]
    scope: str
    owns: str | None


def policy_table() -> dict[tuple[str, str, str], Row]:
    rows: dict[tuple[str, str, str], Row] = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] not in SERVICES:
            continue
        service, method, path, roles, scope, owns = cells
        assert (service, method, path) not in rows, f"docs/ACCESS.md lists {method} {path} of {service} twice"
        rows[(service, method, path)] = Row(
            frozenset(r.strip() for r in roles.split(",") if r.strip() not in ("", "-")), scope, None if owns == "-" else owns
        )
    return rows


async def openapi_routes(gateway) -> set[tuple[str, str, str]]:
    found = set()
    for service in SERVICES:
        doc = (await gateway.get(f"/{service}/openapi.json")).json()
        found |= {(service, method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    return found


def owner_limited(role: Role, service: str, row: Row) -> bool:
    if row.owns is None:
        return False
    if role in PARTY_ROLES:
        return True
    return role == Role.EVALUATOR and (row.owns == "evaluation" or (row.owns == "contract" and service == "evaluation"))


def expected(service: str, row: Row, role: Role, variant: str) -> str:
    """``allow``, ``deny`` (403) or ``hidden`` (404 like an unknown id)."""
    if row.scope in ("public", "ops"):
        return "allow"
    if role not in row.roles:
        return "deny"
    if variant in ("no_provider_id", "no_worker_id"):
        return "deny"
    if row.scope == "province-wide":
        return "allow" if variant == "star" and role in PROVINCE_WIDE_ROLES else "deny"
    if row.scope in ("county", "record") and (variant == "other_county" or (variant == "star" and role not in PROVINCE_WIDE_ROLES)):
        return "deny"
    if variant == "other_party" and owner_limited(role, service, row):
        return "hidden"
    if variant == "other_worker" and (service, row.owns) in WORKER_OWNED:
        return "hidden"
    return "allow"


def fill(path: str, ids: dict[str, str]) -> str:
    defaults = {"year": "2026", "seq": "1", "version": "1", "month": "2026-10", "quarter": "2026-Q4", "position": "1",
                "kind": "approved"}
    return re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), defaults.get(m.group(1), str(uuid.uuid4()))), path)


async def store_heads(gateway) -> dict[str, int]:
    return {s: (await gateway.get(f"/{s}/health")).json()["store"]["head"] for s in SERVICES}


async def test_every_route_answers_every_role_and_party_as_the_access_table_says(gateway, tokens):
    table = policy_table()
    routes = await openapi_routes(gateway)
    assert not routes - set(table), f"routes without an access policy in docs/ACCESS.md: {sorted(routes - set(table))}"
    assert not set(table) - routes, f"docs/ACCESS.md lists routes that do not exist: {sorted(set(table) - routes)}"

    # County A: provider P1 with its contract, workers, a delivery and an evaluation assigned to E1;
    # provider P2 of the same county owns nothing of that.
    place = await open_county(gateway, tokens)
    A, P1, purchaser = place.county, place.provider_id, place.headers["purchaser"]
    P2 = (await check(gateway.post(f"/registry/v1/counties/{A}/providers", json={"name": "仁爱社会工作服务中心", "uscc": OTHER_USCC,
                                                                                   "rating": "3A"}, headers=purchaser), 201))["provider_id"]
    delivery = (await check(gateway.post(f"{LOG}/{A}/deliveries", json=place.delivery(), headers=place.headers["provider"]), 201))["delivery_id"]
    person = (await check(gateway.post(f"{LOG}/{A}/beneficiaries", json={"name": "欧阳某"}, headers=place.headers["provider"]), 201))
    # A provider cannot cite another provider's beneficiary in its records: as if unknown.
    stranger = (await check(gateway.post(f"{LOG}/{A}/beneficiaries", json={"name": "司马某"},
                                         headers=tokens(Role.PROVIDER, A, provider_id=P2)), 201))["beneficiary_ref"]
    r = await gateway.post(f"{LOG}/{A}/deliveries", json=place.delivery(beneficiary_refs=[stranger]), headers=place.headers["provider"])
    assert r.status_code == 422 and r.json()["field"] == "beneficiary_refs.0", r.text
    await wait_for(gateway, f"/evaluation/v1/counties/{A}/contracts/{place.contract_id}", purchaser)
    await wait_for(gateway, f"/finance/v1/counties/{A}/contracts/{place.contract_id}/tranches", purchaser)
    base = f"/evaluation/v1/counties/{A}/evaluators"
    E1 = (await check(gateway.post(base, json={"name": "汉达社会工作评估中心", "certificate_no": "PG-1", "accredited_until": "2027-12-31"},
                                   headers=purchaser), 201))["evaluator_org"]
    await check(gateway.post("/evaluation/v1/rubrics", json={"name": "统一评估标准"}, headers=tokens(Role.PROVINCE_ADMIN, "*")), 201)
    evaluation = (await check(gateway.post(f"/evaluation/v1/counties/{A}/evaluations", headers=purchaser, json={
        "contract_id": place.contract_id, "stage": "midterm", "evaluator_org": E1, "scheduled_on": "2027-03-01"}), 201))["evaluation_id"]
    await check(gateway.put(f"/registry/v1/counties/{B}", json={"name": "涿鹿县"}, headers=tokens(Role.PROVINCE_ADMIN, "*")), 200)
    ids = {"county": A, "contract_id": place.contract_id, "provider_id": P1, "worker_id": place.workers["李娜"],
           "delivery_id": delivery, "evaluation_id": evaluation, "evaluator_org": E1,
           "beneficiary_ref": person["beneficiary_ref"]}
    real = set(ids)

    callers: set[str] = set()

    def token(role: Role, variant: str) -> dict[str, str]:
        claims: dict[str, str] = {}
        if role in PARTY_ROLES and variant != "no_provider_id":
            claims["provider_id"] = P2 if variant == "other_party" else P1
        if role == Role.WORKER and variant != "no_worker_id":
            # 李娜 delivered the delivery; 王静 is a worker of the same provider who did not.
            claims["worker_id"] = place.workers["王静" if variant == "other_worker" else "李娜"]
        if role == Role.EVALUATOR:
            claims["evaluator_org"] = "another-org" if variant == "other_party" else E1
        counties = {"other_county": (B,), "star": ("*",)}.get(variant, (A,))
        callers.add(f"{role}-{variant}")
        return tokens(role, *counties, sub=f"{role}-{variant}", **claims)

    # The audit routes naming one record: a record of county A on each service.
    per_service: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        feed = (await gateway.get(f"/{service}/v1/audit/events?county={A}&limit=1", headers=tokens(Role.AUDITOR, "*"))).json()
        event = feed["events"][0]
        per_service[service] = {**ids, "position": str(event["position"]), "aggregate_id": event["aggregate_id"]}

    async def try_roles(url: str, method: str, path: str, service: str, row: Any, params: dict[str, str] | None,
                        checked: int, hidden: int, worker_hidden: int) -> tuple[int, int, int]:
        path_ids = set(re.findall(r"{(\w+)}", path))
        for role in Role:
            variants = ["own", "other_county", "star"]
            if role in PARTY_ROLES:
                variants += ["other_party", "no_provider_id"]
            if role == Role.WORKER:
                variants += ["other_worker", "no_worker_id"]
            if role == Role.EVALUATOR:
                variants.append("other_party")
            for variant in variants:
                want = expected(service, row, role, variant)
                kwargs = {"json": []} if method != "GET" else {}
                r = await gateway.request(method, url, headers=token(role, variant), params=params, **kwargs)
                label = (service, method, path, params, str(role), variant, want, r.status_code, r.text[:300])
                assert r.status_code != 500, label
                if want == "deny":
                    assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", label
                elif want == "hidden":
                    hidden += 1
                    worker_hidden += variant == "other_worker"
                    assert r.status_code == 404, label
                    assert "rule" not in r.json() and r.headers["content-type"].startswith("application/problem+json"), label
                else:
                    assert r.status_code not in (401, 403), label
                    if (method, path) in ACTS_WITHOUT_BODY:
                        assert r.status_code in (200, 201), label
                        acted.add(f"{role}-{variant}")
                    if (owner_limited(role, service, row) or variant == "other_worker") and path_ids <= real:
                        assert r.status_code != 404, label  # its own resource is there for it
                checked += 1
        return checked, hidden, worker_hidden

    before = await store_heads(gateway)
    checked = hidden = worker_hidden = 0
    acted: set[str] = set()
    for (service, method, path), row in sorted(table.items()):
        if row.scope == "ops":
            continue
        url = f"/{service}{fill(path, per_service[service])}"
        for params in QUERIES.get((service, method, path), [None]):
            checked, hidden, worker_hidden = await try_roles(url, method, path, service, row, params, checked, hidden, worker_hidden)
    assert checked > 2000 and hidden > 40, (checked, hidden)
    # another worker's deliveries (read, correct, void), record (services-log, registry) and workplace, of the same provider
    assert worker_hidden >= 6, worker_hidden
    # The routes that need no token answer without one; the others are 401.
    for (service, method, path), row in table.items():
        if method == "GET":
            r = await gateway.get(f"/{service}{fill(path, ids)}")
            assert (r.status_code == 401) == (row.scope not in ("public", "ops")), (service, path, r.status_code)
    # None of it recorded anything (consumers may still record what upstream events bring).
    auditor = tokens(Role.AUDITOR, "*")
    for service, head in before.items():
        events = (await gateway.get(f"/{service}/v1/audit/events", params={"after": head or 0, "limit": 1000}, headers=auditor)).json()
        recorded = [e for e in events["events"] if e["actor"] in callers]
        rotations = [e for e in recorded if e["event_type"].startswith("WriterKeys.")]
        assert [e for e in recorded if e not in rotations] == [], service
        assert {e["actor"] for e in rotations} == acted == {f"{Role.PROVINCE_ADMIN}-star"}, service
