"""Issue 16's list target: the first page of any county list at 10,000 contracts costs at most
1.5× its cost at 100 contracts (server CPU per request, from /proc).

One store holds two counties: 130731 with 100 contracts and 640402 with 10,000. They are written
in-process before the gateway starts, in batches: the registry's contracts (the first of each
county signed with every check, the others with its terms) and finance's tranche schedule of
each (the plan finance's reaction makes). The gateway then serves the stores with no NATS
reachable — nothing is published and no consumer reacts — so the server's CPU over the reads is
the reads'. Each list's first page (default `limit`) is read ``gets`` times per county and the
server's CPU per read compared. (Evaluation's list holds no evaluation here: its cost is the
projection query alone.)

    python -m bench.run --only county-lists [--stores sqlite] [--quick]
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from enum import StrEnum
from typing import Any

import httpx

from shared.infra.auth import Role, issue_token
from shared.infra.settings import Settings

SMALL, LARGE = "130731", "640402"
USCC = {SMALL: "51130731MJA000001G", LARGE: "52640402MJY1000012"}

# (name, path under the gateway with {county}, params): every list whose length grows with contracts.
LISTS: list[tuple[str, str, dict[str, str]]] = [
    ("registry.contracts", "/registry/v1/counties/{county}/contracts", {}),
    ("registry.contracts_filing_pending", "/registry/v1/counties/{county}/contracts", {"filing": "pending"}),
    ("registry.province_contracts", "/registry/v1/contracts", {"county": "{county}"}),
    ("finance.overdue", "/finance/v1/counties/{county}/tranches/overdue", {"as_of": "2027-06-30"}),
    ("finance.findings", "/finance/v1/counties/{county}/findings", {}),
    ("evaluation.evaluations", "/evaluation/v1/counties/{county}/evaluations", {}),
]


def terms(provider_id: str, station_id: str, i: int) -> dict[str, Any]:
    today = date.today()
    return {
        "provider_id": provider_id, "station_ids": [station_id], "purchaser": "民政局",
        "signed_on": date(2026, 9, 10), "effective_on": date(2026, 9, 21), "period_start": date(2026, 9, 21),
        "period_end": date(2027, 9, 20), "amount_fen": 36_000_000 + i,
        "funding": [{"source": "福彩公益金", "amount_fen": 36_000_000 + i}],
        "service_areas": ["社会救助"], "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
        "justification": f"批量第{i}份 {today.isoformat()}",
    }


def recorded(value: Any) -> Any:
    """A typed state value (frozen dataclasses, StrEnums, tuples) as the plain form the contract's
    creation event records: what ``Contract(...)`` takes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: recorded(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | list):
        return [recorded(v) for v in value]
    if isinstance(value, dict):
        return {k: recorded(v) for k, v in value.items()}
    return value


CONTRACT_FIELDS = (
    "county", "provider_id", "station_ids", "purchaser", "signed_on", "effective_on", "period_start", "period_end",
    "amount_fen", "funding", "service_areas", "indicators", "tranche_plan", "cycle_years", "year_index",
    "policy_version", "policy", "cycle_start", "probation", "previous_contract_id", "supervisor_id",
    "filing_due_on", "filing_due_provisional",
)


def seed(settings: Settings, counts: dict[str, int], batch: int = 200, say: Any = print) -> dict[str, float]:
    """The counties, a provider, a station with two workers each, and ``counts`` contracts through
    the registry application, in-process (signed, R-AUD-1 metadata; no HTTP): the first contract of
    a county is signed with every check, the others are recorded with its terms, ``batch`` per save
    (``ContractSigned`` events like any other; signing each with its checks and funding-ledger
    commitment costs O(n) per contract today: 2,000 took 228 s)."""
    from registry.application import RegistryApplication, compose
    from registry.domainmodel import Contract

    from shared.infra.service import prepare_store
    from shared.infra.store import CommandContext

    prepare_store(settings, "registry")
    app = RegistryApplication(settings.eventsourcing_env("registry"))
    app.use_signing_key(settings.audit_key("registry"))
    registry = compose(app)
    seconds: dict[str, float] = {}
    try:
        for county, n in counts.items():
            t = time.perf_counter()
            with app.command(CommandContext(county=county, actor="bench")):
                registry.counties.put_county(county, "测试县", None)
                provider = str(registry.counties.register_provider(county, "明德社会工作服务中心", USCC[county], "4A", True))
                station = str(registry.staffing.establish_station(county, "南关街道社工站", "南关街道", "street_station"))
                for name in ("李娜", "王静"):
                    registry.staffing.hire_worker(county, provider, station, name, date(1995, 5, 5), "本科", "助理社会工作师",
                                                  "social_worker", date(2026, 8, 1))
                first = registry.contracting.sign_contract(county, terms(provider, station, 0))  # every signing check
                model = app.contract(county, str(first))
                kwargs = {k: recorded(getattr(model, k)) for k in CONTRACT_FIELDS}
                pending: list[Any] = []
                for i in range(1, n):
                    pending.append(Contract(**{**kwargs, "amount_fen": model.amount_fen}))
                    if len(pending) == batch or i == n - 1:
                        app.save(*pending)
                        pending = []
                    if (i + 1) % 2000 == 0:
                        say(f"  {county}: {i + 1:,} contracts signed ({time.perf_counter() - t:.0f} s)")
            seconds[county] = round(time.perf_counter() - t, 1)
    finally:
        app.close()
    return seconds


def headers(settings: Settings, role: Role, county: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, sub='bench', role=role, counties=[county])}"}


async def first_page_costs(
    client: httpx.AsyncClient, settings: Settings, meter: Any, gets: int
) -> dict[str, dict[str, Any]]:
    """Server CPU per first-page read of each list, per county."""
    out: dict[str, dict[str, Any]] = {}
    wide = headers(settings, Role.PROVINCE_ADMIN, "*")
    for name, path, params in LISTS:
        out[name] = {}
        for county in (SMALL, LARGE):
            who = wide if path.startswith("/registry/v1/contracts") else headers(settings, Role.AUDITOR, county)
            url = path.format(county=county)
            query = {k: v.format(county=county) for k, v in params.items()}
            statuses: dict[int, int] = {}
            items = 0
            for _ in range(3):  # warm
                await client.get(url, params=query, headers=who)
            with meter() as m:
                for _ in range(gets):
                    r = await client.get(url, params=query, headers=who)
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    items = len(r.json()) if r.status_code == 200 else -1
            out[name][county] = {"server_cpu_ms": m.per(gets).get("server"), "items": items, "statuses": statuses,
                                 "next_page": bool(r.headers.get("X-Next-Cursor"))}
    return out


def seed_finance(settings: Settings, batch: int = 500) -> int:
    """Finance's tranche schedules of every contract the registry holds (the plan its reaction to
    ``ContractSigned`` makes, tranche 1 scheduled), written through the finance application in
    batches — as if it had reacted, without 10,000 reactions over NATS first (finance's county
    index makes that O(n²) today: 2,751 of 10,100 after 10 minutes on this machine)."""
    from finance.application import FinanceApplication
    from finance.domainmodel import TrancheSchedule, plan_tranches
    from registry.application import RegistryApplication
    from registry.domainmodel import Contract

    from shared.infra.service import prepare_store
    from shared.infra.store import CommandContext

    registry = RegistryApplication(settings.eventsourcing_env("registry"))
    prepare_store(settings, "finance")
    finance = FinanceApplication(settings.eventsourcing_env("finance"))
    finance.use_signing_key(settings.audit_key("finance"))
    written = 0
    try:
        for county in (SMALL, LARGE):
            with finance.command(CommandContext(county=county, actor="bench")):
                pending: list[Any] = []
                for c in registry.contracts(county):
                    assert isinstance(c, Contract)
                    schedule = TrancheSchedule(
                        contract_id=str(c.id), county=county, amount_fen=c.amount_fen, effective_on=c.effective_on,
                        period_start=c.period_start, period_end=c.period_end,
                        tranches=plan_tranches(c.amount_fen, recorded(c.tranche_plan)), provider_id=c.provider_id,
                        station_ids=list(c.station_ids), signed_on=c.signed_on, funding=recorded(c.funding), policy=recorded(c.policy),
                    )
                    pending.append(schedule)
                    if len(pending) == batch:
                        finance.save(*pending)
                        written += len(pending)
                        pending = []
                if pending:
                    finance.save(*pending)
                    written += len(pending)
    finally:
        registry.close()
        finance.close()
    return written


async def run(persistence: str, workdir: Any, pg_dbname: str | None, cfg: Any, say: Any) -> dict[str, Any]:
    """The phase on one store: seed, start the gateway with no NATS reachable (nothing published,
    no consumer reacting: the server's CPU is the reads'), measure."""
    import asyncio

    from bench.platform import REPO, Server, rss_sampled
    from shared.infra.natsserver import free_port

    counts = {SMALL: cfg.lists_small, LARGE: cfg.lists_large}
    out: dict[str, Any] = {"counts": counts}
    values: dict[str, Any] = {"nats_url": f"nats://127.0.0.1:{free_port()}", "persistence": persistence,
                              "var_dir": workdir / "var", "nats_startup_wait_seconds": 1.0}
    if pg_dbname:
        values.update(postgres_dbname=pg_dbname)
    settings = Settings(**values)
    logs = REPO / "var" / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say(f"[{persistence}] county lists: recording {counts[SMALL]:,} and {counts[LARGE]:,} contracts in two counties")
    out["seed_seconds"] = await asyncio.to_thread(seed, settings, counts, 500, say)
    t = time.perf_counter()
    out["finance_schedules"] = await asyncio.to_thread(seed_finance, settings)
    out["seed_seconds"]["finance"] = round(time.perf_counter() - t, 1)
    env = {"SWP_MEMORY_BUDGET_MB": str(cfg.memory_budget_mb), "SWP_NATS_STARTUP_WAIT_SECONDS": "1", **cfg.server_env}
    server = Server(settings, logs / f"{persistence}-county-lists-gateway.log", env)
    say(f"[{persistence}] county lists: starting the gateway (no NATS: the stores alone)")
    async with rss_sampled(lambda: server, out):  # its RSS with 10,000 contracts against the memory budget
        await _measure(server, settings, cfg, out, say, persistence)
    return out


async def _measure(server: Any, settings: Settings, cfg: Any, out: dict[str, Any], say: Any, persistence: str) -> None:
    from contextlib import contextmanager

    from bench.platform import CpuMeter, wait_idle

    try:
        await start_without_nats(server)
        pid = server.proc.pid if server.proc else None
        await wait_idle(pid, timeout=120)
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:

            @contextmanager
            def meter() -> Any:
                with CpuMeter(pid, None) as m:
                    yield m

            say(f"[{persistence}] county lists: first page of each list, {cfg.lists_gets} reads per county")
            out["lists"] = await first_page_costs(client, settings, meter, cfg.lists_gets)
    finally:
        server.stop()


async def start_without_nats(server: Any, timeout: float = 120.0) -> None:
    """Start the gateway and wait until every service answers with its store reachable (health is
    503 without NATS; the services serve anyway after ``nats_startup_wait_seconds``)."""
    import asyncio
    import subprocess
    import sys

    from bench.platform import REPO, server_env

    args = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(server.port), "--log-level", "warning"]
    with open(server.log_file, "ab") as log:
        server.proc = subprocess.Popen(args, cwd=REPO, env={**server_env(server.settings), **server.extra_env}, stdout=log,  # noqa: S603
                                       stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {server.proc.returncode}; see {server.log_file}")
            try:
                bodies = [(await client.get(f"/{svc}/health")).json() for svc in ("registry", "services-log", "evaluation", "finance")]
                if all(b.get("store", {}).get("ok") for b in bodies):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway not serving after {timeout}s; see {server.log_file}")
            await asyncio.sleep(0.3)


def list_metrics(pre: str, p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 16: server CPU per first-page read at 10,000 contracts over the same at 100 (≤ 1.5×)."""
    found = p.get("lists")
    if not found:
        return {}
    small, large = p["counts"][SMALL], p["counts"][LARGE]
    m: dict[str, dict[str, Any]] = {}
    for name, by_county in found.items():
        a, b = by_county[SMALL], by_county[LARGE]
        from bench.report import metric

        m[f"{pre}.county_lists.{name}"] = metric(
            b["server_cpu_ms"], "ms CPU", baseline=a["server_cpu_ms"], baseline_of=f"the same list's first page at {small:,} contracts",
            ratio_max=1.5,
            note=f"server CPU per first-page read (default limit) of a county with {large:,} contracts ({b['items']} items, "
                 f"more pages: {b['next_page']}, statuses {b['statuses']}) against one with {small:,} ({a['items']} items, "
                 f"more pages: {a['next_page']}, statuses {a['statuses']}); same store, same run",
        )
    return m
