"""Merkle inclusion proofs over the sealed log (R-AUD-4): the tree is RFC 9162's, so an auditor
can check a proof with any RFC 6962/9162 verifier; tampering with any part of a proof fails it."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from shared import audit_chain

# RFC 6962 reference inputs (certificate-transparency's merkle tree tests) and their published roots.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def ct_leaf(data: bytes) -> str:
    return hashlib.sha256(b"\x00" + data).hexdigest()


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_roots_equal_rfc6962_reference(size):
    leaves = [ct_leaf(d) for d in CT_LEAVES[:size]]
    assert audit_chain.merkle_root(leaves) == CT_ROOTS[size]
    for i in range(size):
        path = audit_chain.audit_path(leaves, i)
        assert audit_chain.root_from_path(leaves[i], i, size, path) == CT_ROOTS[size]


@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_leaf_proves_and_a_changed_path_index_or_size_does_not(n, data):
    leaves = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    root = audit_chain.merkle_root(leaves)
    i = data.draw(st.integers(0, n - 1))
    path = audit_chain.audit_path(leaves, i)
    assert audit_chain.root_from_path(leaves[i], i, n, path) == root
    if n > 1:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        assert audit_chain.root_from_path(leaves[i], j, n, path) != root  # claimed at another index
        assert audit_chain.root_from_path(leaves[j], i, n, path) != root  # another leaf
        k = data.draw(st.integers(0, len(path) - 1))
        bad = list(path)
        bad[k] = hashlib.sha256(bytes.fromhex(bad[k])).hexdigest()
        assert audit_chain.root_from_path(leaves[i], i, n, bad) != root
        assert audit_chain.root_from_path(leaves[i], i, n, path[:-1]) != root
    # (the tree size itself is bound by the signed tree head, not by the path)


def _proof_fixture(n: int = 5, position: int = 3) -> tuple[dict[str, object], str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    records = []
    for p in range(1, n + 1):
        state = {"name": f"station {p}", "meta": {"county": "130102"}}
        content = audit_chain.canonical_content(f"agg-{p}", 1, "x:Y", state)
        state["meta"]["sig"] = key.sign(content).hex()
        records.append(audit_chain.Record(p, f"agg-{p}", 1, "x:Y", audit_chain.canonical_json(state)))
    links = list(audit_chain.extend(audit_chain.GENESIS, records))
    leaves = [audit_chain.leaf_hash(lk.digest) for lk in links]
    head = audit_chain.tree_head("registry", n, audit_chain.merkle_root(leaves), links[-1])
    rec = records[position - 1]
    proof = {
        "position": position,
        "record": {**vars(rec), "state": base64.b64encode(rec.state).decode()},
        "leaf_index": position - 1,
        "leaf": leaves[position - 1],
        "audit_path": audit_chain.audit_path(leaves, position - 1),
        "tree_head": head,
        "signature": key.sign(audit_chain.canonical_json(head)).hex(),
    }
    return proof, pub, key


def kinds(problems):
    return {p["kind"] for p in problems}


def test_a_valid_proof_verifies_offline_and_tampering_is_named():
    proof, pub, _key = _proof_fixture()
    assert audit_chain.verify_inclusion_proof(proof, pub, service="registry", position=3) == []

    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    assert kinds(audit_chain.verify_inclusion_proof(proof, other)) == {"forged", "root_forged"}
    assert kinds(audit_chain.verify_inclusion_proof(proof, pub, position=4)) == {"wrong_position"}
    assert kinds(audit_chain.verify_inclusion_proof(proof, pub, service="finance")) == {"wrong_service"}

    edited = dict(proof, record=dict(proof["record"], state=base64.b64encode(b'{"name":"x"}').decode()))
    assert {"edited", "forged"} <= kinds(audit_chain.verify_inclusion_proof(edited, pub))

    moved = dict(proof, position=4, record=dict(proof["record"], position=4))  # the record claimed elsewhere
    assert "edited" in kinds(audit_chain.verify_inclusion_proof(moved, pub))

    forged_root = dict(proof, tree_head=dict(proof["tree_head"], root="00" * 32))
    assert kinds(audit_chain.verify_inclusion_proof(forged_root, pub)) == {"path", "root_forged"}

    # A forger without the key re-signs nothing: a root recomputed for an edited leaf is unsigned.
    wrong_index = dict(proof, leaf_index=1)
    assert kinds(audit_chain.verify_inclusion_proof(wrong_index, pub)) == {"path"}
    assert kinds(audit_chain.verify_inclusion_proof({"position": 1}, pub)) == {"malformed"}
