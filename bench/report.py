"""Turns one run's measurements into metrics ``{value, unit, baseline, ratio, target, met}`` and
the markdown table of BENCHMARKS.md (with the findings of bench/findings.md appended)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STORES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def metric(value: float | None, unit: str, *, baseline: float | None = None, baseline_of: str | None = None,
           ratio_min: float | None = None, ratio_max: float | None = None, at_most: float | None = None,
           note: str | None = None) -> dict[str, Any]:
    ratio = _r(value / baseline, 3) if value is not None and baseline else None
    target, met = None, None
    if ratio_min is not None:
        target = f"ratio >= {ratio_min:.2f}"
        met = None if ratio is None else ratio >= ratio_min
    elif ratio_max is not None:
        target = f"ratio <= {ratio_max:.2f}"
        met = None if ratio is None else ratio <= ratio_max
    elif at_most is not None:
        target = f"<= {at_most:g} {unit}"
        met = None if value is None else value <= at_most
    out: dict[str, Any] = {"value": _r(value), "unit": unit, "baseline": _r(baseline), "ratio": ratio, "target": target, "met": met}
    if baseline_of:
        out["baseline_of"] = baseline_of
    if note:
        out["note"] = note
    return out


def build_metrics(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    m: dict[str, dict[str, Any]] = {}
    raw = run["raw"]
    for store, r in ((s, raw[s]) for s in STORES if s in raw):
        m[f"raw.{store}.append_single"] = metric(r["single"]["per_second"], "events/s", note="one new aggregate per save (one event per transaction)")
        m[f"raw.{store}.append_batched"] = metric(r["batched"]["per_second"], "events/s", note="100 new aggregates per save (100 events per transaction)")
        m[f"raw.{store}.log_read"] = metric(r["read"]["per_second"], "events/s", note="select_notifications, pages of 1,000 (no decoding)")
        m[f"raw.{store}.log_read_decoded"] = metric(r["decoded"]["per_second"], "events/s", note="pages of 1,000, each record decoded to its domain event")
    if "nats" in raw:
        m["raw.nats.publish_sync"] = metric(raw["nats"]["sync"]["per_second"], "msgs/s", note="js.publish awaited one by one (~0.8 kB)")
        m["raw.nats.publish_async"] = metric(raw["nats"]["async"]["per_second"], "msgs/s", note="js.publish_async, PubAcks awaited per 4,000")

    for store, p in run["platform"].items():
        r = raw.get(store, {})
        single = r.get("single", {}).get("per_second")
        batched = r.get("batched", {}).get("per_second")
        pre = f"platform.{store}"
        m.update(load_metrics(pre, p, run, single))
        lag = p["lag"]
        m.update(bulk_metrics(pre, p, batched))
        m[f"{pre}.e2e_lag.p50"] = metric(lag["p50_ms"], "ms", note=f"ContractSigned (registry) → tranche schedule recorded by finance; {lag['samples']} contracts")
        m[f"{pre}.e2e_lag.p99"] = metric(lag["p99_ms"], "ms", at_most=250, note=f"max {_r(lag['max_ms'])} ms")
        dl = p.get("lag_delivery")
        if dl:
            m[f"{pre}.e2e_lag_delivery.p50"] = metric(dl["p50_ms"], "ms", note=f"POST …/deliveries → evaluation recorded the contract's outcome figures (IndicatorProgressed); {dl['samples']} deliveries")
            m[f"{pre}.e2e_lag_delivery.p99"] = metric(dl["p99_ms"], "ms", at_most=250, note=f"max {_r(dl['max_ms'])} ms")
        m.update(replay_metrics(pre, p))
        m.update(phase_metrics(pre, p, run["config"]))
        a = p["as_of"]
        m[f"{pre}.as_of_10k"] = metric(
            _median(a["end_ms"]), "ms", at_most=50,
            note=f"GET /services-log/v1/audit/aggregates/{{id}}?as_of=… after the last of {a['events']:,} events (version {a['end_version']}), "
                 f"median of {len(a['end_ms'])}",
        )
        m[f"{pre}.as_of_10k.middle"] = metric(
            _median(a["middle_ms"]), "ms", note=f"as_of halfway through its history (version {a['middle_version']})"
        )
    return m


def load_metrics(pre: str, p: dict[str, Any], run: dict[str, Any], single: float | None = None) -> dict[str, dict[str, Any]]:
    """Issue 16: the HTTP floor, the closed loop (throughput, server CPU per POST over the floor's) and the
    open loop (p99 at the offered rate); a full run's and ``--only post-load``'s."""
    closed, opened, m = p["closed"], p["open"], {}
    store = pre.split(".")[-1]
    m[f"{pre}.http_floor"] = metric(
        p.get("http_floor"), "req/s", baseline=single, baseline_of=f"raw.{store}.append_single",
        note="GET / of the gateway (no store, no auth) with the same load generator: the HTTP stack's ceiling on this machine",
    )
    server_ms = (closed.get("cpu_ms_per_ok_request") or {}).get("server")
    m[f"{pre}.post_delivery.throughput"] = metric(
        closed["throughput"], "req/s", baseline=single, baseline_of=f"raw.{store}.append_single",
        note=f"closed loop, {run['config'].get('concurrency')} in flight over {run['config'].get('stations')} contracts; each request "
             f"stores 4 events in one transaction (delivery, ledger tally and progress, timesheet); p50 {_r(closed['p50_ms'])} ms, "
             f"p99 {_r(closed['p99_ms'])} ms; server CPU {server_ms} ms per request; "
             f"{closed.get('conflicts_retried', 0)} answers were 409 (retried by the client)",
    )
    floor_ms = p.get("http_floor_server_cpu_ms")
    if server_ms and floor_ms:
        m[f"{pre}.post_delivery.cpu_vs_http_floor"] = metric(
            server_ms, "ms CPU", baseline=floor_ms, baseline_of="server CPU per GET / (the HTTP floor)", ratio_max=10,
            note=f"server CPU per delivery POST (closed loop) over server CPU per GET / of the gateway, same run: "
                 f"{server_ms} ms vs {floor_ms} ms; {1000 / server_ms:,.0f} deliveries/s per server core",
        )
    rate = float(run["config"].get("rate", 100))
    m[f"{pre}.post_delivery.achieved_at_offered_rate"] = metric(
        opened["throughput"], "req/s", baseline=rate, baseline_of="offered rate",
        note=f"open loop, {opened['sent']} requests over {run['config'].get('stations')} contracts; statuses {opened['statuses']} "
             f"(-1: abandoned unanswered 15 s after the last send); {opened.get('conflicts_retried', 0)} answers were 409 "
             f"(retried by the client); server CPU {(opened.get('cpu_ms_per_ok_request') or {}).get('server')} ms per delivery recorded",
    )
    m[f"{pre}.post_delivery.p50_at_offered_rate"] = metric(opened["p50_ms"], "ms", note="latency from the scheduled send time")
    m[f"{pre}.post_delivery.p99_at_offered_rate"] = metric(
        opened["p99_ms"], "ms", at_most=50,
        note=f"offered {rate:g} req/s on {run['machine'].get('nproc', 2)} cores shared with the load generator, nats-server "
             f"and the store; p50 of the first tenth {_r(opened['p50_first_tenth_ms'])} ms, of the last tenth {_r(opened['p50_last_tenth_ms'])} ms",
    )
    settle = p.get("settle_seconds", {}).get("open-loop")
    if settle:
        m[f"{pre}.post_delivery.backlog_after_offered_rate"] = metric(
            settle["outboxes"] + settle["consumers"] + settle["idle"], "s",
            note=f"after the open loop: outboxes published in {settle['outboxes']} s, then consumers (evaluation's outcome "
                 f"figures) caught up in {settle['consumers']} s, then the server idle after {settle['idle']} s",
        )
    from bench import capacity

    m |= capacity.load_metrics(pre, p, rate)  # whose CPU the loops used (diagnostics, no target)
    return m


def bulk_metrics(pre: str, p: dict[str, Any], batched: float | None) -> dict[str, dict[str, Any]]:
    """Issue 16: bulk import stored and published ≥ 0.5× a raw batched append of the same store."""
    bulk, cpu, m = p["bulk"], p.get("cpu", {}), {}
    stored = bulk["recorded"] / bulk["stored_seconds"] if bulk["stored_seconds"] else None
    published = bulk["recorded"] / bulk["published_seconds"] if bulk["published_seconds"] else None
    store = pre.split(".")[-1]
    m[f"{pre}.bulk_import.stored"] = metric(
        stored, "deliveries/s", baseline=batched, baseline_of=f"raw.{store}.append_batched",
        note=f"{bulk['recorded']:,} of {bulk['rows']:,} rows in {bulk['stored_seconds']:.2f} s (request answered); "
             f"server CPU {_per(cpu.get('bulk', {}).get('server'), bulk['recorded'])} ms per row",
    )
    m[f"{pre}.bulk_import.stored_and_published"] = metric(
        published, "deliveries/s", baseline=batched, baseline_of=f"raw.{store}.append_batched", ratio_min=0.50,
        note=None if published is None else f"until all {bulk['recorded']:,} ServiceDelivered are on JetStream: {bulk['published_seconds']:.2f} s",
    )
    return m


def replay_metrics(pre: str, p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 16: the audit feed ≥ 0.8× a raw notification-log read of the same store."""
    n, seconds = p["replay"]
    raw_n, raw_s = p["replay_raw"]["raw"]
    dec_n, dec_s = p["replay_raw"]["decoded"]
    rounds = p.get("replay_rounds") or []
    ratios = sorted(r / f for f, r in rounds if f)
    spread = (f"median of {len(rounds)} alternating rounds of feed and raw read on the same store (round ratios "
              f"×{ratios[0]:.2f}–×{ratios[-1]:.2f}): " if len(ratios) > 1 else "")
    return {f"{pre}.audit_replay": metric(
        n / seconds if seconds else None, "events/s", baseline=raw_n / raw_s if raw_s else None,
        baseline_of=f"select_notifications on the same services-log store ({raw_n:,} records)", ratio_min=0.80,
        note=f"GET /services-log/v1/audit/events as JSON Lines, pages of 1,000 read one after the other with the lean client "
             f"until a short page (entries counted, not parsed), {spread}{n:,} events in {seconds:.3f} s; "
             f"read + decode alone: {dec_n / dec_s:,.0f} events/s",
    )}


def phase_metrics(pre: str, p: dict[str, Any], config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics of the phases ``--only`` can run alone (each also part of a full run)."""
    return growth_metrics(pre, p) | scale_out_metrics(pre, p) | memory_metrics(pre, p, config)


def scale_out_metrics(pre: str, p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 16: two services-log processes >= 1.5x one on PostgreSQL, with no 409 surfaced."""
    s = p.get("scale_out")
    if not s:
        return {}
    from bench import capacity

    one, two, routed = s["one"], s["two"], s["two_routed"]

    def line(x: dict[str, Any]) -> str:
        return (f"{x['throughput']} req/s, p50 {_r(x['p50_ms'])} ms, p99 {_r(x['p99_ms'])} ms, statuses {x['statuses']}, "
                f"server CPU {x['server_cpu_ms_per_ok']} ms per delivery")

    return {
        f"{pre}.scale_out.throughput": metric(
            two["throughput"], "req/s", baseline=one["throughput"], baseline_of="the same closed loop against one process", ratio_min=1.5,
            note=f"services-log as two extra uvicorn processes on one PostgreSQL schema beside the gateway (which leads the store); "
                 f"closed loop, requests alternating between them over the same contracts: two {line(two)}; one {line(one)}",
        ),
        f"{pre}.scale_out.throughput_routed": metric(
            routed["throughput"], "req/s", baseline=one["throughput"], baseline_of="the same closed loop against one process",
            note=f"the same two processes, each contract routed to one of them (no two processes contend for a ledger): {line(routed)}",
        ),
        f"{pre}.scale_out.conflicts_surfaced": metric(
            float(one["conflicts_surfaced"] + two["conflicts_surfaced"] + routed["conflicts_surfaced"]), "409s", at_most=0,
            note="409 answers the clients got (and retried) over the three loops",
        ),
    } | capacity.scale_out_metrics(pre, s)  # could this machine give ×1.5 at all (diagnostics)


def memory_metrics(pre: str, p: dict[str, Any], config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 16: the server's RSS stays within its configured byte budget all run long."""
    rss = p.get("rss")
    if not rss or not rss.get("samples"):
        return {}
    lists = p.get("rss_county_lists") or {}
    if lists.get("samples"):  # the county-lists gateway: 10,000 contracts in one county
        rss = {"max_bytes": max(rss["max_bytes"], lists["max_bytes"]), "last_bytes": rss["last_bytes"],
               "samples": rss["samples"] + lists["samples"]}
        p = {**p, "county_contracts": max((p.get("counts") or {"": 0}).values())}
    budget = float(config.get("memory_budget_mb") or 0)
    ledger = p.get("ledger_growth", {}).get("full", {}).get("deliveries_in_ledger")
    held = f"{p['county_contracts']:,} contracts" if p.get("county_contracts") else "the phases' contracts"
    held += f" and a {ledger:,}-delivery ledger" if ledger else ""
    return {
        f"{pre}.memory.rss_max": metric(
            rss["max_bytes"] / 2**20, "MiB", at_most=budget or None,
            note=f"the gateway processes (all four services: the platform run's, and the county-lists run's) sampled every 0.5 s over the whole run ({rss['samples']} samples, "
                 f"last {rss['last_bytes'] / 2**20:.0f} MiB) with SWP_MEMORY_BUDGET_MB={budget:g}; the county held {held} at the end",
        ),
    }


def growth_metrics(pre: str, p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 16: CPU per POST and per progress read at a 50,000-delivery ledger over an empty one."""
    growth = p.get("ledger_growth")
    if not growth:
        return {}
    m: dict[str, dict[str, Any]] = {}
    empty, full = growth["empty"], growth["full"]
    for key, label, field in (("post_delivery", "POST …/deliveries", "post_server_cpu_ms"), ("progress", "GET …/progress", "get_server_cpu_ms")):
        m[f"{pre}.ledger_growth.{key}"] = metric(
            full[field], "ms CPU", baseline=empty[field], baseline_of="the same at an empty ledger", ratio_max=1.2,
            note=f"server CPU per {label} on one contract whose ledger holds {growth['filled'] + empty['posts']:,}–"
                 f"{full['deliveries_in_ledger']:,} deliveries ({growth['filled']:,} loaded by bulk import in {growth['fill_seconds']} s) "
                 f"against the same contract from empty (0–{empty['deliveries_in_ledger']:,}); {full['posts']} POSTs one at a "
                 f"time (the window includes publishing their events and consumers catching up), {full['gets']} GETs; "
                 f"statuses empty {empty['statuses']}, full {full['statuses']}",
        )
    return m


def floor_of_runs(runs: list[tuple[str, dict[str, Any]]], store: str) -> tuple[float, str] | None:
    """The HTTP floor (server CPU per ``GET /``) of ``store`` in the latest of ``runs`` (name, run.json
    contents) that measured it, with where it comes from; None when none did."""
    found = [(run.get("machine", {}).get("date", ""), name, run["platform"][store]["http_floor_server_cpu_ms"])
             for name, run in runs if (run.get("platform", {}).get(store) or {}).get("http_floor_server_cpu_ms")]
    if not found:
        return None
    date, name, ms = max(found)
    return float(ms), f"server CPU per GET / of another run ({name}, {date}), not this one's"


def required_work_metrics(store: str, w: dict[str, Any], floor: tuple[float, str] | None) -> dict[str, dict[str, Any]]:
    """Diagnostics (no target): the work the rules require, done raw (bench/raw_work.py), and the best
    ratios issue 16's POST and bulk targets could reach in this stack: (raw delivery CPU + the HTTP
    floor's) over the floor's, and raw rows/s over raw batched append's events/s."""
    from bench.raw_work import highest_bulk_ratio, lowest_post_ratio, round_ratios

    pre, d, b = f"raw.{store}.required", w["delivery"], w["bulk_row"]
    batched = w["append_batched"]["per_second"]
    sizes = ", ".join(f"{k} {v:,}" for k, v in w.get("bytes", {}).items())
    m = {f"{pre}.delivery_cpu": metric(
        d["cpu_ms_per_unit"], "ms CPU",
        note=f"one delivery's required work done raw, one at a time, no HTTP: services-log's 5 events signed (Ed25519) "
             f"with public rows and chain links in one transaction, 2 published (PubAcks awaited), evaluation's reaction "
             f"(fetch, 1 signed event + public row + link + tracking in one transaction, ack); {d['units']:,} deliveries, "
             f"wall {d['wall_ms_per_unit']} ms each; bytes stored: {sizes}")}
    m[f"{pre}.delivery_cpu"]["value"] = round(d["cpu_ms_per_unit"], 3)
    if floor:
        floor_ms, floor_src = floor
        x = metric(d["cpu_ms_per_unit"] + floor_ms, "ms CPU", baseline=floor_ms, baseline_of=floor_src,
                   note=f"the lowest POST target ratio reachable in this stack: (raw delivery work {d['cpu_ms_per_unit']:.3f} ms "
                        f"+ HTTP floor {floor_ms:.3f} ms) / HTTP floor")
        x |= {"value": round(d["cpu_ms_per_unit"] + floor_ms, 3), "baseline": round(floor_ms, 4),
              "ratio": round(lowest_post_ratio(d["cpu_ms_per_unit"], floor_ms) or 0, 2)}
        m[f"{pre}.delivery_vs_http_floor"] = x
    spells = round_ratios(w.get("bulk_rounds", []), w["append_batched"].get("rounds", []))
    spread = f"; spells ×{min(spells):.2f}–×{max(spells):.2f}" if spells else ""
    y = metric(b["per_second"], "rows/s", baseline=batched,
               baseline_of="raw eventsourcing append, 100 events per transaction (this phase, alternating with the rows)",
               note=f"the highest bulk target ratio reachable: rows of one signed event + public row + link, 100 per transaction, "
                    f"each published (publish_async, PubAcks awaited per batch): {b['units']:,} rows in {len(spells) or 1} spells "
                    f"alternating with raw batched append{spread}, {b['cpu_ms_per_unit']} ms CPU per row")
    ratio = highest_bulk_ratio(b["per_second"], batched)
    y["ratio"] = None if ratio is None else round(ratio, 3)
    m[f"{pre}.bulk_rows"] = y
    event_cpu = w["append_batched"].get("cpu_ms_per_event")
    if event_cpu and b["cpu_ms_per_unit"]:  # rates on a loaded machine swing; CPU per unit much less
        m[f"{pre}.bulk_rows_per_cpu_second"] = metric(
            1000 / b["cpu_ms_per_unit"], "rows per CPU-second", baseline=1000 / event_cpu,
            baseline_of="raw batched append's events per CPU-second (the same spells)",
            note=f"the same bound counted in this process's CPU, steadier than rates on a shared machine: {b['cpu_ms_per_unit']} ms "
                 f"per row against {event_cpu} ms per appended event; the bulk ratio a run bound by this process's CPU could reach")
    return m


def required_work_lines(run: dict[str, Any], metrics: dict[str, dict[str, Any]], stores: list[str]) -> list[str]:
    """BENCHMARKS.md: the required work done raw, and the best ratios it implies."""
    if not run.get("raw_work"):
        return []

    def cell(s: str, key: str, fmt: str) -> str:
        m = metrics.get(f"raw.{s}.required.{key}")
        return "–" if not m or m["value"] is None else fmt.format(**m)

    return [
        "", "## Lower bound: the work the rules require, done raw (same run, `bench/raw_work.py`)", "",
        "No platform code: `sqlite3`/psycopg, Ed25519 (`cryptography`), `hashlib`, nats-py in one process, no HTTP; CPU is that "
        "process's (`time.process_time`), as the platform's server CPU leaves out nats-server's and PostgreSQL's.", "",
        "| required work | " + " | ".join(STORES[s] for s in stores) + " |", "|" + " --- |" * (1 + len(stores)),
        "| one delivery (5 signed events + public rows + links in one transaction, 2 published, evaluation's reaction), CPU | "
        + " | ".join(cell(s, "delivery_cpu", "{value:.2f} ms") for s in stores) + " |",
        "| lowest POST ratio reachable: (that + HTTP floor) / HTTP floor | "
        + " | ".join(cell(s, "delivery_vs_http_floor", "×{ratio:.1f} (floor {baseline} ms)") for s in stores) + " |",
        "| one imported row (signed event + public row + link, 100 per transaction, published), rows/s | "
        + " | ".join(cell(s, "bulk_rows", "{value:,.0f}") for s in stores) + " |",
        "| highest bulk ratio reachable: that / raw batched append | "
        + " | ".join(cell(s, "bulk_rows", "×{ratio:.2f} (of {baseline:,.0f} events/s)") for s in stores) + " |",
        "| …the same in CPU: appended event's CPU / imported row's CPU | "
        + " | ".join(cell(s, "bulk_rows_per_cpu_second", "×{ratio:.2f}") for s in stores) + " |",
    ]


def _per(seconds: float | None, n: int) -> float | None:
    return None if seconds is None or not n else round(1000 * seconds / n, 3)


def _median(values: list[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None


# --- markdown -----------------------------------------------------------------------------

FIGURES = [
    ("http_floor", "HTTP floor: `GET /` of the gateway (reference, no store)", "raw single-event append"),
    ("post_delivery.throughput", "Single `POST …/deliveries`, max throughput (closed loop)", "raw single-event append"),
    ("post_delivery.achieved_at_offered_rate", "Single POST at the offered rate: achieved", "offered rate"),
    ("post_delivery.p50_at_offered_rate", "Single POST at the offered rate: p50 latency", ""),
    ("post_delivery.p99_at_offered_rate", "Single POST at the offered rate: p99 latency", ""),
    ("post_delivery.open_loop_rho", "…server CPU per POST at the offered rate: its ρ (the ratio)", "interval between offered requests"),
    ("post_delivery.backlog_after_offered_rate", "…then until every outbox and consumer caught up", ""),
    ("bulk_import.stored", "Bulk import: stored (request answered)", "raw batched append"),
    ("bulk_import.stored_and_published", "Bulk import: stored and published on JetStream", "raw batched append"),
    ("e2e_lag.p50", "Lag contract signed → finance tranche schedule, p50", ""),
    ("e2e_lag.p99", "Lag contract signed → finance tranche schedule, p99", ""),
    ("e2e_lag_delivery.p50", "Lag delivery logged → evaluation outcome figures, p50", ""),
    ("e2e_lag_delivery.p99", "Lag delivery logged → evaluation outcome figures, p99", ""),
    ("audit_replay", "Audit replay (`GET …/audit/events`, pages of 1,000)", "raw notification-log read, same store"),
    ("as_of_10k", "As-of reconstruction, contract ledger of 10,001 events", ""),
    ("ledger_growth.post_delivery", "Server CPU per `POST …/deliveries`, ledger of 50,000 deliveries", "the same, empty ledger"),
    ("ledger_growth.progress", "Server CPU per `GET …/progress`, ledger of 50,000 deliveries", "the same, empty ledger"),
    ("as_of_10k.middle", "As-of reconstruction, halfway through its history", ""),
    ("post_delivery.cpu_vs_http_floor", "Server CPU per `POST …/deliveries` over the HTTP floor's", "server CPU per `GET /`"),
    ("scale_out.throughput", "Two services-log processes (PostgreSQL), closed loop", "one process, same loop"),
    ("scale_out.throughput_routed", "…with each contract routed to one process", "one process, same loop"),
    ("scale_out.conflicts_surfaced", "409s surfaced to clients over the scale-out loops", ""),
    ("scale_out.ceiling", "…the most any number of processes could give here (CPU of the 1-process loop)", "one process, same loop"),
    ("scale_out.ceiling_vs_best_single", "…the most any number could give over the best one process here", "best one process here"),
    ("memory.rss_max", "Server RSS, maximum over the run", "SWP_MEMORY_BUDGET_MB"),
]
RAW = [
    ("append_single", "eventsourcing append, 1 event per transaction"),
    ("append_batched", "eventsourcing append, 100 events per transaction"),
    ("log_read", "notification-log read (`select_notifications`, pages of 1,000)"),
    ("log_read_decoded", "notification-log read + decode to domain events"),
]


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _met(m: dict[str, Any] | None) -> str:
    if not m or m["met"] is None:
        return ""
    return "✅" if m["met"] else "❌"


def write_markdown(path: Path, run: dict[str, Any], metrics: dict[str, dict[str, Any]]) -> None:
    mach = run["machine"]
    v = mach["versions"]
    stores = [s for s in STORES if s in run["platform"]]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`, code in `bench/`); every figure also in "
        "`var/bench/results.json` as `{metric: {value, unit, baseline, ratio, target, met}}` (raw measurements in "
        "`var/bench/run.json`). Benchmarks, not tests: no test asserts a timing. The raw baselines are measured in "
        "the same run, on the same machine, as the platform figures they divide (each store's just before and just "
        "after its platform phases; the mean is the baseline).",
        "",
        f"**Run:** {mach['date']}{' (quick mode: not representative)' if run.get('quick') else ''}, {run['seconds']:.0f} s in all.  ",
        f"**Code:** {mach.get('code', 'unknown')}.  ",
        f"**Machine:** {mach['nproc']} CPUs ({mach['cpu']}), {mach['ram_gib']} GiB RAM, Linux {mach['kernel']}.  ",
        f"**Versions:** Python {v.get('python')}, eventsourcing {v.get('eventsourcing')}, nats-py {v.get('nats-py')}, "
        f"{v.get('nats-server', 'nats-server ?')}, faststream {v.get('faststream')}, FastAPI {v.get('fastapi')}, "
        f"Starlette {v.get('starlette')}, uvicorn {v.get('uvicorn')} (uvloop {v.get('uvloop')}, httptools {v.get('httptools')}), "
        f"pydantic {v.get('pydantic')}, httpx {v.get('httpx')} (client), psycopg {v.get('psycopg')}, "
        f"PostgreSQL {v.get('postgresql', '–')}, SQLite {v.get('sqlite')}.  ",
        f"**Load:** 1-minute load average {run['load']['start']} at the start, {run['load']['end']} at the end; "
        f"other test/server processes seen: {len(run['others_at_start'])} at the start, {len(run['others_at_end'])} at the end; "
        + "; ".join(f"{STORES[s]} phases ended at " + ", ".join(f"{k} {v}" for k, v in p.get("load", {}).items())
                    for s, p in run["platform"].items()) + ".",
        "",
        "> **Caveat.** 2 CPUs are shared by the load generator (this process: a minimal keep-alive HTTP/1.1 client "
        "for the load phases and the audit replay, ~0.2 ms of CPU per request; httpx for the rest), the platform (one uvicorn "
        "process co-hosting the four services), nats-server and PostgreSQL"
        + (" — and, in this run, by other test or server processes seen running on the same machine"
           if run["others_at_start"] or run["others_at_end"] else "")
        + ". Absolute figures are therefore low and noisy; the ratios to baselines measured in the same run are the "
        "figures to compare.",
        "",
        "## Platform against raw baselines",
        "",
    ]
    lines.append("| figure | " + " | ".join(f"{STORES[s]} | ratio | met" for s in stores) + " | baseline of the ratio | target |")
    lines.append("|" + " --- |" * (3 + 3 * len(stores)))
    events = next((p["as_of"]["events"] for p in run["platform"].values()), 10_001)
    for key, label, base in FIGURES:
        label = label.replace("10,001", f"{events:,}")
        cells, target = [], ""
        for s in stores:
            m = metrics.get(f"platform.{s}.{key}")
            if m is None or m["value"] is None:
                cells += ["–", "", ""]
                continue
            target = m["target"] or target
            cells += [f"{_fmt(m['value'])} {m['unit']}", "" if m["ratio"] is None else f"{m['ratio']:.2f}", _met(m)]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {base} | {target} |")
    lines += ["", "## Raw baselines (same run)", "", "| baseline | " + " | ".join(STORES[s] for s in stores) + " |",
              "|" + " --- |" * (1 + len(stores))]
    for key, label in RAW:
        lines.append(f"| {label} | " + " | ".join(f"{_fmt(metrics.get(f'raw.{s}.{key}', {}).get('value'))} events/s" for s in stores) + " |")
    if "raw.nats.publish_sync" in metrics:
        lines += [
            "",
            "| JetStream publish (nats-py, file storage, ~0.8 kB) | msgs/s |",
            "| --- | --- |",
            f"| `js.publish` awaited one by one | {_fmt(metrics['raw.nats.publish_sync']['value'])} |",
            f"| `js.publish_async`, PubAcks awaited per 4,000 | {_fmt(metrics['raw.nats.publish_async']['value'])} |",
        ]
    lines += required_work_lines(run, metrics, stores)
    lines += ["", "## Notes per figure (this run)", ""]
    for name, m in metrics.items():
        if (name.startswith("platform.") or ".required." in name) and m.get("note"):
            lines.append(f"- `{name}`: {m['note']}.")
    findings = Path(__file__).with_name("findings.md")
    if findings.exists():
        lines += ["", findings.read_text().rstrip()]
    path.write_text("\n".join(lines) + "\n")
