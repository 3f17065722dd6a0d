"""The sealer keeps the chain head it appended in memory between rounds (issue 16's POST CPU: the
head was read back from the store every round), on PostgreSQL behind a check made by the insert
itself: the links are appended only if the stored link at the remembered head is still the one
remembered. A chain rewritten, cut back or extended by another sealer meanwhile is found, the head
is read again and the chain stays whole (``verify`` finds nothing wrong)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from registry.application import CountyCommands
from registry.main import SPEC

from shared.infra.audit import ChainSealer
from shared.infra.service import open_store
from shared.infra.store import CommandContext
from tests.integration.rewrite import _connect

CODES = iter(f"6404{n:02d}" for n in range(10, 99))


def add_county(store: Any) -> None:
    with store.command(CommandContext(county="province", actor="test")):
        code = next(CODES)
        CountyCommands(store).put_county(code, f"县{code}", None)


@pytest.fixture
def store(settings: Any) -> Iterator[Any]:
    app = open_store(SPEC, settings)
    yield app
    app.close()


def whole(sealer: ChainSealer, store: Any) -> bool:
    result = sealer.verify()
    assert result.problems == [] and result.unsealed == 0, result.as_dict()
    return result.verified and result.head_position == store.process_recorder.max_notification_id()


def cut_chain(settings: Any, from_position: int) -> None:
    conn, _, chain, ph = _connect(settings, "registry")
    try:
        conn.execute(f"DELETE FROM {chain} WHERE originator_version >= {ph}", (from_position,))
        conn.commit()
    finally:
        conn.close()


def test_the_head_is_kept_between_rounds_and_every_round_chains_onto_it(store, persistence):
    sealer = ChainSealer(store)
    add_county(store)
    assert sealer.seal_pending() > 0
    reads: list[int] = []
    read_head = sealer.head
    sealer.head = lambda: reads.append(1) or read_head()  # type: ignore[method-assign]
    for _ in range(3):
        add_county(store)
        assert sealer.seal_pending() > 0
    assert reads == ([] if persistence == "postgres" else [1, 1, 1])
    assert sealer.seal_pending() == 0  # idle: the remembered head is dropped …
    add_county(store)
    assert sealer.seal_pending() > 0  # … and read again
    assert len(reads) == (1 if persistence == "postgres" else 5)
    del sealer.head
    assert whole(sealer, store)


def test_a_chain_cut_back_under_the_sealer_is_sealed_again_whole(store, settings):
    sealer = ChainSealer(store)
    for _ in range(3):
        add_county(store)
    sealer.seal_pending()
    cut_at = store.process_recorder.max_notification_id() - 1
    cut_chain(settings, cut_at)  # the remembered head's link is gone
    add_county(store)
    assert sealer.seal_pending() > 0
    assert sealer.links()[cut_at - 1].position == cut_at  # re-sealed from the cut, no gap
    assert whole(sealer, store)


def test_links_another_sealer_appended_meanwhile_are_chained_onto(store):
    sealer, other = ChainSealer(store), ChainSealer(store)
    add_county(store)
    sealer.seal_pending()
    add_county(store)
    assert other.seal_pending() > 0  # an overlapping leader sealed past this sealer's head
    add_county(store)
    sealer.seal_pending()  # its insert conflicts: nothing appended, the head is read again
    sealer.seal_pending()
    assert whole(sealer, store)


def test_a_head_link_rewritten_under_the_sealer_is_not_chained_onto(store, settings, persistence, caplog):
    if persistence != "postgres":
        pytest.skip("the remembered head (and its check) is PostgreSQL's")
    sealer = ChainSealer(store)
    add_county(store)
    sealer.seal_pending()
    head = sealer.head()
    assert head is not None
    conn, _, chain, ph = _connect(settings, "registry")
    try:  # the same link, stored as other bytes (a rewrite the sealer did not make)
        conn.execute(f"UPDATE {chain} SET state = state || ' '::bytea WHERE originator_version = {ph}", (head.position,))
        conn.commit()
    finally:
        conn.close()
    add_county(store)
    assert sealer.seal_pending() > 0  # refused, the head read again, then appended onto it
    assert "changed under the sealer" in caplog.text
    assert whole(sealer, store)



def test_a_round_that_reads_the_head_inserts_its_links_as_given_and_a_stale_one_stores_nothing(store, settings):
    """A round without a remembered head inserts its links as four binary arrays on PostgreSQL
    (issue 16's bulk import: the library's composite array is quoted field by field in Python):
    each link is stored as the bytes given, as the library's insert stores them, and a round on a
    stale head (positions sealed meanwhile by another sealer) is refused whole: nothing stored."""
    from shared.infra.audit import CHAIN_ID, CHAIN_TOPIC

    sealer = ChainSealer(store)
    for _ in range(5):
        add_county(store)
    assert sealer.seal_pending() > 0
    cut_at = store.process_recorder.max_notification_id() - 2
    assert cut_at > 1
    cut_chain(settings, cut_at)
    given: list[Any] = []
    insert = sealer._insert
    sealer._insert = lambda stored: (given.extend(stored), insert(stored))  # type: ignore[method-assign]
    sealer._known = None
    assert sealer.seal_pending() == 3  # the head read, the rest inserted in one round
    del sealer._insert
    stored = sealer.chain.select_events(CHAIN_ID, gt=cut_at - 1)
    assert [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored] == [
        (CHAIN_ID, s.originator_version, CHAIN_TOPIC, s.state) for s in given
    ]
    assert [s.originator_version for s in stored] == [cut_at, cut_at + 1, cut_at + 2]
    stale_head = sealer.links()[cut_at - 2]
    add_county(store)
    stale = ChainSealer(store)
    stale.head = lambda: stale_head  # type: ignore[method-assign]
    assert stale.seal_pending() == 0  # its first position is sealed already: refused, nothing stored
    assert sealer.chain.select_events(CHAIN_ID, desc=True, limit=1)[0].originator_version == cut_at + 2
    assert sealer.seal_pending() > 0 and whole(sealer, store)
