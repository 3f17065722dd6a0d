"""Example subscriber for other government systems (R-AUD-5, R-AUD-6): replay stream ``SWP``
from the beginning (or from any sequence) with nats-py and rebuild a read model — here, the
tranche board of one county from finance's events.

    python -m examples.subscriber --nats nats://127.0.0.1:4333 --county 640402 [--from-seq 1]
    # production (deploy/nats/): every node, the county's subscriber user, its password in the env
    SWP_SUB_PASSWORD=… python -m examples.subscriber --county 640402 --user sub-640402 \
        --nats nats://nats-1.example.gov.cn:4222,nats://nats-2.example.gov.cn:4222,nats://nats-3.example.gov.cn:4222

A subscriber credential in production is limited to ``swp.<county>.>`` (deploy/nats/), so the
filter subject below is also the most it could read. Under those permissions a consumer must be
named (the filter is then part of the API subject the server checks) and replies arrive on the
county's own inbox prefix ``_INBOX_<county>``; both are set below. Events carry the R-AUD-1 envelope; the
``Nats-Msg-Id`` header is the event id, and a redelivered event always has the same content, so
applying an event id once is enough for an exactly-once read model.

For a complete read model (contracts, deliveries, evaluations, tranches) kept in SQLite or
PostgreSQL, validated against the AsyncAPI documents, restart-safe and witnessing the services'
signed tree heads, use the subscriber kit instead: ``swp subscribe`` (services/subscriber/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import ssl
from typing import Any

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy


class TrancheBoard:
    """contract id → seq → tranche, from TrancheScheduled / TranchePaid / TrancheWithheld / …"""

    def __init__(self) -> None:
        self.contracts: dict[str, dict[int, dict[str, Any]]] = {}
        self.applied: set[str] = set()
        self.first_sequence: dict[str, int] = {}
        self.last_sequence = 0

    def apply(self, envelope: dict[str, Any], sequence: int) -> None:
        self.last_sequence = sequence
        if envelope["event_id"] in self.applied:
            return  # a redelivery: same id, same content
        self.applied.add(envelope["event_id"])
        data = envelope["data"]
        if "contract_id" not in data or "seq" not in data:
            return
        self.first_sequence.setdefault(data["contract_id"], sequence)
        tranche = self.contracts.setdefault(data["contract_id"], {}).setdefault(int(data["seq"]), {})
        kind = envelope["event_type"]
        if kind == "TrancheScheduled":
            tranche.update(
                status="scheduled", amount_fen=data["amount_fen"], due_on=data["due_on"], provisional=data["provisional"]
            )
        elif kind == "DueDateRecomputed":
            tranche.update(due_on=data.get("due_on"), provisional=data.get("provisional", False))
        elif kind == "TranchePaid":
            tranche.update(status="paid")
        elif kind == "TrancheWithheld":
            tranche.update(status="withheld")
        elif kind == "TrancheCancelled":
            tranche.update(status="cancelled")


async def replay(
    nats_url: str,
    county: str,
    *,
    from_seq: int = 1,
    idle_seconds: float = 1.0,
    user: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> TrancheBoard:
    """Read everything finance published for ``county`` from ``from_seq`` until the stream is idle.

    ``nats_url`` may list several servers, comma-separated; ``user``/``password`` reach them all.
    ``tls``: the platform's NATS requires TLS (deploy/nats/): a context that verifies the servers
    against the platform's CA and presents the county's certificate, e.g.
    ``ssl.create_default_context(cafile="ca.crt")`` then ``load_cert_chain("sub.crt", "sub.key")``."""
    board = TrancheBoard()
    servers = [url.strip() for url in nats_url.split(",") if url.strip()]
    options: dict[str, Any] = {"user": user, "password": password or ""} if user else {}
    if tls is not None:
        options["tls"] = tls
    nc = await nats.connect(servers, inbox_prefix=f"_INBOX_{county}", **options)
    try:
        js = nc.jetstream()
        policy = DeliverPolicy.ALL if from_seq <= 1 else DeliverPolicy.BY_START_SEQUENCE
        sub = await js.subscribe(
            f"swp.{county}.finance.>",
            ordered_consumer=True,  # ephemeral, in order, flow-controlled: the replay pattern
            config=ConsumerConfig(
                name=f"board-{county}-{secrets.token_hex(6)}",  # unguessable: others cannot re-create it
                deliver_policy=policy,
                opt_start_seq=from_seq if from_seq > 1 else None,
            ),
        )
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_seconds)
            except nats.errors.TimeoutError:
                break
            board.apply(json.loads(msg.data), msg.metadata.sequence.stream)
        await sub.unsubscribe()
    finally:
        await nc.close()
    return board


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4333")
    parser.add_argument("--county", required=True)
    parser.add_argument("--from-seq", type=int, default=1)
    parser.add_argument("--user", help="the county's subscriber user (sub-<county>); password in SWP_SUB_PASSWORD")
    parser.add_argument("--tls-ca", default=os.environ.get("SWP_NATS_TLS_CA"), help="CA of the NATS servers (PEM)")
    parser.add_argument("--tls-cert", default=os.environ.get("SWP_NATS_TLS_CERT"), help="the county's client certificate")
    parser.add_argument("--tls-key", default=os.environ.get("SWP_NATS_TLS_KEY"), help="its private key")
    args = parser.parse_args()
    password = os.environ.get("SWP_SUB_PASSWORD")
    tls = None
    if args.tls_ca:
        tls = ssl.create_default_context(cafile=args.tls_ca)
        if args.tls_cert:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
    board = asyncio.run(replay(args.nats, args.county, from_seq=args.from_seq, user=args.user, password=password, tls=tls))
    print(json.dumps({"last_sequence": board.last_sequence, "contracts": board.contracts}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
