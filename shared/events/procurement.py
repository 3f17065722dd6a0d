"""Events of projects and procurement (立项 → 采购 → 授标). Published by the registry service,
which owns providers and contracts: subjects ``swp.<county>.registry.<EventType>``."""

from __future__ import annotations

from shared.events import IntegrationEvent, integration_event  # noqa: F401

SERVICE = "registry"
