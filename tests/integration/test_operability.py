"""Operability (issue 16 item 5): Prometheus ``/<svc>/metrics`` behind the gateway, and the W3C
trace context carried across NATS from the request that recorded an event to the consumer that
reacts to it. Real NATS; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import nats
import nats.js.errors
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client.parser import text_string_to_metric_families

from shared.infra import telemetry
from shared.infra.auth import Role
from tests.integration.slice import COUNTY, setup_county, sign, wait_for_tranches

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def last_msg(js, subject: str):
    for _ in range(200):
        try:
            return await js.get_last_msg("SWP", subject)
        except nats.js.errors.NotFoundError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing on {subject}")


async def test_metrics_per_service_behind_the_gateway(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    await wait_for_tranches(gateway, COUNTY, r.json()["contract_id"], tokens(Role.FINANCE, COUNTY))

    assert (await gateway.get("/registry/metrics")).status_code == 401  # not public by default
    denied = await gateway.get("/registry/metrics", headers=tokens(Role.PURCHASER, COUNTY))
    assert denied.status_code == 403 and denied.json()["rule"] == "R-AUD-6"

    r = await gateway.get("/registry/metrics", headers=tokens(Role.PROVINCE_ADMIN, "*"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    registry = samples(r.text)
    # Latency per route template (never the concrete path), one observation per request.
    signed = ("swp_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/counties/{county}/contracts"), ("status", "201")))
    assert registry[signed] == 1
    assert not any(COUNTY in dict(labels).get("route", "") for _, labels in registry)
    assert registry[("swp_leader", (("role", "relay"),))] == 1
    assert registry[("swp_outbox_backlog", ())] >= 0
    assert registry[("swp_aggregate_cache_hits_total", ())] + registry[("swp_aggregate_cache_misses_total", ())] > 0

    finance = samples((await gateway.get("/finance/metrics", headers=tokens(Role.PROVINCE_ADMIN, "*"))).text)
    assert finance[("swp_consumer_handled_total", (("consumer", "registry"),))] >= 1
    assert ("swp_consumer_lag", (("consumer", "registry"),)) in finance
    # Each service reports its own requests only.
    assert not any(name.startswith("swp_http") and dict(labels).get("route") == "/v1/counties/{county}/contracts"
                   and dict(labels).get("method") == "POST" for name, labels in finance)


async def test_metrics_public_when_the_deployment_says_so(settings):
    from registry.main import create_app

    from shared.testing.fixtures import client_for, running

    app = create_app(settings.model_copy(update={"metrics_public": True}))
    async with running(app), client_for(app) as client:
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert "swp_outbox_backlog" in r.text


async def test_traceparent_travels_from_the_request_to_the_reaction_without_an_sdk(gateway, tokens, settings, monkeypatch):
    # The API's no-op tracer, whatever another test configured for the process.
    monkeypatch.setattr(telemetry, "tracer", trace.NoOpTracer)
    setup = await setup_county(gateway, tokens)
    setup["purchaser"] = {**setup["purchaser"], "traceparent": TRACEPARENT}
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    await wait_for_tranches(gateway, COUNTY, r.json()["contract_id"], tokens(Role.FINANCE, COUNTY))
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        signed = await last_msg(js, f"swp.{COUNTY}.registry.ContractSigned")
        assert signed.headers["traceparent"] == TRACEPARENT  # no SDK: the caller's context, unchanged
        # Finance's reaction was recorded under its consumer span: the trace goes on.
        scheduled = await last_msg(js, f"swp.{COUNTY}.finance.TrancheScheduled")
        assert json.loads(scheduled.data)["causation_id"] == json.loads(signed.data)["event_id"]
        assert scheduled.headers["traceparent"].split("-")[1] == TRACE_ID
        # An event recorded without a trace context carries no traceparent.
        registered = await last_msg(js, f"swp.{COUNTY}.registry.CountyRegistered")
        assert "traceparent" not in (registered.headers or {})
    finally:
        await nc.close()


class WhileTesting(SpanExporter):
    """Keeps finished spans only while a test that reads them runs: the SDK, once set, stays for
    the rest of the process (OpenTelemetry allows one), and later tests must not fill memory."""

    def __init__(self) -> None:
        self.active = False
        self.spans: list[ReadableSpan] = []

    def export(self, spans) -> SpanExportResult:
        if self.active:
            self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def get_finished_spans(self) -> list[ReadableSpan]:
        return list(self.spans)


_EXPORTER = WhileTesting()


@pytest.fixture
def spans() -> Iterator[WhileTesting]:
    """An SDK with an in-memory exporter, as an operator would configure one with a real exporter."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.spans.clear()
    _EXPORTER.active = True
    try:
        yield _EXPORTER
    finally:
        _EXPORTER.active = False
        _EXPORTER.spans.clear()


async def test_consumer_span_continues_the_publishers_trace(gateway, tokens, spans):
    setup = await setup_county(gateway, tokens)
    setup["purchaser"] = {**setup["purchaser"], "traceparent": TRACEPARENT}
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    await wait_for_tranches(gateway, COUNTY, r.json()["contract_id"], tokens(Role.FINANCE, COUNTY))

    def consumed() -> list:
        return [s for s in spans.get_finished_spans()
                if s.name == "consume ContractSigned" and s.attributes.get("swp.consumer") == "finance--registry"]

    for _ in range(100):  # the span ends just after the reaction is saved
        if consumed():
            break
        await asyncio.sleep(0.05)
    [handling] = consumed()
    assert handling.kind == trace.SpanKind.CONSUMER
    assert format(handling.context.trace_id, "032x") == TRACE_ID
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    publish = by_id[handling.parent.span_id]  # parent: the relay's publish span …
    assert publish.name == "publish ContractSigned" and publish.kind == trace.SpanKind.PRODUCER
    request = by_id[publish.parent.span_id]  # … whose parent is the HTTP request's server span
    assert request.kind == trace.SpanKind.SERVER and format(request.parent.span_id, "016x") == "00f067aa0ba902b7"
