"""Raw JetStream baselines with nats-py: publish awaited one by one, and publish_async with
every PubAck awaited at the end, to a file-backed stream like SWP (against our own nats-server)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats
from nats.js.api import StorageType, StreamConfig

from bench.raw_store import Rate

PAYLOAD = b'{"event_type":"ServiceDelivered","data":{"contract_id":"c","hours":"2.50"}}' + b" " * 700  # ~ an envelope


async def _stream(js: Any, name: str) -> None:
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE, duplicate_window=300))


async def publish_sync(js: Any, subject: str, seconds: float, max_count: int = 50_000) -> Rate:
    n, start = 0, time.perf_counter()
    while n < max_count and time.perf_counter() - start < seconds:
        await js.publish(subject, PAYLOAD, headers={"Nats-Msg-Id": f"s{n}"})
        n += 1
    return Rate(n, time.perf_counter() - start)


async def publish_async(js: Any, subject: str, seconds: float, window: int = 4000, max_count: int = 200_000) -> Rate:
    """Publish without waiting, then await the batch's PubAcks (nats-py caps pending acks at 4000)."""
    n, start = 0, time.perf_counter()
    while n < max_count and time.perf_counter() - start < seconds:
        futures = [
            await js.publish_async(subject, PAYLOAD, headers={"Nats-Msg-Id": f"a{n + i}"}) for i in range(window)
        ]
        await asyncio.gather(*futures)
        n += window
    return Rate(n, time.perf_counter() - start)


async def measure(url: str, seconds: float) -> dict[str, Rate]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await _stream(js, "RAW")
        await js.publish("raw.warm", PAYLOAD)
        return {
            "sync": await publish_sync(js, "raw.sync", seconds),
            "async": await publish_async(js, "raw.async", seconds),
        }
    finally:
        await nc.close()
