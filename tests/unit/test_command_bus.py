"""The one command pipeline (issue 15 item 1): a typed command runs on the service's CommandBus,
which checks its county against the caller's scope, binds an Idempotency-Key to the command's
fingerprinted fields (not to what is derived from the token or the key) and replays a repeat."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.commands import NOT_FINGERPRINTED, Command, CommandBus, request_fingerprint
from shared.infra.service import run_command
from shared.infra.store import IdempotencyRecord, Repeat, SwpApplication
from shared.rules import Conflict, Forbidden


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str, author: str) -> None:
        self.text = text
        self.author = author


class NotesApp(SwpApplication):
    service = "test"


@dataclass(frozen=True, kw_only=True)
class WriteNote(Command):
    text: str
    author: str = field(default="", metadata=NOT_FINGERPRINTED)


def scope(county: str = "640402") -> CountyScope:
    return CountyScope(county=county, principal=Principal(sub="u1", role=Role.PURCHASER, counties=frozenset({county})))


@pytest.fixture
def bus():
    app = NotesApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = CommandBus(app)

    def write(c: WriteNote) -> Note:
        note = Note(c.text, c.author)
        app.save(note)
        return note

    bus.register(WriteNote, write, lambda c, ids: app.repository.get(uuid.UUID(ids[0])))
    yield bus
    app.close()


def test_a_command_runs_only_in_the_county_of_its_scope(bus):
    with pytest.raises(Forbidden) as refused:
        bus.run(WriteNote(county="640402", text="a"), scope("640522"), (None, None))
    assert refused.value.rule == "R-AUD-6"
    assert bus.store.process_recorder.max_notification_id() in (None, 0)


def test_a_repeated_key_replays_and_derived_fields_do_not_change_the_request(bus):
    first = bus.run(WriteNote(county="640402", text="a", author="x"), scope(), ("k1", None))
    again = bus.run(WriteNote(county="640402", text="a", author="y"), scope(), ("k1", None))
    assert again.id == first.id and again.author == "x"
    with pytest.raises(Conflict):
        bus.run(WriteNote(county="640402", text="b"), scope(), ("k1", None))


def test_a_key_recorded_by_the_untyped_pipeline_still_replays(bus):
    # Before commands were typed, routes fingerprinted their fields as a dict: the same key with
    # the same fields is the same request for the typed command.
    app = bus.store
    note = Note("a", "x")
    run_command(app, scope(), ("k2", None), {"text": "a"}, lambda: app.save(note), lambda _: None)
    assert bus.run(WriteNote(county="640402", text="a"), scope(), ("k2", None)).id == note.id


def test_a_command_type_has_one_handler(bus):
    with pytest.raises(RuntimeError):
        bus.register(WriteNote, lambda c: None, lambda c, ids: None)



@dataclass(frozen=True, kw_only=True)
class WriteTwoNotes(Command):
    """A command that saves twice (as an import saves batch by batch)."""

    texts: tuple[str, str]


def test_a_repeat_of_a_command_that_saved_twice_is_answered_as_of_its_last_save():
    app = NotesApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    bus = CommandBus(app)

    def write_two(c: WriteTwoNotes) -> list[str]:
        notes = [Note(text, "u1") for text in c.texts]
        for note in notes:
            app.save(note)
        return [str(n.id) for n in notes]

    def answered(c: WriteTwoNotes, ids: list[str]) -> list[str | None]:
        found: list[str | None] = []
        for i in ids:
            try:
                found.append(app.repository.get(uuid.UUID(i)).text)
            except AggregateNotFoundError:  # not recorded at the instant answered as of
                found.append(None)
        return found

    bus.register(WriteTwoNotes, write_two, answered)
    command = WriteTwoNotes(county="640402", texts=("a", "b"))
    first, second = (uuid.UUID(i) for i in bus.run(command, scope(), ("k", None)))
    head = app.process_recorder.max_notification_id()
    # Both saves' notes, as they were: the record names both, its last event is the second save's.
    assert bus.run(command, scope(), ("k", None)) == ["a", "b"]
    assert app.process_recorder.max_notification_id() == head  # the repeat recorded nothing
    repeat = app.replay_of("640402", "k", request_fingerprint(scope(), None, command.fingerprint_payload()))
    assert repeat is not None and repeat.aggregate_ids == [str(first), str(second)]
    assert repeat.as_of == app._recorded_at(app.process_recorder.select_events(second, limit=1)[0])


def test_a_key_recorded_before_saves_were_marked_is_answered_live():
    # A v1 record (no as_saved, no SavedAgain) marks only a command's first save: its repeat is
    # answered from the current state, as it was before.
    app = NotesApp({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    record_id = IdempotencyRecord.create_id("test:640402", "old", "fp", [])
    v1_state = {
        "scope": "test:640402", "key": "old", "request_fingerprint": "fp", "aggregate_ids": ["x"],
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-05T08:00:00+00:00"},
        "originator_topic": get_topic(IdempotencyRecord),
    }
    app.recorder.insert_events([StoredEvent(
        originator_id=record_id, originator_version=1, topic=get_topic(IdempotencyRecord.Recorded), state=json.dumps(v1_state).encode()
    )])
    assert app.replay_of("640402", "old", "fp") == Repeat(["x"], None)
    with pytest.raises(Conflict):
        app.replay_of("640402", "old", "another request")
