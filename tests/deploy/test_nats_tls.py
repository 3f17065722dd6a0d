"""TLS on the shipped NATS cluster (deploy/nats/*.conf, issue #15 item 5): clients and routes
speak TLS only, with certificates verified both ways.

The cluster runs on certificates made for the run (tests/deploy/cluster.py); the services'
settings SWP_NATS_TLS_CA / _CERT / _KEY are what they connect with.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess

import finance.main
import nats
import pytest
import registry.main

from shared.infra.auth import Role
from shared.testing.fixtures import Tokens, client_for, running
from tests.deploy.cluster import DEPLOY, Cluster, TLSFiles, make_certificates, write_cluster
from tests.deploy.test_nats_cluster import service_settings
from tests.deploy.topology import Routed
from tests.integration.slice import COUNTY, setup_county, sign, wait_for_tranches


def first_line(port: int, send: bytes = b"") -> str:
    """What a plaintext peer gets from a port: the server's INFO line, then (after ``send``)
    everything until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        info = f.readline().decode()
        if send:
            s.sendall(send)
            return info + f.read().decode(errors="replace")  # read() returns at the server's close
        return info


def info(line: str) -> dict[str, object]:
    assert line.startswith("INFO "), line
    return dict(json.loads(line[5:].splitlines()[0]))


async def refused(cluster: Cluster, tls: ssl.SSLContext | None) -> Exception:
    with pytest.raises(Exception) as caught:  # nats-py raises what the TLS layer raised
        nc = await nats.connect(
            cluster.url("admin"), tls=tls, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
        )
        await nc.close()
    return caught.value


async def test_a_plaintext_client_is_refused_and_a_client_of_the_platform_ca_is_served(cluster: Cluster, tmp_path):
    node = cluster.nodes[0]
    # The server announces TLS, requires a client certificate, and refuses a plaintext CONNECT.
    answer = first_line(node.client_port, b'CONNECT {"verbose":false,"user":"admin","pass":"x"}\r\nPING\r\n')
    assert info(answer)["tls_required"] is True and info(answer)["tls_verify"] is True
    rest = answer.split("\r\n", 1)[1]
    assert "PONG" not in rest and "+OK" not in rest, answer  # the connection was closed unanswered

    # A client that does not know the platform's CA cannot verify the server (no insecure skip).
    assert "CERTIFICATE_VERIFY_FAILED" in str(await refused(cluster, ssl.create_default_context()))
    # One that verifies the server but presents no certificate of its own is refused by the server.
    await refused(cluster, ssl.create_default_context(cafile=str(cluster.tls.ca)))
    # Nor is a certificate of another CA accepted.
    stranger = make_certificates(tmp_path / "stranger")
    foreign = ssl.create_default_context(cafile=str(cluster.tls.ca))
    foreign.load_cert_chain(str(stranger.client_cert), str(stranger.client_key))
    await refused(cluster, foreign)

    # The platform's client certificate and CA: served, over TLS.
    nc = await nats.connect(cluster.url("admin"), tls=cluster.tls.client_context(), connect_timeout=2, name="tls-check")
    try:
        sub = await nc.subscribe("tls.check")
        await nc.publish("tls.check", b"over tls")
        assert (await sub.next_msg(timeout=5)).data == b"over tls"
        conn = next(c for c in node.monitor("connz")["connections"] if c.get("name") == "tls-check")
        assert conn["tls_version"] in {"1.2", "1.3"}, conn
    finally:
        await nc.close()

    # Every node enforces the same (varz: client TLS and verify).
    for n in cluster.nodes:
        varz = n.monitor("varz")
        assert varz["tls_required"] is True and varz["tls_verify"] is True, n.name


async def test_routes_between_nodes_are_tls_both_ways(cluster: Cluster):
    for node in cluster.nodes:
        # The route port speaks TLS (a certificate of the platform's CA, for the address dialled)…
        with (
            socket.create_connection(("127.0.0.1", node.route_port), timeout=5) as raw,
            cluster.tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in {"TLSv1.2", "TLSv1.3"} and tls.getpeercert()
        # …and only TLS, with the dialling node's certificate verified too.
        cluster_opts = node.monitor("varz")["cluster"]
        assert cluster_opts["tls_required"] is True and cluster_opts["tls_verify"] is True, cluster_opts
        # …and the nodes are connected to each other over it (the fixture waited for a meta leader).
        assert node.monitor("routez")["num_routes"] >= 2, node.name


async def test_registry_publishes_and_finance_consumes_over_tls(cluster: Cluster, tmp_path):
    """The services with SWP_NATS_TLS_CA / _CERT / _KEY set: a contract signed in registry gives
    finance its tranches through the TLS cluster; without the settings a service cannot connect."""
    var = tmp_path / "var"
    reg_settings, fin_settings = service_settings(cluster, "registry", var), service_settings(cluster, "finance", var)
    assert reg_settings.nats_options()["tls"].verify_mode == ssl.CERT_REQUIRED
    assert reg_settings.nats_options()["tls"].check_hostname is True
    tokens = Tokens(reg_settings)
    reg, fin = registry.main.create_app(reg_settings), finance.main.create_app(fin_settings)
    async with running(reg, fin), client_for(reg) as reg_client, client_for(fin) as fin_client:
        platform = Routed({"registry": reg_client, "finance": fin_client})
        assert (await reg_client.get("/health")).json()["nats"]["ok"] is True
        assert (await fin_client.get("/health")).json()["nats"]["ok"] is True
        setup = await setup_county(platform, tokens)
        r = await sign(platform, COUNTY, setup)
        assert r.status_code == 201, r.text
        tranches = await wait_for_tranches(platform, COUNTY, r.json()["contract_id"], tokens(Role.FINANCE, COUNTY), timeout=60)
        assert tranches[0]["seq"] == 1

    # The same service without TLS settings is refused by the cluster: no NATS, health says so.
    plain = service_settings(cluster, "registry", tmp_path / "plain").model_copy(
        update={"nats_tls_ca": None, "nats_tls_cert": None, "nats_tls_key": None, "nats_startup_wait_seconds": 1.0}
    )
    assert "tls" not in plain.nats_options()
    app = registry.main.create_app(plain)
    async with running(app), client_for(app) as client:
        assert (await client.get("/health")).json()["nats"]["ok"] is False


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_the_shipped_certificate_script_makes_certificates_the_cluster_accepts(tmp_path):
    """deploy/tls/make-certs.sh, as an operator runs it: the nodes run on its nats.crt, the
    registry's certificate logs in, a county's certificate too, and a second run changes nothing."""
    out = tmp_path / "made"
    script = DEPLOY / "tls" / "make-certs.sh"
    run = subprocess.run(["sh", str(script), str(out), "swp.test"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    made = {p.name for p in out.iterdir()}
    assert {"ca.crt", "nats.crt", "nats.key", "gateway.crt", "sub-640402.crt", "sub-130731.crt"} <= made
    assert {f"{s}.{ext}" for s in ("registry", "services-log", "evaluation", "finance", "admin") for ext in ("crt", "key")} <= made
    before = (out / "nats.crt").read_bytes()
    assert subprocess.run(["sh", str(script), str(out)], capture_output=True, check=False).returncode == 0
    assert (out / "nats.crt").read_bytes() == before  # never overwritten

    layout = tmp_path / "layout"
    layout.mkdir()
    for source, target in (("ca.crt", "ca.crt"), ("nats.crt", "server.crt"), ("nats.key", "server.key"),
                           ("registry.crt", "client.crt"), ("registry.key", "client.key")):
        shutil.copy(out / source, layout / target)
    cluster = write_cluster(tmp_path / "nats", TLSFiles(layout)).start()
    try:
        nc = await nats.connect(cluster.url("registry"), tls=cluster.tls.client_context(), connect_timeout=2)
        assert nc.is_connected
        await nc.close()
        county = ssl.create_default_context(cafile=str(out / "ca.crt"))
        county.load_cert_chain(str(out / "sub-640402.crt"), str(out / "sub-640402.key"))
        nc = await nats.connect(cluster.url("sub-640402"), tls=county, connect_timeout=2, inbox_prefix="_INBOX_640402")
        assert nc.is_connected
        await nc.close()
    finally:
        cluster.stop()
