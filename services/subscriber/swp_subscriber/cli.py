"""``swp subscribe`` (or ``python -m swp_subscriber``): a county's read model and tree-head witness."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Annotated

import typer

from swp_subscriber.subscriber import Subscriber, SubscriberConfig


def subscribe(
    county: Annotated[str, typer.Option(help="The county (6-digit code) whose events to read")],
    database: Annotated[
        str, typer.Option("--db", help="Read model: sqlite:///var/sub.sqlite or postgresql://user@host/db")
    ] = "sqlite:///var/subscriber.sqlite",
    nats_url: Annotated[str, typer.Option("--nats", help="NATS servers, comma-separated")] = "nats://127.0.0.1:4333",
    user: Annotated[str | None, typer.Option(help="The county's subscriber user (sub-<county>); password in SWP_SUB_PASSWORD")] = None,
    gateway: Annotated[str, typer.Option(help="Gateway URL: AsyncAPI documents and consistency proofs")] = "http://127.0.0.1:8000",
    public_key: Annotated[
        list[str] | None, typer.Option(help="service=HEX: a writer key obtained out of band (repeat per service)")
    ] = None,
    until_idle: Annotated[
        float | None, typer.Option(help="Catch up and exit after this many idle seconds (default: keep up forever)")
    ] = None,
    tls_ca: Annotated[
        str | None, typer.Option(envvar="SWP_NATS_TLS_CA", help="CA file (PEM) that verifies the NATS servers' certificates")
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option(envvar="SWP_NATS_TLS_CERT", help="The county's client certificate (PEM) for NATS")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(envvar="SWP_NATS_TLS_KEY", help="Its private key (PEM)")] = None,
    no_witness: Annotated[bool, typer.Option("--no-witness", help="Do not witness tree heads")] = False,
) -> None:
    """Replay the county's events from sequence 1 into a local read model (contracts, deliveries and
    deliveries per month, evaluations, tranches), keep up, validate every message against its
    service's AsyncAPI document, and witness every service's signed tree heads (each new one checked
    against the last with the service's consistency proof; alarms in the `alarms` table and on
    stderr, exit status 3). Restarts resume after the last applied message. The auditor token for
    consistency proofs is read from SWP_TOKEN."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    keys = dict(item.split("=", 1) for item in public_key or [])
    config = SubscriberConfig(
        county=county,
        nats_servers=[u.strip() for u in nats_url.split(",") if u.strip()],
        gateway=gateway,
        database=database,
        user=user,
        password=os.environ.get("SWP_SUB_PASSWORD"),
        token=os.environ.get("SWP_TOKEN"),
        public_keys=keys,
        witness=not no_witness,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    subscriber = Subscriber(config)
    try:
        asyncio.run(subscriber.run(until_idle=until_idle))
        summary = {
            "county": county,
            "applied": subscriber.applied,
            "tree_heads": subscriber.heads_seen,
            "checkpoint": subscriber.model.checkpoint("events"),
            "alarms": [vars(a) for a in subscriber.raised],
        }
    finally:
        subscriber.close()
    typer.echo(json.dumps(summary, ensure_ascii=False))
    if summary["alarms"]:
        raise typer.Exit(3)


def main() -> None:
    typer.run(subscribe)
