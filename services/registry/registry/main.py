"""Composition root of the registry service: ``uvicorn registry.main:create_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from registry.api import ROUTERS
from registry.api.common import OWNERS
from registry.application import Registry, RegistryApplication, compose
from registry.integration import PUBLISHED, to_integration, wire_consumers
from registry.procurement import api as procurement_api
from registry.procurement import integration as procurement_integration
from shared.infra.service import ServiceSpec, create_service_app
from shared.infra.settings import Settings


def sweep_filing_overdue(registry: Registry) -> None:
    """R-REG-5: contracts not filed by their due date are flagged without anyone asking."""
    registry.contracting.sweep_filing_overdue()


SPEC = ServiceSpec(
    name="registry",
    title="SWP registry",
    description="Counties and policy, providers (承接主体), stations (社工站), social workers and service contracts (服务协议).",
    application=lambda env: RegistryApplication(env=env),
    to_integration=to_integration,
    routers=[*ROUTERS, *procurement_api.ROUTERS],
    published=[*PUBLISHED, *procurement_integration.PUBLISHED],
    consumers=wire_consumers,
    owners=OWNERS,
    sweeps=[sweep_filing_overdue],
    compose=compose,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings or Settings())
