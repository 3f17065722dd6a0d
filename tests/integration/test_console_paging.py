"""The console's list pages read one API page by cursor (issue #16 item 2), against the real
services behind the gateway: with more than one page of contracts, page 1 shows exactly
SWP_CONSOLE_PAGE_SIZE of them, 下一页 the rest, 上一页 page 1 again, 首页 too; the registry was
asked with ``limit`` = the page size and never for the whole list; the dashboard counts the first
page only (“5+”); a picker asks for one page of at most 500."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.infra.settings import Settings
from shared.testing.fixtures import client_for, running
from tests.integration.slice import COUNTY, setup_county, sign

PAGE_SIZE = 5
CONTRACTS = 7  # more than one page


class ApiCalls:
    """Every request the console makes to the API (in-process, host gateway.internal)."""

    def __init__(self) -> None:
        self.requests: list[httpx.URL] = []

    def to(self, path: str) -> list[dict[str, str]]:
        return [{k: v[0] for k, v in parse_qs(u.query.decode()).items()} for u in self.requests if u.path == path]


@pytest.fixture
async def console(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[httpx.AsyncClient, ApiCalls]]:
    monkeypatch.setenv("SWP_CONSOLE_PAGE_SIZE", str(PAGE_SIZE))
    from gateway.app import create_app

    calls = ApiCalls()
    original = httpx.ASGITransport.handle_async_request

    async def recording(self: httpx.ASGITransport, request: httpx.Request) -> httpx.Response:
        if request.url.host == "gateway.internal":
            calls.requests.append(request.url)
        return await original(self, request)

    monkeypatch.setattr(httpx.ASGITransport, "handle_async_request", recording)
    app = create_app(settings)
    async with running(app), client_for(app) as client:
        yield client, calls


async def sign_in(client: httpx.AsyncClient, role: str = "purchaser") -> None:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = await client.post("/login", data={"role": role, "county": COUNTY, "csrf_token": csrf})
    assert r.status_code == 303, r.text


def contract_ids(page: str) -> list[str]:
    table = page[page.index('id="contracts"'):]
    table = table[: table.index("</table>")]
    return re.findall(r'href="/purchaser/contracts/([0-9a-f-]{8,})"', table)


def pager_link(page: str, rel: str) -> str | None:
    m = re.search(rf'<a class="btn btn-small" href="([^"]+)" rel="{rel}">', page)
    return html.unescape(m.group(1)) if m else None


def listed_ids(page: str) -> list[str]:
    """The contract ids of the as-of read's JSON (each contract's own ``contract_id``)."""
    return re.findall(r'^    &#34;contract_id&#34;: &#34;([0-9a-f-]{36})&#34;', page, re.M)


async def get(client: httpx.AsyncClient, url: str) -> str:
    r = await client.get(url, headers={"Accept": "text/html"})
    assert r.status_code == 200, r.text[:500]
    return r.text


async def test_the_contract_list_pages_by_cursor_with_the_page_size(console, tokens):
    client, calls = console
    setup = await setup_county(client, tokens)
    signed: list[str] = []
    for i in range(CONTRACTS):
        r = await sign(client, COUNTY, setup, justification=f"第{i}份")
        assert r.status_code == 201, r.text
        signed.append(r.json()["contract_id"])
    await sign_in(client)
    calls.requests.clear()

    page1 = await get(client, "/purchaser/contracts")
    assert contract_ids(page1) == signed[:PAGE_SIZE]  # exactly the page size, in signing order
    assert "第 1 页" in page1 and pager_link(page1, "prev") is None and pager_link(page1, "first") is None
    listed = calls.to(f"/registry/v1/counties/{COUNTY}/contracts")
    assert listed == [{"limit": str(PAGE_SIZE)}]  # one API page of the page size: not the whole list

    nxt = pager_link(page1, "next")
    assert nxt and "cursor=" in nxt and "page=2" in nxt
    page2 = await get(client, nxt)
    assert contract_ids(page2) == signed[PAGE_SIZE:]  # the rest
    assert pager_link(page2, "next") is None and "第 2 页" in page2
    listed = calls.to(f"/registry/v1/counties/{COUNTY}/contracts")
    assert len(listed) == 2 and listed[1]["limit"] == str(PAGE_SIZE) and listed[1]["cursor"]
    assert listed[1]["cursor"] == parse_qs(urlsplit(nxt).query)["cursor"][0]  # the API's own cursor, carried

    back = await get(client, pager_link(page2, "prev"))
    assert contract_ids(back) == signed[:PAGE_SIZE]
    first = await get(client, pager_link(page2, "first"))
    assert contract_ids(first) == signed[:PAGE_SIZE]
    # every read of the list by the console was one page of the page size
    assert {c["limit"] for c in calls.to(f"/registry/v1/counties/{COUNTY}/contracts")} == {str(PAGE_SIZE)}

    # an edited cursor is refused by the registry (422, field cursor): the console shows the first page
    tampered = await get(client, "/purchaser/contracts?cursor=AAAA.0000&page=2")
    assert contract_ids(tampered) == signed[:PAGE_SIZE]


async def test_the_dashboard_counts_the_first_page_and_pickers_are_bounded(console, tokens):
    client, calls = console
    setup = await setup_county(client, tokens)
    for i in range(CONTRACTS):
        assert (await sign(client, COUNTY, setup, justification=f"第{i}份")).status_code == 201
    await sign_in(client)
    calls.requests.clear()

    dashboard = await get(client, "/purchaser/")
    stats = dashboard[dashboard.index('id="stats"'):]
    assert re.search(r'<div class="num[^"]*">5\+</div><div class="lbl">履约中的服务协议', stats)  # 7 signed: “5+”
    assert len(contract_ids(dashboard)) == PAGE_SIZE and pager_link(dashboard, "next")
    for query in calls.to(f"/registry/v1/counties/{COUNTY}/contracts"):
        assert query["limit"] == str(PAGE_SIZE), query
    providers: list[dict[str, Any]] = calls.to(f"/registry/v1/counties/{COUNTY}/providers")
    assert providers and all(q["limit"] == "500" and "cursor" not in q for q in providers)  # a name lookup: one bounded page

    calls.requests.clear()
    wizard = await get(client, "/purchaser/contracts/new")
    assert "明德社会工作服务中心" in wizard
    assert calls.to(f"/registry/v1/counties/{COUNTY}/stations") == [{"limit": "500"}]


async def test_the_finance_board_the_auditor_lists_and_the_as_of_read_page_by_cursor(console, tokens):
    client, calls = console
    setup = await setup_county(client, tokens)
    signed = []
    for i in range(CONTRACTS):
        r = await sign(client, COUNTY, setup, justification=f"第{i}份")
        assert r.status_code == 201, r.text
        signed.append(r.json()["contract_id"])

    await sign_in(client, "finance")
    calls.requests.clear()
    board = await get(client, "/finance-office/")
    assert set(re.findall(r'data-contract="([0-9a-f-]+)"', board)) <= set(signed[:PAGE_SIZE])
    assert pager_link(board, "next") and "第 1 页" in board
    assert calls.to(f"/registry/v1/counties/{COUNTY}/contracts") == [{"limit": str(PAGE_SIZE)}]
    board2 = await get(client, pager_link(board, "next"))
    assert set(re.findall(r'data-contract="([0-9a-f-]+)"', board2)) <= set(signed[PAGE_SIZE:])
    assert pager_link(board2, "next") is None

    client.cookies.clear()
    await sign_in(client, "auditor")
    calls.requests.clear()
    listed = await get(client, "/auditor/contracts")
    ids = re.findall(r'href="/auditor/contracts/([0-9a-f-]{36})"', listed)
    assert ids == signed[:PAGE_SIZE] and pager_link(listed, "next")
    rest = await get(client, pager_link(listed, "next"))
    assert re.findall(r'href="/auditor/contracts/([0-9a-f-]{36})"', rest) == signed[PAGE_SIZE:]

    as_of = await get(client, "/auditor/as-of?read=registry-contracts")
    assert listed_ids(as_of) == signed[:PAGE_SIZE]
    nxt = pager_link(as_of, "next")
    assert nxt and "read=registry-contracts" in nxt  # the filters are kept
    as_of2 = await get(client, nxt)
    assert listed_ids(as_of2) == signed[PAGE_SIZE:]
    assert {c["limit"] for c in calls.to(f"/registry/v1/counties/{COUNTY}/contracts")} == {str(PAGE_SIZE)}


async def test_a_contracts_expenses_page_by_cursor_on_the_finance_account_page(console, tokens):
    from tests.integration.slice import wait_for_tranches

    client, calls = console
    setup = await setup_county(client, tokens)
    r = await sign(client, COUNTY, setup)
    assert r.status_code == 201, r.text
    contract = r.json()["contract_id"]
    finance = tokens("finance", COUNTY)
    await wait_for_tranches(client, COUNTY, contract, finance)
    api_path = f"/finance/v1/counties/{COUNTY}/contracts/{contract}/expenses"
    vouchers = [f"PZ-{i:02d}" for i in range(PAGE_SIZE + 2)]
    for v in vouchers:
        r = await client.post(api_path, json={"category": "personnel", "amount_fen": 100, "spent_on": "2026-10-01", "voucher": v},
                              headers=finance)
        assert r.status_code == 201, r.text

    def shown(page: str) -> list[str]:
        table = page[page.index('id="expenses"'):]
        return re.findall(r"<td>(PZ-\d\d)</td>", table[: table.index("</table>")])

    await sign_in(client, "finance")
    calls.requests.clear()
    page1 = await get(client, f"/finance-office/contracts/{contract}")
    assert shown(page1) == vouchers[:PAGE_SIZE]  # one page, in booking order
    assert calls.to(api_path) == [{"limit": str(PAGE_SIZE)}]  # one API page of the page size: not the whole list
    page2 = await get(client, pager_link(page1, "next"))
    assert shown(page2) == vouchers[PAGE_SIZE:] and pager_link(page2, "next") is None
    assert calls.to(api_path)[1]["cursor"] == parse_qs(urlsplit(pager_link(page1, "next")).query)["cursor"][0]
    assert shown(await get(client, pager_link(page2, "prev"))) == vouchers[:PAGE_SIZE]
