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
    does not commit to its predecessor: links edited or reordered), and with the writer's first
    public key (the trust anchor; key rotations recorded in the log are followed from it)
    ``forged`` (a record the service did not sign: inserted or rewritten, wherever it is) and
    ``retired_key`` (signed by a key the log had already retired when the record was written)."""
    records = sorted(records, key=lambda r: r.position)
    by_position = {r.position: r for r in records}
    problems: list[dict[str, object]] = []
    if public_key_hex:
        problems.extend(signature_problems(records, public_key_hex))
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


def key_id(public_key_bytes: bytes) -> str:
    """A writer key's id: the first 16 hex digits of SHA-256 of the raw Ed25519 public key. The one
    place a key id is derived (callers holding hex pass ``bytes.fromhex(...)``); rotation records
    and tree heads name keys by it."""
    return hashlib.sha256(public_key_bytes).hexdigest()[:16]


# --- writer key rotation ----------------------------------------------------------------------
# A service's writer key is rotated by recording a rotation in its own log: a record signed by the
# key in force that names the next public key (and carries that key's signature over the
# rotation, proving the service holds it). Every record after it must be signed by the new key.
# A verifier needs only the service's FIRST public key: it follows the rotations from there.

KEY_ROTATION_TOPIC = "shared.infra.store:WriterKeys.Rotated"
ROTATION_KIND = "swp-writer-key-rotation/1"


def rotation_statement(service: str, old_key_id: str, new_public_key_hex: str) -> bytes:
    """What the NEW key signs in a rotation record (proof that the writer holds it)."""
    return canonical_json({"kind": ROTATION_KIND, "service": service, "old_key_id": old_key_id, "new_public_key": new_public_key_hex})


def rotation_of(record: Record, current_public_key_hex: str) -> str | None:
    """The public key a rotation record hands over to, if ``record`` is a well-formed rotation away
    from the current key (its signature is checked separately), else None."""
    if record.topic != KEY_ROTATION_TOPIC:
        return None
    state, _ = unsigned_state(record.state)
    try:
        new_key = str(state["new_public_key"])
        current_id = key_id(bytes.fromhex(current_public_key_hex))
        if state.get("old_key_id") != current_id or state.get("new_key_id") != key_id(bytes.fromhex(new_key)):
            return None
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        Ed25519PublicKey.from_public_bytes(bytes.fromhex(new_key)).verify(
            bytes.fromhex(str(state["possession"])), rotation_statement(str(state["service"]), current_id, new_key)
        )
    except Exception:  # malformed, or the new key did not sign the rotation
        return None
    return new_key


def signature_problems(records: Iterable[Record], first_public_key_hex: str) -> Iterator[dict[str, object]]:
    """Check every record's signature in log order, starting from the first key and following the
    rotations recorded in the log: ``retired_key`` for a record signed by an earlier key after its
    retirement, ``forged`` for one no key of the service signed."""
    current, retired = first_public_key_hex, []
    for r in sorted(records, key=lambda x: x.position):
        if signature_ok(r, current):
            new_key = rotation_of(r, current)
            if new_key is not None:
                retired.append(current)
                current = new_key
        elif any(signature_ok(r, old) for old in retired):
            yield {"position": r.position, "kind": "retired_key"}
        else:
            yield {"position": r.position, "kind": "forged"}


def follow_rotations(first_public_key_hex: str, rotations: Iterable[Record]) -> tuple[str, int | None]:
    """From the service's first key, follow rotation records (each must be signed by the key in
    force and hand over to the next, see :func:`rotation_of`). Returns the last key reached and the
    position of the first rotation that does not (None: the whole chain holds)."""
    current = first_public_key_hex
    for rot in sorted(rotations, key=lambda r: r.position):
        new_key = rotation_of(rot, current) if signature_ok(rot, current) else None
        if new_key is None:
            return current, rot.position
        current = new_key
    return current, None


def record_from_json(rec: object) -> Record:
    """A raw record as proofs and tree heads carry it (position, aggregate_id, version, topic,
    base64 state)."""
    import base64

    if not isinstance(rec, dict):
        raise TypeError("a record is an object")
    return Record(
        position=int(rec["position"]),
        aggregate_id=str(rec["aggregate_id"]),
        version=int(rec["version"]),
        topic=str(rec["topic"]),
        state=base64.b64decode(str(rec["state"]), validate=True),
    )


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


# --- single-event inclusion proofs (R-AUD-4) ------------------------------------------
# The chain proves the whole log; to check ONE event an auditor should not need the whole log.
# So the sealed links' digests are also the leaves of a Merkle tree built exactly as RFC 9162
# §2.1 builds one (SHA-256, leaf hash = H(0x00 || leaf), node = H(0x01 || left || right), the left
# subtree the largest power of two). A proof is the record, its leaf index, the audit path and a
# tree head (size, root) signed with the service's writer key. The verifier recomputes the leaf
# from the record, walks the path to the root, and checks both Ed25519 signatures: the record's
# and the tree head's. Nothing else from the service is trusted.

TREE_HEAD_KIND = "swp-audit-tree-head/1"


def leaf_hash(record_digest: str) -> str:
    return hashlib.sha256(b"\x00" + bytes.fromhex(record_digest)).hexdigest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: list[bytes], lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return _node(_subtree_root(leaves, lo, lo + k), _subtree_root(leaves, lo + k, hi))


def merkle_root(leaf_hashes: list[str]) -> str:
    """MTH over the leaf hashes (hex); the empty tree's root is SHA-256 of the empty string."""
    if not leaf_hashes:
        return hashlib.sha256(b"").hexdigest()
    return _subtree_root([bytes.fromhex(h) for h in leaf_hashes], 0, len(leaf_hashes)).hex()


def audit_path(leaf_hashes: list[str], index: int) -> list[str]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1: sibling subtree roots, from the leaf up."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaf_hashes)}")
    leaves = [bytes.fromhex(h) for h in leaf_hashes]
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree_root(leaves, lo, lo + k))
            lo, m = lo + k, m - k
    return [p.hex() for p in reversed(path)]


def root_from_path(leaf: str, index: int, tree_size: int, path: list[str]) -> str | None:
    """RFC 9162 §2.1.3.2: the root the path leads to, or None if the path cannot belong to a leaf
    at ``index`` of a tree of ``tree_size`` leaves."""
    if not 0 <= index < tree_size:
        return None
    fn, sn, r = index, tree_size - 1, bytes.fromhex(leaf)
    for p_hex in path:
        p = bytes.fromhex(p_hex)
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r.hex() if sn == 0 else None


def tree_head(
    service: str,
    tree_size: int,
    root: str,
    chain_head: Link | None,
    *,
    key: str | None = None,
    timestamp: str | None = None,
) -> dict[str, object]:
    """What the service signs: the tree's size and root, bound to the chain head it was built at;
    with ``key`` (the signer's :func:`key_id`) and ``timestamp`` (RFC 3339) when given."""
    head: dict[str, object] = {
        "kind": TREE_HEAD_KIND,
        "service": service,
        "tree_size": tree_size,
        "root": root,
        "chain_head": {"position": chain_head.position, "hash": chain_head.hash} if chain_head else None,
    }
    if key is not None:
        head["key_id"] = key
    if timestamp is not None:
        head["timestamp"] = timestamp
    return head


def tree_head_ok(head: dict[str, object], signature_hex: str, public_key_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), canonical_json(head))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_inclusion_proof(
    proof: dict[str, object], public_key_hex: str, *, service: str | None = None, position: int | None = None
) -> list[dict[str, object]]:
    """Check one event's inclusion proof offline. Returns the problems found (empty: included).
    Kinds: ``malformed``, ``wrong_service``, ``wrong_position`` (the proof is not for the position
    asked about, or its record sits elsewhere), ``edited`` (the record's bytes are not the sealed
    leaf), ``forged`` (the record is not signed by the key), ``path`` (the audit path does not lead
    to the root), ``root_forged`` (the tree head is not signed by the key), ``key_chain`` (a key
    rotation the proof carries is not signed by the key it retires). ``public_key_hex`` is the
    service's first key; the proof's ``key_rotations`` (the log's rotation records up to the tree
    head) lead from it to the keys that signed the record and the tree head."""
    import base64

    problems: list[dict[str, object]] = []

    def record_of(rec: object) -> Record:
        assert isinstance(rec, dict)
        return Record(
            position=int(rec["position"]),
            aggregate_id=str(rec["aggregate_id"]),
            version=int(rec["version"]),
            topic=str(rec["topic"]),
            state=base64.b64decode(str(rec["state"]), validate=True),
        )

    try:
        head = proof["tree_head"]
        assert isinstance(head, dict)
        record = record_of(proof["record"])
        rotations = sorted((record_of(r) for r in proof.get("key_rotations") or []), key=lambda r: r.position)  # type: ignore[attr-defined]
        claimed_position = int(str(proof["position"]))
        index = int(str(proof["leaf_index"]))
        tree_size = int(str(head["tree_size"]))
        leaf = str(proof["leaf"])
        path = [str(p) for p in proof["audit_path"]]  # type: ignore[attr-defined]
        root = str(head["root"])
        signature = str(proof["signature"])
        bytes.fromhex(leaf), bytes.fromhex(root), [bytes.fromhex(p) for p in path]
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        return [{"kind": "malformed", "detail": f"{type(exc).__name__}: {exc}"}]
    if service is not None and head.get("service") != service:
        problems.append({"kind": "wrong_service", "detail": f"tree head is of {head.get('service')!r}"})
    if (position is not None and claimed_position != position) or record.position != claimed_position:
        problems.append({"kind": "wrong_position", "detail": f"asked {position}, proof {claimed_position}, record {record.position}"})
    if leaf_hash(digest(record)) != leaf:
        problems.append({"kind": "edited", "position": record.position})
    # From the trusted first key, follow the rotations the proof carries: the record must be signed
    # by the key in force at its position, the tree head by the last one.
    current, record_key = public_key_hex, None
    for rot in rotations:
        if record_key is None and rot.position >= record.position:
            record_key = current
        new_key = rotation_of(rot, current) if signature_ok(rot, current) else None
        if new_key is None:
            problems.append({"kind": "key_chain", "position": rot.position})
            break
        current = new_key
    if not signature_ok(record, record_key or current):
        problems.append({"kind": "forged", "position": record.position})
    if root_from_path(leaf, index, tree_size, path) != root:
        problems.append({"kind": "path", "leaf_index": index, "tree_size": tree_size})
    if not tree_head_ok(head, signature, current):
        problems.append({"kind": "root_forged", "root": root})
    return problems
