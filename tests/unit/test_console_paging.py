"""The console's cursor paging (issue #16 item 2): a list page asks the API for one page of
SWP_CONSOLE_PAGE_SIZE by cursor; its 首页 / 上一页 / 下一页 links carry the chain of cursors that
led to it (and the filters); a refused cursor reads the first page; dashboards count the first
page only (“20+”); pickers read one page of at most PICKER_MAX."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from console.api import ApiProblem
from console.paging import (
    MAX_TRAIL,
    PICKER_MAX,
    Count,
    CursorPage,
    Position,
    read_bounded,
    read_first,
    read_page,
)
from console.settings import ConsoleSettings


def query(url: str | None) -> dict[str, str]:
    assert url is not None
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def follow(url: str | None) -> Position:
    q = query(url)
    return Position.parse(q.get("cursor"), q.get("trail"), q.get("page", 1))


class FakeApi:
    """A list of ``n`` items served by cursor as the services do (cursor = index of the next item)."""

    def __init__(self, n: int, refuse: set[str] | None = None) -> None:
        self.items = [{"id": i} for i in range(n)]
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse or set()

    async def get_page(self, path: str, cursor: str | None = None, **params: Any) -> tuple[list[Any], str | None]:
        self.calls.append({"path": path, "cursor": cursor, **params})
        if cursor in self.refuse:
            raise ApiProblem(422, {"field": "cursor", "rule": "R-AUD-3", "detail": "cursor was issued for other filters"})
        start = int(cursor[1:]) if cursor else 0
        end = start + params["limit"]
        return self.items[start:end], (f"c{end}" if end < len(self.items) else None)


def test_the_page_size_is_a_setting_defaulting_to_20(monkeypatch):
    assert ConsoleSettings().page_size == 20
    monkeypatch.setenv("SWP_CONSOLE_PAGE_SIZE", "7")
    assert ConsoleSettings().page_size == 7


def test_the_first_page_has_only_a_next_link_keeping_the_filters():
    page = CursorPage([1, 2], 2, Position(), "c2")
    links = page.links("/purchaser/contracts", status="signed", empty="")
    assert links["first"] is None and links["prev"] is None
    assert query(links["next"]) == {"status": "signed", "cursor": "c2", "page": "2"}
    assert CursorPage([1], 2, Position(), None).links("/x") == {"first": None, "prev": None, "next": None}


def test_next_pushes_the_cursor_on_the_chain_and_prev_pops_it():
    p1 = Position()
    p2 = p1.following("c2")
    p3 = p2.following("c4")
    p4 = p3.following("c6")
    assert (p4.cursor, p4.trail, p4.number) == ("c6", ("c2", "c4"), 4)
    page = CursorPage(["x"], 2, p4, "c8")
    links = page.links("/l", contract="k1")
    assert query(links["first"]) == {"contract": "k1"}
    assert query(links["prev"]) == {"contract": "k1", "cursor": "c4", "trail": "c2", "page": "3"}
    assert query(links["next"]) == {"contract": "k1", "cursor": "c8", "trail": "c2~c4~c6", "page": "5"}
    # back, back, back: page 3, page 2, the first page (no cursor at all)
    back3 = follow(links["prev"])
    assert back3 == p3
    back2 = follow(CursorPage([], 2, back3, "c6").links("/l")["prev"])
    assert back2 == p2
    back1_link = CursorPage([], 2, back2, "c4").links("/l")["prev"]
    assert back1_link == "/l" and follow(back1_link) == Position()


def test_a_malformed_chain_or_cursor_is_the_first_page():
    assert Position.parse("c2<script>", None, 2) == Position()
    assert Position.parse("c4", "c2~bad cursor", 3) == Position()
    assert Position.parse(None, "c2", 5) == Position()
    assert Position.parse("", None, 1).first


def test_the_chain_is_bounded_and_prev_beyond_it_leads_to_the_first_page():
    at = Position()
    for i in range(MAX_TRAIL + 10):
        at = at.following(f"c{i}")
    assert len(at.trail) == MAX_TRAIL and at.number == MAX_TRAIL + 11
    parsed = Position.parse(at.cursor, "~".join(at.trail), at.number)
    assert parsed == at
    for _ in range(MAX_TRAIL):
        at = at.preceding()
    assert at.trail == () and at.cursor is not None
    assert at.preceding() == Position()


async def test_a_list_page_asks_the_api_for_one_page_of_the_page_size_by_cursor():
    api = FakeApi(45)
    page1 = await read_page(api, "/registry/v1/counties/640402/contracts", Position(), 20, status="signed")
    assert [i["id"] for i in page1.items] == list(range(20)) and page1.has_next and not page1.has_prev
    assert api.calls == [{"path": "/registry/v1/counties/640402/contracts", "cursor": None, "limit": 20, "status": "signed"}]
    page2 = await read_page(api, "/p", follow(page1.links("/p")["next"]), 20)
    page3 = await read_page(api, "/p", follow(page2.links("/p")["next"]), 20)
    assert [i["id"] for i in page3.items] == list(range(40, 45)) and not page3.has_next and page3.page == 3
    again2 = await read_page(api, "/p", follow(page3.links("/p")["prev"]), 20)
    assert again2.items == page2.items and again2.page == 2
    assert [c["limit"] for c in api.calls] == [20] * 4  # never the whole list


async def test_a_cursor_the_api_refuses_reads_the_first_page():
    api = FakeApi(30, refuse={"c20"})
    page = await read_page(api, "/p", Position("c20", (), 2), 20)
    assert page.at.first and [i["id"] for i in page.items] == list(range(20))
    with pytest.raises(ApiProblem):  # a refusal on the first page is not hidden
        await read_page(FakeApi(1, refuse={None}), "/p", Position(), 20)  # type: ignore[arg-type]


async def test_a_dashboard_counts_the_first_page_only_and_says_20_plus():
    assert str((await read_first(FakeApi(21), "/p", 20)).count) == "20+"
    assert str((await read_first(FakeApi(20), "/p", 20)).count) == "20"
    assert str(Count(3, False) + Count(20, True)) == "23+"
    assert not Count(0) and Count(0, True)


async def test_a_picker_reads_one_page_of_at_most_picker_max():
    api = FakeApi(PICKER_MAX + 50)
    rows = await read_bounded(api, "/p", status="signed")
    assert len(rows) == PICKER_MAX == 500
    assert api.calls == [{"path": "/p", "cursor": None, "limit": 500, "status": "signed"}]
