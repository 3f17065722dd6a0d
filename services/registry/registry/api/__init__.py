"""Registry HTTP API (paths fixed by API.md where it names them). Route docstrings become the OpenAPI text."""

from registry.api import contracts, counties, providers, province, public, staffing

ROUTERS = [counties.router, providers.router, staffing.router, contracts.router, public.router, province.router]

__all__ = ["ROUTERS"]
