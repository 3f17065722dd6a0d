"""Events published by the services-log service."""

from __future__ import annotations

from shared.events import IntegrationEvent, integration_event  # noqa: F401

SERVICE = "services-log"
