"""Suite-wide fixtures. Real servers come from shared.testing.fixtures (loaded via pytest addopts)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.infra.settings import Settings
from shared.testing.fixtures import client_for, running


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The whole embedded platform behind its gateway, on real NATS and the chosen store."""
    from gateway.app import create_app

    app = create_app(settings)
    async with running(app), client_for(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
