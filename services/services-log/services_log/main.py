"""Composition root of the services-log service: ``uvicorn services_log.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from services_log.api import ROUTERS
from services_log.api.common import OWNERS
from services_log.application import ServicesLogApplication
from services_log.composition import compose
from services_log.integration import PUBLISHED, to_integration, wire_consumers
from services_log.reads import audit_state
from services_log.uploads import UploadParser
from services_log.worker_lists import catch_up_worker_lists
from shared.infra.service import ServiceSpec, create_service_app
from shared.infra.settings import Settings

SPEC = ServiceSpec(
    name="services-log",
    title="SWP services-log",
    description="Service deliveries (个案, 小组, 社区活动 …), reports, monthly briefs and indicator progress.",
    application=lambda env: ServicesLogApplication(env=env),
    to_integration=to_integration,
    routers=ROUTERS,
    published=PUBLISHED,
    consumers=wire_consumers,
    owners=OWNERS,
    compose=compose,
    audit_state=audit_state,
    # At start (a store recorded before the workers' lists gets them) and every sweep after.
    sweeps=[catch_up_worker_lists],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(SPEC, settings)
    app.state.uploads = UploadParser(settings.import_seconds, settings.import_concurrency)
    return app
