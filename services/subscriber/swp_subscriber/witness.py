"""The tree-head witness: keeps every signed tree head a service publishes and checks each new one
against the last it holds with the service's RFC 9162 consistency proof. A history that was
rewritten (even re-signed with the right writer key), truncated or forked cannot produce a proof
linking the old root to the new one: the witness raises an alarm.

Written against RFC 9162 §2.1.4.2 and the heads' documented format (the service's AsyncAPI,
channel ``swp.audit.<service>.TreeHeadSigned``), independently of the platform's own code."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Alarm:
    service: str
    kind: str  # head_forged | key_changed | truncated | forked | rewritten | unverifiable
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
    response (``GET /<service>/v1/audit/consistency``), ``pinned`` maps a service to the public key
    obtained out of band (else the first head's key is trusted, and a change alarms)."""

    def __init__(self, fetch_consistency: Any, pinned: dict[str, str] | None = None) -> None:
        self.fetch_consistency = fetch_consistency
        self.pinned = dict(pinned or {})

    def check(self, service: str, sth: dict[str, Any], last: dict[str, Any] | None) -> list[Alarm]:
        head = sth.get("tree_head") or {}
        key = self.pinned.get(service) or (last or {}).get("public_key") or sth.get("public_key", "")
        if head.get("service") != service:
            return [Alarm(service, "head_forged", f"a head of {head.get('service')!r} on {service}'s subject")]
        if not signature_ok(sth, key):
            kind = "key_changed" if signature_ok(sth, sth.get("public_key", "")) else "head_forged"
            return [Alarm(service, kind, f"tree head of size {head.get('tree_size')} is not signed by key {key[:16]}…")]
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
