"""The services of deploy/compose.yaml as separate processes on loopback, and nginx with
deploy/nginx/swp.conf in front of them.

Each service runs the command compose.yaml gives it, with the environment compose.yaml gives
it; only addresses, secrets and the PostgreSQL database are the test's own (every substitution
must match, so a reshaped file fails here instead of testing something else).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.infra.natsserver import free_port, port_open
from shared.testing.fixtures import PostgresInfo
from tests.deploy.cluster import DEPLOY, Cluster, make_certificates, substitute

SERVICES = ("registry", "services-log", "evaluation", "finance")
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}`` / ``${NAME:?message}`` interpolation."""
    return _INTERPOLATION.sub(lambda m: variables[m.group(1)], value)


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


@dataclass
class ServiceProcess:
    name: str
    port: int
    command: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child process
        # `uvicorn …` exactly as compose.yaml runs it, from this interpreter's environment.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.command], stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        out.close()

    def health_status(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return None

    def wait_healthy(self, deadline: float) -> None:
        while self.health_status() != 200:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not healthy:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def service_processes(
    cluster: Cluster, pg: PostgresInfo, directory: Path, oidc: dict[str, str]
) -> tuple[list[ServiceProcess], dict[str, str]]:
    """The four services of compose.yaml, pointed at the loopback cluster and PostgreSQL, trusting
    the OIDC issuer ``oidc`` (SWP_OIDC_ISSUER, SWP_OIDC_AUDIENCE)."""
    directory.mkdir(parents=True, exist_ok=True)
    variables = {
        **oidc,
        "SWP_POSTGRES_PASSWORD": pg.password,
        **{f"SWP_AUDIT_KEY_{s.upper().replace('-', '_')}": secrets.token_hex(32) for s in SERVICES},
        **cluster.passwords,
    }
    schema_prefix = f"deploy{secrets.token_hex(4)}_"  # the run's database is shared with other tests
    services = compose()["services"]
    processes = []
    for name in SERVICES:
        spec = services[name]
        port = free_port()
        command = [str(part) for part in spec["command"]]
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(port)
        env = {key: interpolate(str(value), variables) for key, value in spec["environment"].items()}
        assert env["SWP_NATS_USER"] == name and env["SWP_NATS_PASSWORD"], env
        env |= {
            "SWP_NATS_URL": ",".join(node.url() for node in cluster.nodes),
            "SWP_POSTGRES_HOST": pg.host,
            "SWP_POSTGRES_PORT": str(pg.port),
            "SWP_POSTGRES_USER": pg.user,
            "SWP_POSTGRES_DBNAME": pg.dbname,
            "SWP_POSTGRES_SCHEMA_PREFIX": schema_prefix,
            "SWP_VAR_DIR": str(directory / name),
            **cluster.tls.environment(),  # compose.yaml's /etc/swp/tls/… paths, the run's certificates
        }
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("SWP_", "NATS_"))}
        processes.append(ServiceProcess(name, port, command, base_env | env, directory / f"{name}.log"))
    return processes, variables


class Nginx:
    """nginx -c <tmp>/nginx.conf, whose http {} block includes deploy/nginx/swp.conf (ports substituted)."""

    def __init__(self, directory: Path, upstreams: dict[str, int]) -> None:
        self.directory = directory
        self.http_port = free_port()
        self.port = free_port()  # HTTPS
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.tls = make_certificates(directory / "tls")  # the gateway's certificate, for 127.0.0.1
        shipped = (DEPLOY / "nginx" / "swp.conf").read_text()
        replacements = {f"server {name}:{8101 + i};": f"server 127.0.0.1:{upstreams[name]};" for i, name in enumerate(SERVICES)}
        replacements["listen 80;"] = f"listen 127.0.0.1:{self.http_port};"
        replacements["listen 443 ssl;"] = f"listen 127.0.0.1:{self.port} ssl;"
        replacements["/etc/nginx/tls/swp.crt;"] = f"{self.tls.server_cert};"
        replacements["/etc/nginx/tls/swp.key;"] = f"{self.tls.server_key};"
        # The redirect names the standard port (none); here HTTPS listens on another one.
        replacements["return 301 https://$host$request_uri;"] = f"return 301 https://$host:{self.port}$request_uri;"
        (directory / "swp.conf").write_text(substitute(shipped, replacements))
        d = directory
        (directory / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/swp.conf;
}}
"""
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def client_context(self) -> ssl.SSLContext:
        """A client that trusts the gateway's CA only (certificate and host name verified)."""
        return ssl.create_default_context(cafile=str(self.tls.ca))

    def args(self, *extra: str) -> list[str]:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        return [binary, "-p", str(self.directory), "-e", str(self.directory / "error.log"), "-c", str(self.directory / "nginx.conf"), *extra]

    def start(self, timeout: float = 10.0) -> None:
        checked = subprocess.run(self.args("-t"), capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (port_open(self.port) and port_open(self.http_port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(self.directory / 'error.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # fast shutdown of master and workers
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


class Routed:
    """/registry/… to the registry's client, /finance/… to finance's, prefix stripped, as swp.conf routes it."""

    def __init__(self, clients: dict[str, httpx.AsyncClient]) -> None:
        self.clients = clients

    @classmethod
    def to_processes(cls, processes: list[ServiceProcess]) -> Routed:
        return cls({p.name: httpx.AsyncClient(base_url=p.url, timeout=30) for p in processes})

    def _route(self, path: str) -> tuple[httpx.AsyncClient, str]:
        service, _, rest = path.lstrip("/").partition("/")
        return self.clients[service], "/" + rest

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        client, rest = self._route(path)
        return await client.get(rest, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        client, rest = self._route(path)
        return await client.post(rest, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        client, rest = self._route(path)
        return await client.put(rest, **kw)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
