"""Published bytes are fixed at write time (issue 16 item 3), on real NATS and on SQLite and
PostgreSQL: each event's public envelope is stored in the save's own transaction; the relay sends
those bytes as stored (subscribers receive them byte for byte, nothing is re-mapped); a crash between
the save and the publication loses nothing; the audit feed streams the same bytes; and a store
written before this existed is mapped once, lazily, and then works unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import datetime
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from registry.application import CountyCommands
from registry.main import SPEC

from shared.infra.auth import Role
from shared.infra.outbox import OutboxRelay, envelope_for
from shared.infra.published import FEED_FIELDS, PublishedLog, feed_row
from shared.infra.service import open_store
from shared.infra.store import CommandContext, IntegrityError
from tests.integration.slice import COUNTY, contract_body, setup_county

COUNTIES = [("640402", "原州区"), ("640422", "西吉县"), ("640423", "隆德县")]


async def on_stream(url: str, subjects: str = "swp.*.registry.>", expect: int = 1, timeout: float = 30.0) -> list[Any]:
    """Every message on ``subjects`` from the start of stream SWP (waits for ``expect`` of them)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            sub = await js.subscribe(subjects, ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            msgs = []
            while True:
                try:
                    msgs.append(await sub.next_msg(timeout=0.5))
                except nats.errors.TimeoutError:
                    break
            await sub.unsubscribe()
            if len(msgs) >= expect or asyncio.get_running_loop().time() > deadline:
                return msgs
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def drain(relay: OutboxRelay) -> None:
    while await relay.publish_pending():
        pass


def never_called(_: Any) -> Any:
    raise AssertionError("the relay re-mapped an event whose bytes were stored")


async def test_stored_bytes_are_what_subscribers_receive_and_a_crash_before_publishing_loses_nothing(settings):
    store = open_store(SPEC, settings)
    try:
        with store.command(CommandContext(county="province", actor="test")):
            for code, name in COUNTIES:
                CountyCommands(store).put_county(code, name, None)
        # No relay ever ran: the rows were written by the saves themselves.
        rows = store.process_recorder.select_published(0, 100)
        head = store.process_recorder.max_notification_id()
        assert [r[0] for r in rows] == list(range(1, head + 1))
        public = [r for r in rows if r[7]]
        assert len(public) == len(COUNTIES)
        for r in public:
            env = json.loads(r[12])
            assert env["position"] == r[0] and env["event_type"] == "CountyRegistered"
    finally:
        store.close()  # the process dies before publishing anything

    store = open_store(SPEC, settings)  # restarted
    nc = await nats.connect(settings.nats_url)
    try:
        from shared.infra.nats import ensure_stream

        js = nc.jetstream()
        await ensure_stream(js, 1)
        relay = OutboxRelay(store, js, never_called)  # stored bytes only: mapping would fail the test
        await drain(relay)
        assert relay.published == len(COUNTIES)
        msgs = await on_stream(settings.nats_url, expect=len(COUNTIES))
        assert [m.data for m in msgs] == [r[12] for r in public]  # byte for byte, in log order
        for m, r in zip(msgs, public, strict=True):
            env = json.loads(r[12])
            assert m.headers["Nats-Msg-Id"] == env["event_id"]
            assert m.subject == f"swp.{env['county']}.registry.CountyRegistered"
        # Published again (a crash after the PubAck, before the position moved): deduplicated.
        relay2 = OutboxRelay(store, js, never_called)
        relay2.position = lambda: 0  # type: ignore[method-assign]
        with contextlib.suppress(IntegrityError):  # that position is recorded already
            await relay2.publish_pending()
        assert len(await on_stream(settings.nats_url, expect=len(COUNTIES))) == len(COUNTIES)
    finally:
        await nc.close()
        store.close()


async def test_the_audit_feed_streams_the_published_bytes(gateway, tokens, settings):
    setup = await setup_county(gateway, tokens)
    purchaser = setup["purchaser"]
    r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=contract_body(setup["provider_id"], setup["station_ids"]),
                           headers=purchaser)
    assert r.status_code == 201, r.text

    async def published_all() -> bool:
        body = (await gateway.get("/registry/health")).json()
        return body["outbox"]["pending"] == 0

    for _ in range(300):
        if await published_all():
            break
        await asyncio.sleep(0.1)
    auditor = tokens(Role.AUDITOR, "*")
    lines = await gateway.get("/registry/v1/audit/events", params={"limit": 1000}, headers={**auditor, "Accept": "application/jsonl"})
    assert lines.status_code == 200 and lines.headers["content-type"].startswith("application/jsonl")
    *entries, last = lines.content.splitlines()
    public = [e for e in entries if json.loads(e)["public"]]
    msgs = await on_stream(settings.nats_url, expect=len(public))
    # The feed's public entries are the published messages' bytes (marked public), in order.
    assert public and [e for e in public] == [m.data[:-1] + b',"public":true}' for m in msgs]
    assert json.loads(last) == {"next_after": json.loads(entries[-1])["position"]}
    # The JSON form carries the same entries.
    whole = (await gateway.get("/registry/v1/audit/events", params={"limit": 1000}, headers=auditor)).json()
    assert whole["events"] == [json.loads(e) for e in entries] and whole["next_after"] == json.loads(last)["next_after"]
    # Paged by position, filtered as before.
    page = (await gateway.get("/registry/v1/audit/events", params={"limit": 2, "after": whole["events"][0]["position"]},
                              headers=auditor)).json()
    assert page["events"] == whole["events"][1:3] and page["next_after"] == whole["events"][2]["position"]
    signed = (await gateway.get("/registry/v1/audit/events", params={"event_type": "ContractSigned"}, headers=auditor)).json()
    assert [e["event_type"] for e in signed["events"]] == ["ContractSigned"]


async def test_the_feed_answers_as_a_plain_walk_of_the_log_in_one_buffer_or_streamed(gateway, tokens, monkeypatch, persistence):
    """Every feed read is what a plain walk of the log gives (each entry's bytes in order, the
    filters and the caller's counties applied one entry at a time, ``next_after`` the last position
    looked at), byte for byte, whether the answer was found within a page and sent in one buffer
    or streamed page by page (a filter scanning past a page): issue 16's faster feed reads
    change nothing of what is sent."""
    from shared.infra import audit
    from shared.infra.published import PublishedLog

    whole_pages: list[int] = []  # pages the store composed as one buffer (SQLite)
    read_feed_page = PublishedLog.read_feed_page

    def counted_page(self: PublishedLog, after: int, limit: int, sep: str) -> Any:
        got = read_feed_page(self, after, limit, sep)
        if got is not None:
            whole_pages.append(got[0])
        return got

    monkeypatch.setattr(PublishedLog, "read_feed_page", counted_page)
    setup = await setup_county(gateway, tokens)
    r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=contract_body(setup["provider_id"], setup["station_ids"]),
                           headers=setup["purchaser"])
    assert r.status_code == 201, r.text
    r = await gateway.put("/registry/v1/counties/640422", json={"name": "西吉县"}, headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert r.status_code == 200, r.text  # another county's event: left out for an auditor of COUNTY
    everyone, county_only = tokens(Role.AUDITOR, "*"), tokens(Role.AUDITOR, COUNTY)
    lines = (await gateway.get("/registry/v1/audit/events", params={"limit": 1000}, headers={**everyone, "Accept": "application/jsonl"})).content
    log = [(raw, json.loads(raw)) for raw in lines.splitlines()[:-1]]
    assert len(log) > 6 and {e["county"] for _, e in log} >= {"640422", COUNTY}
    signed = next(e for _, e in log if e["event_type"] == "ContractSigned")

    def walk(seen: set[str] | None, lines: bool, after: int = 0, limit: int = 100, **wanted: str) -> bytes:
        kept, scanned = [], after
        for raw, e in log:
            if e["position"] <= after:
                continue
            scanned = e["position"]
            if (
                (seen is None or e["county"] in seen)
                and all(e[k] == v for k, v in wanted.items() if k in ("county", "event_type", "aggregate_id", "correlation_id"))
                and ("contract_id" not in wanted or wanted["contract_id"] in (e["aggregate_id"], (e.get("data") or {}).get("contract_id")))
                and ("since" not in wanted or datetime.fromisoformat(e["recorded_at"]) >= datetime.fromisoformat(wanted["since"]))
            ):
                kept.append(raw)
                if len(kept) >= limit:
                    break
        if lines:
            return b"".join(k + b"\n" for k in kept) + b'{"next_after":%d}\n' % scanned
        return b'{"events":[' + b",".join(kept) + b'],"next_after":%d}' % scanned

    asks: list[dict[str, Any]] = [
        {}, {"limit": 1}, {"limit": 3, "after": 2}, {"after": log[-1][1]["position"]}, {"county": "640422"},
        {"county": COUNTY, "limit": 2}, {"event_type": "ContractSigned"}, {"contract_id": signed["data"]["contract_id"]},
        {"aggregate_id": signed["aggregate_id"], "limit": 1}, {"correlation_id": signed["correlation_id"]},
        {"since": signed["recorded_at"], "limit": 2},
    ]
    streamed = 0
    for page in (1000, 2):
        monkeypatch.setattr(audit, "FEED_PAGE", page)
        for headers, seen in ((everyone, None), (county_only, {COUNTY})):
            for params in asks:
                for jsonl in (False, True):
                    accept = "application/jsonl" if jsonl else "application/json"
                    r = await gateway.get("/registry/v1/audit/events", params=params, headers={**headers, "Accept": accept})
                    if seen is not None and params.get("county", COUNTY) not in seen:
                        assert r.status_code == 403  # a county not granted is refused, not filtered (R-AUD-6)
                        continue
                    assert r.status_code == 200, r.text
                    assert r.content == walk(seen, jsonl, **params), (page, seen, params, accept)
                    streamed += "content-length" not in r.headers
        if page == 1000:
            assert streamed == 0  # every answer found within a page: one buffer, with its length
    assert streamed > 0  # with pages of two rows, the filtered reads scanned on, streamed
    assert bool(whole_pages) == (persistence == "sqlite")  # the one-buffer page was read (and checked above)


async def test_the_feeds_select_composes_each_entry_as_the_stored_row_gives_it(settings):
    """The feed's select (issue 16's audit-feed target) composes each entry in the store, as
    ``feed_entry`` does from the stored row: a public envelope marked `"public": true`, a private
    entry and an unmappable event's entry as stored; only the asked columns are read."""
    store = open_store(SPEC, settings)
    try:
        with store.command(CommandContext(county="province", actor="test")):
            for code, name in COUNTIES:
                CountyCommands(store).put_county(code, name, None)
        rec = store.process_recorder
        head = rec.max_notification_id()
        private = b'{"event_type":"Noted","position":%d,"data":{"note":"\xe5\x8e\x9f"},"public":false}'
        rec.insert_published([  # past the log: a private event's row and an unmappable event's row
            (head + 1, str(uuid.uuid4()), "Noted", "640402", "c", "", "2026-01-01T00:00:00+00:00", 0, None, "", "", None,
             private % (head + 1)),
            (head + 2, str(uuid.uuid4()), "Broken", "640402", "c", "", "2026-01-01T00:00:00+00:00", 1, "unmappable\tKeyError: 'x'",
             "", "", None, private % (head + 2)),
        ])
        rows = rec.select_published(0, 100)
        assert len(rows) == head + 2 and sum(1 for r in rows if r[7] and not r[8]) == len(COUNTIES)
        for fields in (("county",), FEED_FIELDS, ("recorded_at", "event_type")):
            ordered = tuple(f for f in FEED_FIELDS if f in fields)
            assert [tuple(r) for r in rec.select_feed(0, 100, fields)] == [feed_row(r, ordered) for r in rows]
        feed = rec.select_feed(0, 100, ("county",))
        public = [f for f, r in zip(feed, rows, strict=True) if r[7] and not r[8]]
        assert all(f[-1].endswith(b'},"public":true}') and json.loads(f[-1])["public"] is True for f in public)
        assert feed[-2][-1] == private % (head + 1) and feed[-1][-1] == private % (head + 2)  # as stored
        assert [tuple(r) for r in rec.select_feed(2, 2, ("county",))] == [tuple(r) for r in feed[2:4]]
        with pytest.raises(ValueError, match="not a feed column"):
            rec.select_feed(0, 1, ("subject",))  # composed into SQL: only the feed's own columns
        whole = getattr(rec, "select_feed_page", None)
        if whole is not None:  # SQLite: a page composed in the store as one buffer of the same entries
            for sep in ("\n", ","):
                assert whole(0, head + 2, 100, sep) == (len(feed), head + 2, {f[1] for f in feed}, sep.encode().join(f[-1] for f in feed))
            assert whole(1, 3, 100, ",") == (2, 3, {feed[1][1]}, feed[1][-1] + b"," + feed[2][-1])  # cut at `upto`
            assert whole(0, head + 2, 3, ",")[:2] == (3, 3)  # and at `limit`
            assert whole(head + 2, head + 9, 100, ",") is None  # no row
            rec.insert_published([(head + 3, str(uuid.uuid4()), "Noted", None, "c", "", "2026-01-01T00:00:00+00:00", 0, None, "", "",
                                   None, private % (head + 3))])
            assert whole(head + 2, head + 3, 100, ",") is None  # a row without a county: read one by one
    finally:
        store.close()


async def test_a_store_written_by_the_old_code_is_mapped_once_and_published_unchanged(settings, persistence):
    # The old code path: the library's recorder (no table of published bytes), nothing mapped at save.
    old_recorder = {"sqlite": "eventsourcing.sqlite:SQLiteProcessRecorder", "postgres": "eventsourcing.postgres:PostgresProcessRecorder"}
    from shared.infra.service import prepare_store

    prepare_store(settings, "registry")
    old = SPEC.application({**settings.eventsourcing_env("registry"), "PROCESS_RECORDER_TOPIC": old_recorder[persistence]})
    try:
        assert not hasattr(old.process_recorder, "select_published")
        with old.command(CommandContext(county="province", actor="test")):
            for code, name in COUNTIES:
                CountyCommands(old).put_county(code, name, None)
        expected = [
            envelope_for(old, n.id, e, body).model_dump_json().encode()  # what the old relay sent
            for n in old.process_recorder.select_notifications(1, 100)
            if (body := SPEC.to_integration(e := old.mapper.to_domain_event(n))) is not None
        ]
    finally:
        old.close()

    store = open_store(SPEC, settings)  # the new code on the old store
    calls = 0

    def counting(e: Any) -> Any:
        nonlocal calls
        calls += 1
        return SPEC.to_integration(e)

    nc = await nats.connect(settings.nats_url)
    try:
        from shared.infra.nats import ensure_stream

        js = nc.jetstream()
        await ensure_stream(js, 1)
        with store.command(CommandContext(county="province", actor="test")):
            CountyCommands(store).put_county("640424", "泾源县", None)  # a new event, stored with its bytes
        relay = OutboxRelay(store, js, counting)
        await drain(relay)
        head = store.process_recorder.max_notification_id()
        assert calls == head - 1  # the old events, mapped once each; the new one not at all
        msgs = await on_stream(settings.nats_url, expect=len(expected) + 1)
        assert [m.data for m in msgs][: len(expected)] == expected
        assert len(msgs) == len(expected) + 1
        # Their rows are stored now: reading again maps nothing.
        feed = PublishedLog(store, counting)
        rows = feed.read(0, 1000)
        assert [r.position for r in rows] == list(range(1, head + 1)) and calls == head - 1
        assert [r.body for r in rows if r.public] == [m.data for m in msgs]
    finally:
        await nc.close()
        store.close()


@pytest.fixture
def postgres_recorder(settings, persistence):
    """Registry's recorder on a prepared PostgreSQL store (the test is skipped on SQLite)."""
    if persistence != "postgres":
        pytest.skip("PostgreSQL recorder only")
    from shared.infra.published import PostgresPublishedRecorder
    from shared.infra.service import prepare_store

    prepare_store(settings, "registry")
    app = SPEC.application(settings.eventsourcing_env("registry"))
    try:
        assert isinstance(app.process_recorder, PostgresPublishedRecorder)
        yield app.process_recorder
    finally:
        app.close()


def test_the_postgres_recorders_rendered_selects_answer_as_the_librarys(postgres_recorder):
    """The recorder renders each shape of its two hot selects once (not per call, issue 16's POST
    CPU target); every shape answers exactly what the library's composed statement answers."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresProcessRecorder

    rec = postgres_recorder
    a, b = uuid.uuid4(), uuid.uuid4()
    rec.insert_events(
        [StoredEvent(a, v, "t:A" if v % 2 else "t:B", b'{"v":%d}' % v) for v in range(1, 8)] + [StoredEvent(b, 1, "t:A", b"{}")]
    )
    shapes = 0
    for gt in (None, 2):
        for lte in (None, 5):
            for desc in (False, True):
                for limit in (None, 3):
                    kwargs: dict[str, Any] = {"gt": gt, "lte": lte, "desc": desc, "limit": limit}
                    assert rec.select_events(a, **kwargs) == PostgresProcessRecorder.select_events(rec, a, **kwargs)
                    shapes += 1
    for start in (None, 1, 3):
        for stop in (None, 6):
            for topics in ((), ["t:A"], ("t:B",)):
                for inclusive in (True, False):
                    ours = rec.select_notifications(start, 4, stop, topics, inclusive_of_start=inclusive)
                    assert ours == PostgresProcessRecorder.select_notifications(rec, start, 4, stop, topics, inclusive_of_start=inclusive)
                    shapes += 1
    assert shapes == 52 and len(rec._statements) >= 16  # rendered once per shape, reused after
    rec.select_events(a, limit=1)
    assert len(rec._statements) == len(set(rec._statements.values()))


def test_the_postgres_insert_of_arrays_stores_what_the_librarys_does(postgres_recorder):
    """The recorder inserts a save's events as four binary arrays instead of the library's array
    of a composite type (issue 16's bulk import): the same rows, every byte of the states (quotes,
    backslashes, NULs, non-ASCII), positions returned in the order given; a duplicate is still an
    IntegrityError and stores nothing of its batch. The sealer's read of the log in tuples
    answers the records the library's notifications make."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresAggregateRecorder

    rec = postgres_recorder
    states = [b'{"a":"\\"}', b'{"q":"\"x\",(1,2)"}', bytes(range(256)), "{\"名\":\"台账\"}".encode(), b"", b"NULL"]
    ours = [StoredEvent(uuid.uuid4(), v, f"t:{v}", s) for v, s in enumerate(states, 1)]
    theirs = [StoredEvent(uuid.uuid4(), v, f"t:{v}", s) for v, s in enumerate(states, 1)]
    positions = rec.insert_events(ours)
    library = PostgresAggregateRecorder._insert_stored_events
    rec._insert_stored_events = lambda curs, events, **kw: (  # type: ignore[method-assign]
        rec._lock_table(curs), rec._notify_channel(curs), library(rec, curs, events, **kw))
    library_positions = rec.insert_events(theirs)
    del rec._insert_stored_events
    assert positions == list(range(positions[0], positions[0] + len(states)))
    assert library_positions == list(range(positions[-1] + 1, positions[-1] + 1 + len(states)))
    stored = rec.select_notifications(positions[0], 100)
    assert [(n.originator_id, n.originator_version, n.topic, n.state) for n in stored] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in ours + theirs
    ]
    # The chain sealer's read of the same log (plain tuples in binary): the records it digests.
    from shared.infra.audit import to_record

    assert rec.select_records(positions[0] - 1, 100) == [to_record(n) for n in stored]
    assert rec.select_records(positions[1], 2) == [to_record(n) for n in stored[2:4]]
    with pytest.raises(IntegrityError):
        rec.insert_events([StoredEvent(uuid.uuid4(), 1, "t:new", b"{}"), ours[0]])
    assert rec.max_notification_id() == library_positions[-1]


def test_the_postgres_insert_of_a_saves_public_rows_as_arrays_stores_what_a_row_by_row_insert_does(postgres_recorder):
    """A save's public rows go in as one binary array per column (issue 16's bulk import: the
    pipelined statement per row cost ~3× the CPU): every column stored as the row-by-row insert
    stores it (NULLs, empty strings, tabs, quotes, non-ASCII, every byte of the body, 0/1 of
    ``public``), in the save's transaction (a refused save stores no row)."""
    from eventsourcing.persistence import StoredEvent

    from shared.infra.published import PublicMapper

    rec = postgres_recorder
    bodies = [b'{"position":0,"a":"\\"}', bytes(range(256)), "{\"名\":\"台账\"}".encode(), b"", b"NULL"]
    rows = [
        (0, str(uuid.uuid4()), f"E{i}\t'\"", "640402" if i % 2 else "", "c" * i, "", "2026-12-03T19:00:00+00:00",
         i % 2, None if i % 2 else "unmappable\tdétail", f"swp.640402.svc.E{i}" if i else "", json.dumps({"h": "名"}) if i else "",
         None if i % 3 else "00-ab-cd-01", body)
        for i, body in enumerate(bodies)
    ]
    events = [StoredEvent(uuid.uuid4(), 1, f"t:{i}", b"{}") for i in range(len(rows))]
    positions = rec.insert_events(events, published=PublicMapper.renderer(rows))
    ours = rec.select_published(positions[0] - 1, 100)
    expected = PublicMapper.renderer(rows)(positions)
    assert ours == expected
    # The same rows inserted one statement each (the insert before): stored alike, column for column.
    shifted = [(p + 1000, *r[1:]) for p, r in zip(positions, expected, strict=True)]
    with rec.datastore.transaction(commit=True) as curs:
        curs.executemany(rec._sql_insert_published, shifted)
    theirs = rec.select_published(positions[0] + 999, 100)
    assert [r[1:] for r in theirs] == [r[1:] for r in ours]
    with pytest.raises(IntegrityError):
        rec.insert_events([StoredEvent(uuid.uuid4(), 1, "t:new", b"{}"), events[0]], published=PublicMapper.renderer(rows[:2]))
    assert rec.select_published(positions[-1], 100) == theirs


def test_the_relay_records_its_position_and_verified_together(settings, persistence):
    """One relay round records its position and VERIFIED in one statement (issue 16's POST CPU):
    both move forward together; a position of the relay at or below the stored one is refused
    (IntegrityError) and records nothing, not even VERIFIED; a VERIFIED already past is left as
    it is while the relay's own position moves."""
    from eventsourcing.persistence import Tracking

    from shared.infra.published import VERIFIED
    from shared.infra.store import SwpApplication

    store = open_store(SPEC, settings)
    try:
        rec = store.process_recorder
        log = PublishedLog(store, never_called)
        outbox = SwpApplication.OUTBOX
        log.record_relayed(Tracking(outbox, 5))
        assert (rec.max_tracking_id(outbox), rec.max_tracking_id(VERIFIED)) == (5, 5)
        singles: list[Any] = []
        rec.insert_tracking = singles.append  # type: ignore[method-assign]
        log.record_relayed(Tracking(outbox, 9))
        del rec.insert_tracking
        assert singles == []  # both rows in one upsert, not the library's insert per row
        assert (rec.max_tracking_id(outbox), rec.max_tracking_id(VERIFIED)) == (9, 9)

        other = PublishedLog(store, never_called)  # another process's relay, behind this one
        with pytest.raises(IntegrityError):
            other.record_relayed(Tracking(outbox, 9))
        with pytest.raises(IntegrityError):
            other.record_relayed(Tracking(outbox, 7))
        assert (rec.max_tracking_id(outbox), rec.max_tracking_id(VERIFIED)) == (9, 9)

        rec.insert_tracking(Tracking(VERIFIED, 20))  # the feed's backfill verified further
        log.record_relayed(Tracking(outbox, 12))
        assert (rec.max_tracking_id(outbox), rec.max_tracking_id(VERIFIED)) == (12, 20)
        assert log.verified == 12  # what this process knows; the stored 20 is read when it rereads
    finally:
        store.close()


async def test_the_relay_keeps_its_position_between_rounds_that_find_something(settings):
    """The relay reads its stored position only when it does not know it (issue 16's POST CPU):
    not after a round it recorded, again after an empty round; a position another relay moved
    past it meanwhile refuses its record (nothing lost, the batch was deduplicated) and the next
    round reads the stored position. Its parking is read again only when a batch holds a change
    of it (an operator's, saved to the log), not every round."""
    from eventsourcing.persistence import Tracking

    from shared.infra.nats import ensure_stream
    from shared.infra.store import SwpApplication

    store = open_store(SPEC, settings)
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, 1)
        relay = OutboxRelay(store, js, never_called)
        reads: list[int] = []
        stored_position = relay.position
        relay.position = lambda: reads.append(1) or stored_position()  # type: ignore[method-assign]

        def county(i: int) -> None:
            with store.command(CommandContext(county="province", actor="test")):
                CountyCommands(store).put_county(*COUNTIES[i], None)

        county(0)
        assert await relay.publish_pending() > 0 and len(reads) == 1
        county(1)
        assert await relay.publish_pending() > 0 and len(reads) == 1  # the recorded position, kept
        assert await relay.publish_pending() == 0 and len(reads) == 1  # nothing new: dropped …
        county(2)
        assert await relay.publish_pending() > 0 and len(reads) == 2  # … and read again

        # The parking is read when the relay starts and again only when a batch holds a change of it.
        loads: list[int] = []
        load_parking = relay.load_parking
        relay.load_parking = lambda: loads.append(1) or load_parking()  # type: ignore[method-assign]
        with store.command(CommandContext(county="province", actor="test")):
            CountyCommands(store).put_county("640425", "海原县", None)
        assert await relay.publish_pending() > 0 and loads == []
        parking = relay.parking_fresh()
        loads.clear()
        parking.park(1, "agg", "CountyRegistered", "waiting", "an operator's test")  # a change saved to the log
        relay.save_parking(parking, CommandContext(county="province", actor="test"))
        assert await relay.publish_pending() > 0 and loads == [1]
        assert [p["detail"] for p in relay.parked()] == ["an operator's test"]  # the relay's copy has it
        del relay.load_parking

        head = store.process_recorder.max_notification_id()
        with store.command(CommandContext(county="province", actor="test")):
            CountyCommands(store).put_county("640424", "泾源县", None)
        last = store.process_recorder.max_notification_id()
        assert last > head
        store.process_recorder.insert_tracking(Tracking(SwpApplication.OUTBOX, last))  # another relay sent it
        with pytest.raises(IntegrityError):
            await relay.publish_pending()  # re-sent from its own position, refused when recorded
        assert await relay.publish_pending() == 0 and len(reads) == 3  # read: nothing left after it
        assert stored_position() == last
    finally:
        await nc.close()
        store.close()
