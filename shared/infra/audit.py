"""Audit support every service gets (R-AUD-1 … R-AUD-4): the hash-chain sealer and the
read-only audit routes (event feed, raw records for independent verification, as-of state,
chain verification).

The chain lives in its own table of the service's store (an eventsourcing aggregate recorder
with purpose ``chain``): one link per notification, keyed by its position, so two sealers
racing on the same store cannot fork it (the second insert conflicts and is dropped).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import logging
import threading
import uuid
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime
from operator import itemgetter
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import (
    AggregateRecorder,
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.utils import retry
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse

from shared import audit_chain, audit_tree
from shared.bounds import Instant
from shared.infra.auth import PROVINCE_WIDE_ROLES, Principal, Role, require_roles
from shared.infra.published import FeedRow, PublishedLog, feed_fields
from shared.infra.published import jsonable as jsonable  # re-exported (its tests import it from here)
from shared.infra.store import CommandContext, SwpApplication, event_meta
from shared.rules import Conflict, Forbidden, NotFound, RuleViolation
from shared.subjects import STREAM_NAME

log = logging.getLogger("swp.audit")
CHAIN_ID = uuid.UUID("5f0c9a1e-7d2b-5c3a-8e4f-1a2b3c4d5e6f")
CHAIN_TOPIC = "shared.audit_chain:Link"
SEAL_BATCH = 1000  # notifications chained per round


def to_record(n: Notification) -> audit_chain.Record:
    return audit_chain.Record(
        position=n.id, aggregate_id=str(n.originator_id), version=n.originator_version, topic=n.topic, state=n.state
    )


class ChainSealer:
    """Appends a chain link for every notification after the last sealed one."""

    def __init__(self, app: SwpApplication) -> None:
        self.app = app
        self.chain: AggregateRecorder = app.factory.aggregate_recorder(purpose="chain")
        self._lock = threading.Lock()
        self.tree_lock = threading.RLock()
        self._tree = audit_tree.MerkleTree()
        self._positions = array("q")
        self._tree_head: audit_chain.Link | None = None
        # The link this sealer appended last and its stored bytes, kept while it keeps finding
        # something to seal (issue 16's POST CPU: the head was read back every round). Dropped
        # on an idle round, a refused append or an error, so the next round reads the head.
        self._known: tuple[audit_chain.Link, bytes] | None = None
        self._sql_append: Any = self._append_statement()
        self._sql_insert: Any = self._insert_statement()

    def _append_statement(self) -> Any:
        """PostgreSQL: the library's insert of links, made conditional on the stored link at the
        remembered head still being the bytes this sealer remembers — the check that the chain was
        not rewritten, truncated or extended by another sealer meanwhile, in the insert itself.
        None elsewhere (SQLite and memory run one process per store: the head is read each round)."""
        from eventsourcing.postgres import PostgresAggregateRecorder
        from psycopg.sql import SQL, Identifier

        chain = self.chain
        if not isinstance(chain, PostgresAggregateRecorder):
            return None
        table = SQL("{}.{}").format(Identifier(chain.datastore.schema), Identifier(chain.events_table_name))
        # The links as four binary arrays, as the events are inserted (published.py: psycopg
        # quotes a composite's fields with regular expressions).
        return SQL(
            "INSERT INTO {table} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "WHERE EXISTS (SELECT 1 FROM {table} WHERE originator_id = %s AND originator_version = %s AND state = %s)"
        ).format(table=table, id_type=Identifier(chain.datastore.originator_id_type)).as_string()  # rendered once

    def _insert_statement(self) -> Any:
        """PostgreSQL: the library's insert of links (a round that reads the head first), as four
        arrays dumped in binary like the append above instead of the library's array of a composite
        type (quoted field by field in Python: ~3 % of a bulk import's samples). None elsewhere."""
        if self._sql_append is None:
            return None
        return self._sql_append.split(" WHERE EXISTS ", 1)[0]

    def _insert(self, stored: list[StoredEvent]) -> None:
        """The links inserted as the library's ``insert_events`` does (an existing position is an
        ``IntegrityError``, the connection's errors retried)."""
        if self._sql_insert is None:
            self.chain.insert_events(stored)
            return
        self._insert_arrays(stored)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_arrays(self, stored: list[StoredEvent]) -> None:
        chain: Any = self.chain
        columns = ([CHAIN_ID] * len(stored), [s.originator_version for s in stored], [CHAIN_TOPIC] * len(stored), [s.state for s in stored])
        with chain.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_insert, columns)

    def _append_after(self, known: tuple[audit_chain.Link, bytes], stored: list[StoredEvent]) -> bool:
        """Insert ``stored`` if the link at the remembered head is still stored as remembered;
        False (nothing inserted) if it is not."""
        chain: Any = self.chain
        head, head_state = known
        columns = ([CHAIN_ID] * len(stored), [s.originator_version for s in stored], [CHAIN_TOPIC] * len(stored), [s.state for s in stored])
        with chain.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql_append, (*columns, CHAIN_ID, head.position, head_state), binary=True)
            return curs.rowcount == len(stored)

    def links(self, after: int = 0, limit: int | None = None) -> list[audit_chain.Link]:
        stored = self.chain.select_events(CHAIN_ID, gt=after or None, limit=limit)
        return [audit_chain.Link(**json.loads(s.state)) for s in stored]

    def head(self) -> audit_chain.Link | None:
        last = self.chain.select_events(CHAIN_ID, desc=True, limit=1)
        return audit_chain.Link(**json.loads(last[0].state)) if last else None

    def seal_pending(self, batch: int = 1000) -> int:
        with self._lock:
            known, self._known = self._known, None  # kept again only after a successful append
            return self._seal(batch, known)

    def _seal(self, batch: int, known: tuple[audit_chain.Link, bytes] | None) -> int:
        head = known[0] if known else self.head()
        prev, after = (head.hash, head.position) if head else (audit_chain.GENESIS, 0)
        read = getattr(self.app.process_recorder, "select_records", None)  # PostgreSQL: plain tuples
        records = read(after, batch) if read else [to_record(n) for n in self.app.process_recorder.select_notifications(after + 1, batch)]
        if not records:
            return 0
        links = list(audit_chain.extend(prev, records))
        stored = [
            StoredEvent(
                originator_id=CHAIN_ID,
                originator_version=lk.position,
                topic=CHAIN_TOPIC,
                state=json.dumps(vars(lk)).encode(),
            )
            for lk in links
        ]
        try:
            if known is None:
                self._insert(stored)
            elif not self._append_after(known, stored):
                log.warning("%s: the sealed chain changed under the sealer; reading its head again", self.app.service)
                return self._seal(batch, None)
        except IntegrityError:
            log.info("another sealer sealed these positions first")
            return 0
        if self._sql_append is not None:
            self._known = (links[-1], stored[-1].state)
        return len(stored)

    def tree(self) -> tuple[audit_tree.MerkleTree, array, audit_chain.Link | None]:
        """The Merkle tree over the sealed links, brought up to date with what was sealed since the
        last call (only new links are read), the log position of each leaf, and the chain head.
        If the link at the last cached position changed (the store was rewritten or restored) the
        cache is rebuilt from the store: the tree always reflects what the store holds. Callers hold
        ``tree_lock`` while they use the tree."""
        with self.tree_lock:
            if self._tree_head is not None:
                stored = self.chain.select_events(CHAIN_ID, gt=self._tree_head.position - 1, lte=self._tree_head.position)
                if not stored or audit_chain.Link(**json.loads(stored[0].state)).hash != self._tree_head.hash:
                    log.warning("%s: the sealed chain changed under the tree cache; rebuilding", self.app.service)
                    self._tree, self._positions, self._tree_head = audit_tree.MerkleTree(), array("q"), None
            while True:
                page = self.links(self._tree_head.position if self._tree_head else 0, 10_000)
                for lk in page:
                    self._tree.append(audit_chain.leaf_hash(lk.digest))
                    self._positions.append(lk.position)
                if page:
                    self._tree_head = page[-1]
                if len(page) < 10_000:
                    break
            return self._tree, self._positions, self._tree_head

    def link_at(self, position: int) -> audit_chain.Link | None:
        stored = self.chain.select_events(CHAIN_ID, gt=position - 1, lte=position)
        return audit_chain.Link(**json.loads(stored[0].state)) if stored else None

    def verify(self) -> audit_chain.Verification:
        notifications: list[Notification] = []
        start = 1
        while True:
            page = self.app.process_recorder.select_notifications(start, 10_000)
            notifications.extend(page)
            if len(page) < 10_000:
                break
            start = page[-1].id + 1
        return audit_chain.verify(
            (to_record(n) for n in notifications), self.links(), public_key_hex=self.app.audit_first_public_key_hex
        )

    async def run(self, wake: asyncio.Event, poll_seconds: float, coalesce_seconds: float = 0.01, pace_seconds: float = 0.1) -> None:
        """Seal on every wake-up (a save) or poll; after a wake-up, wait ``coalesce_seconds`` so the
        saves of concurrent commands are sealed in one batch, and under load until ``pace_seconds``
        after the previous round began (issue 16: at ~90 POSTs/s nearly every save had a round of
        its own; an idle sealer is not held back)."""
        loop = asyncio.get_running_loop()
        began = -pace_seconds
        while True:
            try:
                while True:
                    # Cleared before the read: a save from here on sets it again. So a batch short of
                    # full with no save since is all there was (no second round of head and log
                    # reads to find nothing: issue 16's POST CPU); saves of other processes are
                    # sealed at the next poll, as before.
                    wake.clear()
                    began = loop.time()
                    sealed = await asyncio.to_thread(self.seal_pending, SEAL_BATCH)
                    if sealed < SEAL_BATCH and not wake.is_set():
                        break
                    if sealed < SEAL_BATCH:  # saved during the round: the next one, paced
                        await asyncio.sleep(max(coalesce_seconds, began + pace_seconds - loop.time()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store busy or down: try again
                log.warning("sealing %s paused: %s", self.app.service, exc)
            try:
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
                await asyncio.sleep(max(coalesce_seconds, began + pace_seconds - loop.time()))
            except TimeoutError:
                pass


Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.PROVINCE_ADMIN))]
# Raw records span every county; so does the writer key: province-wide tokens only (R-AUD-6).
ProvinceWideAuditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.PROVINCE_ADMIN, province_wide=True))]
KeyKeeper = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN, province_wide=True))]


def _check_county(principal: Principal, county: str | None) -> None:
    if county and not principal.can_see(county):
        raise Forbidden(f"token is not granted county {county}", rule="R-AUD-6")


def _check_record_counties(app: SwpApplication, principal: Principal, originator: uuid.UUID, version: int) -> None:
    """A record that keeps no county of its own (an Idempotency-Key's record, a page of a contract's
    delivery index, a consumer's parked messages) belongs to the counties its events were recorded
    in (R-AUD-1): one county's must be granted; one spanning counties is for province-wide tokens
    only, as parked messages are (R-AUD-6). Events recorded for the province restrict nothing."""
    counties = {event_meta(app.mapper.to_domain_event(s)).get("county") or "province"
                for s in app.process_recorder.select_events(originator, lte=version)} - {"province"}
    if len(counties) > 1 and not (principal.role in PROVINCE_WIDE_ROLES and "*" in principal.counties):
        raise Forbidden("this record spans counties: only a province-wide token reads it", rule="R-AUD-6")
    for county in counties:
        _check_county(principal, county)


def published_log(request: Request) -> PublishedLog:
    """The store's stored public rows (one reader per store, shared by the feed's requests)."""
    app = request.app.state.store
    found = getattr(app, "_feed_log", None)
    if found is None:
        found = app._feed_log = PublishedLog(app, request.app.state.runtime.spec.to_integration)
    return found


JSON_LINES = ("application/jsonl", "application/x-ndjson")
FEED_PAGE = 1000  # rows read from the store at a time: the feed's memory does not grow with `limit`


def audit_router() -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    def store(request: Request) -> SwpApplication:
        return request.app.state.store

    def sealer(request: Request) -> ChainSealer:
        return request.app.state.runtime.sealer

    @router.get("/events", response_model=dict[str, Any])
    def events(
        request: Request,
        principal: Auditor,
        after: Annotated[int, Query(ge=0, le=2**53, description="Log position to start after")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        county: Annotated[str | None, Query(pattern=r"^(\d{6}|province)$")] = None,
        aggregate_id: uuid.UUID | None = None,
        contract_id: Annotated[
            uuid.UUID | None, Query(description="Events of this contract: its own, and any whose data names it")
        ] = None,
        correlation_id: Annotated[str | None, Query(max_length=200)] = None,
        event_type: Annotated[str | None, Query(max_length=100)] = None,
        since: Instant | None = None,
        until: Instant | None = None,
    ) -> Response:
        """Envelopes in log order (R-AUD-1), paged by position; filter by county, aggregate, type and
        recorded time. Only counties granted to the caller are returned (R-AUD-6). A public event's
        entry is the envelope as published on NATS (the bytes fixed when it was recorded) with
        `"public": true`. `{"events": [...], "next_after": N}`, or with `Accept: application/jsonl`
        one entry per line and a last line `{"next_after": N}`; streamed when a filter scans more
        than a page of the log."""
        _check_county(principal, county)
        feed = published_log(request)
        lines = any(t in request.headers.get("accept", "") for t in JSON_LINES)
        media_type = "application/jsonl" if lines else "application/json"
        wanted_aggregate = str(aggregate_id) if aggregate_id else None
        wanted_contract = str(contract_id) if contract_id else None
        # Only the columns a filter asked for are read (each costs the store a text decode per row).
        fields = ["county"]
        if wanted_aggregate or wanted_contract:
            fields.append("aggregate_id")
        if event_type:
            fields.append("event_type")
        if correlation_id:
            fields.append("correlation_id")
        if wanted_contract:
            fields.append("contract_id")
        if since or until:
            fields.append("recorded_at")
        fields = list(feed_fields(fields))
        at = {f: i + 1 for i, f in enumerate(fields)}  # a feed row: position, *fields, entry
        i_county, i_aggregate = at["county"], at.get("aggregate_id", 0)
        i_type, i_correlation = at.get("event_type", 0), at.get("correlation_id", 0)
        i_contract, i_recorded = at.get("contract_id", 0), at.get("recorded_at", 0)

        granted: dict[str, bool] = {}  # each county met: are its events in the answer (asked for and granted)?

        def counted(c: str) -> bool:
            found = granted.get(c)
            if found is None:
                found = granted[c] = (not county or c == county) and (c == "province" or principal.can_see(c))
            return found

        county_of, entry_of = itemgetter(i_county), itemgetter(-1)
        # No filter but the counties: a page is kept or dropped by its county alone, in one pass.
        by_county_only = not (wanted_aggregate or wanted_contract or event_type or correlation_id or since or until)

        def keep(r: FeedRow) -> bool:
            if wanted_aggregate and r[i_aggregate] != wanted_aggregate:
                return False
            if not counted(r[i_county]):
                return False
            if event_type and r[i_type] != event_type:
                return False
            if correlation_id and r[i_correlation] != correlation_id:
                return False
            if wanted_contract and wanted_contract not in (r[i_aggregate], r[i_contract]):
                return False
            if since or until:  # parsed only when asked for
                recorded = datetime.fromisoformat(r[i_recorded])
                if (since and recorded < since) or (until and recorded > until):
                    return False
            return True

        # The entries' bytes as stored when each event was saved (composed by the store's select):
        # nothing is re-mapped or re-serialised; one page of rows in memory at a time.
        scanned, position, count, read = after, after, 0, 0

        def page(out: list[bytes]) -> bool:
            """Reads the next page of the log into ``out`` (the entries kept); False once the answer is complete."""
            nonlocal scanned, position, count, read
            if count >= limit:
                return False
            # The first read asks for no more rows than the answer may hold (all of them, with no
            # filter but the caller's counties); a filter that drops rows reads on by pages.
            if by_county_only and not read:
                # The first read with no filter but the counties: the store composes the page as one
                # buffer of entries (SQLite); kept whole when every county in it is in the answer.
                whole = feed.read_feed_page(position, min(limit, FEED_PAGE), "\n" if lines else ",")
                if whole is not None:
                    n, last, counties, joined = whole
                    for c in counties.difference(granted):
                        counted(c)
                    if all(granted[c] for c in counties):
                        read, count, scanned, position = n, n, last, last
                        out.append(joined)
                        return True
            rows = feed.read_feed(position, FEED_PAGE if read else min(limit, FEED_PAGE), fields)
            if not rows:
                return False
            read += len(rows)
            if by_county_only:
                for c in set(map(county_of, rows)).difference(granted):
                    counted(c)
                kept = rows if all(granted.values()) else [r for r in rows if granted[r[i_county]]]
                kept = kept[: limit - count]
                out.extend(map(entry_of, kept))
                count += len(kept)
                scanned = kept[-1][0] if count >= limit else rows[-1][0]
                position = rows[-1][0]
                return True
            for r in rows:
                scanned = r[0]
                if keep(r):
                    out.append(r[-1])
                    count += 1
                    if count >= limit:
                        break
            position = rows[-1][0]
            return True

        def tail() -> bytes:
            return b'{"next_after":%d}\n' % scanned if lines else b'],"next_after":%d}' % scanned

        # Read here, in the endpoint's worker thread, until a page's worth of rows has been scanned:
        # an answer found by then (a full page of entries, or the end of the log: every read without
        # a selective filter) is sent as one buffer with its length, joined once, with no
        # worker-thread hop per piece; a longer scan (a selective filter over a long log) streams on
        # from where it is, page by page.
        entries: list[bytes] = []
        while page(entries):
            if read >= FEED_PAGE and count < limit:
                break
        else:
            if lines:  # one entry a line, then the last line
                entries.append(tail())
                return Response(b"\n".join(entries), media_type=media_type)
            if not entries:
                return Response(b'{"events":[' + tail(), media_type=media_type)
            entries[0] = b'{"events":[' + entries[0]
            entries[-1] += tail()
            return Response(b",".join(entries), media_type=media_type)

        def stream() -> Iterator[bytes]:
            pending, more, started = entries, True, False
            if not lines:
                yield b'{"events":['
            while True:
                if pending and lines:
                    yield b"\n".join(pending) + b"\n"
                elif pending:
                    yield (b"," if started else b"") + b",".join(pending)
                    started = True
                if not more:
                    break
                pending = []
                more = page(pending)
            yield tail()

        return StreamingResponse(stream(), media_type=media_type)

    @router.get("/records")
    def records(
        request: Request,
        principal: ProvinceWideAuditor,
        after: Annotated[int, Query(ge=0, le=2**53)] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> dict[str, Any]:
        """Raw stored records and their chain links, for verification outside the service
        (`swp audit export` / `swp audit verify`). Province-level auditors only: raw records are
        not filtered by county."""
        app = store(request)
        page = app.process_recorder.select_notifications(after + 1, limit)
        links = {lk.position: lk for lk in sealer(request).links(after, limit + 1)}
        return {
            "service": app.service,
            "public_key": app.audit_first_public_key_hex,
            "key_id": app.audit_key_id,
            "records": [
                {
                    "position": n.id,
                    "aggregate_id": str(n.originator_id),
                    "version": n.originator_version,
                    "topic": n.topic,
                    "state": base64.b64encode(n.state).decode(),
                    "link": vars(links[n.id]) if n.id in links else None,
                }
                for n in page
            ],
            "next_after": page[-1].id if page else after,
        }

    @router.get("/verify")
    def verify(request: Request, principal: Auditor) -> dict[str, Any]:
        """Recompute the hash chain over the whole log: the head, and whether every record is intact
        (R-AUD-4). Signatures are checked from the service's first key (`public_key`), following
        the key rotations recorded in the log; `key_id` is the key in force. `unsealed` counts records written since the last seal (sealed within a second).
        `snapshots`: each stored snapshot (a derived, unsigned cache that loads and as-of reads
        start from) is checked against the replay of the signed events; a doctored one fails."""
        result = sealer(request).verify()
        app = store(request)
        snapshots = app.verify_snapshots()
        body = {
            "service": app.service,
            "public_key": app.audit_first_public_key_hex,
            "key_id": app.audit_key_id,
            **result.as_dict(),
            "snapshots": snapshots,
        }
        if snapshots["mismatched"]:
            body["verified"] = False
            body["problems"] = [*body["problems"], *({"kind": "snapshot", **m} for m in snapshots["mismatched"])]
        return body

    @router.get("/keys")
    def keys(request: Request, principal: Auditor) -> dict[str, Any]:
        """The service's writer keys (R-AUD-4): the first key, the one verifiers start from, then
        one entry per rotation recorded in the log — its position, the key it retired and the new
        public key. Retired public keys stay listed: they verify the records signed before."""
        return writer_keys(store(request))

    @router.post("/keys/rotate", status_code=201)
    async def rotate_key(request: Request, principal: KeyKeeper) -> dict[str, Any]:
        """Rotate the service's writer key (a province-wide province_admin token only; R-AUD-4, R-AUD-6). A new Ed25519 key is
        generated and written to the key store (SWP_AUDIT_KEY_DIR) first; then a rotation record,
        signed by the retiring key and naming the new public key and its id, is appended to the log,
        and every later record and tree head is signed by the new key. A record signed by the
        retired key after the rotation fails verification (`retired_key`). Also
        `swp audit rotate-key --service <svc>`."""
        app = store(request)
        settings = request.app.state.settings
        ctx = CommandContext(county="province", actor=principal.sub, correlation_id=request.headers.get("X-Correlation-Id", ""))
        return await asyncio.to_thread(rotate_writer_key, app, settings, ctx)

    @router.get("/aggregates/{aggregate_id}")
    def aggregate_as_of(
        request: Request,
        aggregate_id: Annotated[str, Path(max_length=100, description="The aggregate's id (a UUID, as envelopes name it)")],
        principal: Auditor,
        as_of: Annotated[Instant | None, Query(description="RFC 3339; default now")] = None,
    ) -> dict[str, Any]:
        """An aggregate's state and version at an instant (R-AUD-3): replay of the events recorded
        at or before `as_of`. 404 for an id no aggregate has (one that is not a UUID included).
        What the service's own reads withhold from auditors is withheld here too (the content of
        casework and group-work deliveries, R-LOG-5: `content` null, `content_withheld` true)."""
        app = store(request)
        try:
            originator = uuid.UUID(aggregate_id)
        except ValueError:
            raise NotFound(f"no aggregate {aggregate_id}") from None
        if not app.process_recorder.select_events(originator, limit=1):
            raise NotFound(f"no aggregate {aggregate_id}")
        version = app.version_as_of(originator, as_of)
        if version is None:
            raise NotFound(f"aggregate {aggregate_id} did not exist at {as_of}")
        agg = app.repository.get(originator, version=version)
        if as_of is not None:  # the instant answered for, in RFC 3339 UTC (a naive one is read as UTC)
            as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
        county = getattr(agg, "county", None) or getattr(agg, "code", None)
        if isinstance(county, str):
            _check_county(principal, county)
        else:
            _check_record_counties(app, principal, originator, version)
        state = {k: v for k, v in vars(agg).items() if not k.startswith("_")}
        withhold = request.app.state.runtime.spec.audit_state
        if withhold is not None:  # what the service's own reads withhold from these roles (R-LOG-5)
            state = withhold(agg, state)
        return jsonable_encoder(
            {
                "aggregate_id": str(originator), "aggregate_type": type(agg).__name__, "version": version,
                "as_of": None if as_of is None else as_of.isoformat().replace("+00:00", "Z"), "state": state,
            }
        )

    @router.get("/proofs/{position}")
    def proof(
        request: Request,
        principal: Auditor,
        position: Annotated[int, Path(ge=1, le=2**53, description="Log position of the event")],
    ) -> dict[str, Any]:
        """One event's inclusion proof (R-AUD-4): the raw record, its leaf, the RFC 9162 audit
        path and the tree head (size, root) signed with the writer key in force, with the rotation
        records leading to it from the first key (`key_rotations`). Check it offline
        with `swp audit verify --proof FILE --public-key HEX`. Only for events of a county granted to
        the caller (R-AUD-6); 409 until the event is sealed (within a second of being recorded)."""
        return inclusion_proof(store(request), sealer(request), request.app.state.settings, principal, position)

    @router.get("/tree-head")
    def tree_head(request: Request, principal: Auditor) -> dict[str, Any]:
        """The service's current signed tree head (R-AUD-4): tree size, Merkle root, the chain head
        it was built at, the time, and the id of the writer key in force that signed it (`key_id`, the
        first 16 hex digits of SHA-256 of the raw public key). `public_key` is the service's FIRST
        key and `key_rotations` the log's rotation records leading from it to the signer. Save it (`swp audit tree-head --out
        FILE`) and prove later that today's history extends it (`swp audit verify --consistency
        FILE`). The same heads are published on NATS, subject `swp.audit.<service>.TreeHeadSigned`."""
        return signed_tree_head(store(request), sealer(request), request.app.state.settings)

    @router.post("/tree-heads")
    async def publish_tree_head(request: Request, principal: KeyKeeper) -> dict[str, Any]:
        """Publish the current signed tree head on NATS now (subject
        `swp.audit.<service>.TreeHeadSigned`), besides the publication every
        `SWP_TREE_HEAD_INTERVAL_SECONDS` when the tree has grown. A province-wide province_admin token
        only (an operator's action on the whole log, like a key rotation; auditors read the same head
        with `GET /tree-head`, and never write). Returns the
        head and whether NATS acknowledged it (`published`: false while NATS is unreachable)."""
        runtime = request.app.state.runtime
        return await runtime.tree_heads.publish_now(runtime.js())

    @router.get("/consistency")
    def consistency_proof(
        request: Request,
        principal: Auditor,
        first: Annotated[int, Query(alias="from", ge=1, le=2**53, description="Tree size of the older head")],
        second: Annotated[
            int | None, Query(alias="to", ge=1, le=2**53, description="Tree size of the newer head; default: now")
        ] = None,
    ) -> dict[str, Any]:
        """RFC 9162 consistency proof (§2.1.4) that the tree of `from` leaves is a prefix of the tree
        of `to` leaves, with the signed tree head at `to` (R-AUD-4). `from_root` is the service's
        root at `from` today: a verifier compares it with the root of a head it saved, and checks
        the proof against the saved root, never against `from_root`. Costs O(log n) hashes (cached
        subtree roots). 422 when `from` > `to` or `to` exceeds the sealed tree."""
        return consistency(store(request), sealer(request), request.app.state.settings, first, second)

    return router


TREE_HEAD_EVENT = "TreeHeadSigned"


def tree_head_subject(service: str) -> str:
    """Where a service publishes its signed tree heads: one national subject per service (not per
    county: a head commits to the whole log), in stream SWP, e.g. ``swp.audit.finance.TreeHeadSigned``."""
    return f"swp.audit.{service}.{TREE_HEAD_EVENT}"


class TreeHeadPublisher:
    """Publishes the service's signed tree head on NATS every ``interval`` seconds when the tree
    has grown since the last publication, and on demand (POST /v1/audit/tree-heads). The message
    id (``Nats-Msg-Id``) is the SHA-256 of the signed head, so a re-sent head is stored once."""

    def __init__(self, app: SwpApplication, sealer: ChainSealer, settings: Any) -> None:
        self.app = app
        self.sealer = sealer
        self.settings = settings
        self.last_size: int | None = None
        self.published = 0
        self.last_error: str | None = None

    async def publish(self, js: Any, *, force: bool = False) -> dict[str, Any] | None:
        sth = await asyncio.to_thread(signed_tree_head, self.app, self.sealer, self.settings)
        size = sth["tree_head"]["tree_size"]
        if not force and (size == 0 or size == self.last_size):
            return None
        await js.publish(
            tree_head_subject(self.app.service),
            json.dumps(sth).encode(),
            stream=STREAM_NAME,
            headers={"Nats-Msg-Id": audit_tree.head_digest(sth), "Content-Type": "application/json"},
        )
        self.last_size = size
        self.published += 1
        return sth

    async def publish_now(self, js: Any) -> dict[str, Any]:
        if js is None:
            sth = await asyncio.to_thread(signed_tree_head, self.app, self.sealer, self.settings)
            return {**sth, "published": False, "subject": tree_head_subject(self.app.service)}
        sth = await self.publish(js, force=True)
        assert sth is not None
        return {**sth, "published": True, "subject": tree_head_subject(self.app.service)}

    async def run(self, js: Any, interval: float) -> None:
        """``js`` is a callable returning the JetStream context, or None while NATS is down."""
        while True:
            await asyncio.sleep(interval)
            context = js()
            if context is None:
                continue
            try:
                await self.publish(context)
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down or store busy: next interval
                # /health shows this without a token: the kind of failure, never its text (the log has it).
                self.last_error = type(exc).__name__
                log.warning("publishing the tree head of %s failed: %s: %s", self.app.service, self.last_error, exc)


def sign_tree_head(
    app: SwpApplication, settings: Any, tree: audit_tree.MerkleTree, positions: array, sealer: ChainSealer, size: int
) -> dict[str, Any]:
    """The signed tree head at ``size`` leaves: {"tree_head", "signature", "public_key",
    "key_rotations"}. It is signed by the writer key in force (R-AUD-4) and names it by its id
    (audit_chain.key_id) with the time it was signed. ``public_key`` is the service's FIRST key and
    ``key_rotations`` the log's rotation records that lead from it to the signer, so a verifier
    holding only the first key can follow them (as the inclusion proof does)."""
    chain_head = sealer.link_at(positions[size - 1]) if size else None
    first = app.audit_first_public_key_hex or ""
    while True:
        # The key id goes into what is signed; a rotation between reading it and signing is seen
        # in the rotations returned with the signature (taken together), and the head is re-signed.
        rotations = app.key_rotations()
        signer = rotations[-1]["new_key_id"] if rotations else audit_chain.key_id(bytes.fromhex(first))
        head = audit_chain.tree_head(
            app.service, size, tree.root(size), chain_head, key=signer, timestamp=datetime.now(UTC).isoformat()
        )
        signature, rotations = app.sign_current(audit_chain.canonical_json(head))
        if (rotations[-1]["new_key_id"] if rotations else audit_chain.key_id(bytes.fromhex(first))) == signer:
            break
    return {
        "tree_head": head,
        "signature": signature,
        "public_key": first,
        # From the first key to the one that signed the tree head (R-AUD-4 key rotation).
        "key_rotations": [raw_record(r["record"]) for r in rotations],
    }


def signed_tree_head(app: SwpApplication, sealer: ChainSealer, settings: Any, size: int | None = None) -> dict[str, Any]:
    """The current signed tree head (or the one at ``size``, a size the tree has reached)."""
    with sealer.tree_lock:
        tree, positions, _ = sealer.tree()
        return sign_tree_head(app, settings, tree, positions, sealer, tree.size if size is None else size)


def consistency(app: SwpApplication, sealer: ChainSealer, settings: Any, first: int, second: int | None) -> dict[str, Any]:
    with sealer.tree_lock:
        tree, positions, _ = sealer.tree()
        size = tree.size
        second = size if second is None else second
        if second > size:
            raise RuleViolation(
                f"to={second}: the tree has {size} sealed leaves (树的大小 {size})", rule="R-AUD-4", field="to"
            )
        if first > second:
            raise RuleViolation(
                f"from={first} is larger than to={second}: a tree cannot be proven to extend a larger one",
                rule="R-AUD-4",
                field="from",
            )
        return {
            "service": app.service,
            "from": first,
            "to": second,
            "proof": tree.consistency(first, second),
            "from_root": tree.root(first),
            **sign_tree_head(app, settings, tree, positions, sealer, second),
        }


def inclusion_proof(app: SwpApplication, sealer: ChainSealer, settings: Any, principal: Principal, position: int) -> dict[str, Any]:
    page = app.process_recorder.select_notifications(position, 1)
    if not page or page[0].id != position:
        raise NotFound(f"no event at position {position}", field="position")
    n = page[0]
    county = event_meta(app.mapper.to_domain_event(n)).get("county") or "province"
    if county != "province" and not principal.can_see(county):
        raise Forbidden(f"token is not granted county {county}", rule="R-AUD-6")
    with sealer.tree_lock:
        tree, positions, _ = sealer.tree()
        index = bisect.bisect_left(positions, position)
        if index >= len(positions) or positions[index] != position:
            raise Conflict(f"position {position} is not sealed yet; ask again shortly", rule="R-AUD-4", field="position")
        sth = sign_tree_head(app, settings, tree, positions, sealer, tree.size)
        leaf, path = tree.leaf(index).hex(), tree.audit_path(index)
    return {
        "service": app.service,
        "position": position,
        "county": county,
        "record": {
            "position": n.id,
            "aggregate_id": str(n.originator_id),
            "version": n.originator_version,
            "topic": n.topic,
            "state": base64.b64encode(n.state).decode(),
        },
        "leaf_index": index,
        "leaf": leaf,
        "audit_path": path,
        **sth,
    }


def raw_record(n: Notification) -> dict[str, Any]:
    return {
        "position": n.id,
        "aggregate_id": str(n.originator_id),
        "version": n.originator_version,
        "topic": n.topic,
        "state": base64.b64encode(n.state).decode(),
    }


def writer_keys(app: SwpApplication) -> dict[str, Any]:
    first = app.audit_first_public_key_hex or ""
    entries: list[dict[str, Any]] = [
        {"key_id": audit_chain.key_id(bytes.fromhex(first)), "public_key": first, "from_position": 1, "rotated_by_position": None, "retired_at_position": None}
    ]
    for rot in app.key_rotations():
        entries[-1]["retired_at_position"] = rot["position"]
        entries.append(
            {
                "key_id": rot["new_key_id"],
                "public_key": rot["new_public_key"],
                "from_position": rot["position"] + 1,
                "rotated_by_position": rot["position"],
                "retired_at_position": None,
            }
        )
    return {"service": app.service, "key_id": app.audit_key_id, "keys": entries}


def rotate_writer_key(app: SwpApplication, settings: Any, ctx: CommandContext) -> dict[str, Any]:
    """Generate a writer key, store it in the key store, then record the rotation (R-AUD-4)."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    new = Ed25519PrivateKey.generate()
    seed = new.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key_id = audit_chain.key_id(new.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    settings.store_audit_key(app.service, key_id, seed)  # durable before any record names it
    result = app.rotate_signing_key(seed, ctx)
    log.info("%s writer key rotated %s → %s at position %s", app.service, result["old_key_id"], key_id, result["position"])
    return {"service": app.service, **result}
