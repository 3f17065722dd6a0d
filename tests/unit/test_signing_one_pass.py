"""Each event is signed in one JSON pass (issue 16, BENCHMARKS.md "Bulk import"): the state is
encoded directly in its canonical form and those bytes are signed and stored. Before, it was
encoded, decoded and canonically re-encoded; the stored bytes were already that canonical form, so
they must not change — records signed before still verify, and an event signed now is the same
bytes, signature included (Ed25519 is deterministic), as it was then.

``data/signed_before_one_pass.json`` holds real recorded events (the registry, evaluation and
finance fixtures of ``tests/integration/data``, decoded as the services decode them) plus awkward
ones, signed by the mapper as it was at 502c0f9 (before the one pass; ``record()`` below, run in
that checkout: ``python -c "from tests.unit.test_signing_one_pass import record; record()"``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import get_topic
from services_log.application import SetAsList

from shared import audit_chain
from shared.infra.store import SigningMapper, SwpApplication

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "signed_before_one_pass.json"
SOURCES = Path(__file__).parents[1] / "integration" / "data"
SEED = bytes(range(32))
META = {"county": "640402", "actor": "u1", "command_id": "c-1", "correlation_id": "c-1", "causation_id": None,
        "recorded_at": "2026-12-03T08:00:00+00:00"}


class Sheet(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("Noted")
    def note(self, value: Any) -> None:
        self.value = value


class AnyApp(SwpApplication):
    """Decodes and signs the events of every service (the services' transcodings)."""

    service = "test"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())


# Values whose encoding is awkward for a one-pass canonical form: keys that were not strings (the
# canonical form sorts them as the strings they become), strings that look like such keys, keys of
# mixed types, transcoded values nested in lists and dicts, quotes, newlines, non-ASCII, "sig".
AWKWARD: list[Any] = [
    {9: "nine", 10: "ten", -1: "minus"},
    {"10": 1, "9": 2, "true": 3, "null": 4, "NaN": 5},
    {1: "int", "a": "str"},
    {2.5: "x", 10.0: "y"},
    {True: "t", False: "f"},
    {"x": [{"d": date(2026, 1, 2), "n": Decimal("1.50"), "u": uuid.UUID(int=7)}, (1, 2), None]},
    {"meta": {"sig": "not the signature"}, 'say "meta":{} \\ ok': "台账\n\"一\"", "zz": [1, 2.5, -0.0, 10**30]},
    {"when": datetime(2026, 12, 3, 8, 0, tzinfo=UTC), "set": {3, 1, 2}},
    "",
]


def awkward_events() -> list[Any]:
    sheet = Sheet("台账")
    for value in AWKWARD:
        sheet.note(value)
    events = sheet.collect_events()
    for i, domain_event in enumerate(events):
        object.__setattr__(domain_event, "originator_id", uuid.UUID(int=i + 1))
        object.__setattr__(domain_event, "timestamp", datetime(2026, 12, 3, 8, 0, i, tzinfo=UTC))
    return events


def recorded_events(app: SwpApplication) -> list[Any]:
    """The integration fixtures' events, as the services decode them (upcast to today's classes)."""
    out = []
    for name in ("registry_state_untyped", "evaluation_untyped", "finance_schedule_untyped"):
        for r in json.loads((SOURCES / f"{name}.json").read_text()):
            stored = StoredEvent(uuid.UUID(r["originator_id"]), r["originator_version"], r["topic"], r["state"].encode())
            out.append(app.mapper.to_domain_event(stored))
    return out


def all_events(app: SwpApplication) -> list[Any]:
    events = recorded_events(app) + awkward_events()
    for domain_event in events:
        object.__setattr__(domain_event, "meta", dict(getattr(domain_event, "meta", None) or META))
    return events


def record() -> None:
    """Writes ``data/signed_before_one_pass.json`` with the mapper of the current checkout."""
    app = AnyApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.use_signing_key(SEED)
    rows = []
    for domain_event in all_events(app):
        s = app.mapper.to_stored_event(domain_event)
        rows.append({"originator_id": str(s.originator_id), "originator_version": s.originator_version,
                     "topic": s.topic, "state": s.state.decode()})
    DATA.mkdir(exist_ok=True)
    RECORDED.write_text(json.dumps({"public_key": app.audit_public_key_hex, "records": rows}, ensure_ascii=False, indent=0) + "\n")
    app.close()


@pytest.fixture
def app() -> Any:
    application = AnyApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    application.use_signing_key(SEED)
    yield application
    application.close()


def test_records_signed_before_verify_and_are_signed_to_the_same_bytes_now(app):
    recorded = json.loads(RECORDED.read_text())
    assert recorded["public_key"] == app.audit_public_key_hex
    rows = recorded["records"]
    events = all_events(app)
    recorded_count = len(events) - len(AWKWARD) - 1
    assert len(rows) == len(events) > 100
    for i, (row, domain_event) in enumerate(zip(rows, events, strict=True)):
        record = audit_chain.Record(i + 1, row["originator_id"], row["originator_version"], row["topic"], row["state"].encode())
        assert audit_chain.signature_ok(record, app.audit_public_key_hex), row
        stored = app.mapper.to_stored_event(domain_event)
        assert (str(stored.originator_id), stored.originator_version, stored.topic) == (
            row["originator_id"], row["originator_version"], row["topic"])
        assert stored.state.decode() == row["state"], row["topic"]  # same bytes, same signature
        # The old record decodes to an event that signs to the same bytes again; a recorded one
        # decodes to the event as the new path has it in memory (signature included).
        again = app.mapper.to_domain_event(StoredEvent(uuid.UUID(row["originator_id"]), row["originator_version"],
                                                       row["topic"], row["state"].encode()))
        assert app.mapper.to_stored_event(again).state.decode() == row["state"]
        if i < recorded_count:
            assert vars(again) == vars(domain_event), row["topic"]


def test_the_one_pass_is_the_canonical_form_of_what_the_transcoder_encodes(app):
    """What is signed is ``canonical_content`` of the decoded transcoder output — exactly what a
    verifier recomputes — for every state, including those the one pass hands to the slow path."""
    mapper = app.mapper
    assert isinstance(mapper, SigningMapper)
    for domain_event in all_events(app):
        state = {k: v for k, v in vars(domain_event).items() if k not in ("originator_id", "originator_version")}
        assert mapper.canonical_state(state) == audit_chain.canonical_json(json.loads(mapper.transcoder.encode(state)))
        stored = mapper.to_stored_event(domain_event)
        unsigned, sig = audit_chain.unsigned_state(stored.state)
        assert sig is not None
        assert audit_chain.canonical_json(json.loads(stored.state)) == stored.state  # stored canonically
        content = audit_chain.canonical_content(str(stored.originator_id), stored.originator_version, stored.topic, unsigned)
        app._signing_key.public_key().verify(bytes.fromhex(sig), content)  # type: ignore[union-attr]


def test_int_keys_sort_as_strings_like_the_verifier_does(app):
    """The one pass would sort 9 before 10; the canonical form sorts "10" before "9". Such a state
    takes the slow path and still verifies."""
    (domain_event,) = [e for e in awkward_events() if getattr(e, "value", None) == AWKWARD[0]]
    object.__setattr__(domain_event, "meta", dict(META))
    stored = app.mapper.to_stored_event(domain_event)
    assert b'"value":{"-1":"minus","10":"ten","9":"nine"}' in stored.state
    record = audit_chain.Record(1, str(stored.originator_id), stored.originator_version, stored.topic, stored.state)
    assert audit_chain.signature_ok(record, app.audit_public_key_hex)
    assert get_topic(type(domain_event)) == stored.topic

