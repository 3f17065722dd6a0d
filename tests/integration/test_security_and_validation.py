"""Every route checks role and county (R-AUD-6); bad input is refused with problem+json and
nothing is recorded; Idempotency-Key makes a repeated command record nothing new."""

from __future__ import annotations

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER, contract_body, setup_county, sign, wait_for_tranches


async def _store_head(gateway, service: str) -> int:
    r = await gateway.get(f"/{service}/health")
    return r.json()["store"]["head"] or 0


async def test_county_a_cannot_read_or_write_county_b(gateway, tokens):
    await setup_county(gateway, tokens, OTHER)
    theirs = await setup_county(gateway, tokens, OTHER)
    r = await sign(gateway, OTHER, theirs)
    assert r.status_code == 201, r.text
    contract_id = r.json()["contract_id"]
    await wait_for_tranches(gateway, OTHER, contract_id, tokens(Role.FINANCE, OTHER))

    ours = tokens(Role.PURCHASER, COUNTY)
    for path in (
        f"/registry/v1/counties/{OTHER}/contracts/{contract_id}",
        f"/registry/v1/counties/{OTHER}",
        f"/finance/v1/counties/{OTHER}/contracts/{contract_id}/tranches",
    ):
        r = await gateway.get(path, headers=ours)
        assert r.status_code == 403, path
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["rule"] == "R-AUD-6"
    r = await gateway.post(
        f"/registry/v1/counties/{OTHER}/stations",
        json={"name": "x", "township": "x", "kind": "street_station"},
        headers=ours,
    )
    assert r.status_code == 403
    # Asking for their contract under our own county is no way around it: it does not exist here.
    r = await gateway.get(f"/registry/v1/counties/{COUNTY}/contracts/{contract_id}", headers=ours)
    assert r.status_code == 404
    # Their own purchaser reads it.
    r = await gateway.get(f"/registry/v1/counties/{OTHER}/contracts/{contract_id}", headers=tokens(Role.PURCHASER, OTHER))
    assert r.status_code == 200 and r.json()["county"] == OTHER


async def test_missing_or_invalid_token_is_401_and_wrong_role_is_403(gateway, tokens):
    path = f"/registry/v1/counties/{COUNTY}"
    r = await gateway.get(path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await gateway.get(path, headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401
    # A worker may not register counties; an auditor may read but not write.
    r = await gateway.put(path, json={"name": "x"}, headers=tokens(Role.WORKER, COUNTY))
    assert r.status_code == 403
    r = await gateway.put(path, json={"name": "x"}, headers=tokens(Role.AUDITOR, "*"))
    assert r.status_code == 403


async def test_bad_input_is_422_naming_the_field_and_records_nothing(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    before = await _store_head(gateway, "registry")

    r = await sign(gateway, COUNTY, setup, amount_fen=1.5)
    assert r.status_code == 422
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["field"] == "amount_fen"

    r = await sign(gateway, COUNTY, setup, service_areas=["跳广场舞"])
    assert r.status_code == 422
    assert r.json()["rule"] == "R-LOG-2" and r.json()["field"] == "service_areas.0"

    r = await sign(gateway, COUNTY, setup, funding=[{"source": "一般公共预算", "amount_fen": 1}])
    assert r.json()["rule"] == "R-FIN-2" and r.json()["field"] == "funding"

    r = await gateway.post(
        f"/registry/v1/counties/{COUNTY}/providers",
        json={"name": "x", "uscc": "52640402MJY1000013"},  # wrong check character
        headers=setup["purchaser"],
    )
    assert r.status_code == 422 and r.json()["rule"] == "R-REG-1" and r.json()["field"] == "uscc"

    assert await _store_head(gateway, "registry") == before


async def test_idempotency_key_repeat_returns_first_result_and_records_nothing(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    headers = {**setup["purchaser"], "Idempotency-Key": "contract-2026-yuanzhou-1"}
    body = contract_body(setup["provider_id"], setup["station_ids"])
    first = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=body, headers=headers)
    assert first.status_code == 201
    head = await _store_head(gateway, "registry")
    again = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert await _store_head(gateway, "registry") == head
    # The same key with a different request is a conflict, not a silent replay.
    other = await gateway.post(
        f"/registry/v1/counties/{COUNTY}/contracts", json={**body, "amount_fen": 36_000_000,
        "funding": [{"source": "一般公共预算", "amount_fen": 36_000_000}]}, headers=headers
    )
    assert other.status_code == 409


async def test_an_idempotency_key_reused_on_another_resource_is_a_conflict_not_its_result(gateway, tokens):
    """The same key and body sent to another contract (or another route) is another request: it
    must not be answered with the first contract's result while the second is left unfiled."""
    setup = await setup_county(gateway, tokens)
    first = (await sign(gateway, COUNTY, setup)).json()["contract_id"]
    second = (await sign(gateway, COUNTY, setup, purchaser="南关街道办事处", justification="街道另购的专项服务")).json()["contract_id"]
    headers = {**setup["purchaser"], "Idempotency-Key": "filing-2026-09"}
    body = {"filed_on": "2026-09-18"}
    contracts = f"/registry/v1/counties/{COUNTY}/contracts"
    assert (await gateway.post(f"{contracts}/{first}/filing", json=body, headers=headers)).status_code == 200
    head = await _store_head(gateway, "registry")
    reused = await gateway.post(f"{contracts}/{second}/filing", json=body, headers=headers)
    assert reused.status_code == 409 and reused.headers["content-type"].startswith("application/problem+json"), reused.text
    assert await _store_head(gateway, "registry") == head
    assert (await gateway.get(f"{contracts}/{second}", headers=setup["purchaser"])).json()["filed_on"] is None
    # With its own key the second filing is recorded.
    own = await gateway.post(f"{contracts}/{second}/filing", json=body, headers={**setup["purchaser"], "Idempotency-Key": "filing-2026-09-b"})
    assert own.status_code == 200 and own.json()["filed_on"] == "2026-09-18"
