"""What the evaluation service publishes (mapping from its private domain events)."""

from __future__ import annotations

from typing import Any

from shared.events import IntegrationEvent

PUBLISHED: list[type[IntegrationEvent]] = []


def to_integration(e: Any) -> IntegrationEvent | None:
    return None
