"""Schema evolution (R-AUD-5): every published event type has a committed, versioned JSON schema
snapshot, and the code's schema is only ever an additive change of it within that version."""

from __future__ import annotations

import json

from shared.events import EVENT_TYPES, load_all
from shared.events.compat import breaking_changes, current_schema, snapshot_path
from shared.events.registry import ContractSigned


def test_every_event_type_matches_its_committed_snapshot():
    load_all()
    missing, broken = [], {}
    for cls in EVENT_TYPES.values():
        path = snapshot_path(cls)
        if not path.exists():
            missing.append(str(path))
            continue
        problems = breaking_changes(json.loads(path.read_text()), current_schema(cls))
        if problems:
            broken[f"{cls.service}.{cls.event_type}.v{cls.schema_version}"] = problems
    assert not missing, f"no schema snapshot (run `python -m shared.events.compat`): {missing}"
    assert not broken, f"incompatible changes within a version — bump the version instead: {broken}"


def test_the_rules_catch_each_kind_of_breaking_change():
    old = current_schema(ContractSigned)
    assert breaking_changes(old, old) == []

    removed = json.loads(json.dumps(old))
    del removed["properties"]["amount_fen"]
    assert "field 'amount_fen' removed" in breaking_changes(old, removed)

    retyped = json.loads(json.dumps(old))
    retyped["properties"]["amount_fen"] = {"type": "number"}
    assert "field 'amount_fen' changed type" in breaking_changes(old, retyped)

    new_required = json.loads(json.dumps(old))
    new_required["properties"]["budget_line"] = {"type": "string"}
    new_required["required"].append("budget_line")
    assert any("budget_line" in p for p in breaking_changes(old, new_required))

    additive = json.loads(json.dumps(old))
    additive["properties"]["budget_line"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert breaking_changes(old, additive) == []
