"""The first end-to-end slice: registry signs a contract, finance — reacting to the
ContractSigned event only — schedules tranche 1 (R-FIN-5, R-FIN-6). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime

import nats
import nats.js.errors

from shared import clock
from shared.infra.auth import Role
from tests.integration.slice import COUNTY, setup_county, sign, wait_for_tranches


async def test_signed_contract_schedules_tranche_one_through_nats(gateway, tokens, monkeypatch):
    # The services' clock (shared.clock) is pinned to the due day, so the tranche status is known.
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 10, 19, 4, tzinfo=UTC))
    setup = await setup_county(gateway, tokens)
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]

    tranches = await wait_for_tranches(gateway, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY))

    # 50/30/20 of 360,000.01 yuan in integer fen; the last tranche takes the remainder.
    assert [(t["seq"], t["percent"], t["amount_fen"]) for t in tranches] == [
        (1, 50, 18_000_000), (2, 30, 10_800_000), (3, 20, 7_200_001)
    ]
    assert sum(t["amount_fen"] for t in tranches) == 36_000_001
    first = tranches[0]
    assert first["status"] == "scheduled"  # on its due day; the day after it is overdue (R-FIN-9)
    # 15 working days after 2026-09-21 per the State Council calendar: 中秋 Sep 25 and 国庆
    # Oct 1–7 are skipped, Saturday Oct 10 is a 调休 working day. Mon–Fri alone would give Oct 12.
    assert first["due_on"] == "2026-10-19"
    assert first["provisional"] is False
    assert [t["status"] for t in tranches[1:]] == ["awaiting_trigger", "awaiting_trigger"]
    assert [t["due_on"] for t in tranches[1:]] == [None, None]
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 10, 20, 4, tzinfo=UTC))
    again = await wait_for_tranches(gateway, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY))
    assert again[0]["status"] == "overdue"


async def test_contract_signed_arrives_on_jetstream_with_full_envelope(gateway, tokens, settings):
    setup = await setup_county(gateway, tokens)
    r = await sign(gateway, COUNTY, setup)
    contract_id = r.json()["contract_id"]
    await wait_for_tranches(gateway, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY))

    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        msg = await js.get_last_msg("SWP", f"swp.{COUNTY}.registry.ContractSigned")
        envelope = json.loads(msg.data)
        assert msg.headers["Nats-Msg-Id"] == envelope["event_id"]
        for field in ("event_id", "aggregate_id", "version", "county", "actor", "command_id",
                      "correlation_id", "causation_id", "occurred_at", "recorded_at", "schema_version"):
            assert field in envelope, field
        assert envelope["aggregate_id"] == contract_id
        assert envelope["version"] == 1
        assert envelope["county"] == COUNTY
        assert envelope["actor"] == "tester"
        assert envelope["event_type"] == "ContractSigned"
        assert envelope["data"]["amount_fen"] == 36_000_001
        assert envelope["data"]["effective_on"] == "2026-09-21"

        # Finance's reaction is caused by that event and shares its correlation id. Its relay
        # publishes it shortly after the schedule becomes visible over HTTP.
        for _ in range(100):
            try:
                scheduled = await js.get_last_msg("SWP", f"swp.{COUNTY}.finance.TrancheScheduled")
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.05)
        reaction = json.loads(scheduled.data)
        assert reaction["causation_id"] == envelope["event_id"]
        assert reaction["correlation_id"] == envelope["correlation_id"]
        assert reaction["actor"] == "service:finance"
        assert reaction["data"]["contract_id"] == contract_id
        assert date.fromisoformat(reaction["data"]["due_on"]) == date(2026, 10, 19)
    finally:
        await nc.close()
