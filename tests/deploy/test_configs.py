"""The deployment files that cannot run here (no Docker engine, no Kubernetes) agree with the
ones that do: compose.yaml, k8s/ and nginx/swp.conf name the same commands, ports, settings
and secrets, and Kubernetes gets the very NATS and nginx configuration the other tests run."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from shared.infra.natsserver import nats_server_binary
from shared.infra.settings import Settings
from tests.deploy.cluster import DEPLOY, make_certificates, password_variables, substitute
from tests.deploy.topology import SERVICES, compose

PORTS = {"registry": 8101, "services-log": 8102, "evaluation": 8103, "finance": 8104}


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    """Every Kubernetes object under deploy/k8s/, by (kind, name); every file must parse."""
    objects = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "metadata" in doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def expected_command(service: str) -> list[str]:
    module = service.replace("-", "_")
    return [
        "uvicorn", f"{module}.main:create_app", "--factory", "--host", "0.0.0.0", "--port", str(PORTS[service]),
        "--root-path", f"/{service}", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-server-header",
    ]


def env_example_keys() -> set[str]:
    return {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text().splitlines() if re.match(r"^[A-Z]", line)}


def test_compose_kubernetes_and_nginx_agree_on_commands_ports_settings_and_secrets():
    services = compose()["services"]
    objects = k8s()
    nginx = (DEPLOY / "nginx" / "swp.conf").read_text()
    settings_fields = {f"SWP_{name.upper()}" for name in Settings.model_fields}
    secrets = set(objects[("Secret", "swp-secrets")]["stringData"])
    assert secrets == env_example_keys()
    k8s_settings = objects[("ConfigMap", "swp-settings")]["data"]

    for service in SERVICES:
        port = PORTS[service]
        spec = services[service]
        assert spec["command"] == expected_command(service)
        assert spec["healthcheck"]["test"] == ["CMD", "swp-healthcheck", f"http://127.0.0.1:{port}/health"]
        assert set(spec["environment"]) <= settings_fields, set(spec["environment"]) - settings_fields
        assert re.search(rf"upstream \S+ *\{{ server {service}:{port};", nginx), f"nginx upstream of {service}"
        assert f"location /{service}/ " in nginx

        container = objects[("Deployment", service)]["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == expected_command(service)
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert objects[("Service", service)]["spec"]["ports"][0]["port"] == port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["exec"]["command"][-1] == f"http://127.0.0.1:{port}/health"
        env = {e["name"]: e for e in container["env"]}
        # The same settings as compose: shared ones from the ConfigMap, the rest per service.
        compose_env = spec["environment"]
        plain = {k: v for k, v in compose_env.items() if "${" not in v and k != "SWP_NATS_USER"}
        # A plain setting one service has of its own (finance's SWP_CONSUMER_BATCH) is in its Deployment.
        own = {k: v for k, v in plain.items() if k in env}
        assert own == {k: env[k].get("value") for k in own}, service
        shared = {k: v for k, v in plain.items() if k not in env}
        assert shared.keys() == k8s_settings.keys()
        assert {k: v for k, v in shared.items() if k != "SWP_NATS_URL"} == {k: v for k, v in k8s_settings.items() if k != "SWP_NATS_URL"}
        assert set(compose_env) - set(k8s_settings) == {n for n in env if n.startswith("SWP_")}
        # Every node listed, no credentials in the URL: the service's own user reaches every node.
        for servers in (shared["SWP_NATS_URL"], k8s_settings["SWP_NATS_URL"]):
            nodes = servers.split(",")
            assert len(nodes) == 3 and all(n.startswith("nats://") and "@" not in n for n in nodes), servers
        password = f"NATS_{service.upper().replace('-', '_')}_PASSWORD"
        assert compose_env["SWP_NATS_USER"] == env["SWP_NATS_USER"]["value"] == service
        assert compose_env["SWP_NATS_PASSWORD"] == f"${{{password}:?}}"
        assert env["SWP_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == password
        assert {e["valueFrom"]["secretKeyRef"]["key"] for e in env.values() if "valueFrom" in e} <= secrets

    # Every ${VAR} compose interpolates is documented in env.example; the NATS nodes get theirs.
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (DEPLOY / "compose.yaml").read_text()))
    assert used <= env_example_keys(), used - env_example_keys()
    nats_env = {e["name"] for e in objects[("StatefulSet", "nats")]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert set(password_variables()) <= nats_env and set(password_variables()) <= set(services["nats-1"]["environment"])


def test_finance_applies_upstream_events_in_batches_where_it_is_deployed():
    """Finance runs batched consumers (SWP_CONSUMER_BATCH, issue 16: its lag after a burst of
    signings) in compose and Kubernetes alike; the other services keep one message per
    transaction (nothing measured them in batches)."""
    services = compose()["services"]
    objects = k8s()
    for service in SERVICES:
        compose_batch = services[service]["environment"].get("SWP_CONSUMER_BATCH")
        container = objects[("Deployment", service)]["spec"]["template"]["spec"]["containers"][0]
        k8s_batch = {e["name"]: e.get("value") for e in container["env"]}.get("SWP_CONSUMER_BATCH")
        assert compose_batch == k8s_batch == ("500" if service == "finance" else None), service
        assert "SWP_CONSUMER_BATCH" not in objects[("ConfigMap", "swp-settings")]["data"]
    env = {k: v for k, v in services["finance"]["environment"].items() if k.startswith("SWP_CONSUMER_")}
    settings = Settings(**{k.removeprefix("SWP_").lower(): v for k, v in env.items()})
    # One partition (the default): a one-county burst serialises on the county's budget whatever the
    # partitions, and one partition needs no budget lock (BENCHMARKS.md: faster than four).
    assert settings.consumer_batch == 500 and settings.consumer_partitions == 1


def test_kubernetes_runs_the_tested_nats_and_nginx_configuration(tmp_path):
    render = load(DEPLOY / "k8s" / "render.py")
    assert (DEPLOY / "k8s" / "configmaps.yaml").read_text() == render.render(), "run python deploy/k8s/render.py"
    objects = k8s()
    nats = objects[("ConfigMap", "swp-nats")]["data"]
    assert nats["accounts.conf"] == (DEPLOY / "nats" / "accounts.conf").read_text()
    assert objects[("ConfigMap", "swp-nginx")]["data"]["swp.conf"] == (DEPLOY / "nginx" / "swp.conf").read_text()
    assert "sync_interval: always" in nats["nats.conf"] and "server_name: $POD_NAME" in nats["nats.conf"]

    # The rendered node configuration is valid for the real nats-server (syntax, variables, include,
    # the certificate files of Secret swp-nats-tls, here made for the run).
    tls = make_certificates(tmp_path / "tls")
    for name, text in nats.items():
        (tmp_path / name).write_text(substitute(text, {"/etc/nats-tls/": f"{tls.directory}/"}) if name == "nats.conf" else text)
    env = {"POD_NAME": "nats-0", **password_variables()}
    checked = subprocess.run([nats_server_binary(), "-c", str(tmp_path / "nats.conf"), "-t"], env=env, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_nats_accounts_file_is_what_its_generator_writes():
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    counties = re.findall(r"^ *# (\d{6}) (.*)$", accounts, flags=re.MULTILINE)
    assert [code for code, _ in counties] == re.findall(r"user: sub-(\d{6})", accounts)
    assert load(DEPLOY / "nats" / "accounts.py").render(counties) == accounts, "regenerate with deploy/nats/accounts.py"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (apt-get install docker-compose)")
def test_compose_file_is_accepted_by_docker_compose(tmp_path):
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{key}=0123456789abcdef0123456789abcdef\n" for key in sorted(env_example_keys())))
    checked = subprocess.run(
        ["docker-compose", "-f", str(DEPLOY / "compose.yaml"), "--env-file", str(env_file), "config", "-q"],
        capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_nats_monitoring_is_on_loopback_and_nginx_hides_its_version_and_sets_security_headers():
    for path in sorted((DEPLOY / "nats").glob("nats-*.conf")):
        binds = re.findall(r"^http:\s*(\S+)", path.read_text(), flags=re.M)
        assert binds == ["127.0.0.1:8222"], (path.name, binds)  # unauthenticated: never on every interface
    rendered = (DEPLOY / "k8s" / "configmaps.yaml").read_text()
    assert "http: 127.0.0.1:8222" in rendered and "http: 0.0.0.0" not in rendered
    nginx = (DEPLOY / "nginx" / "swp.conf").read_text()
    assert re.search(r"^\s*server_tokens off;", nginx, flags=re.M)
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"):
        assert re.search(rf"^\s*add_header {header} .+ always;", nginx, flags=re.M), header
    assert "frame-ancestors 'none'" in nginx
