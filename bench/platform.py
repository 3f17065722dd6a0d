"""The platform under load: the gateway app under a real uvicorn server (its own process), its
own nats-server and store, driven over HTTP like a station's software would drive it.

Measures single deliveries (closed loop for throughput, open loop at a fixed offered rate for
latency), the bulk import (stored, and published on JetStream), the lag from signing a contract
in registry to finance's tranche schedule, audit replay through the event feed against the raw
notification log of the same store, and as-of reconstruction of a contract ledger of 10,000 events.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import nats

from bench import rawhttp
from bench.capacity import MachineMeter
from shared.infra.auth import Role, issue_token
from shared.infra.natsserver import NatsServer, free_port
from shared.infra.settings import Settings

REPO = Path(__file__).resolve().parent.parent
COUNTY = "640402"  # 原州区
USCC = "52640402MJY1000012"
LOG = f"/services-log/v1/counties/{COUNTY}"
REG = f"/registry/v1/counties/{COUNTY}"
FIRST_DAY = date(2026, 9, 21)  # the contract year starts here; deliveries are dated up to yesterday (China time)


def delivery_days() -> int:
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    return max(1, (today - FIRST_DAY).days)  # 21 Sep … yesterday


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- the server ---------------------------------------------------------------------------


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWP_")}
    env.update(
        SWP_ENVIRONMENT=settings.environment,
        SWP_NATS_URL=settings.nats_url,
        SWP_PERSISTENCE=settings.persistence,
        SWP_VAR_DIR=str(settings.var_dir),
        SWP_POSTGRES_HOST=settings.postgres_host,
        SWP_POSTGRES_PORT=str(settings.postgres_port),
        SWP_POSTGRES_USER=settings.postgres_user,
        SWP_POSTGRES_PASSWORD=settings.postgres_password.get_secret_value(),
        SWP_POSTGRES_DBNAME=settings.postgres_dbname,
    )
    return env


class Server:
    """``uvicorn gateway.app:create_app --factory`` in a process of its own, as `swp up` serves it."""

    def __init__(self, settings: Settings, log_file: Path, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.nats_pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60.0) -> None:
        args = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        with open(self.log_file, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(args, cwd=REPO, env={**server_env(self.settings), **self.extra_env}, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited with {self.proc.returncode}; see {self.log_file}")
                try:
                    codes = [(await client.get(f"/{svc}/health")).status_code for svc in ("registry", "services-log", "evaluation", "finance")]
                    if codes == [200] * 4:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gateway not healthy after {timeout}s; see {self.log_file}")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU spent by the server, nats-server and this process (the load generator) over a phase."""

    def __init__(self, server_pid: int | None, nats_pid: int | None) -> None:
        self.pids = {"server": server_pid, "nats": nats_pid}
        self.start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self.start = {k: cpu_seconds(p) for k, p in self.pids.items()} | {"client": time.process_time(), "wall": time.perf_counter()}
        return self

    def __exit__(self, *exc: object) -> None:
        now = {k: cpu_seconds(p) for k, p in self.pids.items()} | {"client": time.process_time(), "wall": time.perf_counter()}
        self.used = {k: round(now[k] - self.start[k], 3) for k in now}

    def per(self, n: int) -> dict[str, float]:
        """CPU milliseconds per unit of work (request, row, event)."""
        return {k: round(1000 * v / n, 3) for k, v in self.used.items() if k != "wall"} if n else {}


async def wait_idle(pid: int | None, busy: float = 0.15, timeout: float = 90.0) -> float:
    """Wait until the server uses less than ``busy`` of a CPU over half a second (an abandoned
    open-loop backlog is still being worked off otherwise); returns the wait."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if (cpu_seconds(pid) - before) / 0.5 < busy:
            break
    return round(time.monotonic() - start, 2)


@contextmanager
def profiled(pid: int | None, out: Path | None, rate: int = 200) -> Iterator[None]:
    """py-spy (if asked for and installed) sampling the server process for the block's duration."""
    if pid is None or out is None:
        yield
        return
    spy = REPO / ".venv" / "bin" / "py-spy"
    if not spy.exists():
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603
        # --gil by default; BENCH_PYSPY_GIL=0 samples every thread on a CPU instead (py-spy's "active"
        # threads): --gil also counts a thread that released the GIL while nothing else took it.
        [str(spy), "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", str(out), "--nonblocking",
         *(["--gil"] if os.environ.get("BENCH_PYSPY_GIL", "1") != "0" else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the county's cast ------------------------------------------------------------------


@dataclass
class Place:
    """A station with two workers and its own contract: each phase gets one, so no phase's
    contract ledger or workers' timesheets carry another phase's history."""

    station: str
    workers: list[str]
    contract_id: str

    def delivery(self, i: int) -> dict[str, Any]:
        days = delivery_days()
        return {
            "contract_id": self.contract_id,
            "station_id": self.station,
            "worker_ids": [self.workers[(i // days) % 2]],
            "kind": "帮扶救助",
            "area": "社会救助",
            "date": (FIRST_DAY + timedelta(days=i % days)).isoformat(),
            "hours_direct": "0.1",  # at most 120 a worker a day under the 12 h cap (R-LOG-4)
            "hours_other": "0",
            "person_times": 1 + i % 4,
            "indicator_code": "assist",
        }


@dataclass
class Cast:
    settings: Settings
    provider_id: str = ""
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def token(self, role: Role, *counties: str, **claims: Any) -> dict[str, str]:
        token = issue_token(self.settings, sub="bench", role=role, counties=list(counties), **claims)
        return {"Authorization": f"Bearer {token}"}


async def ok(response: Any, status: int = 201) -> dict[str, Any]:
    r = await response
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text[:500]}")
    return dict(r.json())


async def open_county(client: httpx.AsyncClient, settings: Settings) -> Cast:
    cast = Cast(settings)
    cast.headers = {
        "admin": cast.token(Role.PROVINCE_ADMIN, "*"),
        "purchaser": cast.token(Role.PURCHASER, COUNTY),
        "auditor": cast.token(Role.AUDITOR, COUNTY),
        "finance": cast.token(Role.FINANCE, COUNTY),
    }
    await ok(client.put(REG, json={"name": "原州区"}, headers=cast.headers["admin"]), 200)
    body = {"name": "明德社会工作服务中心", "uscc": USCC, "rating": "4A"}
    cast.provider_id = (await ok(client.post(f"{REG}/providers", json=body, headers=cast.headers["purchaser"])))["provider_id"]
    cast.headers["provider"] = cast.token(Role.PROVIDER, COUNTY, provider_id=cast.provider_id)
    return cast


def contract_body(provider_id: str, station_ids: list[str]) -> dict[str, Any]:
    return {
        "provider_id": provider_id, "station_ids": station_ids, "purchaser": "原州区民政局", "signed_on": "2026-09-10",
        "effective_on": "2026-09-21", "period_start": "2026-09-21", "period_end": "2027-09-20", "amount_fen": 36_000_000,
        "funding": [{"source": "福彩公益金", "amount_fen": 16_000_000}, {"source": "一般公共预算", "amount_fen": 20_000_000}],
        "service_areas": ["社会救助", "儿童关爱保护"],
        "indicators": [
            {"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500},
            {"code": "community", "name": "社区参与系列活动", "unit": "场", "target": 5},
        ],
    }


async def publish_worker_hired(nats_url: str, worker_id: str, provider_id: str, station_id: str) -> None:
    """Registry does not publish WorkerHired yet: publish what its outbox will (as the tests do)."""
    from registry.integration import PUBLISHED

    from shared.envelope import Envelope
    from shared.events import registry as reg

    if reg.WorkerHired in PUBLISHED:
        return
    event = reg.WorkerHired(worker_id=worker_id, county=COUNTY, provider_id=provider_id, station_id=station_id,
                            role="social_worker", qualification="社会工作师", hired_on="2026-08-01")
    now = datetime.now(UTC)
    envelope = Envelope(
        event_id=uuid.uuid4(), event_type=event.event_type, schema_version=event.schema_version, service="registry",
        aggregate_type="Worker", aggregate_id=uuid.UUID(worker_id), version=1, county=COUNTY, actor="bench",
        command_id=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()), occurred_at=now, recorded_at=now, position=0,
        data=event.model_dump(mode="json"),
    )
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(f"swp.{COUNTY}.registry.WorkerHired", envelope.model_dump_json().encode(), stream="SWP",
                                     headers={"Nats-Msg-Id": str(envelope.event_id)})
    finally:
        await nc.close()


async def wait_for(client: httpx.AsyncClient, path: str, headers: dict[str, str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (await client.get(path, headers=headers)).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        await asyncio.sleep(0.05)


async def new_place(client: httpx.AsyncClient, cast: Cast, name: str) -> Place:
    purchaser = cast.headers["purchaser"]
    body = {"name": f"{name}社工站", "township": name, "kind": "street_station"}
    station = (await ok(client.post(f"{REG}/stations", json=body, headers=purchaser)))["station_id"]
    workers = []
    for person in ("李娜", "王静"):
        body = {"provider_id": cast.provider_id, "station_id": station, "name": person, "birth_date": "1995-05-05",
                "education": "本科", "qualification": "社会工作师", "role": "social_worker", "hired_on": "2026-08-01"}
        worker = (await ok(client.post(f"{REG}/workers", json=body, headers=purchaser)))["worker_id"]
        await publish_worker_hired(cast.settings.nats_url, worker, cast.provider_id, station)
        workers.append(worker)
    contract = (await ok(client.post(f"{REG}/contracts", json=contract_body(cast.provider_id, [station]), headers=purchaser)))["contract_id"]
    await wait_for(client, f"{LOG}/contracts/{contract}", purchaser)
    for worker in workers:
        await wait_for(client, f"{LOG}/workers/{worker}", purchaser)
    return Place(station, workers, contract)


async def drained(client: httpx.AsyncClient, timeout: float = 120.0) -> float:
    """Wait until every service's outbox has published everything it stored; returns the wait."""
    start = time.monotonic()
    while True:
        pending = []
        for svc in ("registry", "services-log", "finance"):
            body = (await client.get(f"/{svc}/health")).json()
            pending.append(body["outbox"]["pending"] or 0)
        if not any(pending):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"outboxes still pending: {pending}")
        await asyncio.sleep(0.1)


# --- single deliveries --------------------------------------------------------------------


@dataclass
class Load:
    sent: int
    ok: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    first_error: str | None = None
    conflicts: int = 0  # 409s retried
    cpu_ms: CpuMeter | None = None

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float | None:
        return percentile(self.latencies_ms, q)


async def post_delivery(client: Any, body: dict[str, Any], headers: dict[str, str], conflicts: Counter[str]) -> Any:
    """One delivery, as a station's client sends it: a 409 (another command changed the contract's
    ledger or the worker's timesheet first) is retried at once, as the problem's detail asks."""
    for _ in range(RETRIES):
        r = await client.post(f"{LOG}/deliveries", json=body, headers=headers)
        if r.status_code != 409:
            return r
        conflicts["409"] += 1
    return r


RETRIES = 10


def spread(places: list[Place], i: int) -> dict[str, Any]:
    """Request ``i`` goes to the ``i mod n``-th station's contract (each its own ledger and workers)."""
    return places[i % len(places)].delivery(i // len(places))


async def closed_loop(client: Any, places: list[Place], headers: dict[str, str], concurrency: int, seconds: float) -> Load:
    """As fast as the platform answers, ``concurrency`` requests in flight: the throughput ceiling."""
    counter = iter(range(10**9))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    conflicts: Counter[str] = Counter()
    errors: list[str] = []
    start = time.perf_counter()
    stop = start + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            body = spread(places, next(counter))
            t = time.perf_counter()
            r = await post_delivery(client, body, headers, conflicts)
            latencies.append((time.perf_counter() - t) * 1000)
            statuses[r.status_code] += 1
            if r.status_code != 201 and not errors:
                errors.append(r.text[:300])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Load(sum(statuses.values()), statuses[201], elapsed, latencies, dict(statuses), errors[0] if errors else None, conflicts["409"])


async def get_loop(client: Any, path: str, concurrency: int, seconds: float) -> tuple[int, float]:
    """Requests answered and seconds taken on a route that does nothing (the gateway's index): the
    HTTP stack's ceiling here, and the server CPU of a request that reaches no store."""
    n, stop = 0, time.perf_counter() + seconds
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal n
        while time.perf_counter() < stop:
            await client.get(path)
            n += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n, time.perf_counter() - start


async def open_loop(client: Any, places: list[Place], headers: dict[str, str], rate: float, seconds: float, grace: float = 15.0) -> Load:
    """Requests sent at fixed intervals whatever the answers (open loop); each latency is measured
    from its scheduled send time, so a stalled server shows as latency, not as a slower sender.
    Requests still unanswered ``grace`` seconds after the last send are abandoned (status -1) with
    the time waited so far as their latency: a lower bound, so the run ends in bounded time."""
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    latencies: list[float] = [0.0] * n  # in send order
    statuses: Counter[int] = Counter()
    conflicts: Counter[str] = Counter()
    errors: list[str] = []
    t0 = loop.time() + 0.1
    done_at = [t0]

    async def one(i: int, scheduled: float) -> None:
        try:
            r = await post_delivery(client, spread(places, i), headers, conflicts)
            statuses[r.status_code] += 1
            if r.status_code != 201 and not errors:
                errors.append(r.text[:300])
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
            statuses[0] += 1
            errors.append(f"{type(exc).__name__}: {exc}")
        now = loop.time()
        latencies[i] = (now - scheduled) * 1000
        done_at[0] = max(done_at[0], now)

    tasks = []
    for i in range(n):
        scheduled = t0 + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    _, pending = await asyncio.wait(tasks, timeout=grace)
    abandoned_at = loop.time()
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for i, task in enumerate(tasks):
        if task in pending:
            latencies[i] = (abandoned_at - (t0 + i / rate)) * 1000
            statuses[-1] += 1
            done_at[0] = abandoned_at
    return Load(n, statuses[201], done_at[0] - t0, latencies, dict(statuses), errors[0] if errors else None, conflicts["409"])


# --- bulk import --------------------------------------------------------------------------

IMPORT_HEADER = ["协议编号", "站点编号", "服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长（小时）", "其他专业时长（小时）", "服务人次", "指标编号", "服务内容"]


def import_sheet(place: Place, rows: int) -> bytes:
    """A station's year in one CSV: dated 21 Sep … yesterday, 0.1 h each, within the daily cap."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    days = delivery_days()
    kinds = [("帮扶救助", "assist"), ("探访", "assist"), ("社区活动", "community")]
    for i in range(rows):
        kind, indicator = kinds[i % 3]
        day = FIRST_DAY + timedelta(days=i % days)
        writer.writerow([place.contract_id, place.station, place.workers[(i // days) % 2], kind, "社会救助", day.isoformat(), "0.1", "0", str(1 + i % 4), indicator, ""])
    return out.getvalue().encode("utf-8-sig")


async def delivered_on_stream(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        subject = f"swp.{COUNTY}.services-log.ServiceDelivered"
        info = await nc.jetstream().stream_info("SWP", subjects_filter=subject)
        return int((info.state.subjects or {}).get(subject, 0))
    finally:
        await nc.close()


@dataclass
class Bulk:
    rows: int
    recorded: int
    stored_seconds: float
    published_seconds: float | None


async def bulk_import(client: httpx.AsyncClient, place: Place, headers: dict[str, str], nats_url: str, rows: int) -> Bulk:
    sheet = import_sheet(place, rows)
    before = await delivered_on_stream(nats_url)
    start = time.perf_counter()
    r = await client.post(f"{LOG}/deliveries/import", files={"file": ("台账.csv", sheet, "text/csv")}, headers=headers, timeout=600)
    stored = time.perf_counter() - start
    if r.status_code != 200:
        raise RuntimeError(f"import → {r.status_code}: {r.text[:500]}")
    report = r.json()
    published = None
    deadline = time.perf_counter() + 300
    while time.perf_counter() < deadline:
        if await delivered_on_stream(nats_url) >= before + report["recorded"]:
            published = time.perf_counter() - start
            break
        await asyncio.sleep(0.05)
    return Bulk(rows, report["recorded"], stored, published)


# --- cost as one contract's ledger grows (issue 16: ≤ 1.2× from 0 to 50,000 deliveries) --------


def growth_sheet(place: Place, first: int, rows: int) -> bytes:
    """Rows ``first`` … ``first + rows - 1`` of the ledger-growth contract's history: unique content
    (so no row repeats another upload's), 0.01 h each so 50,000 rows stay under the daily cap."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    days = delivery_days()
    kinds = [("帮扶救助", "assist"), ("探访", "assist"), ("社区活动", "community")]
    for i in range(first, first + rows):
        kind, indicator = kinds[i % 3]
        day = FIRST_DAY + timedelta(days=i % days)
        writer.writerow([place.contract_id, place.station, place.workers[(i // days) % 2], kind, "社会救助", day.isoformat(),
                         "0.01", "0", str(1 + i % 4), indicator, f"第{i + 1}次服务"])
    return out.getvalue().encode("utf-8-sig")


async def fill_ledger(client: httpx.AsyncClient, place: Place, headers: dict[str, str], deliveries: int, chunk: int = 20_000) -> int:
    """``deliveries`` rows through the bulk import route, in files of at most ``chunk`` rows."""
    recorded = 0
    for first in range(0, deliveries, chunk):
        sheet = growth_sheet(place, first, min(chunk, deliveries - first))
        r = await client.post(f"{LOG}/deliveries/import", files={"file": ("台账.csv", sheet, "text/csv")}, headers=headers, timeout=1800)
        if r.status_code != 200:
            raise RuntimeError(f"import → {r.status_code}: {r.text[:500]}")
        recorded += int(r.json()["recorded"])
    return recorded


async def ledger_costs(port: int, place: Place, headers: dict[str, str], reader: dict[str, str], nats_url: str,
                       pids: tuple[int | None, int | None], posts: int, gets: int, offset: int) -> dict[str, Any]:
    """Server CPU per ``POST …/deliveries`` (one at a time, on ``place``'s contract) and per
    ``GET …/progress`` of that contract. A POST's window also holds what it sets off — its events
    published on JetStream and every consumer caught up — so work left behind is not missed;
    nothing polls the server meanwhile."""
    load_client = rawhttp.Client("127.0.0.1", port)  # its own connections: an idle one is closed by the server
    try:
        return await _ledger_costs(load_client, place, headers, reader, nats_url, pids, posts, gets, offset)
    finally:
        await load_client.aclose()


async def _ledger_costs(load_client: Any, place: Place, headers: dict[str, str], reader: dict[str, str], nats_url: str,
                        pids: tuple[int | None, int | None], posts: int, gets: int, offset: int) -> dict[str, Any]:
    before = await delivered_on_stream(nats_url)
    statuses: Counter[int] = Counter()
    with CpuMeter(*pids) as post_cpu:
        for i in range(posts):
            r = await post_delivery(load_client, place.delivery(offset + i), headers, Counter())
            statuses[r.status_code] += 1
        deadline = time.monotonic() + 120
        while await delivered_on_stream(nats_url) < before + statuses[201] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await consumers_caught_up(nats_url)
    progress_path = f"{LOG}/contracts/{place.contract_id}/progress"
    with CpuMeter(*pids) as get_cpu:
        for _ in range(gets):
            r = await load_client.get(progress_path, headers=reader)
            statuses[1000 + r.status_code] += 1
    body = (await load_client.get(progress_path, headers=reader)).json()
    return {
        "posts": posts, "gets": gets, "statuses": {("GET " if k >= 1000 else "POST ") + str(k % 1000): v for k, v in statuses.items()},
        "post_server_cpu_ms": round(1000 * post_cpu.used["server"] / max(1, statuses[201]), 3),
        "get_server_cpu_ms": round(1000 * get_cpu.used["server"] / max(1, statuses[1200]), 3),
        "post_cpu_ms": post_cpu.per(max(1, statuses[201])), "get_cpu_ms": get_cpu.per(max(1, statuses[1200])),
        "deliveries_in_ledger": body.get("deliveries"),
    }


# --- end-to-end lag -----------------------------------------------------------------------


async def log_head(client: httpx.AsyncClient, service: str) -> int:
    return int((await client.get(f"/{service}/health")).json()["store"]["head"] or 0)


async def recorded_by_correlation(client: httpx.AsyncClient, service: str, headers: dict[str, str], after: int,
                                  sent: dict[str, float], timeout: float = 60.0) -> list[float]:
    """For each correlation id, when ``service`` first recorded an event of it (its audit feed, read
    from ``after`` on), minus when the client sent the command: the lag in ms, in send order."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(sent):
        body = await ok(client.get(f"/{service}/v1/audit/events", params={"after": after, "limit": 1000}, headers=headers), 200)
        for e in body["events"]:
            c = e.get("correlation_id")
            if c in sent and c not in found:
                found[c] = datetime.fromisoformat(e["recorded_at"]).timestamp()
        if body["next_after"] == after:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} recorded {len(found)} of {len(sent)} reactions in {timeout} s")
            await asyncio.sleep(0.1)
        after = body["next_after"]
    return [(found[c] - t) * 1000 for c, t in sent.items()]


async def contract_to_tranches_lag(client: httpx.AsyncClient, cast: Cast, station: str, count: int, interval: float) -> list[float]:
    """Sign ``count`` contracts, one every ``interval`` s; each lag runs from the moment the client
    sends the command to the moment finance recorded the contract's tranche schedule (its read
    model: a GET of the tranches answers from then on). Both instants are this machine's clock."""
    start = await log_head(client, "finance")
    sent: dict[str, float] = {}
    # The same station and year each time: overlapping contracts say why (R-REG-7).
    body = {**contract_body(cast.provider_id, [station]), "justification": "基准测试：同一站点的多份协议"}
    for _ in range(count):
        correlation = str(uuid.uuid4())
        sent[correlation] = time.time()
        await ok(client.post(f"{REG}/contracts", json=body, headers={**cast.headers["purchaser"], "X-Correlation-Id": correlation}))
        await asyncio.sleep(interval)
    return await recorded_by_correlation(client, "finance", cast.headers["auditor"], start, sent)


async def delivery_to_evaluation_lag(client: httpx.AsyncClient, cast: Cast, place: Place, count: int, interval: float) -> list[float]:
    """Log ``count`` deliveries, one every ``interval`` s; each lag runs from the moment the client
    sends the delivery to the moment evaluation recorded the contract's new outcome figures
    (services-log's IndicatorProgressed → evaluation's ContractOutcomes)."""
    start = await log_head(client, "evaluation")
    sent: dict[str, float] = {}
    for i in range(count):
        correlation = str(uuid.uuid4())
        sent[correlation] = time.time()
        await ok(client.post(f"{LOG}/deliveries", json=place.delivery(i), headers={**cast.headers["provider"], "X-Correlation-Id": correlation}))
        await asyncio.sleep(interval)
    return await recorded_by_correlation(client, "evaluation", cast.headers["auditor"], start, sent)


async def consumers_caught_up(nats_url: str, timeout: float = 120.0) -> float:
    """Wait until every durable consumer of stream SWP has nothing pending; returns the wait."""
    start = time.monotonic()
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        while True:
            pending = sum(c.num_pending + c.num_ack_pending for c in await js.consumers_info("SWP"))
            if not pending:
                return round(time.monotonic() - start, 2)
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"consumers still have {pending} messages pending after {timeout} s")
            await asyncio.sleep(0.1)
    finally:
        await nc.close()


# --- audit replay -------------------------------------------------------------------------


async def replay_feed(port: int, headers: dict[str, str], service: str = "services-log", limit: int = 1000) -> tuple[int, float]:
    """The whole event feed of one service, page after page, as an export tool reads it: JSON Lines
    (``Accept: application/jsonl``), each entry received as its bytes and counted, not parsed (the
    raw baseline, ``select_notifications``, does not decode its records either); only the last line,
    ``{"next_after": N}``, is parsed. It stops at a short page, as the raw read does. Read with the
    load phases' lean client (``rawhttp``): the pages are read one after the other, so the client's
    CPU adds to the time measured, and httpx spent about as much of it receiving each 1 MB page as
    the server spent answering it. (A change of method on 3 December 2026: the replay was read with
    httpx, and went on to a last request answering no entries.)"""
    client = rawhttp.Client("127.0.0.1", port)
    feed = f"/{service}/v1/audit/events"
    lines = {**headers, "Accept": "application/jsonl"}
    n, after = 0, 0
    try:
        # One untimed request first: FastAPI builds a router's route contexts (pydantic adapters, the
        # endpoints' source inspected) the first time a path of it is matched in the process, ~1 s on
        # this machine, once; the raw baseline's recorder is built before its timer starts too.
        await client.get(f"{feed}?after=0&limit=1", headers=headers)
        start = time.perf_counter()
        while True:
            r = await client.get(f"{feed}?after={after}&limit={limit}", headers=lines)
            if r.status_code != 200:
                raise RuntimeError(f"audit feed → {r.status_code}: {r.text[:500]}")
            *entries, last = r.body.splitlines()
            n += len(entries)
            after = json.loads(last)["next_after"]
            if len(entries) < limit:  # the feed reads on until `limit` entries or the log's end
                break
        return n, time.perf_counter() - start
    finally:
        await client.aclose()


async def replay_rounds(port: int, headers: dict[str, str], settings: Settings, rounds: int) -> dict[str, Any]:
    """The audit replay and its raw baseline measured ``rounds`` times each, alternating on the same
    store in the same run (feed then raw, then raw then feed, ...: a drift in the machine's load
    weighs on both alike), the raw read from one application opened once, as the feed's server
    keeps its store open. ``replay`` and ``replay_raw`` are each the median round (a change of
    method on 3 December 2026: one replay, then one raw read from a freshly opened application);
    ``replay_rounds`` keeps every round's (feed seconds, raw seconds)."""
    from services_log.application import ServicesLogApplication

    from bench.raw_store import read_and_decode, read_notifications

    app = await asyncio.to_thread(ServicesLogApplication, settings.eventsourcing_env("services-log"))
    try:
        feeds: list[tuple[int, float]] = []
        raws: list[tuple[int, float]] = []
        for i in range(max(1, rounds)):
            for which in ("feed", "raw") if i % 2 == 0 else ("raw", "feed"):
                if which == "feed":
                    feeds.append(await replay_feed(port, headers))
                else:
                    r = await asyncio.to_thread(read_notifications, app.process_recorder, 1000)
                    raws.append((r.count, r.seconds))
        decoded = await asyncio.to_thread(read_and_decode, app, 1000)
    finally:
        await asyncio.to_thread(app.close)
    if {n for n, _ in feeds} != {n for n, _ in raws}:  # like with like: the same rows in every round
        raise RuntimeError(f"feed and raw read differ in rows: {feeds} vs {raws}")

    def median(xs: list[tuple[int, float]]) -> tuple[int, float]:
        return sorted(xs, key=lambda x: x[1])[len(xs) // 2]

    return {
        "replay": median(feeds),
        "replay_raw": {"raw": median(raws), "decoded": (decoded.count, decoded.seconds)},
        "replay_rounds": [(f[1], r[1]) for f, r in zip(feeds, raws, strict=True)],
    }


# --- as of an instant ---------------------------------------------------------------------


@dataclass
class Ledger:
    aggregate_id: uuid.UUID
    events: int
    middle: datetime  # an instant halfway through its history
    end: datetime  # after its last event


def seed_ledger(settings: Settings, deliveries: int = 10_000, per_save: int = 20) -> Ledger:
    """A contract's service ledger (services-log ContractLog) of 1 + ``deliveries`` events: opened,
    then one ``Tallied`` per delivery carrying that delivery's delta (the event ``POST …/deliveries``
    appends, computed by the same ``contribution``), written through the services-log application
    (signed, R-AUD-1 metadata) before the server starts. Written in-process because 10,000 POSTs on
    one contract cost O(n²) today (see the findings). Only the private ``Tallied`` events: the
    ``ProgressReported`` that follows each delivery would send 10,000 IndicatorProgressed to
    evaluation, whose consumer replays the contract's outcomes for each (O(n²) again)."""
    from services_log.application import ServicesLogApplication
    from services_log.domainmodel import Contract, ContractLog, DeliveryFacts, contribution

    from shared.infra.service import prepare_store
    from shared.infra.store import CommandContext

    prepare_store(settings, "services-log")
    app = ServicesLogApplication(settings.eventsourcing_env("services-log"))
    app.use_signing_key(settings.audit_key("services-log"))
    contract_id = str(uuid.uuid4())
    contract = Contract(
        contract_id=contract_id, county=COUNTY, provider_id=str(uuid.uuid4()), station_ids=[str(uuid.uuid4())],
        period_start=FIRST_DAY, period_end=date(2027, 9, 20), service_areas=["社会救助"],
        indicators=[{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}], policy={},
    )
    workers = [str(uuid.uuid4()), str(uuid.uuid4())]
    days = delivery_days()
    middle = None
    try:
        with app.command(CommandContext(county=COUNTY, actor="bench")):
            log = ContractLog(contract_id=contract_id, county=COUNTY)
            for i in range(deliveries):
                facts = DeliveryFacts(
                    contract_id=contract_id, station_id=contract.station_ids[0], worker_ids=(workers[(i // days) % 2],),
                    kind="帮扶救助", area="社会救助", date=FIRST_DAY + timedelta(days=i % days), hours_direct=Decimal("0.1"),
                    hours_other=Decimal("0"), person_times=1 + i % 4, indicator_code="assist",
                )
                log.tally_changes(new_delivery_ids=[str(uuid.uuid4())], delta=contribution(facts, contract))
                if (i + 1) % per_save == 0 or i == deliveries - 1:
                    app.save(log)
                    if middle is None and i + 1 >= deliveries // 2:
                        time.sleep(0.01)
                        middle = datetime.now(UTC)
                        time.sleep(0.01)
            events = log.version
    finally:
        app.close()
    time.sleep(0.01)
    assert middle is not None
    return Ledger(ContractLog.create_id(contract_id), events, middle, datetime.now(UTC))


async def as_of(client: httpx.AsyncClient, headers: dict[str, str], ledger: Ledger, instant: datetime, repeat: int) -> tuple[list[float], int]:
    times, version = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        body = await ok(client.get(f"/services-log/v1/audit/aggregates/{ledger.aggregate_id}",
                                   params={"as_of": instant.isoformat()}, headers=headers, timeout=120), 200)
        times.append((time.perf_counter() - t) * 1000)
        version = body["version"]
    return times, version


# --- one platform run ---------------------------------------------------------------------


@dataclass
class Config:
    rate: float = 100.0  # issue 16: p99 <= 50 ms at 100 req/s, open loop
    open_seconds: float = 10.0
    closed_seconds: float = 8.0
    concurrency: int = 8
    stations: int = 10  # single POSTs go round-robin to this many stations' contracts
    import_rows: int = 10_000
    lag_contracts: int = 40
    lag_interval: float = 0.15
    ledger_deliveries: int = 10_000
    as_of_repeat: int = 7
    growth_deliveries: int = 50_000  # one contract's ledger: the POST and progress costs at 0 and at this
    growth_posts: int = 300
    growth_gets: int = 300
    scale_seconds: float = 8.0  # each closed loop of the scale-out phase (PostgreSQL: 1 vs 2 services-log processes)
    memory_budget_mb: int = 512  # SWP_MEMORY_BUDGET_MB of the server; its RSS is sampled all run long
    only: str | None = None  # "ledger-growth" / "scale-out" / "county-lists" / "bulk" / "audit-feed" / "post-load": that phase alone (with its setup)
    lists_small: int = 100  # county-lists: contracts of the small county …
    lists_large: int = 10_000  # … and of the large one
    lists_gets: int = 30  # first-page reads per list and county
    profile_dir: Path | None = None
    replay_rounds: int = 7  # audit replay: feed and raw read, alternating, each this many times (medians)
    server_env: dict[str, str] = field(default_factory=dict)  # what-if experiments (e.g. AGGREGATE_CACHE_MAXSIZE)


@asynccontextmanager
async def platform(persistence: str, workdir: Path, pg_dbname: str | None, extra_env: dict[str, str] | None = None) -> AsyncIterator[tuple[Server, Settings]]:
    logs = REPO / "var" / "bench" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    nats_server = NatsServer(free_port(), workdir / "nats", log_file=logs / f"{persistence}-nats.log").start()
    values: dict[str, Any] = {"nats_url": nats_server.url, "persistence": persistence, "var_dir": workdir / "var"}
    if pg_dbname:
        values.update(postgres_dbname=pg_dbname)
    settings = Settings(**values)
    (logs / f"{persistence}-gateway.log").unlink(missing_ok=True)
    server = Server(settings, logs / f"{persistence}-gateway.log", extra_env)
    server.nats_pid = nats_server.proc.pid if nats_server.proc else None
    try:
        yield server, settings
    finally:
        server.stop()
        nats_server.stop()


async def run_platform(persistence: str, workdir: Path, pg_dbname: str | None, cfg: Config, say: Any) -> dict[str, Any]:
    """Every platform figure on one store; returns raw numbers (the report turns them into metrics)."""
    out: dict[str, Any] = {"cpu": {}, "load": {}, "accounting": {}}
    env = {"SWP_MEMORY_BUDGET_MB": str(cfg.memory_budget_mb), **cfg.server_env}
    async with platform(persistence, workdir, pg_dbname, env) as (server, settings), rss_sampled(lambda: server, out):
        if not cfg.only:
            say(f"[{persistence}] seeding a contract ledger of {1 + cfg.ledger_deliveries:,} events")
            ledger = await asyncio.to_thread(seed_ledger, settings, cfg.ledger_deliveries)
        say(f"[{persistence}] starting the gateway (uvicorn, own process)")
        await server.start()
        pid = server.proc.pid if server.proc else None

        @contextmanager
        def phase(name: str) -> Iterator[CpuMeter]:
            """CPU of each process over the phase (and a py-spy profile of the server when asked)."""
            target = cfg.profile_dir / f"{persistence}-{name}.txt" if cfg.profile_dir else None
            with (profiled(pid, target), CpuMeter(pid, server.nats_pid) as meter,
                  MachineMeter({"server": [pid], "nats": [server.nats_pid]}, pg_dbname, postgres=pg_dbname is not None) as acc):
                yield meter
            out["cpu"][name] = meter.used
            out["accounting"][name] = acc.result  # every party's CPU and the machine's (bench/capacity.py)
            out["load"][name] = round(os.getloadavg()[0], 2)  # the machine's 1-minute load at the phase's end

        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            await drained(client)
            cast = await open_county(client, settings)
            towns = [f"第{i + 1}街道" for i in range(2 * cfg.stations + 1)]
            everything = not cfg.only
            loads = everything or cfg.only == "post-load"
            closed_places = [await new_place(client, cast, t) for t in towns[: cfg.stations] if loads]
            open_places = [await new_place(client, cast, t) for t in towns[cfg.stations : 2 * cfg.stations] if loads]
            bulk_place: Any = await new_place(client, cast, towns[-1]) if everything or cfg.only in ("bulk", "audit-feed") else None
            lag_place: Any = await new_place(client, cast, "固原经济开发区") if everything else None
            growth_place = await new_place(client, cast, "头营镇") if cfg.growth_deliveries and cfg.only in (None, "ledger-growth") else None

            async def settle(name: str) -> None:
                """Outboxes published, consumers caught up, server idle: the next phase starts clean."""
                out["settle_seconds"][name] = {
                    "outboxes": round(await drained(client), 2),
                    "consumers": await consumers_caught_up(settings.nats_url),
                    "idle": await wait_idle(pid),
                }

            out["settle_seconds"] = {}
            await settle("setup")
            provider = cast.headers["provider"]
            load_client = rawhttp.Client("127.0.0.1", server.port)

            async def growth() -> None:
                """Issue 16's first target: a POST and a progress read cost the same at 0 and 50,000 deliveries."""
                assert growth_place is not None
                say(f"[{persistence}] ledger growth: POST and progress CPU at an empty ledger")
                pids = (pid, server.nats_pid)
                reader = cast.headers["purchaser"]
                await settle("growth-setup")
                with phase("ledger-empty"):
                    empty = await ledger_costs(server.port, growth_place, provider, reader, settings.nats_url, pids,
                                               cfg.growth_posts, cfg.growth_gets, 0)
                say(f"[{persistence}] ledger growth: filling the contract with {cfg.growth_deliveries:,} deliveries (bulk import)")
                t = time.perf_counter()
                with phase("ledger-fill"):
                    filled = await fill_ledger(client, growth_place, provider, cfg.growth_deliveries)
                fill_seconds = round(time.perf_counter() - t, 1)
                out["settle_seconds"]["ledger-fill"] = {  # 50,000 ServiceDelivered to publish: longer waits
                    "outboxes": round(await drained(client, timeout=900), 2),
                    "consumers": await consumers_caught_up(settings.nats_url, timeout=900),
                    "idle": await wait_idle(pid),
                }
                say(f"[{persistence}] ledger growth: POST and progress CPU at a {filled + cfg.growth_posts:,}-delivery ledger")
                with phase("ledger-full"):
                    full = await ledger_costs(server.port, growth_place, provider, reader, settings.nats_url, pids,
                                              cfg.growth_posts, cfg.growth_gets, cfg.growth_posts)
                out["ledger_growth"] = {"filled": filled, "fill_seconds": fill_seconds, "empty": empty, "full": full}

            async def scale() -> None:
                """Issue 16 item 4: services-log in two processes on one PostgreSQL schema."""
                from bench import scale_out

                await settle("scale-out-setup")
                with phase("scale-out"):
                    out["scale_out"] = await scale_out.measure(settings, REPO / "var" / "bench" / "logs", scale_places, cast,
                                                               cfg.concurrency, cfg.scale_seconds, server.nats_pid, say,
                                                               gateway_pid=pid)
                await settle("scale-out")

            scale_places = closed_places
            if cfg.only == "scale-out":
                scale_places = [await new_place(client, cast, t) for t in towns[: cfg.stations]]
                await scale()
            if cfg.only == "ledger-growth":
                await growth()
            if cfg.only in ("bulk", "audit-feed"):
                # Issue 16: bulk import stored and published vs raw batched append; the audit feed of the
                # store it fills vs a raw notification-log read of the same store.
                say(f"[{persistence}] bulk import of {cfg.import_rows:,} rows")
                with phase("bulk"):
                    out["bulk"] = await bulk_import(client, bulk_place, provider, settings.nats_url, cfg.import_rows)
                await settle("bulk")
                if cfg.only == "audit-feed":
                    say(f"[{persistence}] audit replay (services-log event feed vs its raw notification log)")
                    with phase("replay"):
                        out |= await replay_rounds(server.port, cast.headers["auditor"], settings, cfg.replay_rounds)
            if cfg.only and cfg.only != "post-load":
                await load_client.aclose()
                return out

            say(f"[{persistence}] HTTP floor: GET / closed loop ({cfg.concurrency} in flight, 3 s)")
            with phase("http-floor") as meter:
                n, seconds = await get_loop(load_client, "/", cfg.concurrency, 3.0)
            out["http_floor"] = n / seconds
            out["http_floor_server_cpu_ms"] = round(1000 * meter.used["server"] / n, 4) if n else None

            say(f"[{persistence}] single POST, closed loop ({cfg.concurrency} in flight over {cfg.stations} contracts, {cfg.closed_seconds:.0f} s)")
            await client.post(f"{LOG}/deliveries", json=closed_places[0].delivery(10**6), headers=provider)  # warm
            counted = await statement_counts(cfg)
            with phase("closed-loop") as meter:
                out["closed"] = await closed_loop(load_client, closed_places, provider, cfg.concurrency, cfg.closed_seconds)
                out["closed"].cpu_ms = meter
            with phase("closed-loop-backlog"):  # what the loop set off and left undone (relays, consumers)
                await settle("closed-loop")
            if counted is not None:  # SQL statements per POST, the backlog's included (bench/post_cpu/sitecustomize.py)
                after = await statement_counts(cfg)
                ran = {k: v - counted.get(k, 0) for k, v in (after or {}).items() if v - counted.get(k, 0)}
                ok = max(1, out["closed"].ok)
                out["closed_statements"] = {"per_post": round(sum(ran.values()) / ok, 2),
                                            "top": {k: round(v / ok, 2) for k, v in sorted(ran.items(), key=lambda kv: -kv[1])[:30]}}

            say(f"[{persistence}] single POST, open loop at {cfg.rate:.0f}/s over {cfg.stations} contracts for {cfg.open_seconds:.0f} s")
            with phase("open-loop") as meter:
                out["open"] = await open_loop(load_client, open_places, provider, cfg.rate, cfg.open_seconds)
                out["open"].cpu_ms = meter
            with phase("open-loop-backlog"):
                await settle("open-loop")
            await load_client.aclose()
            if cfg.only == "post-load":
                return out

            if persistence == "postgres":  # several processes share a store only on PostgreSQL
                await scale()

            say(f"[{persistence}] bulk import of {cfg.import_rows:,} rows")
            with phase("bulk"):
                out["bulk"] = await bulk_import(client, bulk_place, provider, settings.nats_url, cfg.import_rows)
            await settle("bulk")

            say(f"[{persistence}] end-to-end lag: {cfg.lag_contracts} contracts signed → finance tranche schedules")
            with phase("lag"):
                out["lag_ms"] = await contract_to_tranches_lag(client, cast, bulk_place.station, cfg.lag_contracts, cfg.lag_interval)
            await settle("lag")

            say(f"[{persistence}] end-to-end lag: {cfg.lag_contracts} deliveries → evaluation's outcome figures")
            with phase("lag-delivery"):
                out["lag_delivery_ms"] = await delivery_to_evaluation_lag(client, cast, lag_place, cfg.lag_contracts, cfg.lag_interval)
            await settle("lag-delivery")

            say(f"[{persistence}] audit replay (services-log event feed vs its raw notification log)")
            with phase("replay"):
                out |= await replay_rounds(server.port, cast.headers["auditor"], settings, cfg.replay_rounds)

            say(f"[{persistence}] as-of reconstruction of a {ledger.events:,}-event contract ledger")
            with phase("as-of"):
                end, version_end = await as_of(client, cast.headers["auditor"], ledger, ledger.end, cfg.as_of_repeat)
                middle, version_mid = await as_of(client, cast.headers["auditor"], ledger, ledger.middle, cfg.as_of_repeat)
            out["as_of"] = {"events": ledger.events, "end_ms": end, "end_version": version_end, "middle_ms": middle, "middle_version": version_mid}
            if growth_place is not None:  # last: its 50,000 deliveries would weigh on the audit replay
                await growth()
    return out


async def statement_counts(cfg: Config) -> dict[str, int] | None:
    """The server's SQL statements so far, by statement, when it counts them (``--server-env
    PYTHONPATH=bench/post_cpu --server-env PC_COUNT_FILE=…``: diagnostics, it costs CPU)."""
    path = cfg.server_env.get("PC_COUNT_FILE")
    if not path:
        return None
    await asyncio.sleep(0.7)  # the server rewrites the file every 0.3 s
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def resident_bytes(pid: int | None) -> int:
    """A process's resident set size now, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, TypeError):
        return 0


@asynccontextmanager
async def rss_sampled(server: Any, out: dict[str, Any], every: float = 0.5) -> AsyncIterator[None]:
    """The server's RSS every ``every`` s for the whole run (issue 16: bounded by its byte budget):
    ``out["rss"]`` gets the maximum, the last sample and the number of samples."""
    samples: list[int] = []

    async def sample() -> None:
        while True:
            proc = server().proc
            if proc is not None and proc.poll() is None:
                samples.append(resident_bytes(proc.pid))
            await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        samples = [s for s in samples if s]
        out["rss"] = {"max_bytes": max(samples, default=0), "last_bytes": samples[-1] if samples else 0, "samples": len(samples)}


def summary(load: Load) -> dict[str, Any]:
    return {
        "sent": load.sent, "ok": load.ok, "seconds": round(load.seconds, 3), "throughput": round(load.throughput, 1),
        "p50_ms": load.p(50), "p90_ms": load.p(90), "p99_ms": load.p(99), "max_ms": max(load.latencies_ms, default=None),
        "statuses": load.statuses, "first_error": load.first_error, "conflicts_retried": load.conflicts,
        "cpu_ms_per_ok_request": load.cpu_ms.per(load.ok) if load.cpu_ms else None,
        # How latency moves as the contract's ledger grows: first and last tenth of the requests.
        "p50_first_tenth_ms": percentile(load.latencies_ms[: max(1, len(load.latencies_ms) // 10)], 50),
        "p50_last_tenth_ms": percentile(load.latencies_ms[-max(1, len(load.latencies_ms) // 10):], 50),
    }


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
