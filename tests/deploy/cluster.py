"""The shipped NATS cluster configuration (deploy/nats/) run for real on loopback.

Each node's file is the shipped one with only its addresses, store directory and certificate
paths replaced (every replacement must match, so a reshaped file fails here instead of testing
something else); accounts.conf is used as shipped. Passwords come from the environment of each
``nats-server`` process, as in production. Certificates are made for the run (trustme): a CA,
the nodes' certificate (client port and routes) and a client certificate, as deploy/README.md
("TLS") has an operator make them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from shared.infra.natsserver import free_port, nats_server_binary, port_open

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NATS_DIR = DEPLOY / "nats"
SERVICE_USERS = ("registry", "services-log", "evaluation", "finance")
SUBSCRIBER_COUNTIES = ("640402", "130731")


def password_variables() -> dict[str, str]:
    """Every password variable accounts.conf refers to, with a fresh random value."""
    names = ["NATS_ADMIN_PASSWORD", "NATS_SYS_PASSWORD"]
    names += [f"NATS_{user.upper().replace('-', '_')}_PASSWORD" for user in SERVICE_USERS]
    names += [f"NATS_SUB_{county}_PASSWORD" for county in SUBSCRIBER_COUNTIES]
    return {name: secrets.token_hex(12) for name in names}


def substitute(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in text, f"the shipped NATS config no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class TLSFiles:
    """PEM files of the run: ca.crt signs server.crt (the nodes) and client.crt (services, subscribers)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.crt"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"

    def settings(self) -> dict[str, Path]:
        """Settings overrides (SWP_NATS_TLS_*) of a service that connects to the cluster."""
        return {"nats_tls_ca": self.ca, "nats_tls_cert": self.client_cert, "nats_tls_key": self.client_key}

    def environment(self) -> dict[str, str]:
        return {f"SWP_{key.upper()}": str(value) for key, value in self.settings().items()}

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def make_certificates(directory: Path) -> TLSFiles:
    """A CA, the nodes' certificate (127.0.0.1 and localhost: the addresses the test dials) and one
    client certificate; both certificates may serve and dial (routes dial the other nodes)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="SWP test CA")
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    server = ca.issue_cert("127.0.0.1", "localhost", "nats-1", "nats-2", "nats-3")
    server.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    server.private_key_pem.write_to_path(str(directory / "server.key"))
    client = ca.issue_cert("swp-client.test")
    client.cert_chain_pems[0].write_to_path(str(directory / "client.crt"))
    client.private_key_pem.write_to_path(str(directory / "client.key"))
    return TLSFiles(directory)


@dataclass
class Node:
    index: int
    client_port: int
    route_port: int
    monitor_port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"nats-{self.index}"

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"nats://{auth}127.0.0.1:{self.client_port}"

    def start(self, env: dict[str, str]) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.config)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush — a crashed machine."""
        if self.alive():
            assert self.proc
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def healthz(self) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return dict(json.loads(r.read()))
        except Exception as exc:
            return {"status": "unavailable", "error": str(exc)}

    def monitor(self, endpoint: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/{endpoint}", timeout=2) as r:
            return dict(json.loads(r.read()))

    def meta_leader(self) -> str | None:
        try:
            return self.monitor("jsz").get("meta_cluster", {}).get("leader") or None
        except Exception:
            return None


@dataclass
class Cluster:
    nodes: list[Node]
    passwords: dict[str, str]
    tls: TLSFiles
    env: dict[str, str] = field(default_factory=dict)

    def password(self, user: str) -> str:
        key = f"NATS_SUB_{user[4:]}_PASSWORD" if user.startswith("sub-") else f"NATS_{user.upper().replace('-', '_')}_PASSWORD"
        return self.passwords[key]

    def url(self, user: str, node: int = 1) -> str:
        return self.nodes[node - 1].url(user, self.password(user))

    def start(self, timeout: float = 20.0) -> Cluster:
        for node in self.nodes:
            node.start(self.env)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while not port_open(node.client_port):
                if not node.alive():
                    raise RuntimeError(f"{node.name} exited: {node.log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{node.name} did not listen: {node.log.read_text()[-2000:]}")
                time.sleep(0.05)
        # JetStream answers once the meta group has a leader that every node knows.
        while not all(n.healthz().get("status") == "ok" and n.meta_leader() for n in self.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError(f"JetStream cluster not ready: {[n.healthz() for n in self.nodes]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def node_named(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def write_cluster(directory: Path, tls: TLSFiles | None = None) -> Cluster:
    """Three node configs from deploy/nats/nats-{1,2,3}.conf on free loopback ports, on ``tls``
    (default: certificates made for the run)."""
    directory.mkdir(parents=True, exist_ok=True)
    tls = tls or make_certificates(directory / "tls")
    certificates = {
        "cert_file: /etc/nats-tls/server.crt": f"cert_file: {json.dumps(str(tls.server_cert))}",
        "key_file: /etc/nats-tls/server.key": f"key_file: {json.dumps(str(tls.server_key))}",
        "ca_file: /etc/nats-tls/ca.crt": f"ca_file: {json.dumps(str(tls.ca))}",
    }
    (directory / "accounts.conf").write_text((NATS_DIR / "accounts.conf").read_text())
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    routes = {
        f"nats-route://nats-{i}:6222": f"nats-route://127.0.0.1:{route}" for i, (_, route, _) in enumerate(ports, start=1)
    }
    nodes = []
    for i, (client, route, monitor) in enumerate(ports, start=1):
        store = directory / f"nats-{i}" / "jetstream"
        text = substitute(
            (NATS_DIR / f"nats-{i}.conf").read_text(),
            {
                "listen: 0.0.0.0:4222": f"listen: 127.0.0.1:{client}",
                "http: 127.0.0.1:8222": f"http: 127.0.0.1:{monitor}",
                "listen: 0.0.0.0:6222": f"listen: 127.0.0.1:{route}",
                "store_dir: /data/jetstream": f"store_dir: {json.dumps(str(store))}",
                **routes,
                **certificates,
            },
        )
        config = directory / f"nats-{i}.conf"
        config.write_text(text)
        nodes.append(Node(i, client, route, monitor, config, directory / f"nats-{i}.log"))
    passwords = password_variables()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")} | passwords
    return Cluster(nodes, passwords, tls, env)
