"""services-log HTTP API (paths fixed by API.md where it names them). Route docstrings become the OpenAPI text."""

from services_log.api import beneficiaries, contracts, deliveries

ROUTERS = [deliveries.router, contracts.router, beneficiaries.router]

__all__ = ["ROUTERS"]
