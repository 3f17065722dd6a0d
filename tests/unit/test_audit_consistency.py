"""RFC 9162 consistency proofs between tree sizes (R-AUD-4): ours equal the RFC 6962 reference
proofs (certificate-transparency's test vectors), verify for every pair of sizes, and fail for a
rewritten, truncated or forked history."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import audit_chain, audit_tree
from tests.unit.test_audit_merkle import CT_LEAVES, CT_ROOTS, ct_leaf

# certificate-transparency's published consistency proofs over the same eight leaves.
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
LEAVES = [ct_leaf(d) for d in CT_LEAVES]


@pytest.mark.parametrize(("first", "second"), sorted(CT_CONSISTENCY))
def test_consistency_proofs_equal_the_rfc6962_reference(first, second):
    proof = audit_tree.consistency_proof(LEAVES, first, second)
    assert proof == CT_CONSISTENCY[(first, second)]
    assert audit_tree.verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], proof)


def test_reference_proofs_fail_when_anything_is_changed():
    proof = CT_CONSISTENCY[(6, 8)]
    assert not audit_tree.verify_consistency(6, 8, CT_ROOTS[6], CT_ROOTS[8], proof[:2])  # too short
    assert not audit_tree.verify_consistency(6, 8, CT_ROOTS[6], CT_ROOTS[8][:-1] + "9", proof)  # second root
    assert not audit_tree.verify_consistency(6, 8, CT_ROOTS[6][:-1] + "e", CT_ROOTS[8], proof)  # first root
    assert not audit_tree.verify_consistency(5, 2, CT_ROOTS[5], CT_ROOTS[2], CT_CONSISTENCY[(2, 5)])  # shrinking
    assert not audit_tree.verify_consistency(3, 3, CT_ROOTS[2], CT_ROOTS[3], [])  # same size, other root
    assert audit_tree.verify_consistency(3, 3, CT_ROOTS[3], CT_ROOTS[3], [])


def test_cached_tree_equals_the_reference_roots_and_paths():
    tree = audit_tree.MerkleTree()
    for h in LEAVES:
        tree.append(h)
    for size, root in CT_ROOTS.items():
        assert tree.root(size) == root
        for i in range(size):
            assert tree.audit_path(i, size) == audit_chain.audit_path(LEAVES[:size], i)


@settings(deadline=None)  # CPU-bound hashing: no per-example deadline on a loaded machine
@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_prefix_is_provably_consistent_and_a_rewrite_is_not(n, data):
    leaves = [audit_chain.leaf_hash(f"{i:064x}") for i in range(n)]
    tree = audit_tree.MerkleTree()
    for h in leaves:
        tree.append(h)
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = tree.consistency(m, n)
    assert proof == audit_tree.consistency_proof(leaves, m, n)
    assert tree.root(m) == audit_chain.merkle_root(leaves[:m]) and tree.root() == audit_chain.merkle_root(leaves)
    assert audit_tree.verify_consistency(m, n, tree.root(m), tree.root(), proof)
    # Rewrite one leaf of the old prefix: the new tree no longer extends the old head.
    k = data.draw(st.integers(min_value=0, max_value=m - 1))
    rewritten = audit_tree.MerkleTree()
    for i, h in enumerate(leaves):
        rewritten.append(audit_chain.leaf_hash("ff" * 32) if i == k else h)
    if m < n:
        assert not audit_tree.verify_consistency(m, n, tree.root(m), rewritten.root(), rewritten.consistency(m, n))


def signed(key, service, size, root):
    head = audit_chain.tree_head(service, size, root, None, key=audit_chain.key_id(bytes.fromhex(pub(key))), timestamp="2026-01-01T00:00:00+00:00")
    return {"tree_head": head, "signature": key.sign(audit_chain.canonical_json(head)).hex(), "public_key": pub(key)}


def pub(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def test_signed_heads_name_truncation_forks_rewrites_and_forged_heads():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    tree = audit_tree.MerkleTree()
    for h in LEAVES:
        tree.append(h)
    old, new = signed(key, "finance", 5, tree.root(5)), signed(key, "finance", 8, tree.root(8))
    assert old["tree_head"]["key_id"] == audit_chain.key_id(bytes.fromhex(pub(key))) and len(old["tree_head"]["key_id"]) == 16
    assert audit_tree.check_consistency(old, new, tree.consistency(5, 8), pub(key)) == []
    kinds = lambda problems: {p["kind"] for p in problems}  # noqa: E731
    assert kinds(audit_tree.check_consistency(new, old, [], pub(key))) == {"truncated"}
    assert kinds(audit_tree.check_consistency(old, signed(key, "finance", 5, tree.root(4)), [], pub(key))) == {"forked"}
    assert kinds(audit_tree.check_consistency(signed(key, "finance", 5, "ab" * 32), new, tree.consistency(5, 8), pub(key))) == {"rewritten"}
    assert kinds(audit_tree.check_consistency(old, signed(other, "finance", 8, tree.root(8)), tree.consistency(5, 8), pub(key))) == {"head_forged"}
