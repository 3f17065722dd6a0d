"""Issue 16's target "finance's lag after a burst of 10,000 signings ≤ 30 s" (``--only finance-lag``).

Finance alone, as deploy/ runs it: ``processes`` uvicorn processes of ``finance.main`` on one
PostgreSQL database (a scratch one) and their own nats-server, each reading registry's events in
``SWP_CONSUMER_PARTITIONS`` partitions. The burst is published on ``swp.<county>.registry.ContractSigned``
exactly as registry's relay would (R-AUD-1 envelope, ``Nats-Msg-Id`` = event id), 10,000 contracts of
one county (the case where every signing commits to the same county budget). The lag runs from the
acknowledgement of the last publish to the moment every partition's durable consumer has nothing
pending and nothing unacknowledged (a message is acked only once its reaction is committed), checked
against the processes' own count of reactions. Also reported: the publish time, reactions per second,
the finance processes' CPU seconds over the drain, and how often a reaction lost an optimistic-
concurrency race (two partitions committing to the same budget) and re-ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors

from bench.platform import REPO, profiled, server_env
from shared.envelope import Envelope
from shared.events import registry as reg
from shared.infra.natsserver import NatsServer, free_port
from shared.infra.settings import Settings
from shared.subjects import subject

COUNTY = "640402"
TARGET_SECONDS = 30.0
BATCH = 500  # SWP_CONSUMER_BATCH of the finance processes, as deploy/ sets it; 1: one transaction per message
PARTITIONS = 1  # SWP_CONSUMER_PARTITIONS, as deploy/ runs finance (the default): one process pulls registry's events


def signing(contract_id: str, n: int) -> reg.ContractSigned:
    """A one-year contract of 360,000.00 元 in three tranches, funded from one source."""
    start = date(2026, 10, 8)
    return reg.ContractSigned(
        contract_id=contract_id, county=COUNTY, provider_id=f"p-{n % 40}", station_ids=[f"s-{n % 120}"],
        purchaser="原州区民政局", signed_on=start, effective_on=start, period_start=start, period_end=date(2027, 10, 7),
        amount_fen=36_000_000, funding=[reg.FundingShare(source="福彩公益金", amount_fen=36_000_000)],
        service_areas=["社会救助"], indicators=[],
        tranche_plan=[
            reg.TranchePlanItem(seq=1, percent=50, trigger="contract_effective"),
            reg.TranchePlanItem(seq=2, percent=30, trigger="midterm_passed"),
            reg.TranchePlanItem(seq=3, percent=20, trigger="final_passed"),
        ],
        cycle_years=1, year_index=1, policy_version=1,
    )


def envelope_bytes(event: reg.ContractSigned, position: int) -> tuple[bytes, str]:
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    env = Envelope(
        event_id=event_id, event_type=event.event_type, schema_version=event.schema_version, service=event.service,
        aggregate_type="Contract", aggregate_id=event.contract_id, version=1, county=COUNTY, actor="service:registry",
        command_id=str(event_id), correlation_id=str(event_id), occurred_at=now, recorded_at=now, position=position,
        data=event.model_dump(mode="json"),
    )
    return env.model_dump_json().encode(), str(event_id)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(workdir: Path, pg_dbname: str, say: Callable[[str], None], *, signings: int = 10_000,
                  processes: int = 2, partitions: int = PARTITIONS, batch: int = BATCH, extra_env: dict[str, str] | None = None,
                  profile_dir: Path | None = None) -> dict[str, Any]:
    logs = REPO / "var" / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    nats_server = NatsServer(free_port(), workdir / "nats", log_file=logs / "finance-lag-nats.log").start()
    settings = Settings(nats_url=nats_server.url, persistence="postgres", var_dir=workdir / "var", postgres_dbname=pg_dbname)
    procs: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(processes)]
    try:
        for i, port in enumerate(ports):
            env = {**server_env(settings), "SWP_CONSUMER_PARTITIONS": str(partitions),
                   "SWP_CONSUMER_BATCH": str(batch), "SWP_METRICS_PUBLIC": "true",
                   "SWP_VAR_DIR": str(workdir / f"var{i}"), **(extra_env or {})}
            with open(logs / f"finance-lag-{i}.log", "wb") as out:
                procs.append(subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "uvicorn", "finance.main:create_app", "--factory", "--host", "127.0.0.1",
                     "--port", str(port), "--log-level", "warning"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT))
        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) for port in ports]
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            durables = [f"finance--registry--p{i}of{partitions}" if partitions > 1 else "finance--registry" for i in range(partitions)]
            deadline = time.monotonic() + 120
            while True:  # every process healthy and every partition's durable consumer created
                try:
                    healthy = all([(await c.get("/health")).status_code == 200 for c in clients])
                    infos = [await js.consumer_info("SWP", d) for d in durables] if healthy else []
                    if healthy and len(infos) == len(durables):
                        break
                except (httpx.HTTPError, nats.js.errors.NotFoundError) as exc:  # not up yet
                    say(f"[finance-lag] waiting for finance: {type(exc).__name__}")
                if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                    raise RuntimeError(f"finance processes not ready; see {logs}/finance-lag-*.log")
                await asyncio.sleep(0.3)

            say(f"[finance-lag] publishing {signings:,} ContractSigned as registry would "
                f"({processes} finance processes, {partitions} partitions)")
            bodies = [envelope_bytes(signing(str(uuid.uuid4()), n), n + 1) for n in range(signings)]
            topic = subject(COUNTY, "registry", "ContractSigned")
            cpu_before = [cpu_seconds(p.pid) for p in procs]
            spies = contextlib.ExitStack()  # --profile DIR: py-spy on each process from the first publish to the drain
            for i, p in enumerate(procs):
                spies.enter_context(profiled(p.pid, profile_dir / f"finance-lag-{i}.txt" if profile_dir else None, rate=100))
            t0 = time.monotonic()
            last_seq = 0
            for chunk in range(0, signings, 500):  # in order: each chunk's publishes go out back to back
                acks = await asyncio.gather(*(
                    js.publish(topic, data, stream="SWP", headers={"Nats-Msg-Id": event_id})
                    for data, event_id in bodies[chunk:chunk + 500]
                ))
                last_seq = max(last_seq, *(a.seq for a in acks))
            published_at = time.monotonic()
            say(f"[finance-lag] published in {published_at - t0:.1f} s; waiting for finance to react to all")
            while True:
                infos = [await js.consumer_info("SWP", d) for d in durables]
                if all(i.num_pending == 0 and i.num_ack_pending == 0 and i.delivered.stream_seq >= last_seq for i in infos):
                    break
                if time.monotonic() - published_at > 1800:
                    raise TimeoutError("finance did not catch up within 30 minutes")
                await asyncio.sleep(0.2)
            done = time.monotonic()
            cpu_after = [cpu_seconds(p.pid) for p in procs]
            spies.close()
            healths = [(await c.get("/health")).json() for c in clients]
            stats = [h["consumers"]["registry"] for h in healths]
        finally:
            await nc.close()
            for c in clients:
                await c.aclose()
        handled = sum(s["handled"] for s in stats)
        lag = done - published_at
        say(f"[finance-lag] finance reacted to {handled:,} signings {lag:.1f} s after the last publish "
            f"(target ≤ {TARGET_SECONDS:g} s: {'met' if lag <= TARGET_SECONDS else 'not met'})")
        return {
            "signings": signings, "processes": processes, "partitions": partitions, "batch": batch,
            "publish_seconds": round(published_at - t0, 2), "lag_seconds": round(lag, 2),
            "drain_seconds_from_first_publish": round(done - t0, 2),
            "reactions_per_second": round(handled / (done - t0), 1) if done > t0 else None,
            "handled": handled, "duplicates_skipped": sum(s["skipped_duplicates"] for s in stats),
            "batches": sum(s.get("batches", 0) for s in stats),
            "batches_one_by_one": sum(s.get("batches_one_by_one", 0) for s in stats),
            "failures": sum(s["failures"] for s in stats), "conflicts_retried": sum(s.get("conflicts_retried", 0) for s in stats),
            "handled_per_process": [s["handled"] for s in stats],
            "finance_cpu_seconds": round(sum(a - b for a, b in zip(cpu_after, cpu_before, strict=True)), 1),
            "finance_cpu_seconds_per_process": [round(a - b, 1) for a, b in zip(cpu_after, cpu_before, strict=True)],
            "store_leader_per_process": [bool(h.get("leader", {}).get("sealer")) for h in healths],
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        nats_server.stop()
