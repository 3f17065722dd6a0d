"""The one command pipeline (issue 15 item 1): a typed command runs on the service's CommandBus,
which checks its county against the caller's scope, binds an Idempotency-Key to the command's
fingerprinted fields (not to what is derived from the token or the key) and replays a repeat."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from eventsourcing.domain import Aggregate, event

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.commands import NOT_FINGERPRINTED, Command, CommandBus
from shared.infra.service import run_command
from shared.infra.store import SwpApplication
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
