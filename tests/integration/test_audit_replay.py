"""Auditors replay (R-AUD-3): the state as of any past instant equals what the live system showed
then; the event feed is in log order and only shows granted counties (R-AUD-6); auditors write nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, OTHER, setup_county, sign, wait_for_tranches

NAMES = st.sampled_from(["原州区", "固原市原州区", "原州区民政局辖区"])
POLICY = st.fixed_dictionaries(
    {},
    optional={
        "worker_max_age_at_hiring": st.sampled_from([35, 40, 45]),
        "min_workers_per_station": st.integers(min_value=2, max_value=5),
        "contract_cycle_years": st.sampled_from([2, 3]),
    },
)


async def test_live_state_at_t_equals_as_of_t_on_randomized_histories(gateway, tokens):
    admin, auditor = tokens(Role.PROVINCE_ADMIN, "*"), tokens(Role.AUDITOR, COUNTY)
    loop = asyncio.get_running_loop()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    seen: list[tuple[datetime, dict]] = []

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(history=st.lists(st.tuples(NAMES, POLICY), min_size=1, max_size=5))
    def property_holds(history):
        for name, policy in history:
            r = run(gateway.put(f"/registry/v1/counties/{COUNTY}", json={"name": name, "policy": policy}, headers=admin))
            assert r.status_code == 200, r.text
            live = run(gateway.get(f"/registry/v1/counties/{COUNTY}", headers=auditor)).json()
            seen.append((datetime.now(UTC), live))
        # Later, for every instant observed: the as-of reconstruction equals what was live then.
        county_id = run(gateway.get("/registry/v1/audit/events", params={"county": COUNTY, "event_type": "CountyRegistered"}, headers=auditor)).json()["events"][0]["aggregate_id"]
        for at, live in seen:
            r = run(gateway.get(f"/registry/v1/audit/aggregates/{county_id}", params={"as_of": at.isoformat()}, headers=auditor))
            assert r.status_code == 200, r.text
            state = r.json()["state"]
            assert (state["name"], state["policy"], state["policy_version"]) == (live["name"], live["policy"], live["policy_version"])
            assert r.json()["version"] == live["policy_version"]

    await asyncio.to_thread(property_holds)


async def test_event_feed_is_in_log_order_and_limited_to_granted_counties(gateway, tokens):
    ours = await setup_county(gateway, tokens, COUNTY)
    theirs = await setup_county(gateway, tokens, OTHER)
    contract_id = (await sign(gateway, COUNTY, ours)).json()["contract_id"]
    await sign(gateway, OTHER, theirs)
    await wait_for_tranches(gateway, COUNTY, contract_id, tokens(Role.FINANCE, COUNTY))

    auditor = tokens(Role.AUDITOR, COUNTY)
    feed = (await gateway.get("/registry/v1/audit/events", params={"limit": 1000}, headers=auditor)).json()["events"]
    assert feed and {e["county"] for e in feed} == {COUNTY}
    positions = [e["position"] for e in feed]
    assert positions == sorted(positions)
    signed = [e for e in feed if e["event_type"] == "ContractSigned"]
    assert [e["aggregate_id"] for e in signed] == [contract_id]
    assert {"actor", "command_id", "correlation_id", "causation_id", "occurred_at", "recorded_at"} <= set(signed[0])
    # Paging: after the first event, the feed resumes exactly where it left off.
    page = (await gateway.get("/registry/v1/audit/events", params={"after": feed[0]["position"], "limit": 2}, headers=auditor)).json()
    assert [e["position"] for e in page["events"]] == positions[1:3]
    # Another county's auditor sees none of ours; filtering on a county not granted is refused.
    other_feed = (await gateway.get("/registry/v1/audit/events", params={"limit": 1000}, headers=tokens(Role.AUDITOR, OTHER))).json()["events"]
    assert COUNTY not in {e["county"] for e in other_feed}
    r = await gateway.get("/registry/v1/audit/events", params={"county": OTHER}, headers=auditor)
    assert r.status_code == 403
    # Finance's tranche schedule as of now, through the same audit route.
    tranche_events = (await gateway.get("/finance/v1/audit/events", params={"event_type": "TrancheScheduled"}, headers=auditor)).json()["events"]
    schedule_id = tranche_events[0]["aggregate_id"]
    r = await gateway.get(f"/finance/v1/audit/aggregates/{schedule_id}", headers=auditor)
    assert r.json()["state"]["contract_id"] == contract_id and r.json()["version"] == 2
    # The instant answered for is an RFC 3339 UTC timestamp (API.md), however the query wrote it.
    for asked in ("2100-01-01T08:00:00+08:00", "2100-01-01T00:00:00", "2100-01-01T00:00:00Z"):
        r = await gateway.get(f"/finance/v1/audit/aggregates/{schedule_id}", params={"as_of": asked}, headers=auditor)
        assert (r.json()["as_of"], r.json()["version"]) == ("2100-01-01T00:00:00Z", 2), (asked, r.text)
    r = await gateway.get(f"/finance/v1/audit/aggregates/{schedule_id}", headers=tokens(Role.AUDITOR, OTHER))
    assert r.status_code == 403
    # An id no aggregate has is unknown (API.md: 404), whatever it looks like: as the county-scoped routes answer.
    for unknown in ("00000000-0000-4000-8000-000000000000", "no-such-aggregate"):
        r = await gateway.get(f"/finance/v1/audit/aggregates/{unknown}", headers=auditor)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_auditors_read_but_never_write(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    auditor = tokens(Role.AUDITOR, "*")
    assert (await gateway.get(f"/registry/v1/counties/{COUNTY}", headers=auditor)).status_code == 200
    writes = [
        ("put", f"/registry/v1/counties/{COUNTY}", {"name": "x"}),
        ("post", f"/registry/v1/counties/{COUNTY}/stations", {"name": "x", "township": "x", "kind": "street_station"}),
        ("post", f"/registry/v1/counties/{COUNTY}/providers", {"name": "x", "uscc": "52640402MJY1000012"}),
    ]
    for method, path, body in writes:
        r = await getattr(gateway, method)(path, json=body, headers=auditor)
        assert r.status_code == 403, (path, r.status_code)
    assert setup["provider_id"]
