"""`swp demo` loads the demo county through the public HTTP API of a running platform (uvicorn)."""

from __future__ import annotations

import asyncio
import io

import uvicorn
from rich.console import Console

from gateway.app import create_app
from gateway.demo import load_demo
from shared.infra.natsserver import free_port


async def test_demo_county_loads_through_a_real_http_server(settings):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "server failed to start"
            await asyncio.sleep(0.05)
        out = io.StringIO()
        result = await asyncio.to_thread(load_demo, f"http://127.0.0.1:{port}", settings, Console(file=out, width=200))
    finally:
        server.should_exit = True
        await serving
    assert len(result["station_ids"]) == 3 and len(result["worker_ids"]) == 6
    tranche_1 = result["tranches"][0]
    # Effective 2026-12-01; 15 working days later (no holiday in between) is 2026-12-22.
    assert (tranche_1["seq"], tranche_1["amount_fen"], tranche_1["due_on"]) == (1, 18_000_000, "2026-12-22")
    assert "原州区" in out.getvalue()
