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


def rotation(old, new, service, position):
    """A writer-key rotation record as the log stores it (signed by ``old``, possession by ``new``)."""
    import base64
    import uuid

    from shared import audit_chain

    old_id, new_public = audit_chain.key_id(bytes.fromhex(pub(old))), pub(new)
    state = {
        "service": service,
        "old_key_id": old_id,
        "new_key_id": audit_chain.key_id(bytes.fromhex(new_public)),
        "new_public_key": new_public,
        "possession": new.sign(audit_chain.rotation_statement(service, old_id, new_public)).hex(),
        "meta": {"county": "province"},
    }
    aggregate = str(uuid.uuid4())
    content = audit_chain.canonical_content(aggregate, position, audit_chain.KEY_ROTATION_TOPIC, state)
    state["meta"] = {**state["meta"], audit_chain.SIG_FIELD: old.sign(content).hex()}
    return {
        "position": position,
        "aggregate_id": aggregate,
        "version": position,
        "topic": audit_chain.KEY_ROTATION_TOPIC,
        "state": base64.b64encode(audit_chain.canonical_json(state)).decode(),
    }


def test_heads_signed_by_a_rotated_key_pass_when_the_rotations_lead_to_it_from_the_first_key():
    first, second, third, stranger = (Ed25519PrivateKey.generate() for _ in range(4))
    tree = audit_tree.MerkleTree()
    for h in LEAVES:
        tree.append(h)
    proofs = {(5, 8): {"proof": tree.consistency(5, 8), "tree_head": {"root": tree.root(8)}}}
    witness = Witness(lambda service, m, n: proofs[(m, n)], {"finance": pub(first)})
    last = {"tree_size": 5, "root": tree.root(5), "public_key": pub(first)}
    rotations = [rotation(first, second, "finance", 3), rotation(second, third, "finance", 6)]

    def head(signer, rots):  # as the service publishes it: the first key, the rotations, the signer's key id
        sth = signed(signer, "finance", 8, tree.root(8))
        return {**sth, "public_key": pub(first), "key_rotations": rots}

    ok = head(third, rotations)
    assert witness.check("finance", ok, last) == []
    assert audit_tree.head_problems(ok, pub(first), service="finance") == []
    old = {**signed(first, "finance", 5, tree.root(5)), "key_rotations": []}
    assert audit_tree.check_consistency(old, ok, tree.consistency(5, 8), pub(first)) == []
    # Signed by a retired key, or by one no rotation names: forged.
    for bad in (head(second, rotations), head(stranger, rotations)):
        assert [a.kind for a in witness.check("finance", bad, last)] == ["head_forged"]
        assert [p["kind"] for p in audit_tree.head_problems(bad, pub(first))] == ["head_forged"]
    # A rotation the retiring key did not sign breaks the chain.
    broken = head(third, [rotation(stranger, second, "finance", 3), rotations[1]])
    assert [a.kind for a in witness.check("finance", broken, last)] == ["key_chain"]
    assert [p["kind"] for p in audit_tree.head_problems(broken, pub(first))] == ["key_chain", "head_forged"]
