"""Composition root of the evaluation service: ``uvicorn evaluation.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from evaluation.api import ROUTERS
from evaluation.api.common import OWNERS
from evaluation.application import EvaluationApplication, compose
from evaluation.integration import PUBLISHED, to_integration, wire_consumers
from shared.infra.service import ServiceSpec, create_service_app
from shared.infra.settings import Settings

SPEC = ServiceSpec(
    name="evaluation",
    title="SWP evaluation",
    description="Unified rubrics, process visits, self-evaluation, satisfaction surveys, grades and published results.",
    application=lambda env: EvaluationApplication(env=env),
    to_integration=to_integration,
    routers=ROUTERS,
    published=PUBLISHED,
    consumers=wire_consumers,
    owners=OWNERS,
    compose=compose,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings())
