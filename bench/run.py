"""`make bench`: raw baselines and the platform, in one run → var/bench/results.json, BENCHMARKS.md.

    python -m bench.run                   # everything (SQLite and PostgreSQL), ~5–8 minutes on 2 cores
    python -m bench.run --stores sqlite   # one store only
    python -m bench.run --quick           # short phases, to check the harness (figures not representative)
    python -m bench.run --only county-lists  # issue 16: first page of each county list at 100 vs 10,000 contracts
    python -m bench.run --profile DIR     # also sample the server with py-spy during each phase (raw stacks)
    python -m bench.run --only finance-lag   # 10,000 signings at once → finance's lag (2 processes, as deploy/ runs finance)
    python -m bench.run --only post-load --stores postgres  # the HTTP floor, closed and open loops alone (~2 min)
    python -m bench.run --only raw-work   # the work the rules require done raw (bench/raw_work.py), ~20 s a store
    python -m bench.run --only bulk       # one phase alone (ledger-growth, scale-out, bulk, audit-feed, post-load): its
                                          # metrics replace theirs in var/bench/results.json

Benchmarks, not tests: nothing here passes or fails on a timing; targets are reported as met or not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import county_lists, finance_lag, machine, raw_nats, raw_store, raw_work
from bench.platform import REPO, Config, median, run_platform, summary
from bench.report import (
    build_metrics,
    bulk_metrics,
    floor_of_runs,
    load_metrics,
    metric,
    phase_metrics,
    replay_metrics,
    required_work_metrics,
    write_markdown,
)
from shared.infra.natsserver import NatsServer, free_port


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def rates(measured: dict[str, raw_store.Rate]) -> dict[str, dict[str, float]]:
    return {k: {"count": v.count, "seconds": round(v.seconds, 4), "per_second": round(v.per_second, 1)} for k, v in measured.items()}


async def main_async(args: argparse.Namespace) -> int:
    cfg = Config()
    raw_seconds = 3.0
    if args.quick:
        cfg = Config(open_seconds=3, closed_seconds=3, import_rows=1000, lag_contracts=8, ledger_deliveries=1000, as_of_repeat=3,
                     growth_deliveries=2000, growth_posts=30, growth_gets=30, lists_large=1000, lists_gets=10)
        raw_seconds = 1.0
    cfg.profile_dir = Path(args.profile).resolve() if args.profile else None
    cfg.server_env = dict(kv.split("=", 1) for kv in args.server_env)
    cfg.only = args.only
    cfg.replay_rounds = args.replay_rounds
    stores = args.stores.split(",")
    if args.only == "scale-out":  # several processes share a store only on PostgreSQL
        stores = [s for s in stores if s == "postgres"]
    pg_problem = raw_store.postgres_available() if "postgres" in stores else None
    if pg_problem:
        say(f"PostgreSQL unreachable ({pg_problem}): its column is left empty")
        stores = [s for s in stores if s != "postgres"]

    run: dict[str, Any] = {"machine": machine.describe(), "load": {"start": machine.loadavg()},
                           "others_at_start": machine.other_busy_processes(), "config": {k: str(v) for k, v in vars(cfg).items()},
                           "quick": args.quick, "raw": {}, "platform": {}, "notes": []}
    started = time.monotonic()
    if args.only:
        return await only_phase(args, cfg, stores, run, started)
    with tempfile.TemporaryDirectory(prefix="swp-bench-") as tmp:
        work = Path(tmp)
        say("raw JetStream publish (nats-py): sync and async")
        server = NatsServer(free_port(), work / "raw-nats").start()
        try:
            run["raw"]["nats"] = rates(await raw_nats.measure(server.url, raw_seconds))
        finally:
            server.stop()

        for store in stores:
            (work / store).mkdir()
            t = time.monotonic()
            # Each store's raw baseline right before and right after the platform runs on it (their mean
            # is the baseline), so that both see the same machine even while other work comes and goes.
            say(f"raw eventsourcing append and notification-log read: {store}")
            before = await raw_measure(store, work, raw_seconds)
            if store == "postgres":
                with raw_store.scratch_database("swp_bench") as db:
                    figures = await run_platform(store, work / store, db, cfg, say)
            else:
                figures = await run_platform(store, work / store, None, cfg, say)
            say(f"raw eventsourcing append and notification-log read again: {store}")
            after = await raw_measure(store, work, raw_seconds)
            run["raw"][store] = {
                k: {"per_second": round((before[k]["per_second"] + after[k]["per_second"]) / 2, 1), "before": before[k], "after": after[k]}
                for k in before
            }
            say(f"the required work done raw (lower bound): {store}")
            run.setdefault("raw_work", {})[store] = await measure_raw_work(store, work, 1.0 if args.quick else 4.0)
            figures["closed"] = summary(figures["closed"])
            figures["open"] = summary(figures["open"])
            figures["bulk"] = vars(figures["bulk"])
            for key, name in (("lag_ms", "lag"), ("lag_delivery_ms", "lag_delivery")):
                lags = figures.pop(key)
                figures[name] = {"samples": len(lags), "p50_ms": median(lags), "p99_ms": _p(lags, 99), "max_ms": max(lags)}
            # The first page of each county list at 100 and 10,000 contracts (its own gateway and store).
            (work / f"{store}-lists").mkdir()
            if store == "postgres":
                with raw_store.scratch_database("swp_bench_lists") as db:
                    lists = await county_lists.run(store, work / f"{store}-lists", db, cfg, say)
            else:
                lists = await county_lists.run(store, work / f"{store}-lists", None, cfg, say)
            figures |= {k: v for k, v in lists.items() if k != "rss"}
            figures["rss_county_lists"] = lists.get("rss")
            figures["seconds"] = round(time.monotonic() - t, 1)
            run["platform"][store] = figures
            say(f"[{store}] done in {figures['seconds']} s")
        if "postgres" in stores and not args.skip_finance_lag:
            signings = 1_000 if args.quick else args.signings
            with raw_store.scratch_database("swp_bench_lag") as db:
                run["finance_lag"] = await finance_lag.measure(work / "finance-lag", db, say, signings=signings, processes=args.processes,
                                                               partitions=args.partitions, batch=args.consumer_batch, extra_env=cfg.server_env)
    run["load"]["end"] = machine.loadavg()
    run["others_at_end"] = machine.other_busy_processes()
    run["seconds"] = round(time.monotonic() - started, 1)

    metrics = build_metrics(run)
    for store, w in run.get("raw_work", {}).items():
        floor = run["platform"].get(store, {}).get("http_floor_server_cpu_ms")
        metrics |= required_work_metrics(store, w, (floor, "server CPU per GET / of this run's platform phase") if floor else None)
    for store, figures in run["platform"].items():
        metrics |= county_lists.list_metrics(f"platform.{store}", figures)
    if run.get("finance_lag"):
        metrics["platform.postgres.finance_lag"] = finance_lag_metric(run["finance_lag"])
    out_dir = REPO / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str) + "\n")
    if args.server_env:
        args.no_markdown = True
        run["notes"].append(f"server environment changed: {args.server_env}")
    if not args.no_markdown:
        write_markdown(REPO / "BENCHMARKS.md", run, metrics)
    say(f"wrote var/bench/results.json, var/bench/run.json{'' if args.no_markdown else ' and BENCHMARKS.md'} ({run['seconds']} s)")
    for name, m in metrics.items():
        if m["target"]:
            say(f"  {name}: {m['value']} {m['unit']} (target {m['target']}) {'met' if m['met'] else 'MISSED' if m['met'] is False else '—'}")
    return 0


async def only_phase(args: argparse.Namespace, cfg: Config, stores: list[str], run: dict[str, Any], started: float) -> int:
    """One platform phase alone (``--only``): its metrics replace theirs in var/bench/results.json,
    the others stay as the last full run wrote them; BENCHMARKS.md is left alone."""
    if args.only == "finance-lag":
        return await finance_lag_phase(args, cfg, run, started)
    if args.only == "raw-work":
        return await raw_work_phase(args, stores, run, started)
    if args.only in ("bulk", "audit-feed"):
        cfg.growth_deliveries = 0
    with tempfile.TemporaryDirectory(prefix="swp-bench-") as tmp:
        work = Path(tmp)
        for store in stores:
            (work / store).mkdir()
            t = time.monotonic()
            if args.only == "bulk":  # its baseline (raw batched append) before and after, as in a full run
                before = await raw_measure(store, work, 1.0 if args.quick else 3.0)
            phase = county_lists.run if args.only == "county-lists" else run_platform
            if store == "postgres":
                with raw_store.scratch_database("swp_bench") as db:
                    figures = await phase(store, work / store, db, cfg, say)
            else:
                figures = await phase(store, work / store, None, cfg, say)
            if args.only == "bulk":
                after = await raw_measure(store, work, 1.0 if args.quick else 3.0)
                run["raw"][store] = {k: {"per_second": round((before[k]["per_second"] + after[k]["per_second"]) / 2, 1),
                                         "before": before[k], "after": after[k]} for k in before}
            if "bulk" in figures:
                figures["bulk"] = vars(figures["bulk"])
            if args.only == "post-load":
                figures["closed"] = summary(figures["closed"])
                figures["open"] = summary(figures["open"])
                say(f"[{store}] {post_load_line(figures)}")
                if "closed_statements" in figures:
                    st = figures["closed_statements"]
                    say(f"[{store}] closed loop: {st['per_post']} SQL statements per POST (its backlog included)")
                    for k, v in list(st["top"].items())[:20]:
                        print(f"    {v:6.2f} {k}")
            figures["seconds"] = round(time.monotonic() - t, 1)
            run["platform"][store] = figures
            say(f"[{store}] done in {figures['seconds']} s")
    run["load"]["end"] = machine.loadavg()
    run["seconds"] = round(time.monotonic() - started, 1)
    fresh: dict[str, Any] = {}
    for store, figures in run["platform"].items():
        pre = f"platform.{store}"
        fresh |= phase_metrics(pre, figures, run["config"]) | county_lists.list_metrics(pre, figures)
        if args.only == "bulk":
            fresh |= bulk_metrics(pre, figures, run["raw"][store]["batched"]["per_second"])
        elif args.only == "audit-feed":
            fresh |= replay_metrics(pre, figures)
        elif args.only == "post-load":
            fresh |= load_metrics(pre, figures, run)
    merge_results(fresh, run, args)
    for name, m in fresh.items():
        verdict = "—" if m["met"] is None else "met" if m["met"] else "MISSED"
        say(f"  {name}: {m['value']} {m['unit']} vs {m['baseline']} → ×{m['ratio']} (target {m['target']}) {verdict}")
    return 0


async def finance_lag_phase(args: argparse.Namespace, cfg: Config, run: dict[str, Any], started: float) -> int:
    """Issue 16: finance's lag after a burst of signings (bench/finance_lag.py), PostgreSQL only."""
    problem = raw_store.postgres_available()
    if problem:
        say(f"PostgreSQL unreachable ({problem}): finance-lag needs it")
        return 1
    signings = 1_000 if args.quick else args.signings
    with tempfile.TemporaryDirectory(prefix="swp-bench-") as tmp, raw_store.scratch_database("swp_bench_lag") as db:
        figures = await finance_lag.measure(Path(tmp), db, say, signings=signings, processes=args.processes,
                                            partitions=args.partitions, batch=args.consumer_batch, extra_env=cfg.server_env,
                                            profile_dir=cfg.profile_dir)
    run["platform"]["postgres"] = {"finance_lag": figures}
    run["load"]["end"] = machine.loadavg()
    run["seconds"] = round(time.monotonic() - started, 1)
    m = finance_lag_metric(figures)
    merge_results({"platform.postgres.finance_lag": m}, run, args)
    say(f"platform.postgres.finance_lag: {m['value']} s (target {m['target']}) {'met' if m['met'] else 'NOT MET'}")
    return 0


async def measure_raw_work(store: str, work: Path, seconds: float = 4.0) -> dict[str, Any]:
    """bench/raw_work.py on one store (its own nats-server), the bulk rows alternating with raw
    batched append (the bulk ratio's baseline)."""
    server = NatsServer(free_port(), work / f"raw-work-nats-{store}").start()
    try:
        if store == "postgres":
            with raw_store.scratch_database("swp_bench_work") as db, raw_store.scratch_database("swp_bench_raw") as raw_db:
                return await raw_work.measure(
                    lambda: (raw_work.PostgresStore(db, "log"), raw_work.PostgresStore(db, "evaluation"), raw_work.PostgresStore(db, "import")),
                    server.url, seconds, raw_store.postgres_env(raw_db))
        d = work / f"raw-work-{time.monotonic_ns()}"
        d.mkdir()
        return await raw_work.measure(
            lambda: (raw_work.SqliteStore(d / "log.sqlite"), raw_work.SqliteStore(d / "evaluation.sqlite"), raw_work.SqliteStore(d / "import.sqlite")),
            server.url, seconds, raw_store.sqlite_env(d / "raw.sqlite"))
    finally:
        server.stop()


async def raw_work_phase(args: argparse.Namespace, stores: list[str], run: dict[str, Any], started: float) -> int:
    """``--only raw-work``: the lower bound alone. Its POST ratio uses the HTTP floor of the latest
    run that measured one (var/bench/run.json or run-post-load.json), named as such in the metric."""
    seconds = 1.0 if args.quick else 4.0
    with tempfile.TemporaryDirectory(prefix="swp-bench-") as tmp:
        run["raw_work"] = {}
        for store in stores:
            say(f"the required work done raw (lower bound): {store}")
            run["raw_work"][store] = await measure_raw_work(store, Path(tmp), seconds)
    run["load"]["end"] = machine.loadavg()
    run["seconds"] = round(time.monotonic() - started, 1)
    out_dir = REPO / "var" / "bench"
    earlier = [(f.name, json.loads(f.read_text())) for f in (out_dir / "run.json", out_dir / "run-post-load.json") if f.exists()]
    fresh: dict[str, Any] = {}
    for store, w in run["raw_work"].items():
        fresh |= required_work_metrics(store, w, floor_of_runs(earlier, store))
    merge_results(fresh, run, args)
    for name, m in fresh.items():
        say(f"  {name}: {m['value']} {m['unit']} vs {m['baseline']} → ×{m['ratio']}")
    return 0


def merge_results(fresh: dict[str, Any], run: dict[str, Any], args: argparse.Namespace) -> None:
    """``--only``: the phase's metrics replace theirs in var/bench/results.json (the others stay as
    the last run wrote them), each stamped with when and how it was measured."""
    for m in fresh.values():
        m["measured"] = f"{run['machine']['date']} (bench.run --only {args.only}{' --quick' if args.quick else ''}; load {run['load']})"
    out_dir = REPO / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.json"
    metrics = json.loads(results.read_text()) if results.exists() else {}
    results.write_text(json.dumps(metrics | fresh, indent=2, ensure_ascii=False) + "\n")
    (out_dir / f"run-{args.only}.json").write_text(json.dumps(run, indent=2, ensure_ascii=False, default=str) + "\n")
    say(f"wrote {len(fresh)} metrics into var/bench/results.json and var/bench/run-{args.only}.json ({run['seconds']} s)")


def post_load_line(f: dict[str, Any]) -> str:
    """``--only post-load`` in one line: server CPU per POST in each loop (and with the backlog it left,
    published and consumed after the loop), throughput, p50/p99, against the floor's CPU per GET /."""
    cpu, floor = f["cpu"], f["http_floor_server_cpu_ms"]

    def loop(name: str) -> str:
        x = f[name]
        ok = x["ok"] or 1
        during = 1000 * cpu[f"{name}-loop"]["server"] / ok
        backlog = 1000 * cpu[f"{name}-loop-backlog"]["server"] / ok
        return (f"{name}: {x['throughput']} req/s, p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms, server CPU {during:.2f} ms per POST "
                f"(x{during / floor:.1f}; +{backlog:.2f} ms of backlog after it), statuses {x['statuses']}")

    return f"GET / {floor} ms CPU; {loop('closed')}; {loop('open')}; load {f['load']}"


def finance_lag_metric(figures: dict[str, Any]) -> dict[str, Any]:
    return metric(
        figures["lag_seconds"], "s", at_most=finance_lag.TARGET_SECONDS,
        note=f"{figures['signings']:,} ContractSigned of one county published at once as registry would (in "
             f"{figures['publish_seconds']} s); seconds from the last publish until finance ({figures['processes']} processes, "
             f"{figures['partitions']} consumer partitions, batches of up to {figures.get('batch', 1)} messages, PostgreSQL) had "
             f"reacted to all; {figures['reactions_per_second']} "
             f"reactions/s, {figures['finance_cpu_seconds']} s finance CPU, {figures['conflicts_retried']} reactions re-run "
             f"after a race, {figures['duplicates_skipped']} duplicates skipped, {figures['failures']} failures",
    )


async def raw_measure(store: str, work: Path, seconds: float) -> dict[str, dict[str, float]]:
    if store == "postgres":
        with raw_store.scratch_database("swp_bench_raw") as db:
            return rates(await asyncio.to_thread(raw_store.measure, raw_store.postgres_env(db), seconds))
    path = work / f"raw-{time.monotonic_ns()}.sqlite"
    return rates(await asyncio.to_thread(raw_store.measure, raw_store.sqlite_env(path), seconds))


def _p(values: list[float], q: float) -> float | None:
    from bench.platform import percentile

    return percentile(values, q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="short phases (harness check; figures not representative)")
    parser.add_argument("--profile", metavar="DIR", help="sample the server with py-spy (raw stacks) during each phase")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the server process (what-if experiments; implies --no-markdown)")
    parser.add_argument("--no-markdown", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument("--only", choices=["ledger-growth", "scale-out", "county-lists", "finance-lag", "bulk", "audit-feed", "post-load",
                                           "raw-work"],
                        help="run only this platform phase (and its setup; audit-feed reads the store a bulk import filled)")
    parser.add_argument("--replay-rounds", type=int, default=7,
                        help="audit replay: feed and raw read alternating, each this many times (medians; default 7)")
    parser.add_argument("--signings", type=int, default=10_000, help="finance-lag: the burst of ContractSigned (default 10,000)")
    parser.add_argument("--processes", type=int, default=2, help="finance-lag: finance processes (default 2, as deploy/ runs it)")
    parser.add_argument("--partitions", type=int, default=finance_lag.PARTITIONS,
                        help=f"finance-lag: SWP_CONSUMER_PARTITIONS (default {finance_lag.PARTITIONS}, as deploy/ runs finance)")
    parser.add_argument("--consumer-batch", type=int, default=finance_lag.BATCH,
                        help=f"finance-lag: SWP_CONSUMER_BATCH (default {finance_lag.BATCH}; 1: a transaction per message)")
    parser.add_argument("--skip-finance-lag", action="store_true", help="a full run without the finance-lag phase (~15 min at 10,000)")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
