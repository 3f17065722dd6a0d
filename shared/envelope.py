"""The event envelope every integration event travels in (R-AUD-1).

Versioned: ``envelope_version`` changes only when a field is removed or changes
meaning; new optional fields are additive within a version (tolerant readers).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ENVELOPE_VERSION = 1
# Namespace for deterministic event ids: re-publishing the same stored event
# always yields the same id, so JetStream's de-duplication (Nats-Msg-Id) works.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c4a8e-2b1d-5d7a-9c3e-5a0e1f2b3c4d")


def event_id_for(service: str, aggregate_id: uuid.UUID | str, version: int) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{service}:{aggregate_id}:{version}")


class Envelope(BaseModel):
    """R-AUD-1: who changed what, when, and why (command, correlation, causation)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    envelope_version: int = ENVELOPE_VERSION
    event_id: uuid.UUID
    event_type: str = Field(description="PascalCase past tense, e.g. ContractSigned")
    schema_version: int = Field(description="Version of the `data` schema of this event type")
    service: str
    aggregate_type: str
    aggregate_id: uuid.UUID
    version: int = Field(description="Aggregate version this event produced (1 = created)")
    county: str = Field(description="6-digit division code, or 'province'")
    actor: str = Field(description="Who: `sub` of the token, or `service:<name>` for reactions")
    command_id: str
    correlation_id: str
    causation_id: str | None = None
    occurred_at: datetime
    recorded_at: datetime
    position: int = Field(description="Position in the producing service's own log")
    data: dict[str, Any]
