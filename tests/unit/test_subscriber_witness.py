"""The subscriber kit's own RFC 9162 verifier and witness (independent of shared/): the reference
consistency proofs verify, and each kind of bad head raises its alarm."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from swp_subscriber.witness import Witness, verify_consistency

from shared import audit_tree
from tests.unit.test_audit_consistency import CT_CONSISTENCY, LEAVES, pub, signed
from tests.unit.test_audit_merkle import CT_ROOTS


@pytest.mark.parametrize(("first", "second"), sorted(CT_CONSISTENCY))
def test_the_kit_verifies_the_rfc6962_reference_proofs(first, second):
    proof = CT_CONSISTENCY[(first, second)]
    assert verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], proof)
    if proof:
        assert not verify_consistency(first, second, CT_ROOTS[first], CT_ROOTS[second], proof[:-1])
        assert not verify_consistency(first, second, CT_ROOTS[second], CT_ROOTS[second], proof)


def test_the_witness_alarms_on_every_kind_of_bad_head():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    tree = audit_tree.MerkleTree()
    for h in LEAVES:
        tree.append(h)
    proofs = {(5, 8): {"proof": tree.consistency(5, 8), "tree_head": {"root": tree.root(8)}}}
    witness = Witness(lambda service, m, n: proofs[(m, n)], {"finance": pub(key)})
    last = {"tree_size": 5, "root": tree.root(5), "public_key": pub(key)}
    kinds = lambda alarms: [a.kind for a in alarms]  # noqa: E731

    assert witness.check("finance", signed(key, "finance", 8, tree.root(8)), last) == []
    assert witness.check("finance", signed(key, "finance", 5, tree.root(5)), None) == []
    assert kinds(witness.check("finance", signed(key, "finance", 4, tree.root(4)), last)) == ["truncated"]
    assert kinds(witness.check("finance", signed(key, "finance", 5, tree.root(4)), last)) == ["forked"]
    assert kinds(witness.check("finance", signed(other, "finance", 8, tree.root(8)), last)) == ["key_changed"]
    assert kinds(witness.check("registry", signed(key, "finance", 8, tree.root(8)), last)) == ["head_forged"]
    rewritten = {"tree_size": 5, "root": "ab" * 32, "public_key": pub(key)}
    assert kinds(witness.check("finance", signed(key, "finance", 8, tree.root(8)), rewritten)) == ["rewritten"]
    # The service serves a root for size 8 other than the one it published: a fork.
    proofs[(5, 8)] = {"proof": tree.consistency(5, 8), "tree_head": {"root": "cd" * 32}}
    assert kinds(witness.check("finance", signed(key, "finance", 8, tree.root(8)), last)) == ["forked"]
