"""The subscriber kit under the production permissions (deploy/nats/accounts.conf) on the 3-node
cluster: a county's system logs in as sub-<county>, lists every node, and the kit's two named
consumers (its county's events, the services' tree heads on swp.audit.>) are what the server lets
it create; its read model and witness work as on a single node."""

from __future__ import annotations

import asyncio

import httpx
from swp_subscriber import Subscriber, SubscriberConfig

from shared.infra.auth import Role, issue_token
from shared.testing.fixtures import Tokens, make_settings
from tests.deploy.cluster import Cluster
from tests.integration.serving import serving
from tests.integration.slice import COUNTY, OTHER, setup_county, sign, wait_for_tranches


async def test_the_kit_replays_and_witnesses_under_the_production_permissions(cluster: Cluster, tmp_path):
    servers = ",".join(node.url() for node in cluster.nodes)
    # The embedded platform (all four services in one process) logs in as the operator; the
    # county's system is what this test is about.
    settings = make_settings(
        "sqlite", servers, tmp_path / "var", stream_replicas=3, nats_user="admin", nats_password=cluster.password("admin"),
        **cluster.tls.settings(),
    )
    tokens = Tokens(settings)
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        ours, theirs = await setup_county(client, tokens, COUNTY), await setup_county(client, tokens, OTHER)
        contract = (await sign(client, COUNTY, ours)).json()["contract_id"]
        await sign(client, OTHER, theirs)
        tranches = await wait_for_tranches(client, COUNTY, contract, tokens(Role.FINANCE, COUNTY))
        for service in ("registry", "finance"):
            for _ in range(200):
                if (await client.get(f"/{service}/v1/audit/verify", headers=tokens(Role.AUDITOR, "*"))).json()["unsealed"] == 0:
                    break
                await asyncio.sleep(0.05)
            r = await client.post(f"/{service}/v1/audit/tree-heads", headers=tokens(Role.PROVINCE_ADMIN, "*"))
            assert r.json()["published"] is True

        user = f"sub-{COUNTY}"
        kit = Subscriber(
            SubscriberConfig(
                county=COUNTY,
                nats_servers=[node.url() for node in cluster.nodes],
                gateway=base_url,
                database=f"sqlite:///{tmp_path / 'kit.sqlite'}",
                user=user,
                password=cluster.password(user),
                tls_ca=str(cluster.tls.ca),
                tls_cert=str(cluster.tls.client_cert),
                tls_key=str(cluster.tls.client_key),
                token=issue_token(settings, sub="county-system", role=Role.AUDITOR, counties=[COUNTY]),
            )
        )
        try:
            await kit.run(until_idle=2.0)
            assert kit.raised == []
            assert [c for (c,) in kit.model.query("SELECT contract_id FROM contracts")] == [contract]
            assert len(kit.model.query("SELECT 1 FROM tranches WHERE contract_id = ?", (contract,))) == len(tranches)
            assert sorted(kit.model.query("SELECT service, status FROM tree_heads")) == [("finance", "first"), ("registry", "first")]
        finally:
            kit.close()
