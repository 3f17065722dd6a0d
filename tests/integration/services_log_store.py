"""Fixtures for tests that open services-log's store directly: a test module imports them
(``from tests.integration.services_log_store import store_app, store_env``) and uses them as
``app`` and ``env``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from services_log.application import ServicesLogApplication

from shared.infra.service import prepare_store
from shared.infra.settings import Settings


@pytest.fixture(name="env")
def store_env(settings: Settings) -> dict[str, str]:
    """services-log's store, prepared, as the application's environment."""
    prepare_store(settings, "services-log")
    return settings.eventsourcing_env("services-log")


@pytest.fixture(name="app")
def store_app(env: dict[str, str]) -> Iterator[ServicesLogApplication]:
    """One services-log application on that store."""
    application = ServicesLogApplication(env)
    yield application
    application.close()
