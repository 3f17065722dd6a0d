"""`swp demo` loads the demo county through the public HTTP API of a running platform (uvicorn)."""

from __future__ import annotations

import asyncio
import io

from gateway.demo import load_demo
from rich.console import Console

from tests.integration.serving import serving


async def test_demo_county_loads_through_a_real_http_server(settings):
    out = io.StringIO()
    async with serving(settings) as base_url:
        result = await asyncio.to_thread(load_demo, base_url, settings, Console(file=out, width=200))
    assert len(result["station_ids"]) == 3 and len(result["worker_ids"]) == 6
    tranche_1 = result["tranches"][0]
    # Effective 2026-12-01; 15 working days later (no holiday in between) is 2026-12-22.
    assert (tranche_1["seq"], tranche_1["amount_fen"], tranche_1["due_on"]) == (1, 18_000_000, "2026-12-22")
    assert "原州区" in out.getvalue()
    # The evaluator → finance → auditor walk: a mid-term scheduled a week ago, open for the evaluator today.
    assert {"contract_id", "evaluator_org", "evaluation_id"} <= set(result["evaluation"])
