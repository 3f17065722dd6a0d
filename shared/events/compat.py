"""Schema evolution rules for integration events (R-AUD-5), and the snapshots that enforce them.

Within a schema version changes are additive only: a new field must be optional, no field is
removed, renamed or changes type. Anything else is a new version (``@integration_event(...,
version=2)``) with its own snapshot, while the old snapshot stays as the record of what
subscribers may still hold. Snapshots live in ``shared/events/schemas/<service>/<Type>.v<N>.json``;
``python -m shared.events.compat`` writes the ones that are missing (never overwrites).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.events import EVENT_TYPES, IntegrationEvent, load_all

SCHEMA_DIR = Path(__file__).parent / "schemas"


def snapshot_path(cls: type[IntegrationEvent]) -> Path:
    return SCHEMA_DIR / cls.service / f"{cls.event_type}.v{cls.schema_version}.json"


def current_schema(cls: type[IntegrationEvent]) -> dict[str, Any]:
    return cls.model_json_schema(mode="serialization")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return schema.get("$defs", {}).get(ref.split("/")[-1], {})
    return node


def _shape(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    """A comparable description of a property's type (refs resolved, titles ignored)."""
    node = _resolve(schema, node)
    if "anyOf" in node:
        return ("anyOf", sorted(json.dumps(_shape(schema, n), sort_keys=True) for n in node["anyOf"]))
    kind = node.get("type")
    if kind == "array":
        return ("array", _shape(schema, node.get("items", {})))
    if kind == "object" and "properties" in node:
        return ("object", {k: _shape(schema, v) for k, v in node["properties"].items()})
    return (kind, node.get("format"))


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` would break a subscriber written against ``old`` (same version)."""
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, prop in old_props.items():
        if name not in new_props:
            problems.append(f"field {name!r} removed")
        elif _shape(old, prop) != _shape(new, new_props[name]):
            problems.append(f"field {name!r} changed type")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"field {name!r} is newly required" + ("" if name in old_props else " (new fields must be optional)"))
    return problems


def write_missing() -> list[Path]:
    load_all()
    written = []
    for cls in EVENT_TYPES.values():
        path = snapshot_path(cls)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(current_schema(cls), indent=2, ensure_ascii=False, sort_keys=True) + "\n")
            written.append(path)
    return written


if __name__ == "__main__":
    for p in write_missing():
        print(f"wrote {p}")
