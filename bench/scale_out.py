"""Several processes of one service (issue 16 item 4's target): services-log's throughput with two
processes over one with one, on PostgreSQL, in the same run, with 0 conflicts surfaced to clients.

Beside the gateway (which runs all four services and leads services-log's store: relay, sealer),
two more ``uvicorn services_log.main:create_app`` processes share services-log's PostgreSQL
schema and NATS, as two replicas in ``deploy/`` do. The same closed loop of single delivery POSTs
runs against one replica, then against both (requests alternate between them), on the same
contracts; each 409 the platform answered is counted (the client retries it, as the problem's
detail asks) — the target is none. A second pair of figures routes each contract to one replica
(what a gateway hashing on the contract would do): no two processes then contend for one
contract's ledger.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from bench import rawhttp
from bench.capacity import MachineMeter, scale_out_ceiling
from bench.platform import LOG, Cast, CpuMeter, Load, Place, Server, closed_loop
from shared.infra.settings import Settings

PREFIX = "/services-log"


class Replica(Server):
    """services-log alone in a process of its own (no gateway prefix on its routes)."""

    async def start(self, timeout: float = 60.0) -> None:
        import subprocess
        import sys
        import time

        import httpx

        from bench.platform import REPO, server_env

        args = [sys.executable, "-m", "uvicorn", "services_log.main:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with open(self.log_file, "ab") as out:
            self.proc = subprocess.Popen(args, cwd=REPO, env={**server_env(self.settings), **self.extra_env}, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"services-log replica exited with {self.proc.returncode}; see {self.log_file}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica not healthy after {timeout}s; see {self.log_file}")
                await asyncio.sleep(0.2)


class Unprefixed:
    """A raw client to a replica: the gateway's ``/services-log`` prefix taken off each path."""

    def __init__(self, port: int) -> None:
        self.inner = rawhttp.Client("127.0.0.1", port)

    async def post(self, path: str, json: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.inner.post(path.removeprefix(PREFIX), json, headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return await self.inner.get(path.removeprefix(PREFIX), headers)

    async def aclose(self) -> None:
        await self.inner.aclose()


class RoundRobin:
    """Requests alternate between the replicas' clients (a load balancer without affinity)."""

    def __init__(self, clients: list[Unprefixed]) -> None:
        self.clients = clients
        self._next = itertools.cycle(clients)

    async def post(self, path: str, json: Any, headers: dict[str, str] | None = None) -> Any:
        return await next(self._next).post(path, json, headers)


class Routed:
    """Each contract always to the same replica (a gateway hashing on the contract id)."""

    def __init__(self, clients: list[Unprefixed], places: list[Place]) -> None:
        self.by_contract = {p.contract_id: clients[i % len(clients)] for i, p in enumerate(places)}

    async def post(self, path: str, json: Any, headers: dict[str, str] | None = None) -> Any:
        return await self.by_contract[json["contract_id"]].post(path, json, headers)


async def measure(settings: Settings, logs: Path, places: list[Place], cast: Cast, concurrency: int, seconds: float,
                  nats_pid: int | None, say: Any, gateway_pid: int | None = None) -> dict[str, Any]:
    """Closed loops against one replica, then two (round robin), then two (routed by contract).
    Each loop's CPU is also accounted for every process taking part (the gateway, both replicas,
    nats-server, the PostgreSQL processes of the store's database, this process) and the whole
    machine (``accounting``), and turned into busy fractions and a throughput ceiling (``capacity``)."""
    replicas = [Replica(settings, logs / f"services-log-replica-{i}.log") for i in (1, 2)]
    try:
        await asyncio.gather(*(r.start() for r in replicas))
        provider = cast.headers["provider"]
        out: dict[str, Any] = {}
        for name in ("one", "two", "two_routed"):
            # Fresh connections for each loop: uvicorn closes a keep-alive connection idle for 5 s.
            clients = [Unprefixed(r.port) for r in replicas]
            try:
                for i, c in enumerate(clients):  # warm both processes (first request's imports, caches)
                    await c.post(f"{LOG}/deliveries", places[0].delivery(10**6 + i), provider)
                client: Any = {"one": clients[0], "two": RoundRobin(clients), "two_routed": Routed(clients, places)}[name]
                say(f"[postgres] scale-out: closed loop ({concurrency} in flight, {seconds:.0f} s) against {name.replace('_', ' ')}")
                pids = [r.proc.pid if r.proc else None for r in replicas]
                parties = {"gateway": [gateway_pid], "replica-1": [pids[0]], "replica-2": [pids[1]], "nats": [nats_pid]}
                with (CpuMeter(pids[0], nats_pid) as first, CpuMeter(pids[1], nats_pid) as second,
                      MachineMeter(parties, settings.postgres_dbname, postgres=True) as acc):
                    load = await closed_loop(client, places, provider, concurrency, seconds)
                out[name] = _summary(load, first.used["server"] + second.used["server"])
                out[name]["accounting"] = acc.result
                out[name]["capacity"] = scale_out_ceiling(acc.result, load.ok)
            finally:
                for c in clients:
                    await c.aclose()
            await asyncio.sleep(1.0)
        return out
    finally:
        for r in replicas:
            r.stop()


def _summary(load: Load, server_cpu: float) -> dict[str, Any]:
    statuses: Counter[int] = Counter(load.statuses)
    return {
        "throughput": round(load.throughput, 1), "ok": load.ok, "seconds": round(load.seconds, 2),
        "p50_ms": load.p(50), "p99_ms": load.p(99), "statuses": dict(statuses), "conflicts_surfaced": load.conflicts,
        "first_error": load.first_error, "server_cpu_ms_per_ok": round(1000 * server_cpu / load.ok, 3) if load.ok else None,
    }
