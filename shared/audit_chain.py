"""Hash chain over a service's event log (R-AUD-4). Pure: an auditor's verifier uses exactly this.

Each record's digest covers its position in the log, the aggregate id and version, the event
topic and the stored bytes. Link n commits to link n-1: ``hash_n = sha256(hash_{n-1} || digest_n)``,
starting from 32 zero bytes. Editing, deleting, inserting or reordering any record changes
every hash after it; a verifier needs only the records and the links (or just the head).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

GENESIS = "0" * 64


@dataclass(frozen=True)
class Record:
    position: int
    aggregate_id: str
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class Link:
    position: int
    prev: str
    digest: str
    hash: str


def digest(record: Record) -> str:
    h = hashlib.sha256()
    h.update(f"{record.position}\n{record.aggregate_id}\n{record.version}\n{record.topic}\n".encode())
    h.update(record.state)
    return h.hexdigest()


def chain_hash(prev: str, record_digest: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + bytes.fromhex(record_digest)).hexdigest()


def link(prev: str, record: Record) -> Link:
    d = digest(record)
    return Link(position=record.position, prev=prev, digest=d, hash=chain_hash(prev, d))


def extend(prev: str, records: Iterable[Record]) -> Iterator[Link]:
    for record in records:
        new = link(prev, record)
        prev = new.hash
        yield new


@dataclass
class Verification:
    verified: bool
    checked: int
    head_position: int
    head_hash: str
    unsealed: int
    problems: list[dict[str, object]]

    def as_dict(self) -> dict[str, object]:
        return {
            "verified": self.verified,
            "checked": self.checked,
            "head": {"position": self.head_position, "hash": self.head_hash},
            "unsealed": self.unsealed,
            "problems": self.problems,
        }


def verify(
    records: Iterable[Record],
    links: Iterable[Link],
    *,
    public_key_hex: str | None = None,
    max_problems: int = 20,
) -> Verification:
    """Walk records and links together. Kinds of problem:
    ``edited`` (a record's bytes no longer match its link), ``deleted`` (a sealed position has no
    record), ``inserted`` (a record below the sealed head has no link), ``broken_link`` (a link
    does not commit to its predecessor: links edited or reordered), and with the writer's public
    key ``forged`` (a record the service did not sign: inserted or rewritten, wherever it is)."""
    records = list(records)
    by_position = {r.position: r for r in records}
    problems: list[dict[str, object]] = []
    if public_key_hex:
        problems.extend(
            {"position": r.position, "kind": "forged"} for r in records if not signature_ok(r, public_key_hex)
        )
    prev = GENESIS
    checked = 0
    head_position = 0
    for lk in sorted(links, key=lambda x: x.position):
        if lk.prev != prev or chain_hash(lk.prev, lk.digest) != lk.hash:
            problems.append({"position": lk.position, "kind": "broken_link"})
        record = by_position.pop(lk.position, None)
        if record is None:
            problems.append({"position": lk.position, "kind": "deleted"})
        elif digest(record) != lk.digest:
            problems.append({"position": lk.position, "kind": "edited"})
        prev = lk.hash
        head_position = lk.position
        checked += 1
    unsealed = 0
    for position in sorted(by_position):
        if position < head_position:
            problems.append({"position": position, "kind": "inserted"})
        else:
            unsealed += 1
    problems.sort(key=lambda p: (int(str(p["position"])), str(p["kind"])))
    return Verification(
        verified=not problems,
        checked=checked,
        head_position=head_position,
        head_hash=prev,
        unsealed=unsealed,
        problems=problems[:max_problems],
    )


# --- writer signatures --------------------------------------------------------------------
# The chain alone cannot tell a record the service wrote from one slipped in at the tail by
# someone with write access to the database (the sealer would seal it). So the service signs
# every record as it writes it (Ed25519 over the record's canonical content); the auditor
# verifies with the service's public key. A record without a valid signature is forged.

SIG_FIELD = "sig"


def canonical_json(value: object) -> bytes:
    """Sorted keys, no spaces, UTF-8: the one serialisation signatures are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_content(aggregate_id: str, version: int, topic: str, state: dict[str, object]) -> bytes:
    """What a writer signs: the record minus the signature itself, canonically serialised."""
    return f"{aggregate_id}\n{version}\n{topic}\n".encode() + canonical_json(state)


def unsigned_state(state_bytes: bytes) -> tuple[dict[str, object], str | None]:
    """Split stored JSON state into (state without the signature, signature hex or None)."""
    try:
        state = json.loads(state_bytes)
    except ValueError:
        return {}, None
    meta = state.get("meta") if isinstance(state, dict) else None
    if not isinstance(meta, dict) or SIG_FIELD not in meta:
        return state if isinstance(state, dict) else {}, None
    meta = dict(meta)
    sig = meta.pop(SIG_FIELD)
    return {**state, "meta": meta}, str(sig)


def signature_ok(record: Record, public_key_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    state, sig = unsigned_state(record.state)
    if sig is None:
        return False
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    try:
        key.verify(bytes.fromhex(sig), canonical_content(record.aggregate_id, record.version, record.topic, state))
    except (InvalidSignature, ValueError):
        return False
    return True
