"""Replays a county's events from stream SWP into the read model, keeps up, validates every message
against its service's AsyncAPI document, and witnesses every service's tree heads.

Two named, ordered JetStream consumers (what a county subscriber's credentials allow, see
deploy/nats/): ``swp.<county>.>`` for the county's events and ``swp.audit.>`` for the tree heads.
Each message is applied in one read-model transaction together with its stream sequence, so a
restart resumes after the last one applied."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import nats
import nats.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from swp_subscriber.readmodel import ReadModel
from swp_subscriber.witness import Alarm, Witness, verify_consistency

log = logging.getLogger("swp.subscriber")
SERVICES = ("registry", "services-log", "evaluation", "finance")
EVENTS, HEADS = "events", "tree_heads"
DOCUMENTED_VERSION = re.compile(r"schema version (\d+)")


class InvalidMessage(Exception):
    """A message its service's AsyncAPI document does not describe: nothing is applied."""


@dataclass
class SubscriberConfig:
    county: str
    nats_servers: list[str]
    gateway: str  # base URL of the platform's gateway: AsyncAPI documents and consistency proofs
    database: str  # sqlite:///… or postgresql://…
    user: str | None = None
    password: str | None = None
    token: str | None = None  # an auditor token (consistency proofs)
    public_keys: dict[str, str] = field(default_factory=dict)  # service → writer public key (hex)
    witness: bool = True
    # TLS (the platform's NATS requires it, deploy/nats/): the CA that signed the servers'
    # certificates, and the county's client certificate and key (PEM files). None: plaintext.
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        """Servers verified against ``tls_ca`` (chain and host name, TLS 1.2 at least), the
        county's own certificate presented when given."""
        if self.tls_ca is None:
            if self.tls_cert is not None:
                raise ValueError("a client certificate needs the CA that verifies the servers (tls_ca)")
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.tls_cert is not None:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


class Schemas:
    """Each service's AsyncAPI document (``GET <gateway>/<service>/asyncapi.json``) → one validator
    per (service, event type), and the schema version the document states."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.docs: dict[str, dict[str, Any]] = {}
        self.validators: dict[tuple[str, str], tuple[Any, int | None, Any]] = {}

    def refresh(self, service: str) -> None:
        r = self.client.get(f"/{service}/asyncapi.json")
        r.raise_for_status()
        self.docs[service] = r.json()
        self.validators = {k: v for k, v in self.validators.items() if k[0] != service}

    def validator(self, service: str, address: str) -> tuple[Any, int | None, Any]:
        key = (service, address)
        if key not in self.validators:
            if service not in self.docs:
                self.refresh(service)
            doc = self.docs[service]
            channel = next((c for c in doc["channels"].values() if c.get("address") == address), None)
            if channel is None:
                raise InvalidMessage(f"{service}'s AsyncAPI document has no channel {address}")
            message = doc["components"]["messages"][next(iter(channel["messages"].values()))["$ref"].rsplit("/", 1)[-1]]
            payload = {**message["payload"], "components": doc["components"]}
            headers = jsonschema.Draft202012Validator(message["headers"]) if "headers" in message else None
            found = DOCUMENTED_VERSION.search(channel.get("description", ""))
            self.validators[key] = (
                jsonschema.Draft202012Validator(payload),
                int(found.group(1)) if found else None,
                headers,
            )
        return self.validators[key]

    def validate(self, service: str, address: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        for attempt in (1, 2):  # a newer document (a new schema version): fetch it once more
            try:
                validator, version, header_validator = self.validator(service, address)
                errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
                if errors:
                    raise InvalidMessage(f"{address}: {errors[0].message} at {'/'.join(map(str, errors[0].path))}")
                if header_validator is not None:
                    herrors = list(header_validator.iter_errors(headers))
                    if herrors:
                        raise InvalidMessage(f"{address} headers: {herrors[0].message}")
                if version is not None and "schema_version" in body and body["schema_version"] != version:
                    raise InvalidMessage(f"{address}: schema version {body['schema_version']}, the document states {version}")
                return
            except InvalidMessage:
                if attempt == 2:
                    raise
                self.refresh(service)


class Subscriber:
    def __init__(self, config: SubscriberConfig) -> None:
        self.config = config
        self.model = ReadModel(config.database)
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self.http = httpx.Client(base_url=config.gateway, timeout=30, headers=headers)
        self.schemas = Schemas(self.http)
        self.witness = Witness(self._consistency, config.public_keys)
        self.applied = 0
        self.heads_seen = 0
        self.raised: list[Alarm] = []
        self._lock = threading.Lock()  # one read-model connection, two consumers

    def close(self) -> None:
        self.http.close()
        self.model.close()

    def _consistency(self, service: str, first: int, second: int) -> dict[str, Any]:
        r = self.http.get(f"/{service}/v1/audit/consistency", params={"from": first, "to": second})
        r.raise_for_status()
        return r.json()

    # --- one message each, in its own transaction -----------------------------------------------
    def handle_event(self, subject: str, data: bytes, headers: dict[str, str], seq: int) -> None:
        if seq <= self.model.checkpoint(EVENTS):
            return  # applied before a restart or a redelivery: never twice
        envelope = json.loads(data)
        _, _, service, event_type = subject.split(".", 3)
        self.schemas.validate(service, f"swp.{{county}}.{service}.{event_type}", envelope, headers)
        with self.model.transaction():
            self.model.apply(envelope, seq)
            self.model.set_checkpoint(EVENTS, seq)
        self.applied += 1

    def handle_head(self, subject: str, data: bytes, headers: dict[str, str], seq: int) -> list[Alarm]:
        if seq <= self.model.checkpoint(HEADS):
            return []
        service = subject.split(".")[2]
        sth = json.loads(data)
        self.schemas.validate(service, subject, sth, headers)
        last = self.model.last_head(service)
        alarms = self.witness.check(service, sth, last)
        if alarms and alarms[0].kind == "rewritten":
            alarms = [self._locate(service, sth, alarms[0])]
        status = alarms[0].kind if alarms else ("first" if last is None else "consistent")
        with self.model.transaction():
            self.model.store_head(service, seq, sth, status)
            for alarm in alarms:
                self.model.store_alarm(service, seq, alarm.kind, alarm.detail)
            self.model.set_checkpoint(HEADS, seq)
        for alarm in alarms:
            log.critical("WITNESS ALARM %s %s: %s", alarm.service, alarm.kind.upper(), alarm.detail)
        self.raised.extend(alarms)
        self.heads_seen += 1
        return alarms

    def _locate(self, service: str, sth: dict[str, Any], alarm: Alarm) -> Alarm:
        """Bisect the heads this witness verified: the largest one the new head still extends and
        the smallest it does not bound the first changed record (consistency is monotone: a tree
        that extends a prefix extends every shorter one). O(log heads) proofs."""
        heads = self.model.verified_heads(service)
        new_size, new_root = int(sth["tree_head"]["tree_size"]), sth["tree_head"]["root"]
        lo, hi = -1, len(heads) - 1  # heads[lo] extended (-1: none), heads[hi] not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            size, root = heads[mid]
            try:
                proof = self._consistency(service, size, new_size)
                extended = verify_consistency(size, new_size, root, new_root, list(proof.get("proof") or []))
            except Exception:  # cannot narrow further
                break
            if extended:
                lo = mid
            else:
                hi = mid
        after = heads[lo][0] if lo >= 0 else 0
        return Alarm(
            service,
            "rewritten",
            f"{alarm.detail}; the first changed record is leaf {after} or later, below leaf {heads[hi][0]} "
            f"(records {after + 1}…{heads[hi][0]} of the log, counted from 1)",
        )

    # --- NATS ------------------------------------------------------------------------------------
    async def _consumer(self, js: Any, subject: str, consumer: str) -> Any:
        start = self.model.checkpoint(consumer) + 1
        return await js.subscribe(
            subject,
            ordered_consumer=True,
            config=ConsumerConfig(
                name=f"kit-{self.config.county}-{consumer.replace('_', '-')}-{secrets.token_hex(6)}",
                deliver_policy=DeliverPolicy.ALL if start <= 1 else DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start if start > 1 else None,
            ),
        )

    async def run(self, *, until_idle: float | None = None) -> None:
        """Replay from the stored sequence and keep up; with ``until_idle``, return once no message
        arrived for that many seconds on either consumer (a catch-up run)."""
        credentials: dict[str, Any] = {"user": self.config.user, "password": self.config.password or ""} if self.config.user else {}
        tls = self.config.tls_context()
        if tls is not None:
            credentials["tls"] = tls
        nc = await nats.connect(
            self.config.nats_servers, inbox_prefix=f"_INBOX_{self.config.county}", max_reconnect_attempts=-1, **credentials
        )
        try:
            js = nc.jetstream()
            subs = [(await self._consumer(js, f"swp.{self.config.county}.>", EVENTS), self.handle_event)]
            if self.config.witness:
                subs.append((await self._consumer(js, "swp.audit.>", HEADS), self.handle_head))
            pumps = [asyncio.ensure_future(self._pump(sub, handler, until_idle)) for sub, handler in subs]
            try:
                await asyncio.gather(*pumps)  # one failing (an invalid message) stops both
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
            for sub, _ in subs:
                await sub.unsubscribe()
        finally:
            await nc.close()

    async def _pump(self, sub: Any, handler: Any, until_idle: float | None) -> None:
        while True:
            try:
                msg = await sub.next_msg(timeout=until_idle or 5.0)
            except nats.errors.TimeoutError:
                if until_idle is not None:
                    return
                continue
            await asyncio.to_thread(self._locked, handler, msg.subject, msg.data, dict(msg.headers or {}), msg.metadata.sequence.stream)

    def _locked(self, handler: Any, *args: Any) -> Any:
        with self._lock:
            return handler(*args)
