"""The public contract (API.md, beside the repository): every fixed path exists on its service
with its method, takes the request fields API.md names, answers with the status and the id
fields it names, and responses of the fixed read routes carry the named fields. Integrators code
against these; a rename or a lost field fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from gateway.app import create_app

from shared.testing.fixtures import make_settings

C = "/v1/counties/{county}"
# (service, method, path, request fields API.md names, (status, response fields) or None)
ROUTES: list[tuple[str, str, str, set[str], tuple[int, set[str]] | None]] = [
    ("registry", "put", C, {"name", "policy"}, None),
    ("registry", "get", C, set(), (200, {"name", "policy"})),
    ("registry", "post", f"{C}/providers", {"name", "uscc", "rating", "has_party_org"}, (201, {"provider_id"})),
    ("registry", "post", f"{C}/stations", {"name", "township", "kind"}, (201, {"station_id"})),
    ("registry", "post", f"{C}/workers",
     {"provider_id", "station_id", "name", "birth_date", "education", "qualification", "role", "hired_on"}, (201, {"worker_id"})),
    ("registry", "post", f"{C}/contracts",
     {"provider_id", "station_ids", "purchaser", "signed_on", "effective_on", "period_start", "period_end", "amount_fen",
      "funding", "service_areas", "indicators", "tranche_plan", "cycle_years", "year_index"}, (201, {"contract_id"})),
    ("registry", "get", f"{C}/contracts/{{contract_id}}", set(), (200, {"contract_id"})),
    ("registry", "post", "/v1/programmes", set(), None),
    ("registry", "post", f"{C}/projects", set(), (201, {"project_id"})),
    ("registry", "post", f"{C}/projects/{{project_id}}/decision", set(), None),
    ("registry", "post", f"{C}/projects/{{project_id}}/procurement", set(), (201, {"procurement_id"})),
    ("registry", "post", f"{C}/procurements/{{procurement_id}}/bids", set(), None),
    ("registry", "post", f"{C}/procurements/{{procurement_id}}/award", set(), None),
    ("registry", "post", f"{C}/contracts/{{contract_id}}/filing", set(), None),
    ("registry", "post", f"{C}/contracts/{{contract_id}}/renewal", set(), None),
    ("registry", "post", f"{C}/contracts/{{contract_id}}/termination", set(), None),
    ("services-log", "post", f"{C}/deliveries",
     {"contract_id", "station_id", "worker_ids", "kind", "area", "date", "hours_direct", "hours_other", "person_times",
      "indicator_code"}, (201, {"delivery_id"})),
    ("services-log", "post", f"{C}/deliveries/import", set(), None),
    ("services-log", "post", f"{C}/deliveries/{{delivery_id}}/corrections", set(), None),
    ("services-log", "post", f"{C}/deliveries/{{delivery_id}}/voiding", set(), None),
    ("services-log", "get", f"{C}/contracts/{{contract_id}}/progress", set(), None),
    ("services-log", "get", f"{C}/contracts/{{contract_id}}/briefs/{{month}}", set(), None),
    ("evaluation", "post", "/v1/rubrics", set(), None),
    ("evaluation", "post", f"{C}/evaluations", {"contract_id", "stage", "evaluator_org", "scheduled_on"}, (201, {"evaluation_id"})),
    *[("evaluation", "post", f"{C}/evaluations/{{evaluation_id}}/{step}", set(), None)
      for step in ("self-evaluation", "visits", "surveys", "scores", "conclusion")],
    ("evaluation", "get", "/public/v1/counties/{county}/results", set(), None),
    ("finance", "post", f"{C}/budgets", set(), None),
    ("finance", "get", f"{C}/contracts/{{contract_id}}/tranches", set(),
     (200, {"seq", "percent", "amount_fen", "trigger", "status", "due_on", "provisional"})),
    ("finance", "post", f"{C}/contracts/{{contract_id}}/tranches/{{seq}}/payment", {"paid_on", "voucher"}, None),
    ("finance", "post", f"{C}/contracts/{{contract_id}}/expenses", {"category", "amount_fen", "spent_on", "voucher"}, None),
]
SERVICES = ("registry", "services-log", "evaluation", "finance")
for _svc in SERVICES:
    ROUTES += [
        (_svc, "get", "/health", set(), None),
        (_svc, "get", "/asyncapi.json", set(), None),
        (_svc, "get", "/v1/audit/aggregates/{id}", set(), None),
        (_svc, "get", "/v1/audit/events", set(), None),
        (_svc, "get", "/v1/audit/verify", set(), None),
    ]
QUERY = {("/v1/audit/aggregates/{id}", "as_of"), ("/v1/audit/events", "after")}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    cfg = make_settings("sqlite", "nats://127.0.0.1:1", tmp_path_factory.mktemp("contract"))
    services = create_app(cfg).state.services
    return {name: services[name].openapi() for name in SERVICES}


def shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "items" in schema:
        return resolve(doc, schema["items"])
    for key in ("allOf", "anyOf"):
        if key in schema:
            merged: dict[str, Any] = {"properties": {}}
            for part in schema[key]:
                merged["properties"] |= resolve(doc, part).get("properties", {})
            return merged
    return schema


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    for candidate, operations in doc["paths"].items():
        if shape(candidate) == shape(path) and method in operations:
            return operations[method]
    return None


@pytest.mark.parametrize(("service", "method", "path", "fields", "answer"), ROUTES, ids=[f"{r[1].upper()} /{r[0]}{r[2]}" for r in ROUTES])
def test_every_fixed_route_of_api_md_is_served_as_written(documents, service, method, path, fields, answer):
    doc = documents[service]
    op = operation(doc, method, path)
    assert op is not None, f"{method.upper()} /{service}{path} (API.md) is not in {service}'s OpenAPI"
    if fields:
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert fields <= set(resolve(doc, body).get("properties", {})), fields - set(resolve(doc, body).get("properties", {}))
    if answer:
        status, named = answer
        assert str(status) in op["responses"], (path, list(op["responses"]))
        schema = resolve(doc, op["responses"][str(status)]["content"]["application/json"]["schema"])
        assert named <= set(schema.get("properties", {})), named - set(schema.get("properties", {}))
    for route, parameter in QUERY:
        if shape(route) == shape(path):
            assert parameter in {p["name"] for p in op.get("parameters", [])}, (path, parameter)


def test_tranche_status_values_are_the_five_of_api_md(documents):
    doc = documents["finance"]
    op = operation(doc, "get", f"{C}/contracts/{{contract_id}}/tranches")
    assert op is not None
    item = resolve(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
    status = item["properties"]["status"]
    values = set(status.get("enum") or resolve(doc, status).get("enum") or [])
    described = status.get("description", "")
    expected = {"awaiting_trigger", "scheduled", "paid", "withheld", "overdue"}
    assert values == expected or all(v in described for v in expected), status


def test_the_contract_this_test_encodes_is_the_one_beside_the_repository():
    """Where the specification sits beside the checkout (developer machines), every fixed route
    path it lists is in the table above: the table cannot silently fall behind API.md."""
    spec = Path(__file__).resolve().parents[2].parent / "shared" / "API.md"
    if not spec.exists():
        pytest.skip("API.md is not beside this checkout (a CI clone elsewhere): the table above stands for it")
    listed = {(s, shape(p)) for s, _, p, _, _ in ROUTES}
    for service, path in re.findall(r"`(?:GET|POST|PUT) /(registry|services-log|evaluation|finance)(/[^`?\s]+)", spec.read_text()):
        if "<svc>" not in path:
            assert (service, shape(path)) in listed, f"/{service}{path}"
