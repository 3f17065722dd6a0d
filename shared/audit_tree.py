"""Signed tree heads and RFC 9162 consistency proofs over a service's sealed log (R-AUD-4). Pure:
an auditor's verifier (``swp audit verify --consistency``) uses exactly this.

A tree head (shared.audit_chain.tree_head) commits to the first ``tree_size`` sealed links. A
consistency proof between two sizes m ≤ n (RFC 9162 §2.1.4) shows the tree of size m is a prefix
of the tree of size n: whoever kept an old signed head can check, with O(log n) hashes, that the
history the service shows today extends it, and was not rewritten, truncated or forked.

:class:`MerkleTree` holds the leaf hashes (32 bytes each, appended as links are sealed) and
memoises the roots of complete, aligned subtrees (they never change once complete), so a root,
an audit path or a consistency proof costs O(log n) memo look-ups and a bounded number of hashes
instead of a rebuild of the whole tree per request.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.audit_chain import canonical_json, follow_rotations, key_id, record_from_json, tree_head_ok

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
MEMO_MIN = 16  # complete subtrees of at least this many leaves are memoised


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 9162 Merkle tree over leaf hashes. Not thread-safe: callers lock."""

    def __init__(self) -> None:
        self._leaves = bytearray()
        self._memo: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self._leaves) // 32

    def append(self, leaf_hash_hex: str) -> None:
        self._leaves += bytes.fromhex(leaf_hash_hex)

    def leaf(self, index: int) -> bytes:
        return bytes(self._leaves[32 * index : 32 * index + 32])

    def _root(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 1:
            return self.leaf(lo)
        perfect = n & (n - 1) == 0 and lo % n == 0
        if perfect and n >= MEMO_MIN:
            cached = self._memo.get((lo, n))
            if cached is None:
                k = n // 2
                cached = self._memo[(lo, n)] = _node(self._root(lo, lo + k), self._root(lo + k, hi))
            return cached
        k = _split(n)
        return _node(self._root(lo, lo + k), self._root(lo + k, hi))

    def root(self, size: int | None = None) -> str:
        """MTH of the first ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise IndexError(f"the tree has {self.size} leaves, not {size}")
        return EMPTY_ROOT if size == 0 else self._root(0, size).hex()

    def audit_path(self, index: int, size: int | None = None) -> list[str]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, from the leaf up."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise IndexError(f"leaf {index} is not in a tree of {size}")
        path: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                path.append(self._root(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._root(lo, lo + k))
                lo, m = lo + k, m - k
        return [p.hex() for p in reversed(path)]

    def consistency(self, first: int, second: int | None = None) -> list[str]:
        """PROOF(first, D[second]) of RFC 9162 §2.1.4.1 (0 < first ≤ second ≤ size)."""
        second = self.size if second is None else second
        if not 0 < first <= second <= self.size:
            raise IndexError(f"no consistency proof from {first} to {second} in a tree of {self.size}")
        proof: list[bytes] = []

        def subproof(m: int, lo: int, hi: int, complete: bool) -> None:
            n = hi - lo
            if m == n:
                if not complete:
                    proof.append(self._root(lo, hi))
                return
            k = _split(n)
            if m <= k:
                subproof(m, lo, lo + k, complete)
                proof.append(self._root(lo + k, hi))
            else:
                subproof(m - k, lo + k, hi, False)
                proof.append(self._root(lo, lo + k))

        subproof(first, 0, second, True)
        return [p.hex() for p in proof]


def consistency_proof(leaf_hashes: list[str], first: int, second: int) -> list[str]:
    tree = MerkleTree()
    for h in leaf_hashes[:second]:
        tree.append(h)
    return tree.consistency(first, second)


def verify_consistency(first: int, second: int, first_root: str, second_root: str, proof: list[str]) -> bool:
    """RFC 9162 §2.1.4.2: does the tree of ``second`` leaves with ``second_root`` extend the tree
    of ``first`` leaves with ``first_root``?"""
    try:
        path = [bytes.fromhex(p) for p in proof]
        r1, r2 = bytes.fromhex(first_root), bytes.fromhex(second_root)
    except (TypeError, ValueError):
        return False
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and r1 == r2
    if first == 0:
        return not path and r1 == bytes.fromhex(EMPTY_ROOT)
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [r1, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == r1 and sr == r2 and sn == 0


# --- signed tree heads, as published and saved ------------------------------------------------
# A signed tree head travels as {"tree_head": {...}, "signature": hex, "public_key": hex,
# "key_rotations": [...]}: the head is what audit_chain.tree_head builds (kind, service, tree_size,
# root, chain_head, key_id, timestamp); the signature is Ed25519 over its canonical JSON with the
# writer key in force; ``public_key`` is the service's first key and ``key_rotations`` the log's
# rotation records leading from it to the signer (R-AUD-4 key rotation).


def signer_of(sth: Any, first_public_key_hex: str) -> tuple[str, list[dict[str, object]]]:
    """The key that should have signed ``sth``: the first key, followed through the rotations the
    head carries. With a ``key_chain`` problem when a rotation is not signed by the key it retires."""
    rotations = [record_from_json(r) for r in sth.get("key_rotations") or []]
    key, broken = follow_rotations(first_public_key_hex, rotations)
    return key, ([] if broken is None else [{"kind": "key_chain", "position": broken}])


def head_problems(sth: Any, public_key_hex: str, *, service: str | None = None) -> list[dict[str, object]]:
    """Problems with one signed tree head on its own (empty: well-formed and signed by the key in
    force, reached from the first key ``public_key_hex`` through the head's ``key_rotations``)."""
    try:
        head, signature = sth["tree_head"], str(sth["signature"])
        assert isinstance(head, dict)
        int(head["tree_size"]), bytes.fromhex(str(head["root"]))
        signer, problems = signer_of(sth, public_key_hex)
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        return [{"kind": "malformed", "detail": f"{type(exc).__name__}: {exc}"}]
    if service is not None and head.get("service") != service:
        problems.append({"kind": "wrong_service", "detail": f"tree head is of {head.get('service')!r}"})
    if not tree_head_ok(head, signature, signer):
        problems.append({"kind": "head_forged", "tree_size": head.get("tree_size"), "root": head.get("root")})
    elif "key_id" in head and head["key_id"] != key_id(bytes.fromhex(signer)):
        problems.append({"kind": "key_id", "detail": f"head names key {head['key_id']}, signed by {key_id(bytes.fromhex(signer))}"})
    return problems


def check_consistency(old: Any, new: Any, proof: list[str], public_key_hex: str) -> list[dict[str, object]]:
    """Is the signed head ``new`` an extension of the signed head ``old`` by ``proof``? Problems:
    ``truncated`` (the new tree is smaller), ``forked`` (same size, another root: a rewrite that
    kept the length), ``rewritten`` (the proof does not link the old root to the new one), plus
    each head's own problems (``malformed``, ``head_forged``)."""
    problems = [{**p, "head": "old"} for p in head_problems(old, public_key_hex)]
    problems += [{**p, "head": "new"} for p in head_problems(new, public_key_hex)]
    if problems:
        return problems
    o, n = old["tree_head"], new["tree_head"]
    m, s = int(o["tree_size"]), int(n["tree_size"])
    if o.get("service") != n.get("service"):
        return [{"kind": "wrong_service", "detail": f"{o.get('service')!r} vs {n.get('service')!r}"}]
    if s < m:
        return [{"kind": "truncated", "old_size": m, "new_size": s}]
    if s == m and o["root"] != n["root"]:
        return [{"kind": "forked", "tree_size": m, "old_root": o["root"], "new_root": n["root"]}]
    if not verify_consistency(m, s, str(o["root"]), str(n["root"]), proof):
        return [{"kind": "rewritten", "old_size": m, "new_size": s, "old_root": o["root"], "new_root": n["root"]}]
    return []


def head_digest(sth: dict[str, Any]) -> str:
    """A signed head's identity (its published message id): SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(sth)).hexdigest()
