"""Operability: Prometheus metrics per service and W3C trace context carried across NATS.

Metrics: each service has its own ``CollectorRegistry`` (the gateway hosts four services in
one process; each answers ``/<svc>/metrics`` with its own numbers only). Request latency is a
histogram per route *template* (``/v1/counties/{county}/…``, never the concrete path: bounded
label values). Outbox backlog, consumer counters, leadership and aggregate-cache hits are read
from the running service when scraped; consumer lag is asked of JetStream on each scrape.

Traces: the library is ``opentelemetry-api``; without a configured SDK its tracer is a no-op
and the W3C ``traceparent`` still travels — taken from the HTTP request that recorded an event
(kept in the event's metadata as ``otel_traceparent``), sent by the outbox relay as a NATS
header, and made the parent of the consumer's handling span, whose own context is recorded
with the reaction's events in turn. An operator who configures an SDK (a ``TracerProvider``
with an exporter) gets connected spans: HTTP request → publish → consume → the next publish.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.infra import memory

TRACEPARENT = "traceparent"
META_KEY = "otel_traceparent"  # sorts before "sig" in the signed meta (see SigningMapper)

# Latency buckets of an API whose floor is ~1 ms and whose bulk imports take seconds.
BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def tracer() -> trace.Tracer:
    return trace.get_tracer("swp")


# --- trace context ---------------------------------------------------------------------------
def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the span (or extracted remote context) in force, if any."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    return propagate.extract(dict(headers or {}))


@contextmanager
def span(name: str, parent: otel_context.Context, kind: trace.SpanKind, **attributes: Any) -> Iterator[None]:
    """A span under ``parent`` made current. With the no-op tracer nothing is recorded, yet the
    parent's (remote) context stays current, so what is recorded inside still carries it."""
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(name, kind=kind, attributes=attributes):
            yield
    finally:
        otel_context.detach(token)


def publish_headers(traceparent: str | None, name: str) -> dict[str, str]:
    """Headers carrying the trace context of a publish whose event was recorded under
    ``traceparent``: a producer span's context when an SDK records spans, else the recorded one."""
    if not traceparent:
        return {}
    with span(name, extract({TRACEPARENT: traceparent}), trace.SpanKind.PRODUCER):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    return {TRACEPARENT: carrier.get(TRACEPARENT, traceparent)}


# --- metrics ---------------------------------------------------------------------------------
class ServiceMetrics:
    """The registry of one service, and the request-latency middleware that feeds it."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "swp_http_request_duration_seconds",
            "HTTP request latency per route template",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=BUCKETS,
        )


class RequestMetrics:
    """ASGI middleware: one latency observation per request, labelled by its route template;
    the incoming ``traceparent`` (if any) is the parent of a server span around the request."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"traceparent"}
        start = time.perf_counter()
        try:
            with span(f"{scope['method']} {self.metrics.service}", extract(headers), trace.SpanKind.SERVER):
                await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path_format", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], route, str(status["code"])).observe(time.perf_counter() - start)


class RuntimeCollector(Collector):
    """Read at scrape time from the service's runtime (duck-typed: shared.infra.service.Runtime)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        rt = self.runtime
        snapshot = getattr(rt, "metrics_snapshot", {}) or {}
        backlog = GaugeMetricFamily("swp_outbox_backlog", "Events recorded and not yet published to NATS")
        if snapshot.get("outbox_backlog") is not None:
            backlog.add_metric([], snapshot["outbox_backlog"])
        yield backlog
        published = CounterMetricFamily("swp_outbox_published", "Events this process published to NATS")
        published.add_metric([], rt.relay.published if rt.relay else 0)
        yield published
        leader = GaugeMetricFamily("swp_leader", "1 while this process runs the role for its store", labels=["role"])
        for role, is_leader in rt.leadership().items():
            leader.add_metric([role], 1 if is_leader else 0)
        yield leader
        handled = CounterMetricFamily("swp_consumer_handled", "Upstream events applied", labels=["consumer"])
        duplicates = CounterMetricFamily("swp_consumer_duplicates", "Redelivered events recognised", labels=["consumer"])
        failures = CounterMetricFamily("swp_consumer_failures", "Handlings that failed (retried)", labels=["consumer"])
        parked = GaugeMetricFamily("swp_consumer_parked", "Poison messages parked", labels=["consumer"])
        lag = GaugeMetricFamily("swp_consumer_lag", "Messages of the stream not yet acked by the consumer", labels=["consumer"])
        lags = snapshot.get("consumer_lag", {})
        for name, stats in rt.consumers.items():
            handled.add_metric([name], stats.handled)
            duplicates.add_metric([name], stats.skipped_duplicates)
            failures.add_metric([name], stats.failures)
            if getattr(stats, "parked", None) is not None:
                parked.add_metric([name], stats.parked)
            if lags.get(name) is not None:
                lag.add_metric([name], lags[name])
        yield from (handled, duplicates, failures, parked, lag)
        parked_now = GaugeMetricFamily(
            "swp_parked_messages", "Messages parked now, from the store (issue 15): source outbox|reactions, "
            "status parked|waiting|held", labels=["source", "status"],
        )
        for (source, status), count in (snapshot.get("parked") or {}).items():
            if count is not None:
                parked_now.add_metric([source, status], count)
        yield parked_now
        cache = getattr(rt.store.repository, "cache", None)
        hits = CounterMetricFamily("swp_aggregate_cache_hits", "Aggregate loads served from the cache")
        misses = CounterMetricFamily("swp_aggregate_cache_misses", "Aggregate loads replayed from the store")
        hits.add_metric([], getattr(cache, "hits", 0))
        misses.add_metric([], getattr(cache, "misses", 0))
        yield hits
        yield misses
        retries = CounterMetricFamily("swp_command_retries", "Commands re-run after losing a concurrency race")
        retries.add_metric([], getattr(rt.store, "command_retries", 0))
        yield retries
        rss = GaugeMetricFamily("swp_process_resident_bytes", "Resident set size of this process")
        rss.add_metric([], memory.resident_bytes())
        yield rss
        guard = memory.guard()
        if guard is not None:
            budget = GaugeMetricFamily("swp_memory_budget_bytes", "The process's memory budget (SWP_MEMORY_BUDGET_MB)")
            budget.add_metric([], guard.budget)
            evicted = CounterMetricFamily("swp_memory_evictions", "Cached aggregates dropped to stay within the memory budget")
            evicted.add_metric([], guard.evictions)
            yield budget
            yield evicted


class CountingCache:
    """Wraps the repository's aggregate cache to count hits and misses (``get`` raising KeyError)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.hits = 0
        self.misses = 0
        memory.register(self)  # shrunk by the process's memory guard when over its byte budget

    def evict_oldest(self, fraction: float) -> int:
        return memory.evict_lru(self._inner, fraction)

    def get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            value = self._inner.get(key, *args, **kwargs)
        except KeyError:
            self.misses += 1
            raise
        self.hits += 1
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
