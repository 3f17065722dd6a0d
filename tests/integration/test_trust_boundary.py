"""The HTTP trust boundary (issue 15): security headers on every answer, bounded and well-formed
request bodies (413 / 422 problem+json before any route runs), and a /health that needs no token
and therefore shows which component is down but never an exception's text."""

from __future__ import annotations

import asyncio
import re

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, contract_body, setup_county

SERVICES = ("registry", "services-log", "evaluation", "finance")


def assert_security_headers(r, *, html: bool = False) -> None:
    assert r.headers["x-content-type-options"] == "nosniff", r.headers
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    if not html:
        assert "default-src 'none'" in csp
    assert "server" not in {k.lower() for k in r.headers}


async def test_every_answer_carries_the_security_headers(gateway, tokens):
    purchaser = tokens(Role.PURCHASER, COUNTY)
    for service in SERVICES:
        assert_security_headers(await gateway.get(f"/{service}/health"))
        assert_security_headers(await gateway.get(f"/{service}/openapi.json"))
        docs = await gateway.get(f"/{service}/docs")
        assert_security_headers(docs, html=True)
        # Every script of the docs page is a file of the service's own (script-src 'self', no inline).
        assert re.findall(r"<script[^>]*>", docs.text) == [
            f'<script src="/{service}/docs-assets/swagger-ui-bundle.js">', f'<script src="/{service}/docs-assets/swagger-init.js">']
        csp = docs.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "jsdelivr" not in csp and "http" not in csp, csp
        assert (await gateway.get(f"/{service}/docs-assets/swagger-init.js")).status_code == 200
        assert_security_headers(await gateway.get(f"/{service}/v1/counties/{COUNTY}/nothing", headers=purchaser))
    assert_security_headers(await gateway.get("/registry/v1/counties/640402"))  # 401
    assert_security_headers(await gateway.get("/no-such-service"))  # the gateway's own 404


async def test_a_body_over_the_limit_is_413_before_any_route_runs(gateway, tokens, settings):
    purchaser = tokens(Role.PURCHASER, COUNTY)
    head = (await gateway.get("/registry/health")).json()["store"]["head"]
    big = b'{"name": "' + b"x" * (settings.max_json_body_bytes + 10) + b'"}'
    r = await gateway.put(f"/registry/v1/counties/{COUNTY}", content=big,
                          headers={**purchaser, "content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "body"

    # Sent in chunks without Content-Length: counted as it arrives.
    async def chunks():
        for _ in range(settings.max_json_body_bytes // 1024 + 2):
            yield b" " * 1024

    r = await gateway.put(f"/registry/v1/counties/{COUNTY}", content=chunks(),
                          headers={**purchaser, "content-type": "application/json"})
    assert r.status_code == 413, r.text
    # An upload has its own, larger limit.
    r = await gateway.post(
        f"/services-log/v1/counties/{COUNTY}/deliveries/import",
        files={"file": ("d.csv", b"a" * (settings.max_upload_bytes + 1), "text/csv")},
        headers=tokens(Role.PROVIDER, COUNTY, provider_id="p"),
    )
    assert r.status_code == 413, r.text
    assert (await gateway.get("/registry/health")).json()["store"]["head"] == head


async def test_duplicate_keys_malformed_json_and_deep_nesting_are_422_problems(gateway, tokens):
    admin = tokens(Role.PROVINCE_ADMIN, "*")
    url = f"/registry/v1/counties/{COUNTY}"
    cases = {
        b'{"name": "\xe5\x8e\x9f\xe5\xb7\x9e\xe5\x8c\xba", "name": "=HYPERLINK(1)"}': "duplicate key 'name'",
        b'{"name": "x",': "malformed JSON",
        b'{"name": NaN}': "malformed JSON",
        b"[" * 200 + b"]" * 200: "nests deeper",
        b"\xff\xfe{}": "not UTF-8",
    }
    for body, reason in cases.items():
        for content_type in ("application/json", "application/json; charset=utf-8"):
            r = await gateway.put(url, content=body, headers={**admin, "content-type": content_type})
            assert r.status_code == 422, (body, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            problem = r.json()
            assert problem["field"] == "body" and reason in problem["detail"], problem
    # A body sent without a content type is JSON to FastAPI too: the same checks apply.
    r = await gateway.put(url, content=b'{"name": "a", "name": "b"}', headers=admin)
    assert r.status_code == 422, r.text
    r = await gateway.put(url, json={"name": "原州区"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "原州区"


async def test_health_without_a_token_names_the_component_down_but_no_exception_text(gateway, tokens, settings, nats_server):
    import uuid

    from tests.integration.test_finance_support import conclude

    # A consumer failure whose exception carries a message (finance cannot place an evaluation of
    # a contract it does not know): health shows the kind, not the message.
    await conclude(settings, str(uuid.uuid4()), "midterm", passed=True, on="2026-02-10")
    for _ in range(300):
        stats = (await gateway.get("/finance/health")).json()["consumers"]["evaluation"]
        if stats["failures"]:
            break
        await asyncio.sleep(0.1)
    assert stats["failures"] and re.fullmatch(r"EvaluationConcluded #\d+: RetryLater", stats["last_error"]), stats

    # NATS down: the relay's failure, by kind.
    setup = await setup_county(gateway, tokens)
    nats_server.kill()
    try:
        r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts",
                               json=contract_body(setup["provider_id"], setup["station_ids"]), headers=setup["purchaser"])
        assert r.status_code == 201, r.text
        for _ in range(600):
            body = (await gateway.get("/registry/health")).json()
            if not body["nats"]["ok"] and body["outbox"]["last_error"]:
                break
            await asyncio.sleep(0.1)
        r = await gateway.get("/registry/health")
        assert r.status_code == 503
        body = r.json()
        assert body["nats"]["ok"] is False and body["status"] == "unavailable"
        # Kinds of failure at most (an identifier), never an exception's message or a stack.
        assert re.fullmatch(r"[A-Za-z_]\w*", body["outbox"]["last_error"]), body["outbox"]
        assert body["store"].get("error") is None
    finally:
        nats_server.server.start()


async def test_names_urls_dates_and_collections_are_refused_when_hostile_and_nothing_is_recorded(gateway, tokens):
    setup = await setup_county(gateway, tokens)
    purchaser, provider_id = setup["purchaser"], setup["provider_id"]
    reg = f"/registry/v1/counties/{COUNTY}"
    head = (await gateway.get("/registry/health")).json()["store"]["head"]

    def refused(r, field: str) -> None:
        assert r.status_code == 422, (field, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == field, r.json()

    station = {"township": "南关街道", "kind": "street_station"}
    for hostile in ("南关\u202e站工社", "南关\u200b社工站", "南关\x07社工站", "南关\u2066社工站\u2069", "   ", "\ufeff"):
        refused(await gateway.post(f"{reg}/stations", json={**station, "name": hostile}, headers=purchaser), "name")
    # A disclosure's link is http(s) or nothing: never javascript:, data: or a relative path.
    disclosures = f"{reg}/providers/{provider_id}/disclosures"
    report = {"kind": "basic_info", "title": "机构简介", "published_on": "2026-01-01"}
    for url in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<script>", "//evil.example/x", "https://", "http://a b"):
        refused(await gateway.post(disclosures, json={**report, "url": url}, headers=purchaser), "url")
    # Dates outside 2000..2100: a typing error. (Only a query whose cost does not depend on the day
    # takes any date: the overdue tranches, counted by an index over the calendar — AnyDay.)
    refused(await gateway.post(disclosures, json={**report, "published_on": "9999-12-31"}, headers=purchaser), "published_on")
    overdue = f"/finance/v1/counties/{COUNTY}/tranches/overdue"
    refused(await gateway.get(overdue, params={"as_of": "10000-01-01"}, headers=tokens(Role.FINANCE, COUNTY)), "as_of")
    refused(await gateway.post(f"{reg}/stations", json={**station, "name": "x", "extra": 1}, headers=purchaser), "extra")
    # A contract's monthly plan of 100 months is refused by its schema; one of 120,000 keys by the body limit.
    plan = {f"{2000 + i // 12}-{i % 12 + 1:02d}": 1 for i in range(100)}
    body = contract_body(provider_id, setup["station_ids"])
    body["indicators"][0]["monthly_plan"] = plan
    refused(await gateway.post(f"{reg}/contracts", json=body, headers=purchaser), "indicators.0.monthly_plan")
    body["indicators"][0]["monthly_plan"] = {f"k{i}": 1 for i in range(120_000)}
    r = await gateway.post(f"{reg}/contracts", json=body, headers=purchaser)
    assert r.status_code == 413, r.text
    assert (await gateway.get("/registry/health")).json()["store"]["head"] == head  # nothing recorded

    # Names are trimmed; ordinary Chinese text and punctuation pass.
    r = await gateway.post(f"{reg}/stations", json={**station, "name": "  南关街道社工站（一站）  "}, headers=purchaser)
    assert r.status_code == 201, r.text
    stations = (await gateway.get(f"{reg}/stations", headers=purchaser)).json()
    assert "南关街道社工站（一站）" in [s["name"] for s in stations]
    r = await gateway.post(disclosures, json={**report, "url": "https://example.org/mingde/简介.pdf"}, headers=purchaser)
    assert r.status_code == 201, r.text


async def test_the_monthly_brief_xlsx_keeps_formula_like_names_as_text(gateway, tokens):
    import io

    from openpyxl import load_workbook

    from tests.integration.test_services_log_support import LOG, check, wait_for

    setup = await setup_county(gateway, tokens)
    body = contract_body(setup["provider_id"], setup["station_ids"])
    body["indicators"] = [{"code": "@cmd", "name": '=HYPERLINK("http://evil.example","点击")', "unit": "-1+1", "target": 5}]
    contract = (await check(gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=body, headers=setup["purchaser"]), 201))["contract_id"]
    url = f"{LOG}/{COUNTY}/contracts/{contract}/briefs/2026-10"
    await wait_for(gateway, f"{LOG}/{COUNTY}/contracts/{contract}", setup["purchaser"])
    r = await gateway.get(url, params={"format": "xlsx"}, headers=setup["purchaser"])
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content))["指标进度"]
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row[:3]]
    assert [c.value for c in cells] == ["'@cmd", '\'=HYPERLINK("http://evil.example","点击")', "'-1+1"]
    assert all(c.data_type == "s" for c in cells)


async def test_request_fields_of_the_registry_rules_are_bounded_like_the_rest(gateway, tokens):
    """Funding source names in a county policy follow the Name rules (a contract's source, itself a
    Name, must match them); a policy's funding caps are bounded; ids are bounded."""
    admin = tokens(Role.PROVINCE_ADMIN, "*")
    county = f"/registry/v1/counties/{COUNTY}"
    head = (await gateway.get("/registry/health")).json()["store"]["head"]
    for sources, field in ((["福彩\u202e公益金"], "policy.funding_sources.0"), (["财政资金", "彩票\u200b公益金"], "policy.funding_sources.1")):
        r = await gateway.put(county, json={"name": "原州区", "policy": {"funding_sources": sources}}, headers=admin)
        assert r.status_code == 422 and r.json()["field"] == field and r.json()["rule"] == "R-FIN-2", r.text
    cap = {"source": "财政资金", "bound": "ceiling", "percent": 10}
    r = await gateway.put(county, json={"name": "原州区", "policy": {"funding_sources": ["财政资金"], "funding_caps": [cap] * 41}},
                          headers=admin)
    assert r.status_code == 422 and r.json()["field"] == "policy.funding_caps", r.text
    assert (await gateway.get("/registry/health")).json()["store"]["head"] == head  # nothing recorded
    # Trimmed like every name, so a contract naming 财政资金 matches the source and its cap.
    r = await gateway.put(county, json={"name": "原州区", "policy": {
        "funding_sources": [" 财政资金 "], "funding_caps": [{**cap, "source": "财政资金 "}]}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["policy"]["funding_sources"] == ["财政资金"] and r.json()["policy"]["funding_caps"][0]["source"] == "财政资金"

    setup = await setup_county(gateway, tokens)
    body = {**contract_body(setup["provider_id"], setup["station_ids"]), "previous_contract_id": "c" * 65}
    r = await gateway.post(f"/registry/v1/counties/{COUNTY}/contracts", json=body, headers=setup["purchaser"])
    assert r.status_code == 422 and r.json()["field"] == "previous_contract_id", r.text
