"""Steps and the fixture the finance tests share (no tests here).

Finance learns of contracts and evaluations only from NATS. These tests stand in for the
upstream services where the scenario needs facts their routes cannot produce yet (evaluations,
terminations) or should not be coupled to (contracts dated in 2025 or 2027): they publish a
correct envelope with the upstream's schema to its JetStream subject, header Nats-Msg-Id —
exactly what the upstream's outbox relay would publish.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import nats
import pytest
from fastapi import FastAPI
from finance.main import create_app

from shared.events import IntegrationEvent
from shared.events import evaluation as evl
from shared.events import registry as reg
from shared.infra.settings import Settings
from shared.subjects import subject
from shared.testing.fixtures import client_for, running
from shared.testing.upstream import publish_as_upstream

COUNTY = "640402"  # 原州区
OTHER = "130731"  # 涿鹿县
T = TypeVar("T")


@pytest.fixture(name="finance_api")
async def finance_api_fixture(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The finance service on real NATS and the chosen store, under its gateway prefix. The
    upstream services are played by the steps below, so a finance test depends on no other service."""
    service = create_app(settings)
    outer = FastAPI()
    outer.mount("/finance", service)
    async with running(service), client_for(outer) as client:
        yield client


async def publish(settings: Settings, county: str, event: IntegrationEvent, aggregate_id: str) -> str:
    """Publish ``event`` as its upstream service would; returns the envelope's event id."""
    return await publish_as_upstream(settings.nats_url, county, event, aggregate_id)


def contract_signed(
    contract_id: str, county: str = COUNTY, *, effective_on: str, amount_fen: int = 36_000_001,
    funding: list[tuple[str, int]] | None = None, stations: int = 1, provider_id: str = "p-明德", **extra: Any,
) -> reg.ContractSigned:
    start = date.fromisoformat(effective_on)
    end = date(start.year + 1, start.month, start.day) - (date(2000, 1, 2) - date(2000, 1, 1))
    return reg.ContractSigned(
        contract_id=contract_id, county=county, provider_id=provider_id,
        station_ids=[f"{contract_id}-s{i}" for i in range(stations)], purchaser="原州区民政局",
        signed_on=extra.pop("signed_on", start), effective_on=start, period_start=start, period_end=end,
        amount_fen=amount_fen,
        funding=[reg.FundingShare(source=s, amount_fen=a) for s, a in (funding or [("福彩公益金", amount_fen)])],
        service_areas=["社会救助"], indicators=[],
        tranche_plan=[
            reg.TranchePlanItem(seq=1, percent=50, trigger="contract_effective"),
            reg.TranchePlanItem(seq=2, percent=30, trigger="midterm_passed"),
            reg.TranchePlanItem(seq=3, percent=20, trigger="final_passed"),
        ],
        cycle_years=3, year_index=1, policy_version=1, **extra,
    )


async def sign(settings: Settings, contract_id: str, county: str = COUNTY, **terms: Any) -> None:
    await publish(settings, county, contract_signed(contract_id, county, **terms), contract_id)


async def conclude(
    settings: Settings, contract_id: str, stage: str, passed: bool, on: str, county: str = COUNTY
) -> str:
    evaluation_id = str(uuid.uuid4())
    await publish(settings, county, evl.EvaluationConcluded(
        evaluation_id=evaluation_id, county=county, contract_id=contract_id, provider_id="p-明德", stage=stage,
        score=Decimal("82.5") if passed else Decimal("55"), grade="良好" if passed else "不合格", passed=passed,
        rubric_id="rubric-1", rubric_version=1, concluded_on=date.fromisoformat(on),
    ), evaluation_id)
    return evaluation_id


async def decide_appeal(settings: Settings, contract_id: str, evaluation_id: str, stage: str, on: str) -> None:
    await publish(settings, COUNTY, evl.AppealDecided(
        evaluation_id=evaluation_id, county=COUNTY, contract_id=contract_id, provider_id="p-明德", stage=stage,
        upheld=True, score=Decimal("61"), grade="合格", passed=True, decided_on=date.fromisoformat(on),
    ), evaluation_id)


async def terminate(settings: Settings, contract_id: str, on: str, county: str = COUNTY) -> None:
    await publish(settings, county, reg.ContractTerminated(
        contract_id=contract_id, county=county, terminated_on=date.fromisoformat(on), kind="breach", reason="服务未达标",
    ), contract_id)


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 20.0) -> T:
    """Finance reacts asynchronously: poll until ``probe`` returns something."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def tranches_when(
    client: httpx.AsyncClient, headers: dict[str, str], contract_id: str, statuses: list[str], county: str = COUNTY
) -> list[dict[str, Any]]:
    """The contract's tranches once their statuses are ``statuses`` (overdue counts as scheduled)."""

    async def probe() -> list[dict[str, Any]] | None:
        r = await client.get(f"/finance/v1/counties/{county}/contracts/{contract_id}/tranches", headers=headers)
        if r.status_code != 200:
            return None
        rows = r.json()
        seen = ["scheduled" if t["status"] == "overdue" else t["status"] for t in rows]
        return rows if seen == statuses else None

    return await eventually(probe, f"tranches of {contract_id} become {statuses}")


async def last_envelope(settings: Settings, county: str, service: str, event_type: str) -> dict[str, Any]:
    nc = await nats.connect(settings.nats_url)
    try:
        msg = await nc.jetstream().get_last_msg("SWP", subject(county, service, event_type))
        envelope = json.loads(msg.data)
        assert msg.headers["Nats-Msg-Id"] == envelope["event_id"]
        return envelope
    finally:
        await nc.close()


async def published(
    settings: Settings, county: str, service: str, event_type: str, match: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any]:
    """The last envelope on the event type's subject, once the outbox relay has published one that ``match``es."""

    async def probe() -> dict[str, Any] | None:
        try:
            envelope = await last_envelope(settings, county, service, event_type)
        except nats.js.errors.NotFoundError:
            return None
        return envelope if match(envelope) else None

    return await eventually(probe, f"{event_type} published under {county}")


async def store_head(client: httpx.AsyncClient) -> int:
    r = await client.get("/finance/health")
    return r.json()["store"]["head"] or 0


def refusal(r: httpx.Response) -> tuple[int, str | None, str | None]:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    problem = r.json()
    return r.status_code, problem.get("rule"), problem.get("field")
