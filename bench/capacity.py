"""Whose CPU a load loop used, and what that says about the machine's ceiling (issue 16's two
capacity targets: 2 services-log processes ≥ 1.5× one, p99 ≤ 50 ms at 100 req/s open loop).

Over a loop's window, ``MachineMeter`` reads the CPU of every process that takes part — the
server process(es), the phase's nats-server, the PostgreSQL postmaster and backends, and this
process (the load generator) — and the whole machine's busy and idle time from ``/proc/stat``;
"other" is the machine's busy time minus the parties' (other helpers' work, the kernel's threads,
PostgreSQL backends of other databases). Stdlib only; the arithmetic is in pure functions (unit
tested in ``tests/unit/test_bench_capacity.py``).

Limitations: CPU is read in clock ticks (``USER_HZ``, 10 ms) per process; a PostgreSQL backend
started within the window counts from 0, but one that *exits* within the window is not seen at
the end, so its CPU falls into "other" (the pools of the platform keep their connections open).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# /proc/stat "cpu" fields: user nice system idle iowait irq softirq steal guest guest_nice.
# guest and guest_nice are already counted in user and nice, so they are left out of the total.
_IDLE_FIELDS = (3, 4)  # idle, iowait
_TOTAL_FIELDS = 8


def parse_proc_stat(text: str) -> tuple[int, int]:
    """The machine's (total, idle) clock ticks over all CPUs since boot, from ``/proc/stat``'s
    aggregate ``cpu`` line; idle includes iowait."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1 : 1 + _TOTAL_FIELDS]]
            return sum(values), sum(values[i] for i in _IDLE_FIELDS if i < len(values))
    raise ValueError("no aggregate 'cpu' line in /proc/stat")


def parse_pid_stat(text: str) -> tuple[int, int]:
    """A process's (start time, utime + stime) in clock ticks from ``/proc/<pid>/stat`` (all its
    threads); the start time tells a process from a later one given the same pid."""
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    return int(fields[19]), int(fields[11]) + int(fields[12])


Snapshot = dict[tuple[int, int], int]  # (pid, start time) → CPU ticks so far


def delta_ticks(start: Snapshot, end: Snapshot) -> int:
    """CPU ticks used over a window by a set of processes read at its start and at its end: a
    process seen at both counts end − start; one started within the window counts from 0 (all it
    used); one that exited within the window is not seen at the end and counts nothing."""
    return sum(ticks - start.get(key, 0) for key, ticks in end.items())


_BACKEND = re.compile(r"^postgres: (?:[^:]+: )?(\S+) (\S+) (\S+\(\d+\)|\[local\]) ")


def postgres_database(cmdline: str) -> str | None:
    """The database a PostgreSQL client backend serves, from its process title
    (``postgres: 15/main: USER DB HOST(PORT) ACTIVITY``); None for the postmaster and the
    auxiliary processes (checkpointer, walwriter, …), which serve every database."""
    m = _BACKEND.match(cmdline.replace("\0", " ").strip() + " ")
    return m.group(2) if m else None


def is_ours(cmdline: str, dbname: str | None) -> bool:
    """A PostgreSQL process takes part in a run on ``dbname`` unless it is a backend of another
    database (another helper's tests, say); every one does when no database is named."""
    db = postgres_database(cmdline)
    return dbname is None or db is None or db == dbname


def split_other(parties: dict[str, float], machine_busy: float) -> dict[str, float]:
    """The parties' CPU seconds plus "other": the machine's busy seconds minus all the parties'
    (never below 0: the per-process and machine counters are rounded to ticks differently)."""
    return {**parties, "other": max(0.0, machine_busy - sum(parties.values()))}


def ceiling_ratio(nproc: int, wall: float, cpu: float, reserved: float = 0.0) -> float | None:
    """The most a second process could multiply a loop's throughput by on this machine, if every
    request cost what it cost in that loop: the machine's CPU over the window (``nproc × wall``,
    less ``reserved`` seconds taken by others) over the CPU the loop's requests took (all parties:
    ``cpu`` = CPU per request × requests). Equal to 1 / (busy fraction) when nothing is reserved."""
    if cpu <= 0 or wall <= 0:
        return None
    return (nproc * wall - reserved) / cpu


def best_single_ceiling(nproc: int, serving_ms: float, all_ms: float) -> float | None:
    """How far past the best one serving process can do on this machine any number of them could
    go, at a loop's CPU per request: one process is capped by its core (GIL) at 1/``serving_ms``
    requests per CPU-ms, the machine at ``nproc``/``all_ms`` (all parties' CPU per request); the
    ceiling is the machine's cap over the lower of the two, so 1.0 when the machine runs out of
    cores before the one process runs out of its own (a second process cannot help at all).
    Unlike ``ceiling_ratio`` it does not depend on the loop's throughput, which other work on a
    shared machine holds down."""
    if serving_ms <= 0 or all_ms <= 0:
        return None
    machine = nproc / all_ms
    return machine / min(1 / serving_ms, machine)


def utilisation(cpu_per_request_s: float, rate: float) -> float:
    """ρ of one process serving ``rate`` requests/s at ``cpu_per_request_s`` CPU seconds each,
    as a fraction of one core (a CPython process is bounded by about one core by its GIL)."""
    return cpu_per_request_s * rate


def per_request_ms(cpu: dict[str, float], n: int) -> dict[str, float]:
    """Each party's CPU milliseconds per request (and their total)."""
    if not n:
        return {}
    out = {k: round(1000 * v / n, 3) for k, v in cpu.items()}
    out["all"] = round(1000 * sum(cpu.values()) / n, 3)
    return out


# --- reading /proc ------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def machine_ticks() -> tuple[int, int]:
    text = _read("/proc/stat")
    return parse_proc_stat(text) if text else (0, 0)


def process_snapshot(pids: list[int | None]) -> Snapshot:
    out: Snapshot = {}
    for pid in pids:
        if pid is None:
            continue
        text = _read(f"/proc/{pid}/stat")
        if text:
            start, ticks = parse_pid_stat(text)
            out[(pid, start)] = ticks
    return out


def all_processes() -> dict[tuple[int, int], tuple[int, str]]:
    """Every process now: (pid, start time) → (CPU ticks so far, its name), to say who "other" was."""
    out: dict[tuple[int, int], tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            text = _read(f"/proc/{entry}/stat")
            if text:
                start, ticks = parse_pid_stat(text)
                out[(int(entry), start)] = (ticks, text[text.find("(") + 1 : text.rfind(")")])
    return out


def top_others(start: dict[tuple[int, int], tuple[int, str]], end: dict[tuple[int, int], tuple[int, str]],
               parties: set[tuple[int, int]], n: int = 5, at_least: int = 5) -> list[str]:
    """The processes outside the parties that used the most CPU ticks over the window (at least
    ``at_least``), as ``"name pid: seconds"``, most first."""
    used = [(ticks - start.get(key, (0, ""))[0], name, key[0]) for key, (ticks, name) in end.items() if key not in parties]
    used = sorted((u for u in used if u[0] >= at_least), reverse=True)[:n]
    return [f"{name} {pid}: {ticks / TICK:.2f} s" for ticks, name, pid in used]


def postgres_pids(dbname: str | None) -> list[int]:
    """The PostgreSQL processes (owned by the ``postgres`` user, or named ``postgres``) that take
    part in a run on ``dbname``: the postmaster, its auxiliary processes and that database's backends."""
    try:
        import pwd

        uid: int | None = pwd.getpwnam("postgres").pw_uid
    except (ImportError, KeyError):
        uid = None
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            owner = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue
        comm = (_read(f"/proc/{entry}/comm") or "").strip()
        if (uid is not None and owner != uid) or (uid is None and comm != "postgres"):
            continue
        cmdline = _read(f"/proc/{entry}/cmdline") or ""
        if is_ours(cmdline, dbname):
            found.append(int(entry))
    return found


@dataclass
class MachineMeter:
    """CPU seconds of each party over a window (``with MachineMeter({...}, pg_dbname) as m:``),
    the machine's busy and idle seconds, and "other"; ``m.result`` afterwards (see ``summary``).

    ``parties`` maps a name to the pids of its processes (None pids are skipped); with ``postgres``,
    the PostgreSQL processes (postmaster, auxiliaries, and the backends of ``pg_dbname``, or of every
    database when it is None) are found at the start and at the end of the window ("postgres");
    "client" is this process (``time.process_time``)."""

    parties: dict[str, list[int | None]]
    pg_dbname: str | None = None
    postgres: bool = False  # account PostgreSQL's processes (those of pg_dbname when it is named)
    result: dict[str, Any] = field(default_factory=dict)
    _start: dict[str, Any] = field(default_factory=dict)

    def _snap(self) -> dict[str, Any]:
        snap: dict[str, Any] = {name: process_snapshot(pids) for name, pids in self.parties.items()}
        if self.postgres:
            snap["postgres"] = process_snapshot(list(postgres_pids(self.pg_dbname)))
        snap["all"] = all_processes()
        snap["machine"] = machine_ticks()
        snap["client"] = time.process_time()
        snap["wall"] = time.perf_counter()
        return snap

    def __enter__(self) -> MachineMeter:
        self._start = self._snap()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snap()
        cpu = {name: delta_ticks(self._start[name], end[name]) / TICK for name in [*self.parties, *(["postgres"] if self.postgres else [])]}
        cpu["client"] = end["client"] - self._start["client"]
        total = (end["machine"][0] - self._start["machine"][0]) / TICK
        idle = (end["machine"][1] - self._start["machine"][1]) / TICK
        self.result = summary(cpu, total - idle, idle, end["wall"] - self._start["wall"], os.cpu_count() or 1)
        ours = {key for name in [*self.parties, *(["postgres"] if self.postgres else [])] for key in (*self._start[name], *end[name])}
        ours |= {key for key in end["all"] if key[0] == os.getpid()}
        self.result["other_top"] = top_others(self._start["all"], end["all"], ours)
        if self.postgres:
            before, after = set(self._start["postgres"]), set(end["postgres"])
            self.result["postgres_processes"] = {"start": len(before), "end": len(after), "started": len(after - before),
                                                 "exited": len(before - after)}


def summary(parties: dict[str, float], machine_busy: float, machine_idle: float, wall: float, nproc: int) -> dict[str, Any]:
    """One window's accounting: each party's CPU seconds and "other", the machine's busy and idle
    seconds, the busy fractions (all parties, and the whole machine) of ``nproc × wall``."""
    cpu = split_other(parties, machine_busy)
    capacity = nproc * wall
    return {
        "wall_s": round(wall, 3), "nproc": nproc,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "parties_cpu_s": round(sum(parties.values()), 3),
        "machine_busy_s": round(machine_busy, 3), "machine_idle_s": round(machine_idle, 3),
        "parties_busy_fraction": round(sum(parties.values()) / capacity, 3) if capacity else None,
        "machine_busy_fraction": round(machine_busy / (machine_busy + machine_idle), 3) if machine_busy + machine_idle else None,
    }


# --- what the windows say -----------------------------------------------------------------


def scale_out_ceiling(one: dict[str, Any], requests: int, serving: str = "replica-1") -> dict[str, Any]:
    """From the 1-process loop's accounting and its requests answered: the busy fractions, each
    party's CPU per request, and the throughput ceiling of any number of processes on this machine
    relative to that loop (with the machine to ourselves, and with what "other" took meanwhile)."""
    wall, nproc, parties = one["wall_s"], one["nproc"], one["parties_cpu_s"]
    ceiling = ceiling_ratio(nproc, wall, parties)
    ceiling_shared = ceiling_ratio(nproc, wall, parties, reserved=one["cpu_s"].get("other", 0.0))
    per = per_request_ms({k: v for k, v in one["cpu_s"].items() if k != "other"}, requests)
    best = best_single_ceiling(nproc, per.get(serving, 0.0), per.get("all", 0.0)) if per else None
    return {
        "parties_busy_fraction": one["parties_busy_fraction"], "machine_busy_fraction": one["machine_busy_fraction"],
        "cpu_ms_per_request": per,
        "single_max_rps": round(1000 / per[serving], 1) if per.get(serving) else None,
        "machine_max_rps": round(1000 * nproc / per["all"], 1) if per.get("all") else None,
        "ceiling_vs_best_single": None if best is None else round(best, 3),
        "other_ms_per_request": round(1000 * one["cpu_s"].get("other", 0.0) / requests, 3) if requests else None,
        "core_share": {k: round(v / wall, 3) for k, v in one["cpu_s"].items() if k != "other"} if wall else {},
        "ceiling_ratio": None if ceiling is None else round(ceiling, 3),
        "ceiling_ratio_given_other": None if ceiling_shared is None else round(ceiling_shared, 3),
    }


def load_capacity(acc: dict[str, Any], requests: int, server: str = "server", rate: float | None = None) -> dict[str, Any]:
    """From a POST loop's accounting: the server process's CPU utilisation (share of one core), the
    busy fractions, each party's CPU per POST, the most requests/s the server process (one core)
    and the machine (all cores, all parties) could answer at those costs, and at an offered
    ``rate`` the server's ρ = its CPU per POST × the rate (and the machine's, over all its cores)."""
    wall, nproc = acc["wall_s"], acc["nproc"]
    cpu = {k: v for k, v in acc["cpu_s"].items() if k != "other"}
    server_s = cpu.get(server, 0.0) / requests if requests else 0.0
    all_s = sum(cpu.values()) / requests if requests else 0.0
    out: dict[str, Any] = {
        "server_utilisation": round(cpu.get(server, 0.0) / wall, 3) if wall else None,
        "parties_busy_fraction": acc["parties_busy_fraction"], "machine_busy_fraction": acc["machine_busy_fraction"],
        "cpu_ms_per_request": per_request_ms(cpu, requests),
        "other_ms_per_request": round(1000 * acc["cpu_s"].get("other", 0.0) / requests, 3) if requests else None,
        "server_max_rps": round(1 / server_s, 1) if server_s else None,
        "machine_max_rps": round(nproc / all_s, 1) if all_s else None,
    }
    if rate is not None:
        out["offered_rate"] = rate
        out["server_rho"] = round(utilisation(server_s, rate), 3)
        out["machine_rho"] = round(utilisation(all_s, rate) / nproc, 3)
    return out


# --- metrics (diagnostic: no target) ------------------------------------------------------


def _parties(per: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in per.items() if k != "all") + f" (all {per.get('all', 0):.2f})"


def _top(acc: dict[str, Any]) -> str:
    return ", ".join(acc.get("other_top", [])[:3]) or "none over 0.05 s"


def scale_out_metrics(pre: str, s: dict[str, Any], target: float = 1.5) -> dict[str, dict[str, Any]]:
    """Issue 16's ≥ 1.5× for two services-log processes: could this machine give it at all? The
    1-process loop's busy fraction and the throughput ceiling it implies (no target: diagnostics)."""
    from bench.report import metric

    one, two = s.get("one", {}), s.get("two", {})
    cap, cap_two = one.get("capacity"), two.get("capacity")
    if not cap or cap.get("ceiling_ratio") is None:
        return {}
    acc = one["accounting"]
    ratio = cap["ceiling_ratio"]
    verdict = (f"below the {target:g}× target: it cannot be met on this machine, whatever the code does with a second process"
               if ratio < target else f"at or above the {target:g}× target, so not ruled out by this figure alone (see ceiling_vs_best_single)")
    m = {
        f"{pre}.scale_out.ceiling": metric(
            one["throughput"] * ratio, "req/s", baseline=one["throughput"], baseline_of="the 1-process loop's throughput",
            note=f"the most any number of services-log processes could answer on this {acc['nproc']}-core machine if every request "
                 f"cost what it cost in the 1-process loop: {acc['nproc']} cores × {acc['wall_s']} s over the {acc['parties_cpu_s']} s "
                 f"of CPU all parties took for its {one['ok']} requests = ×{ratio:.2f} of its throughput, {verdict}; with the "
                 f"{acc['cpu_s'].get('other', 0):.2f} s other processes took meanwhile, ×{cap['ceiling_ratio_given_other']:.2f} "
                 f"(the first is optimistic when others were busy: they held the 1-process throughput down too). The one "
                 f"process serving used {100 * cap['core_share'].get('replica-1', 0):.0f} % of a core, the gateway (relay, sealer, "
                 f"consumers) {100 * cap['core_share'].get('gateway', 0):.0f} %. "
                 f"CPU ms per request: {_parties(cap['cpu_ms_per_request'])}; other {cap['other_ms_per_request']} "
                 f"(busiest: {_top(acc)})",
        ),
        f"{pre}.scale_out.ceiling_vs_best_single": metric(
            cap["machine_max_rps"], "req/s", baseline=min(cap["single_max_rps"] or 0, cap["machine_max_rps"] or 0) or None,
            baseline_of="the best one process could do here (its core, or the machine, whichever runs out first)",
            note=f"at the 1-process loop's CPU per request, one serving process at a full core answers "
                 f"{cap['single_max_rps']} req/s, the machine (all parties, {acc['nproc']} cores) {cap['machine_max_rps']} req/s: "
                 f"any number of processes can give at most ×{cap['ceiling_vs_best_single']:.2f} of the best single process "
                 f"({'the machine runs out of cores first, so' if cap['ceiling_vs_best_single'] < target else 'so'} the "
                 f"{target:g}× target {'cannot be met on this machine' if cap['ceiling_vs_best_single'] < target else 'is within reach'}); "
                 f"this does not depend on the loop's throughput, which other work on the machine holds down",
        ),
        f"{pre}.scale_out.busy_one": metric(
            100 * acc["parties_busy_fraction"], "%",
            note=f"CPU of all parties (gateway, replicas, nats-server, PostgreSQL of the run's database, load generator) over "
                 f"{acc['nproc']} cores × the 1-process loop's {acc['wall_s']} s; the whole machine was "
                 f"{100 * acc['machine_busy_fraction']:.0f} % busy (idle {acc['machine_idle_s']} s)",
        ),
    }
    if cap_two:
        acc2 = two["accounting"]
        m[f"{pre}.scale_out.busy_two"] = metric(
            100 * acc2["parties_busy_fraction"], "%",
            note=f"the same over the 2-process loop (requests alternating): the whole machine {100 * acc2['machine_busy_fraction']:.0f} % "
                 f"busy; CPU ms per request {_parties(cap_two['cpu_ms_per_request'])}",
        )
    return m


def load_metrics(pre: str, p: dict[str, Any], rate: float, target_ms: float = 50) -> dict[str, dict[str, Any]]:
    """The closed and open POST loops' CPU accounting (no target: diagnostics for issue 16's
    p99 ≤ 50 ms at 100 req/s): busy fractions, the server's share of a core, CPU per POST of each
    party and, at the offered rate, the server's ρ."""
    from bench.report import metric

    acc = p.get("accounting") or {}
    m: dict[str, dict[str, Any]] = {}
    closed, opened = acc.get("closed-loop"), acc.get("open-loop")
    if closed and p.get("closed"):
        c = load_capacity(closed, p["closed"]["ok"])
        m[f"{pre}.post_delivery.closed_loop_busy"] = metric(
            100 * closed["parties_busy_fraction"], "%",
            note=f"closed loop: all parties' CPU over {closed['nproc']} cores × {closed['wall_s']} s (the whole machine "
                 f"{100 * closed['machine_busy_fraction']:.0f} % busy); the server process used {100 * c['server_utilisation']:.0f} % "
                 f"of one core; CPU ms per POST: {_parties(c['cpu_ms_per_request'])}, other {c['other_ms_per_request']}; at these "
                 f"costs one server process answers at most {c['server_max_rps']} req/s (one core) and the machine at most "
                 f"{c['machine_max_rps']} req/s ({(c['machine_max_rps'] or 0) / closed['nproc']:.0f} per core)",
        )
    if opened and p.get("open"):
        o = load_capacity(opened, p["open"]["ok"], rate=rate)
        rho = o["server_rho"]
        verdict = ("ρ ≥ 1: the server process cannot keep up at all, its queue grows for as long as the loop runs" if rho >= 1
                   else f"ρ ≥ 0.7 of one core: a queue builds and p99 runs far past {target_ms:g} ms (M/D/1 waits grow as ρ/(1−ρ))"
                   if rho >= 0.7 else f"ρ < 0.7: the server's CPU alone leaves room for a p99 near {target_ms:g} ms")
        m[f"{pre}.post_delivery.open_loop_server_utilisation"] = metric(
            100 * o["server_utilisation"], "% of a core",
            note=f"open loop at {rate:g} req/s: the server process's CPU over the loop's {opened['wall_s']} s (a CPython process is "
                 f"bounded by about one core by its GIL); all parties {100 * opened['parties_busy_fraction']:.0f} % and the whole "
                 f"machine {100 * opened['machine_busy_fraction']:.0f} % busy of {opened['nproc']} cores; CPU ms per POST: "
                 f"{_parties(o['cpu_ms_per_request'])}, other {o['other_ms_per_request']} (busiest: {_top(opened)})",
        )
        m[f"{pre}.post_delivery.open_loop_rho"] = metric(
            o["cpu_ms_per_request"].get("server"), "ms CPU", baseline=1000 / rate, baseline_of=f"the interval between offered requests at {rate:g}/s",
            note=f"the server's ρ = its CPU per POST × the offered rate = {rho:.2f} of one core; {verdict}; ρ ≤ 0.7 at "
                 f"{rate:g}/s needs ≤ {700 / rate:.1f} ms of server CPU per POST; the machine's ρ "
                 f"(all parties' CPU per POST × rate over {opened['nproc']} cores) {o['machine_rho']:.2f}",
        )
    return m
