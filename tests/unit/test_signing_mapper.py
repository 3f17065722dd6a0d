"""Events are signed as they are encoded (one encoding, BENCHMARKS.md §3): what is stored verifies
against the writer's key, decodes to the event as it was in memory, and any change is detected."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared import audit_chain
from shared.infra.store import CommandContext, SigningMapper, SwpApplication


class Ledger(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[dict[str, Any]] = []

    @event("Booked")
    def book(self, day: date, amount: Decimal, note: str, extra: dict[str, Any]) -> None:
        self.entries.append({"day": day, "amount": amount, "note": note, "extra": extra})


class LedgerApp(SwpApplication):
    service = "test"


def records(app: SwpApplication) -> list[audit_chain.Record]:
    notifications = app.process_recorder.select_notifications(start=1, limit=100)
    return [audit_chain.Record(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in notifications]


def saved_ledger(app: SwpApplication) -> Ledger:
    ledger = Ledger("台账 \"一\"\n")
    # Awkward content: quotes, newlines, non-ASCII, a nested "meta" key, keys around "sig".
    ledger.book(date(2026, 10, 5), Decimal("2.50"), 'say "meta":{} \\ ok', {"meta": {"sig": "x"}, "zz": [1, 2.5, None]})
    with app.command(CommandContext(county="640402", actor="u1", correlation_id="corr-1")):
        app.save(ledger)
    return ledger


def test_each_stored_event_is_signed_once_and_verifies():
    app = LedgerApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.use_signing_key(bytes(range(32)))
    assert isinstance(app.mapper, SigningMapper)
    ledger = saved_ledger(app)
    stored = records(app)
    assert len(stored) == 2
    for record in stored:
        assert audit_chain.signature_ok(record, app.audit_public_key_hex), record
        state, sig = audit_chain.unsigned_state(record.state)
        assert sig is not None and json.loads(record.state)["meta"]["sig"] == sig
        assert state["meta"]["actor"] == "u1" and state["meta"]["correlation_id"] == "corr-1"
    # The stored events decode to what was recorded, signature included.
    again = app.repository.get(ledger.id)
    assert again.entries == ledger.entries and again.name == ledger.name
    events = list(app.events.get(ledger.id))
    assert all(audit_chain.SIG_FIELD in e.meta for e in events)
    app.close()


def test_a_changed_record_no_longer_verifies():
    app = LedgerApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.use_signing_key(bytes(range(32)))
    saved_ledger(app)
    record = records(app)[1]
    tampered = audit_chain.Record(
        record.position, record.aggregate_id, record.version, record.topic, record.state.replace(b"2.50", b"25.0")
    )
    assert audit_chain.signature_ok(record, app.audit_public_key_hex)
    assert not audit_chain.signature_ok(tampered, app.audit_public_key_hex)
    app.close()


def test_without_a_key_nothing_is_signed():
    app = LedgerApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    saved_ledger(app)
    assert all(audit_chain.unsigned_state(r.state)[1] is None for r in records(app))
    app.close()


def test_meta_keys_sorting_after_the_signature_are_signed_correctly_too():
    app = LedgerApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.use_signing_key(bytes(range(32)))
    domain_event = Ledger("x").collect_events()[0]
    object.__setattr__(domain_event, "meta", {"actor": "u1", "zone": "after sig"})
    stored = app.mapper.to_stored_event(domain_event)
    record = audit_chain.Record(1, str(stored.originator_id), stored.originator_version, stored.topic, stored.state)
    assert audit_chain.signature_ok(record, app.audit_public_key_hex)
    assert json.loads(stored.state)["meta"]["zone"] == "after sig"
    app.close()
