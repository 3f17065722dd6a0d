"""Object-level ownership an attacker with a valid token might probe beyond the access matrix
(docs/ACCESS.md, R-AUD-6): ids in bodies and query strings, replayed Idempotency-Keys, audit
reads of another county's records."""

from __future__ import annotations

from shared.infra.auth import Role
from tests.integration.slice import OTHER
from tests.integration.test_services_log_support import LOG, check, open_county


async def test_another_principals_idempotency_key_does_not_replay_its_result(gateway, tokens):
    """A key is bound to the principal that used it: another provider (or worker) of the county
    repeating the first request with its key is not answered with the first result (the delivery
    id of another provider's contract), it is refused as a key used for another request."""
    place = await open_county(gateway, tokens)
    county, body, key = place.county, place.delivery(), "nanguan-2026-10-05-01"
    url = f"{LOG}/{county}/deliveries"
    first = await check(gateway.post(url, json=body, headers={**place.headers["provider"], "Idempotency-Key": key}), 201)
    head = (await gateway.get("/services-log/health")).json()["store"]["head"]

    stranger = tokens(Role.PROVIDER, county, provider_id="ffffffff-0000-4000-8000-000000000000")
    r = await gateway.post(url, json=body, headers={**stranger, "Idempotency-Key": key})
    assert r.status_code in (403, 409) and first["delivery_id"] not in r.text, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    # Another person of the same provider (another `sub`) is another principal too.
    colleague = tokens(Role.PROVIDER, county, sub="colleague", provider_id=place.provider_id)
    r = await gateway.post(url, json=body, headers={**colleague, "Idempotency-Key": key})
    assert r.status_code == 409 and first["delivery_id"] not in r.text, r.text
    assert (await gateway.get("/services-log/health")).json()["store"]["head"] == head
    # The principal that used it still gets its first result.
    again = await check(gateway.post(url, json=body, headers={**place.headers["provider"], "Idempotency-Key": key}), 201)
    assert again == first


async def test_finance_and_providers_reach_no_contract_of_another_county_through_their_own(gateway, tokens):
    """A contract id of another county, asked for under one's own county, is an unknown id there."""
    ours = await open_county(gateway, tokens)
    theirs = await open_county(gateway, tokens, OTHER)
    finance = tokens(Role.FINANCE, ours.county)
    base = f"/finance/v1/counties/{ours.county}/contracts/{theirs.contract_id}"
    expense = {"category": "personnel", "amount_fen": 100, "spent_on": "2026-10-01", "voucher": "pz-1"}
    r = await gateway.post(f"{base}/expenses", json=expense, headers=finance)
    assert r.status_code in (403, 404) and r.status_code != 201, r.text
    for path in ("tranches", "expenses", "reconciliation", "findings"):
        r = await gateway.get(f"{base}/{path}", headers=finance)
        assert r.status_code in (403, 404), (path, r.text)
    # A provider citing another county's contract in a delivery body.
    body = theirs.delivery()
    r = await gateway.post(f"{LOG}/{ours.county}/deliveries", json=body, headers=ours.headers["provider"])
    assert r.status_code in (403, 404, 422) and r.status_code != 201, r.text


async def test_a_county_auditor_reads_no_other_countys_audit_records(gateway, tokens):
    ours = await open_county(gateway, tokens)
    theirs = await open_county(gateway, tokens, OTHER)
    auditor = tokens(Role.AUDITOR, ours.county)
    for service in ("registry", "services-log"):
        r = await gateway.get(f"/{service}/v1/audit/events", params={"limit": 500}, headers=auditor)
        assert r.status_code == 200, r.text
        items = r.json() if isinstance(r.json(), list) else r.json().get("items", r.json().get("events", []))
        assert items, r.text
        assert all(e.get("county") in (ours.county, None) for e in items), {e.get("county") for e in items}
        assert theirs.contract_id not in r.text
    r = await gateway.get(f"/registry/v1/audit/aggregates/{theirs.contract_id}", headers=auditor)
    assert r.status_code in (403, 404), r.text
    assert theirs.contract_id not in r.text or r.status_code == 404


async def test_an_aggregate_without_a_county_field_is_read_only_by_the_auditors_of_its_events_counties(gateway, tokens):
    """`GET …/audit/aggregates/{id}` checks the county of the record it returns. Records that keep
    no `county` of their own (an Idempotency-Key's record, a page of a contract's delivery index)
    take it from their events: another county's auditor is refused (403 R-AUD-6), not shown the
    other county's ids."""
    import uuid

    from services_log.domainmodel.ledger import DeliveryIndexPage

    from shared.infra.store import IDEMPOTENCY_NAMESPACE

    theirs = await open_county(gateway, tokens, OTHER)
    ours = tokens(Role.AUDITOR, "640402")
    key = "contract-2026-zhuolu-2"
    body = {"name": "二站", "township": "城关镇", "kind": "street_station"}
    created = await check(gateway.post(f"/registry/v1/counties/{OTHER}/stations", json=body,
                                       headers={**theirs.headers["purchaser"], "Idempotency-Key": key}), 201)
    delivered = await check(gateway.post(f"{LOG}/{OTHER}/deliveries", json=theirs.delivery(), headers=theirs.headers["provider"]), 201)
    records = {
        "registry": uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"registry:{OTHER}:{key}"),
        "services-log": DeliveryIndexPage.create_id(theirs.contract_id, 0),
    }
    secrets = {"registry": created["station_id"], "services-log": delivered["delivery_id"]}
    for service, record in records.items():
        path = f"/{service}/v1/audit/aggregates/{record}"
        # Their own county's auditor (and a province-wide one) reads it.
        for allowed in (tokens(Role.AUDITOR, OTHER), tokens(Role.AUDITOR, "*")):
            r = await gateway.get(path, headers=allowed)
            assert r.status_code == 200 and secrets[service] in r.text, (service, r.text)
        r = await gateway.get(path, headers=ours)
        assert r.status_code == 403 and r.json()["rule"] == "R-AUD-6", (service, r.text)
        assert secrets[service] not in r.text


async def test_ids_of_another_county_in_a_body_are_unknown_references(gateway, tokens):
    """A purchaser citing another county's provider, station or contract in a body is refused as an
    unknown reference of its own county, and nothing is recorded."""
    from tests.integration.slice import contract_body

    ours = await open_county(gateway, tokens)
    theirs = await open_county(gateway, tokens, OTHER)
    purchaser, reg = ours.headers["purchaser"], f"/registry/v1/counties/{ours.county}"
    for body in (contract_body(theirs.provider_id, [ours.station]), contract_body(ours.provider_id, [theirs.station])):
        r = await gateway.post(f"{reg}/contracts", json=body, headers=purchaser)
        assert r.status_code in (404, 422), r.text
    worker = {"provider_id": theirs.provider_id, "station_id": ours.station, "name": "赵六", "birth_date": "1995-05-05",
              "education": "本科", "qualification": "助理社会工作师", "role": "social_worker", "hired_on": "2026-08-01"}
    r = await gateway.post(f"{reg}/workers", json=worker, headers=purchaser)
    assert r.status_code in (404, 422), r.text
    r = await gateway.post(f"{reg}/workers", json={**worker, "provider_id": ours.provider_id, "station_id": theirs.station}, headers=purchaser)
    assert r.status_code in (404, 422), r.text
    r = await gateway.post(f"/evaluation/v1/counties/{ours.county}/evaluations", headers=purchaser,
                           json={"contract_id": theirs.contract_id, "stage": "midterm", "evaluator_org": "x", "scheduled_on": "2027-03-20"})
    assert r.status_code in (404, 422), r.text
    r = await gateway.post(f"/finance/v1/counties/{ours.county}/contracts/{theirs.contract_id}/tranches/1/payment",
                           json={"paid_on": "2026-10-01", "voucher": "v1"}, headers=tokens(Role.FINANCE, ours.county))
    assert r.status_code in (404, 422), r.text
    # A delivery on one's own contract citing another county's station or worker.
    for change in ({"station_id": theirs.station}, {"worker_ids": [theirs.workers["李娜"]]}):
        r = await gateway.post(f"{LOG}/{ours.county}/deliveries", json=ours.delivery(**change), headers=ours.headers["provider"])
        assert r.status_code in (404, 422), (change, r.text)


async def test_the_audit_read_of_a_casework_delivery_withholds_its_content_as_every_read_does(gateway, tokens):
    """R-LOG-5: casework (个案) and group-work (小组) content is withheld from auditors and province
    admins in `GET …/deliveries/{id}`; the audit as-of read of the same delivery withholds it too
    (at every version), and so does the audit feed."""
    place = await open_county(gateway, tokens)
    note, corrected = "案主张某某家庭矛盾，已约第二次面谈", "案主张某某已搬离，结案"
    body = place.delivery(kind="个案", indicator_code=None, content=note)
    delivery = (await check(gateway.post(f"{LOG}/{place.county}/deliveries", json=body, headers=place.headers["provider"]), 201))["delivery_id"]
    await check(gateway.post(f"{LOG}/{place.county}/deliveries/{delivery}/corrections", json={"reason": "补记", "content": corrected},
                             headers=place.headers["provider"]), 200)
    # Its provider reads the content; an auditor does not, through any route.
    mine = await check(gateway.get(f"{LOG}/{place.county}/deliveries/{delivery}", headers=place.headers["provider"]), 200)
    assert mine["content"] == corrected
    for reader in (tokens(Role.AUDITOR, place.county), tokens(Role.PROVINCE_ADMIN, "*")):
        read = await check(gateway.get(f"{LOG}/{place.county}/deliveries/{delivery}", headers=reader), 200)
        assert read["content"] is None and read["content_withheld"] is True
        feed = await check(gateway.get("/services-log/v1/audit/events", params={"aggregate_id": delivery}, headers=reader), 200)
        assert feed["events"] and note not in str(feed) and corrected not in str(feed)
        logged_at = feed["events"][0]["recorded_at"]
        for params, version in (({"as_of": logged_at}, 1), ({}, 2)):
            r = await gateway.get(f"/services-log/v1/audit/aggregates/{delivery}", params=params, headers=reader)
            assert r.status_code == 200 and r.json()["version"] == version, r.text
            assert note not in r.text and corrected not in r.text, r.text
            assert r.json()["state"]["facts"]["content"] is None and r.json()["state"]["content_withheld"] is True
