"""Every service's AsyncAPI document describes its signed tree heads (R-AUD-4): the channel
``swp.audit.<service>.TreeHeadSigned``, the message schema (shared/events/tree_head.py) and its
header; a head as the service signs it validates against the documented schema, a malformed one
does not; and every event message documents the correlation and causation headers."""

from __future__ import annotations

import evaluation.main
import finance.main
import jsonschema
import pytest
import registry.main
import services_log.main
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared import audit_chain
from shared.infra.service import Runtime, asyncapi_document, open_store
from shared.testing.fixtures import make_settings

SPECS = [registry.main.SPEC, services_log.main.SPEC, evaluation.main.SPEC, finance.main.SPEC]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_asyncapi_documents_the_tree_head_channel(spec, tmp_path):
    settings = make_settings("memory", "nats://127.0.0.1:1", tmp_path)
    doc = asyncapi_document(Runtime(spec, settings, open_store(spec, settings)))
    channel = next(c for c in doc["channels"].values() if c["address"] == f"swp.audit.{spec.name}.TreeHeadSigned")
    message = doc["components"]["messages"][next(iter(channel["messages"].values()))["$ref"].rsplit("/", 1)[-1]]
    assert message["headers"]["required"] == ["Nats-Msg-Id"] and "correlationId" not in message
    schema = {**message["payload"], "components": doc["components"]}

    key = Ed25519PrivateKey.from_private_bytes(settings.audit_key(spec.name))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    link = audit_chain.Link(position=7, prev=audit_chain.GENESIS, digest="ab" * 32, hash="cd" * 32)
    head = audit_chain.tree_head(spec.name, 7, "ef" * 32, link, key=audit_chain.key_id(bytes.fromhex(public)), timestamp="2026-12-02T00:00:00+00:00")
    sth = {"tree_head": head, "signature": key.sign(audit_chain.canonical_json(head)).hex(), "public_key": public}
    jsonschema.validate(sth, schema)
    for broken in (
        {**sth, "tree_head": {k: v for k, v in head.items() if k != "key_id"}},  # no key id
        {**sth, "tree_head": {**head, "root": "not hex"}},
        {**sth, "signature": "00"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)

    events = [c for c in doc["channels"].values() if c["address"].startswith(f"swp.{{county}}.{spec.name}.")]
    assert events
    for c in events:
        m = doc["components"]["messages"][next(iter(c["messages"].values()))["$ref"].rsplit("/", 1)[-1]]
        assert {"X-Correlation-Id", "X-Causation-Id", "Nats-Msg-Id"} <= set(m["headers"]["required"])
