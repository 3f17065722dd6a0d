"""The README's commands work as written: `swp up` runs and stops everything; `swp token` mints
a token the running platform accepts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.infra.natsserver import free_port, port_open

SWP = str(Path(sys.executable).parent / "swp")


def start_up(tmp_path: Path) -> tuple[subprocess.Popen[str], int, int, dict[str, str]]:
    """`swp up` on free ports with its own var dir, returned once it says it is ready."""
    port, nats_port = free_port(), free_port()
    env = {**os.environ, "SWP_VAR_DIR": str(tmp_path / "var")}
    env.pop("SWP_NATS_URL", None)
    proc = subprocess.Popen(
        [SWP, "up", "--port", str(port), "--nats-port", str(nats_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + 60
    while not any("platform ready" in line for line in output):
        if time.monotonic() >= deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("".join(output))
        output.append(proc.stdout.readline())
    return proc, port, nats_port, env


def test_swp_up_serves_every_service_and_ctrl_c_stops_everything(tmp_path):
    proc, port, nats_port, env = start_up(tmp_path)
    try:
        assert port_open(nats_port), "the embedded nats-server should be listening"
        for svc in ("registry", "services-log", "evaluation", "finance"):
            r = httpx.get(f"http://127.0.0.1:{port}/{svc}/health", timeout=10)
            assert r.status_code == 200 and r.json()["nats"]["ok"], r.text
            # No server name or version on the wire; the security headers from the application.
            assert "server" not in r.headers and r.headers["x-content-type-options"] == "nosniff", r.headers
        token = subprocess.run(
            [SWP, "token", "--role", "province_admin", "--county", "*"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        r = httpx.put(
            f"http://127.0.0.1:{port}/registry/v1/counties/640402",
            json={"name": "原州区"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=30)
    rest = proc.stdout.read()
    assert "embedded nats-server stopped" in rest
    assert not port_open(nats_port) and not port_open(port)
    assert (tmp_path / "var" / "registry.sqlite").exists()


def test_swp_up_stopped_by_sigterm_stops_its_nats_server_too(tmp_path):
    # systemd, docker stop and `timeout` send SIGTERM, not Ctrl-C: the embedded nats-server must
    # not outlive the platform.
    proc, port, nats_port, _ = start_up(tmp_path)
    try:
        assert port_open(nats_port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert "embedded nats-server stopped" in proc.stdout.read()
    assert not port_open(nats_port) and not port_open(port)
