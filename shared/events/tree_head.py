"""The signed tree head a service publishes on ``swp.audit.<service>.TreeHeadSigned`` (R-AUD-4).

Not an integration event of the log (publishing it records nothing: a head commits to the log, it
is not part of it) and so not wrapped in the R-AUD-1 envelope: the message is the signed head
itself, exactly what ``GET /<service>/v1/audit/tree-head`` returns and ``swp audit tree-head
--out`` saves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

TREE_HEAD_SCHEMA_VERSION = 1


class ChainHead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=1, description="Log position of the last sealed record the tree covers")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="Chain hash at that position (R-AUD-4)")


class TreeHead(BaseModel):
    """What is signed: canonical JSON of this object (sorted keys, no spaces, UTF-8)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^swp-audit-tree-head/1$")
    service: str = Field(pattern=r"^(registry|services-log|evaluation|finance)$")
    tree_size: int = Field(ge=0, description="Sealed records the Merkle tree covers (RFC 9162)")
    root: str = Field(pattern=r"^[0-9a-f]{64}$", description="Merkle tree hash over the sealed links' digests")
    chain_head: ChainHead | None = Field(description="The chain link of the last leaf; null for an empty tree")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="First 16 hex of SHA-256 of the signing public key")
    timestamp: str = Field(description="RFC 3339 time of signing")


class RawRecord(BaseModel):
    """A record of the log as stored and signed (what inclusion proofs carry too)."""

    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=1, description="Log position")
    aggregate_id: str
    version: int = Field(ge=1)
    topic: str
    state: str = Field(description="The stored state, base64; its meta.sig is the writer's Ed25519 signature")


class TreeHeadSigned(BaseModel):
    """A service's signed tree head (R-AUD-4); header ``Nats-Msg-Id`` = SHA-256 of this message's
    canonical JSON. Check each new head against the last one you hold with ``GET
    /<service>/v1/audit/consistency?from=<old size>&to=<new size>``."""

    model_config = ConfigDict(extra="forbid")

    tree_head: TreeHead
    signature: str = Field(pattern=r"^[0-9a-f]{128}$", description="Ed25519 signature over the head's canonical JSON")
    public_key: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The service's FIRST writer public key (obtain it out of band too)"
    )
    key_rotations: list[RawRecord] = Field(
        default_factory=list,
        description="The log's writer-key rotation records, oldest first: each is signed by the key it retires and "
        "names the next (new_public_key, new_key_id); the last names the key that signed this head (R-AUD-4). "
        "Empty while the first key is in force.",
    )
