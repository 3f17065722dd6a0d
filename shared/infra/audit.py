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
import json
import logging
import threading
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pydantic_core
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import AggregateRecorder, IntegrityError, Notification, StoredEvent
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder

from shared import audit_chain
from shared.bounds import Instant
from shared.infra.auth import Principal, Role, require_roles
from shared.infra.outbox import ToIntegration, aggregate_type_of, envelope_for
from shared.infra.store import CommandContext, SwpApplication, event_meta
from shared.rules import Conflict, Forbidden, NotFound

log = logging.getLogger("swp.audit")
CHAIN_ID = uuid.UUID("5f0c9a1e-7d2b-5c3a-8e4f-1a2b3c4d5e6f")
CHAIN_TOPIC = "shared.audit_chain:Link"


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

    def links(self, after: int = 0, limit: int | None = None) -> list[audit_chain.Link]:
        stored = self.chain.select_events(CHAIN_ID, gt=after or None, limit=limit)
        return [audit_chain.Link(**json.loads(s.state)) for s in stored]

    def head(self) -> audit_chain.Link | None:
        last = self.chain.select_events(CHAIN_ID, desc=True, limit=1)
        return audit_chain.Link(**json.loads(last[0].state)) if last else None

    def seal_pending(self, batch: int = 1000) -> int:
        with self._lock:
            head = self.head()
            prev, after = (head.hash, head.position) if head else (audit_chain.GENESIS, 0)
            notifications = self.app.process_recorder.select_notifications(after + 1, batch)
            if not notifications:
                return 0
            links = list(audit_chain.extend(prev, (to_record(n) for n in notifications)))
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
                self.chain.insert_events(stored)
            except IntegrityError:
                log.info("another sealer sealed these positions first")
                return 0
            return len(stored)

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

    async def run(self, wake: asyncio.Event, poll_seconds: float, coalesce_seconds: float = 0.01) -> None:
        """Seal on every wake-up (a save) or poll; after a wake-up, wait ``coalesce_seconds`` so the
        saves of concurrent commands are sealed in one batch."""
        while True:
            try:
                while await asyncio.to_thread(self.seal_pending):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # store busy or down: try again
                log.warning("sealing %s paused: %s", self.app.service, exc)
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
                await asyncio.sleep(coalesce_seconds)
            except TimeoutError:
                pass


Auditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.PROVINCE_ADMIN))]
# Raw records span every county; so does the writer key: province-wide tokens only (R-AUD-6).
ProvinceWideAuditor = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.PROVINCE_ADMIN, province_wide=True))]
KeyKeeper = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN, province_wide=True))]


def _check_county(principal: Principal, county: str | None) -> None:
    if county and not principal.can_see(county):
        raise Forbidden(f"token is not granted county {county}", rule="R-AUD-6")


def jsonable(value: Any) -> Any:
    """``fastapi.encoders.jsonable_encoder``'s output for what stored events hold (JSON types,
    UUID, Decimal, datetime, date), without its generic dispatch (the audit feed's hot spot:
    BENCHMARKS.md §6); anything else goes to ``jsonable_encoder`` itself."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {(k if type(k) is str else jsonable(k)): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is uuid.UUID:
        return str(value)
    if kind is datetime or kind is date:
        return value.isoformat()
    if kind is Decimal:  # as jsonable_encoder: int when it has no fractional digits, else float
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    return jsonable_encoder(value)


def audit_entry(app: SwpApplication, to_integration: ToIntegration, n: Notification, domain_event: Any) -> dict[str, Any]:
    """The envelope of any stored event: public ones as published, private ones with their state."""
    body = to_integration(domain_event)
    if body is not None:
        env = envelope_for(app, n.id, domain_event, body).model_dump(mode="json")
        env["public"] = True
        return env
    meta = event_meta(domain_event)
    state = {k: v for k, v in vars(domain_event).items() if k not in ("meta", "originator_id", "originator_version", "timestamp")}
    return jsonable(
        {
            "event_id": app.event_id(domain_event),
            "event_type": type(domain_event).__qualname__,
            "schema_version": getattr(type(domain_event), "class_version", 1),
            "service": app.service,
            "aggregate_type": aggregate_type_of(domain_event),
            "aggregate_id": domain_event.originator_id,
            "version": domain_event.originator_version,
            "occurred_at": domain_event.timestamp,
            "position": n.id,
            **{k: meta.get(k) for k in ("county", "actor", "command_id", "correlation_id", "causation_id", "recorded_at")},
            "data": state,
            "public": False,
        }
    )


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
        recorded time. Only counties granted to the caller are returned (R-AUD-6)."""
        _check_county(principal, county)
        app = store(request)
        out: list[dict[str, Any]] = []
        position = after
        scanned_to = after
        while len(out) < limit:
            page = app.process_recorder.select_notifications(position + 1, 500)
            if not page:
                break
            for n in page:
                scanned_to = n.id
                if aggregate_id and n.originator_id != aggregate_id:
                    continue
                e = app.mapper.to_domain_event(n)
                entry = audit_entry(app, request.app.state.runtime.spec.to_integration, n, e)
                c = entry.get("county") or "province"
                if (county and c != county) or not (principal.can_see(c) or c == "province"):
                    continue
                if event_type and entry["event_type"] != event_type:
                    continue
                if correlation_id and entry.get("correlation_id") != correlation_id:
                    continue
                if contract_id and str(contract_id) not in (
                    str(entry.get("aggregate_id")),
                    str((entry.get("data") or {}).get("contract_id")),
                ):
                    continue
                if (since or until) and entry.get("recorded_at"):  # parsed only when asked for
                    recorded = datetime.fromisoformat(entry["recorded_at"])
                    if (since and recorded < since) or (until and recorded > until):
                        continue
                out.append(entry)
                if len(out) >= limit:
                    break
            position = page[-1].id
        # Entries are JSON-ready already: serialised once here, not re-walked by FastAPI.
        body = pydantic_core.to_json({"events": out, "next_after": scanned_to})
        return Response(body, media_type="application/json")

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
        aggregate_id: uuid.UUID,
        principal: Auditor,
        as_of: Annotated[Instant | None, Query(description="RFC 3339; default now")] = None,
    ) -> dict[str, Any]:
        """An aggregate's state and version at an instant (R-AUD-3): replay of the events recorded
        at or before `as_of`."""
        app = store(request)
        if not app.process_recorder.select_events(aggregate_id, limit=1):
            raise NotFound(f"no aggregate {aggregate_id}")
        version = app.version_as_of(aggregate_id, as_of)
        if version is None:
            raise NotFound(f"aggregate {aggregate_id} did not exist at {as_of}")
        agg = app.repository.get(aggregate_id, version=version)
        county = getattr(agg, "county", None) or getattr(agg, "code", None)
        _check_county(principal, county if isinstance(county, str) else None)
        state = {k: v for k, v in vars(agg).items() if not k.startswith("_")}
        return jsonable_encoder(
            {"aggregate_id": aggregate_id, "aggregate_type": type(agg).__name__, "version": version, "as_of": as_of, "state": state}
        )

    @router.get("/proofs/{position}")
    def proof(
        request: Request,
        principal: Auditor,
        position: Annotated[int, Path(ge=1, le=2**53, description="Log position of the event")],
    ) -> dict[str, Any]:
        """One event's inclusion proof (R-AUD-4): the raw record, its leaf, the RFC 9162 audit
        path and the tree head (size, root) signed with the service's writer key. Check it offline
        with `swp audit verify --proof FILE --public-key HEX`. Only for events of a county granted to
        the caller (R-AUD-6); 409 until the event is sealed (within a second of being recorded)."""
        return inclusion_proof(store(request), sealer(request), request.app.state.settings, principal, position)

    return router


def inclusion_proof(app: SwpApplication, sealer: ChainSealer, settings: Any, principal: Principal, position: int) -> dict[str, Any]:
    page = app.process_recorder.select_notifications(position, 1)
    if not page or page[0].id != position:
        raise NotFound(f"no event at position {position}", field="position")
    n = page[0]
    county = event_meta(app.mapper.to_domain_event(n)).get("county") or "province"
    if county != "province" and not principal.can_see(county):
        raise Forbidden(f"token is not granted county {county}", rule="R-AUD-6")
    links = sealer.links()
    index = next((i for i, lk in enumerate(links) if lk.position == position), None)
    if index is None:
        raise Conflict(f"position {position} is not sealed yet; ask again shortly", rule="R-AUD-4", field="position")
    leaves = [audit_chain.leaf_hash(lk.digest) for lk in links]
    head = audit_chain.tree_head(app.service, len(leaves), audit_chain.merkle_root(leaves), links[-1])
    signature, rotations = app.sign_current(audit_chain.canonical_json(head))
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
        "leaf": leaves[index],
        "audit_path": audit_chain.audit_path(leaves, index),
        "tree_head": head,
        "signature": signature,
        "public_key": app.audit_first_public_key_hex,
        # From the first key to the one that signed the tree head (R-AUD-4 key rotation).
        "key_rotations": [raw_record(r["record"]) for r in rotations],
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
