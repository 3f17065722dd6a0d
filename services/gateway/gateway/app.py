"""The gateway application: mounts each service under its API.md prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import evaluation.main
import finance.main
import registry.main
import services_log.main
from console.app import create_console
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from shared.infra import problems
from shared.infra.settings import Settings

PREFIXES = {
    "registry": registry.main.create_app,
    "services-log": services_log.main.create_app,
    "evaluation": evaluation.main.create_app,
    "finance": finance.main.create_app,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    services = {prefix: factory(settings) for prefix, factory in PREFIXES.items()}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Mounted apps do not get lifespan events from Starlette: run each one's here.
        async with AsyncExitStack() as stack:
            for app in services.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    gateway = FastAPI(title="SWP gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    gateway.state.services = services
    problems.install(gateway)  # unmatched paths answer in problem+json too

    @gateway.get("/", response_model=None)
    def index(request: Request) -> Response | dict[str, object]:
        """A browser (asking for HTML) goes to the console; an API client gets the service index."""
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/home", status_code=303)
        return {
            "services": {
                p: {"health": f"/{p}/health", "openapi": f"/{p}/openapi.json", "asyncapi": f"/{p}/asyncapi.json", "docs": f"/{p}/docs"}
                for p in services
            }
        }

    for prefix, app in services.items():
        gateway.mount(f"/{prefix}", app)
    # The console (工作台) answers every other path; it calls the public API above in-process.
    gateway.mount("/", create_console(settings, api_app=gateway))
    return gateway
