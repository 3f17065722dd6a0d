"""The cross-service timeline of one contract (issue #7): signed (registry) → deliveries
(services-log) → evaluation concluded (evaluation) → tranche scheduled and paid (finance), each
reaction linked to what caused it by causation and correlation ids, as JSON and as a report.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
from gateway.timeline import contract_timeline, render

from shared.infra.auth import Role
from tests.integration.test_evaluation_flows import pass_evaluation
from tests.integration.test_evaluation_support import (
    COUNTY,
    accredit,
    check,
    open_county,
    publish_rubric,
    sign,
    wait_for,
)

LOG = f"/services-log/v1/counties/{COUNTY}"
FINANCE = f"/finance/v1/counties/{COUNTY}"


async def test_one_contract_followed_across_the_four_services(gateway, tokens):
    place = await open_county(gateway, tokens)
    contract = await sign(gateway, place)
    org = (await accredit(gateway, place))["org"]
    await publish_rubric(gateway, tokens)
    finance = tokens(Role.FINANCE, COUNTY)

    # A social worker logs a delivery once services-log has heard of the contract and the worker.
    await wait_for(gateway, f"{LOG}/contracts/{contract}", place.purchaser)
    await wait_for(gateway, f"{LOG}/workers/{place.worker_ids[0]}", place.purchaser)
    delivery = {
        "contract_id": contract, "station_id": place.station_id, "worker_ids": [place.worker_ids[0]],
        "kind": "帮扶救助", "area": "社会救助", "date": "2026-03-03", "hours_direct": "2", "hours_other": "0.5",
        "person_times": 6, "indicator_code": "assist",
    }
    await check(gateway.post(f"{LOG}/deliveries", json=delivery, headers=place.provider()), 201)

    # Tranche 1 is paid; the mid-term pass schedules tranche 2, which is paid too.
    tranches = f"{FINANCE}/contracts/{contract}/tranches"
    await wait_for(gateway, tranches, finance)
    pay = {"paid_on": "2025-12-22", "voucher": "BF-2025-001"}
    await check(gateway.post(f"{tranches}/1/payment", json=pay, headers=finance), 201)
    # The delivery's 6 of 500 人次 count towards the indicator item: 85 + 0.18 (outcomes come from services-log).
    await pass_evaluation(gateway, place, contract, org, "midterm", "2026-06-01", "2026-06-10", score="85.18")
    await wait_for(gateway, tranches, finance, lambda ts: ts[1]["status"] != "awaiting_trigger")
    await check(gateway.post(f"{tranches}/2/payment", json={"paid_on": "2026-06-30", "voucher": "BF-2026-002"}, headers=finance), 201)

    auditor = tokens(Role.AUDITOR, COUNTY)
    events = await _timeline(gateway, auditor, contract)

    kinds = [(e["service"], e["event_type"]) for e in events]
    assert kinds[0] == ("registry", "ContractSigned")
    for step in (("services-log", "ServiceDelivered"), ("evaluation", "EvaluationConcluded"),
                 ("finance", "TrancheScheduled"), ("finance", "TranchePaid")):
        assert step in kinds, (step, kinds)
    assert {e["aggregate_id"] for e in events if e["event_type"] == "TranchePaid"}  # both payments are there
    assert sum(e["event_type"] == "TranchePaid" for e in events) == 2

    by_id = {str(e["event_id"]): e for e in events}
    signed = events[0]
    concluded = next(e for e in events if e["event_type"] == "EvaluationConcluded")
    second = next(e for e in events if e["event_type"] == "TrancheScheduled" and e["data"]["seq"] == 2)
    first = next(e for e in events if e["event_type"] == "TrancheScheduled" and e["data"]["seq"] == 1)
    # Finance's reactions point at what caused them, in another service.
    assert by_id[str(first["causation_id"])] is signed and first["correlation_id"] == signed["correlation_id"]
    assert by_id[str(second["causation_id"])] is concluded and second["correlation_id"] == concluded["correlation_id"]
    # In recorded order: signed, delivered, concluded, then the second tranche scheduled and paid.
    order = [str(e["event_id"]) for e in events]
    delivered = next(e for e in events if e["event_type"] == "ServiceDelivered")
    paid_second = next(e for e in events if e["event_type"] == "TranchePaid" and e["data"]["seq"] == 2)
    positions = [order.index(str(e["event_id"])) for e in (signed, delivered, concluded, second, paid_second)]
    assert positions == sorted(positions)

    report = render(events)
    assert "evaluation   EvaluationConcluded" in report
    assert "finance      TrancheScheduled" in report and "← evaluation.EvaluationConcluded" in report
    assert "services-log ServiceDelivered" in report


async def _timeline(gateway: httpx.AsyncClient, headers: dict[str, str], contract: str) -> list[dict]:
    """Run the CLI's synchronous timeline against the in-process gateway."""
    loop = asyncio.get_running_loop()

    class Bridge(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            async def call() -> httpx.Response:
                r = await gateway.request(request.method, request.url.raw_path.decode(), headers=headers)
                return httpx.Response(r.status_code, headers=r.headers, content=r.content, request=request)

            return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def run() -> list[dict]:
        with httpx.Client(transport=Bridge(), base_url="http://swp") as client:
            return contract_timeline(client, contract)

    return await asyncio.to_thread(run)
