"""A terminated contract's unpaid tranches are released from the budget lines its signing committed
them to (R-FIN-2, ``CommitmentReleased``): a new contract that fits only with the release is signed,
paid tranches stay committed, a termination received again releases nothing, and the budget read
as of before the termination shows the old committed figure (R-AUD-3). The whole platform on real
NATS; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.events import registry as reg
from shared.infra.auth import Role
from shared.testing.upstream import publish_as_upstream
from shared.testing.upstream import published as published_by
from tests.integration.slice import COUNTY, USCC, sign, wait_for_tranches
from tests.integration.test_registry_helpers import Cast, check, refused
from tests.integration.test_registry_rules import SOCIAL, TWO_PERCENT, social_line, staffed

FIN = f"/finance/v1/counties/{COUNTY}"


def funded(social_fen: int, **overrides: Any) -> dict[str, Any]:
    # 21 Sep 2026 – 20 Sep 2027: 102 of its 365 days count against 2026, 263 against 2027.
    return {
        "amount_fen": 20_000_000 + social_fen,
        "funding": [{"source": "福彩公益金", "amount_fen": 20_000_000}, {"source": SOCIAL, "amount_fen": social_fen}],
        **overrides,
    }


async def finance_line(
    gateway: Any, headers: dict[str, str], year: int, source: str = SOCIAL, **params: Any
) -> tuple[dict[str, Any], str]:
    r = await gateway.get(f"{FIN}/budgets", params={"year": year, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return next(x for x in r.json() if x["source"] == source), r.headers["SWP-Recorded-As-Of"]


async def handled(gateway: Any) -> int:
    return int((await gateway.get("/finance/health")).json()["consumers"]["registry"]["handled"])


async def test_a_terminated_contracts_unpaid_tranches_are_released_and_a_contract_that_fits_only_then_is_signed(
    gateway,
    tokens,
    settings,
):
    cast = Cast(gateway, tokens, COUNTY)
    await cast.register("原州区", {"funding_caps": TWO_PERCENT})  # the special funds ≤ 2% of their budget
    setup = await staffed(cast, USCC[COUNTY])
    finance, auditor = tokens(Role.FINANCE, COUNTY), tokens(Role.AUDITOR, COUNTY)
    for year in (2026, 2027):  # 5,000,000 yuan each year: a ceiling of 100,000 yuan
        await check(
            gateway.post(
                f"{FIN}/budgets", json={"year": year, "source": SOCIAL, "amount_fen": 500_000_000}, headers=finance
            ),
            201,
        )
    for year in (2026, 2027):
        await social_line(gateway, cast, year, lambda x: x["ceiling_fen"] is not None)

    # Near the cap: 130,000 yuan of the special funds, 93,671.23 yuan of them against 2027.
    first = (await check(sign(gateway, COUNTY, setup, **funded(13_000_000)), 201))["contract_id"]
    tranches = await wait_for_tranches(gateway, COUNTY, first, finance)
    assert [t["amount_fen"] for t in tranches] == [16_500_000, 9_900_000, 6_600_000]
    # A second contract's 10,000 yuan (7,205.48 against 2027) does not fit: refused, as before this change.
    second = funded(1_000_000, justification="追加的专项服务")
    problem = await refused(gateway, sign(gateway, COUNTY, setup, **second), "R-FIN-2", "funding.1.amount_fen")
    assert (problem["facts"]["committed_fen"], problem["facts"]["excess_fen"]) == (9_367_123, 87_671)

    # Tranche 1 (half) is paid; then the contract is terminated for breach.
    pay = {"paid_on": "2026-10-16", "voucher": "BF-2026-001"}
    await check(gateway.post(f"{FIN}/contracts/{first}/tranches/1/payment", json=pay, headers=finance), 201)
    before, instant = await finance_line(gateway, auditor, 2027)
    assert (before["committed_fen"], before["released_fen"], before["releases"]) == (9_367_123, 0, [])
    termination = {"terminated_on": "2026-11-02", "kind": "breach", "reason": "驻站人员不足"}
    await check(
        gateway.post(
            f"/registry/v1/counties/{COUNTY}/contracts/{first}/termination", json=termination, headers=cast.purchaser
        ),
        200,
    )

    # Finance cancels tranches 2 and 3 (165,000 yuan, half the contract) and releases them from the lines
    # the contract committed them to, in proportion: half of each; the paid half stays committed.
    await check(gateway.get(f"{FIN}/contracts/{first}/tranches", headers=finance), 200)
    envelopes = await published_by(
        settings.nats_url, COUNTY, "finance", "CommitmentReleased", lambda found: len(found) >= 4
    )
    released = sorted((e["data"]["year"], e["data"]["source"], e["data"]["amount_fen"]) for e in envelopes)
    assert sum(fen for _, _, fen in released) == 16_500_000  # tranches 2 and 3, exactly
    assert [(y, s) for y, s, _ in released] == [
        (2026, SOCIAL),
        (2026, "福彩公益金"),
        (2027, SOCIAL),
        (2027, "福彩公益金"),
    ]
    social_2027 = next(fen for y, s, fen in released if (y, s) == (2027, SOCIAL))
    assert abs(2 * social_2027 - 9_367_123) <= 1
    data = next(e["data"] for e in envelopes if (e["data"]["year"], e["data"]["source"]) == (2027, SOCIAL))
    assert (data["contract_id"], data["terminated_on"], data["reason"]) == (first, "2026-11-02", "breach: 驻站人员不足")

    # Finance's budget view shows what stays committed and the release: what, when, why.
    line, _ = await finance_line(gateway, auditor, 2027)
    assert (line["committed_fen"], line["released_fen"]) == (9_367_123 - social_2027, social_2027)
    assert line["remaining_fen"] == 500_000_000 - line["committed_fen"]
    assert line["contracts"] == [
        {"contract_id": first, "amount_fen": 9_367_123}
    ]  # the commitment as made: history kept
    assert line["releases"] == [
        {
            "contract_id": first,
            "amount_fen": social_2027,
            "terminated_on": "2026-11-02",
            "reason": "breach: 驻站人员不足",
        }
    ]
    # Registry, which judges the cap at signing, learns the release from CommitmentReleased.
    await social_line(gateway, cast, 2027, lambda x: x["committed_fen"] == 9_367_123 - social_2027)

    # R-AUD-3: the budget read as of before the termination shows the old committed figure.
    then, _ = await finance_line(gateway, auditor, 2027, recorded_as_of=instant)
    assert then == before

    # The same termination received again (re-published under another event id) releases nothing.
    count = await handled(gateway)
    await publish_as_upstream(
        settings.nats_url,
        COUNTY,
        reg.ContractTerminated(
            contract_id=first,
            county=COUNTY,
            terminated_on=termination["terminated_on"],
            kind="breach",
            reason="驻站人员不足",
        ),
        first,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while await handled(gateway) <= count:
        assert loop.time() < deadline, "finance never handled the second termination"
        await asyncio.sleep(0.1)
    again, _ = await finance_line(gateway, auditor, 2027)
    assert again == line
    assert len(await published_by(settings.nats_url, COUNTY, "finance", "CommitmentReleased")) == 4

    # With the release the second contract fits: signed.
    await check(sign(gateway, COUNTY, setup, **second), 201)
