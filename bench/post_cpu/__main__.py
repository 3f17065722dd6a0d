"""Issue 16's POST CPU target in isolation (PostgreSQL): server CPU per ``POST …/deliveries`` (one
at a time, its events published and consumers caught up, as ``ledger_costs`` measures it) against
server CPU per ``GET /`` of the same server, plus the SQL statements the server ran per POST.

    python -m bench.post_cpu [PROFILE.txt]   # py-spy --gil raw stacks of the POST window if given

Also printed: the POST window's user and system CPU, and the server's CPU while idle just before
it (the pollers: relays, sealers, consumers; the window's share of it is part of the POST figure).
``PC_CALLERS=1`` names each statement's callers in the project's code, ``PC_TOP=N`` lists N
statements, ``PC_IDLE_PROFILE=FILE`` samples those 3 idle seconds with py-spy.

The statement count comes from ``bench/post_cpu/sitecustomize.py`` (loaded into the server through
PYTHONPATH), which wraps psycopg's execute; it adds a little CPU to both sides of a comparison.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench import platform as P
from bench import raw_store, rawhttp


async def settle(client: httpx.AsyncClient, settings: object, pid: int) -> None:
    await P.drained(client)
    await P.consumers_caught_up(settings.nats_url)  # type: ignore[attr-defined]
    await P.wait_idle(pid)


async def main(profile: str | None, posts: int = 300, gets: int = 2000) -> None:
    with tempfile.TemporaryDirectory(prefix="swp-postcpu-") as tmp, raw_store.scratch_database("swp_postcpu") as db:
        counts = Path(tmp) / "counts.json"
        env = {"SWP_MEMORY_BUDGET_MB": "512", "PYTHONPATH": str(Path(__file__).parent), "PC_COUNT_FILE": str(counts)}
        async with P.platform("postgres", Path(tmp), db, env) as (server, settings):
            await server.start()
            assert server.proc is not None
            pid = server.proc.pid
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                await P.drained(client)
                cast = await P.open_county(client, settings)
                place = await P.new_place(client, cast, "头营镇")
                lc = rawhttp.Client("127.0.0.1", server.port)
                for i in range(20):  # warm-up: routes built, caches filled
                    await P.post_delivery(lc, place.delivery(10_000 + i), cast.headers["provider"], Counter())
                for _ in range(50):
                    await lc.get("/")
                await settle(client, settings, pid)
                with P.CpuMeter(pid, server.nats_pid) as floor:
                    for _ in range(gets):
                        await lc.get("/")
                floor_ms = 1000 * floor.used["server"] / gets
                await P.wait_idle(pid)
                await asyncio.sleep(0.7)
                idle0 = P.cpu_seconds(pid)
                idle_profile = os.environ.get("PC_IDLE_PROFILE")  # py-spy of the idle server, if given
                with P.profiled(pid, Path(idle_profile) if idle_profile else None):
                    await asyncio.sleep(3.0)
                idle_ms_per_s = 1000 * (P.cpu_seconds(pid) - idle0) / 3.0
                before = json.loads(counts.read_text())
                split0, wall0 = user_sys(pid), time.perf_counter()
                with P.profiled(pid, Path(profile) if profile else None):
                    r = await P._ledger_costs(
                        lc,
                        place,
                        cast.headers["provider"],
                        cast.headers["purchaser"],
                        settings.nats_url,
                        (pid, server.nats_pid),
                        posts,
                        0,
                        0,
                    )
                split = [b - a for a, b in zip(split0, user_sys(pid), strict=True)]
                wall = time.perf_counter() - wall0
                await asyncio.sleep(0.7)
                after = json.loads(counts.read_text())
                await lc.aclose()
    ran = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    print(f"SQL statements per POST: {sum(ran.values()) / posts:.2f}")
    for k, v in sorted(ran.items(), key=lambda kv: -kv[1])[:int(__import__("os").environ.get("PC_TOP", "25"))]:
        print(f"  {v / posts:6.2f} {k}")
    post_ms = r["post_server_cpu_ms"]
    print(
        f"server CPU: {floor_ms:.3f} ms per GET /, {post_ms:.3f} ms per POST (x{post_ms / floor_ms:.1f}); {r['statuses']}"
    )
    print(
        f"  POST window {wall:.1f} s: user {1000 * split[0] / posts:.2f} + system {1000 * split[1] / posts:.2f} ms per POST;"
        f" idle server before it {idle_ms_per_s:.1f} ms CPU per s (~{idle_ms_per_s * wall / posts:.2f} ms per POST of the window)"
    )


def user_sys(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
