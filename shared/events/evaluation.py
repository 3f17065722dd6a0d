"""Events published by the evaluation service."""

from __future__ import annotations

from shared.events import IntegrationEvent, integration_event  # noqa: F401

SERVICE = "evaluation"
