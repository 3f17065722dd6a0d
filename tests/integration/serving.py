"""Run the gateway under a real uvicorn server on a free port for the duration of a block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from click.testing import Result
from gateway.app import create_app

from shared.infra.natsserver import free_port
from shared.infra.settings import Settings


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "server failed to start"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def export_registry_after_a_signing(settings: Settings, tokens: Any, out: Path) -> Result:
    """Serve the platform, set up a county and sign a contract, wait until the sealer has chained
    every record, then run `swp audit export --service registry --out <out>` against it (the
    CLI's token comes from SWP_TOKEN). Returns the CLI's result; the server is gone afterwards."""
    import httpx
    from gateway.cli import app as swp
    from typer.testing import CliRunner

    from shared.infra.auth import Role
    from tests.integration.slice import COUNTY, setup_county, sign

    async with serving(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            setup = await setup_county(client, tokens)
            assert (await sign(client, COUNTY, setup)).status_code == 201
            deadline = asyncio.get_running_loop().time() + 60  # until the sealer has chained everything
            while (body := (await client.get("/registry/v1/audit/verify", headers=tokens(Role.AUDITOR, "*"))).json())["unsealed"]:
                assert asyncio.get_running_loop().time() < deadline, f"the sealer left records unchained: {body}"
                await asyncio.sleep(0.05)
        return await asyncio.to_thread(
            CliRunner().invoke, swp, ["audit", "export", "--service", "registry", "--out", str(out), "--base-url", base_url]
        )
