"""Composition root of the finance service: ``uvicorn finance.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from finance import api
from finance.api.common import OWNERS
from finance.application import FinanceApplication
from finance.composition import compose
from finance.integration import PUBLISHED, to_integration, wire_consumers
from shared.infra.service import ServiceSpec, create_service_app
from shared.infra.settings import Settings

SPEC = ServiceSpec(
    name="finance",
    title="SWP finance",
    description="Budgets (the bases of the county policy caps), tranche schedules with working-day deadlines, payments and ring-fenced expenses.",
    application=lambda env: FinanceApplication(env=env),
    to_integration=to_integration,
    routers=api.routers,
    published=PUBLISHED,
    consumers=wire_consumers,
    owners=OWNERS,
    compose=compose,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings())
