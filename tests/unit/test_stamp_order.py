"""A store's saves stamp their events (``recorded_at``) and commit them in stamp order, and a live
read names an instant it shows exactly the history recorded by (R-AUD-3, ``StampOrder``): before
the stamp of a save still in flight, never before one already committed. In memory."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.infra.store import CommandContext, SwpApplication


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class NoteBook(SwpApplication):
    service = "notes"


def recorded_at(app: NoteBook, note_id: uuid.UUID) -> datetime:
    stored = app.process_recorder.select_events(note_id, limit=1)[0]
    return datetime.fromisoformat(app.mapper.to_domain_event(stored).meta["recorded_at"])


def test_a_save_stamped_first_commits_first_and_reads_meanwhile_name_an_instant_before_it() -> None:
    app = NoteBook(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    insert = app.process_recorder.insert_events
    held, release = threading.Event(), threading.Event()

    def slow_insert(*args: Any, **kwargs: Any) -> Any:  # the first save, stamped, waits to commit
        if not held.is_set():
            held.set()
            assert release.wait(timeout=10)
        return insert(*args, **kwargs)

    app.process_recorder.insert_events = slow_insert  # type: ignore[method-assign]
    first, second = Note("先"), Note("后")

    def save(note: Note) -> None:
        with app.command(CommandContext(county="640402", actor="t")):
            app.save(note)

    slow = threading.Thread(target=save, args=(first,))
    slow.start()
    assert held.wait(timeout=10)
    quick = threading.Thread(target=save, args=(second,))
    quick.start()
    quick.join(timeout=0.3)
    # The later save waits for the earlier one to commit: it cannot land before it in the log
    # while stamped after it, which no instant's history could show.
    assert quick.is_alive() and app.process_recorder.max_notification_id() is None
    named = app.stamp_order.settled()  # a live read now sees neither save
    release.set()
    slow.join(timeout=10)
    quick.join(timeout=10)
    stamps = [recorded_at(app, n.id) for n in (first, second)]
    positions = [app.process_recorder.select_notifications(1, 10)[i].originator_id for i in (0, 1)]
    assert positions == [first.id, second.id] and named < stamps[0] < stamps[1]
    # Once both committed, a read names an instant that includes both, and later stamps follow it.
    after = app.stamp_order.settled()
    assert after >= stamps[1]
    save(third := Note("再"))
    assert recorded_at(app, third.id) > after
    app.close()
