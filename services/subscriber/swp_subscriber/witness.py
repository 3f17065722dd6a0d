"""The tree-head witness: keeps every signed tree head a service publishes and checks each new one
against the last it holds with the service's RFC 9162 consistency proof. A history that was
rewritten (even re-signed with the right writer key), truncated or forked cannot produce a proof
linking the old root to the new one: the witness raises an alarm.

Written against RFC 9162 §2.1.4.2 and the heads' documented format (the service's AsyncAPI,
channel ``swp.audit.<service>.TreeHeadSigned``), independently of the platform's own code."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Alarm:
    service: str
    kind: str  # head_forged | key_changed | key_chain | truncated | forked | rewritten | unverifiable
    detail: str


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature_ok(sth: dict[str, Any], public_key_hex: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(sth["signature"]), canonical_json(sth["tree_head"]))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True


# --- writer key rotations ------------------------------------------------------------------------
# A head names the service's FIRST key (``public_key``) and carries the log's key-rotation records
# (``key_rotations``). Each is a stored record (base64 JSON ``state``, its Ed25519 signature in
# ``state.meta.sig`` over "<aggregate_id>\n<version>\n<topic>\n" + the canonical state without it),
# signed by the key it retires, naming the next key (``new_public_key``, ``new_key_id`` = first 16
# hex of SHA-256 of the raw key) and carrying ``possession``: the new key's signature over the
# canonical {"kind", "service", "old_key_id", "new_public_key"}. The last one names the head's signer.

ROTATION_TOPIC = "shared.infra.store:WriterKeys.Rotated"
ROTATION_KIND = "swp-writer-key-rotation/1"


def key_id(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def _verify(public_key_hex: str, signature_hex: str, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(bytes.fromhex(signature_hex), data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _rotation(record: dict[str, Any], current: str) -> str | None:
    """The key ``record`` hands over to, if it is a rotation away from ``current`` signed by it and
    by the new key; else None."""
    try:
        state = json.loads(base64.b64decode(record["state"], validate=True))
        meta = dict(state["meta"])
        sig = str(meta.pop("sig"))
        unsigned = {**state, "meta": meta}
        content = f"{record['aggregate_id']}\n{record['version']}\n{record['topic']}\n".encode() + canonical_json(unsigned)
        new_key = str(state["new_public_key"])
        statement = canonical_json(
            {"kind": ROTATION_KIND, "service": state["service"], "old_key_id": key_id(current), "new_public_key": new_key}
        )
        ok = (
            record["topic"] == ROTATION_TOPIC
            and _verify(current, sig, content)
            and state.get("old_key_id") == key_id(current)
            and state.get("new_key_id") == key_id(new_key)
            and _verify(new_key, str(state["possession"]), statement)
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return new_key if ok else None


def signer_key(sth: dict[str, Any], first_key: str) -> tuple[str, int | None]:
    """The key that must have signed ``sth``: ``first_key`` followed through the head's rotations.
    With the position of the first rotation that does not hold (None: all hold)."""
    current = first_key
    rotations = sth.get("key_rotations") or []
    for record in sorted(rotations, key=lambda r: int(r.get("position", 0)) if isinstance(r, dict) else 0):
        new_key = _rotation(record, current) if isinstance(record, dict) else None
        if new_key is None:
            return current, (record.get("position") if isinstance(record, dict) else None) or -1
        current = new_key
    return current, None


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(first: int, second: int, first_root: str, second_root: str, proof: list[str]) -> bool:
    """RFC 9162 §2.1.4.2."""
    try:
        path = [bytes.fromhex(p) for p in proof]
        r1, r2 = bytes.fromhex(first_root), bytes.fromhex(second_root)
    except (TypeError, ValueError):
        return False
    if first == second:
        return not path and r1 == r2
    if not 0 < first < second or not path:
        return False
    if first & (first - 1) == 0:  # an exact power of two: the old root is the first node
        path.insert(0, r1)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == r1 and sr == r2 and sn == 0


class Witness:
    """Checks heads; ``fetch_consistency(service, from, to)`` returns the service's consistency
    response (``GET /<service>/v1/audit/consistency``), ``pinned`` maps a service to its FIRST public
    key obtained out of band (else the first head's ``public_key`` is trusted, and a change alarms).
    Heads signed by a rotated writer key are accepted when their ``key_rotations`` lead to it from
    that first key (else ``key_chain``)."""

    def __init__(self, fetch_consistency: Any, pinned: dict[str, str] | None = None) -> None:
        self.fetch_consistency = fetch_consistency
        self.pinned = dict(pinned or {})

    def check(self, service: str, sth: dict[str, Any], last: dict[str, Any] | None) -> list[Alarm]:
        head = sth.get("tree_head") or {}
        key = self.pinned.get(service) or (last or {}).get("public_key") or sth.get("public_key", "")
        if head.get("service") != service:
            return [Alarm(service, "head_forged", f"a head of {head.get('service')!r} on {service}'s subject")]
        if sth.get("public_key", "") != key:
            return [Alarm(service, "key_changed", f"tree head of size {head.get('tree_size')} names first key "
                          f"{str(sth.get('public_key', ''))[:16]}…, this witness holds {key[:16]}…")]
        signer, broken = signer_key(sth, key)
        if broken is not None:
            return [Alarm(service, "key_chain", f"the key rotation at position {broken} is not signed by the key it retires")]
        if not signature_ok(sth, signer) or head.get("key_id", key_id(signer)) != key_id(signer):
            return [Alarm(service, "head_forged", f"tree head of size {head.get('tree_size')} is not signed by key {signer[:16]}…")]
        if last is None:
            return []
        m, n = int(last["tree_size"]), int(head["tree_size"])
        if n < m:
            return [Alarm(service, "truncated", f"tree size {n} after {m}: the history lost {m - n} records")]
        if n == m:
            if head["root"] != last["root"]:
                return [Alarm(service, "forked", f"two roots for tree size {n}: {last['root']} and {head['root']}")]
            return []
        try:
            proof = self.fetch_consistency(service, m, n)
        except Exception as exc:  # the service cannot be asked now: the head is kept unverified
            return [Alarm(service, "unverifiable", f"no consistency proof {m}→{n}: {type(exc).__name__}: {exc}")]
        served = (proof.get("tree_head") or {}).get("root")
        if served != head["root"]:
            return [Alarm(service, "forked", f"the service's root at size {n} is {served}, the published head says {head['root']}")]
        if not verify_consistency(m, n, last["root"], head["root"], list(proof.get("proof") or [])):
            return [
                Alarm(
                    service,
                    "rewritten",
                    f"the tree of {n} records does not extend the tree of {m} records this witness holds "
                    f"(root {last['root']}): history before record {m} was changed",
                )
            ]
        return []
