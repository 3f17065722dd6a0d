"""Every service's AsyncAPI document validates with the official AsyncAPI parser (npm
@asyncapi/parser), and every published event type appears in it with its envelope (R-AUD-5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import evaluation.main
import finance.main
import pytest
import registry.main
import services_log.main

from shared.events import EVENT_TYPES, load_all
from shared.infra.natsserver import NatsServer, free_port
from shared.testing.fixtures import client_for, make_settings, running

HERE = Path(__file__).parent / "asyncapi"
SPECS = {
    "registry": registry.main.SPEC,
    "services-log": services_log.main.SPEC,
    "evaluation": evaluation.main.SPEC,
    "finance": finance.main.SPEC,
}
SERVICES = ("registry", "services-log", "evaluation", "finance")


def parser_installed() -> Path:
    """npm-install the parser once into var/ (cached across runs)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are needed to validate AsyncAPI documents")
        pytest.skip("node/npm not installed")
    target = Path("var/asyncapi-validator")
    if not (target / "node_modules" / "@asyncapi" / "parser").exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "package.json", target / "package.json")
        subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund"], cwd=target, check=True, timeout=300)
    shutil.copy(HERE / "validate.mjs", target / "validate.mjs")
    return target


async def test_asyncapi_documents_validate_with_the_official_parser(tmp_path):
    validator = parser_installed()
    server = NatsServer(free_port(), tmp_path / "nats").start()
    try:
        from gateway.app import create_app

        app = create_app(make_settings("sqlite", server.url, tmp_path / "var"))
        files = []
        async with running(app), client_for(app) as client:
            for svc in SERVICES:
                doc = (await client.get(f"/{svc}/asyncapi.json")).json()
                path = tmp_path / f"{svc}.asyncapi.json"
                path.write_text(json.dumps(doc))
                files.append((svc, doc, path))
    finally:
        server.stop()
    result = subprocess.run(
        ["node", "validate.mjs", *(str(p) for _, _, p in files)], cwd=validator, capture_output=True, text=True, timeout=120
    )
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == len(SERVICES), result.stderr
    assert all(r["valid"] for r in reports), reports
    assert result.returncode == 0

    load_all()
    for svc, doc, _ in files:
        addresses = {c["address"] for c in doc["channels"].values()}
        spec = SPECS[svc]
        for cls in spec.published:
            assert (cls.service, cls.event_type) in EVENT_TYPES
            assert f"swp.{{county}}.{svc}.{cls.event_type}" in addresses, f"{svc} does not document {cls.event_type}"
            schemas = doc["components"]["schemas"]
            assert f"{cls.event_type}Envelope" in schemas, f"{svc}: no envelope schema for {cls.event_type}"
