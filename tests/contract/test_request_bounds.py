"""Every request a service accepts is bounded by its schema (issue 15), checked on each service's
OpenAPI document so a new route or field is covered the day it is added:

- every array has ``maxItems`` and every map (``additionalProperties``) ``maxProperties``;
- every date or date-time, in a body or a query, has a documented range (``formatMinimum`` /
  ``formatMaximum``, enforced by the shared ``Day`` type: 2000-01-01..2100-12-31 unless a field
  needs wider, such as birth dates).
"""

from __future__ import annotations

from typing import Any

import evaluation.main
import finance.main
import pytest
import registry.main
import services_log.main

from shared.infra.settings import Settings

APPS = {"registry": registry.main, "services-log": services_log.main, "evaluation": evaluation.main, "finance": finance.main}


def unbounded(doc: dict[str, Any]) -> list[str]:
    schemas = doc.get("components", {}).get("schemas", {})
    found: list[str] = []
    seen: set[str] = set()

    def walk(schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(schemas[name], name)
            return
        kind = schema.get("type")
        if kind == "array" and "maxItems" not in schema:
            found.append(f"{where}: array without maxItems")
        if kind == "object" and schema.get("additionalProperties") not in (None, False) and "maxProperties" not in schema:
            found.append(f"{where}: map without maxProperties")
        if schema.get("format") in ("date", "date-time") and not ("formatMinimum" in schema and "formatMaximum" in schema):
            found.append(f"{where}: {schema['format']} without a documented range")
        for key in ("items", "additionalProperties"):
            walk(schema.get(key), f"{where}.{key}")
        for key, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{key}")
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where)

    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for parameter in op.get("parameters", []):
                walk(parameter.get("schema"), f"{method.upper()} {path} ?{parameter['name']}")
            for content in op.get("requestBody", {}).get("content", {}).values():
                walk(content.get("schema"), f"{method.upper()} {path} body")
    return found


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_collection_and_date_of_every_request_is_bounded(service):
    doc = APPS[service].create_app(Settings()).openapi()
    assert unbounded(doc) == []
