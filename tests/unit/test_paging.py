"""Cursor paging (shared/infra/paging.py, issue #16 item 2): a cursor is bound to its list and
filters and refused when edited (field `cursor`); a keyset page reads at most `limit` entries,
a filtered page may be short while more follow, and the last page names no next key."""

from __future__ import annotations

import pytest

from shared.infra.paging import BadCursor, decode_cursor, encode_cursor, keyset_page

ENTRIES = [(k, f"item{k}") for k in range(1, 24, 2)]  # keys 1, 3, …, 23


def fetch_counting(reads: list[int]):
    def fetch(after, n):
        rows = [e for e in ENTRIES if after is None or e[0] > after][:n]
        reads.append(len(rows))
        return rows

    return fetch


def test_a_cursor_round_trips_and_is_bound_to_its_list_and_filters():
    cursor = encode_cursor("registry.contracts", {"county": "640402", "status": None}, 17)
    assert decode_cursor("registry.contracts", {"county": "640402"}, cursor) == 17  # None filters are no filters
    assert decode_cursor("registry.contracts", {}, None) is None
    for name, query, bad in [
        ("registry.stations", {"county": "640402"}, cursor),
        ("registry.contracts", {"county": "130731"}, cursor),
        ("registry.contracts", {"county": "640402"}, cursor[:-1] + ("0" if cursor[-1] != "0" else "1")),
        ("registry.contracts", {"county": "640402"}, "garbage"),
        ("registry.contracts", {"county": "640402"}, "e30." + "0" * 24),
    ]:
        with pytest.raises(BadCursor) as refused:
            decode_cursor(name, query, bad)
        assert refused.value.field == "cursor" and refused.value.status == 422


def test_pages_walk_every_entry_once_and_the_last_names_no_next_key():
    reads: list[int] = []
    seen, after, pages = [], None, 0
    while True:
        page = keyset_page(fetch_counting(reads), lambda i: i, 5, after)
        seen += page.items
        pages += 1
        if page.next_key is None:
            break
        after = page.next_key
    assert seen == [i for _, i in ENTRIES] and pages == 3
    assert max(reads) <= 5


def test_a_filtered_page_examines_at_most_limit_entries():
    reads: list[int] = []
    page = keyset_page(fetch_counting(reads), lambda i: i, 4, None, keep=lambda i: i == "item21")
    assert page.items == [] and page.next_key == 7  # nothing among the first four: a short page, more follow
    assert sum(reads) <= 4 + 1
    page = keyset_page(fetch_counting([]), lambda i: i, 4, 19, keep=lambda i: i == "item21")
    assert page.items == ["item21"] and page.next_key is None
    # An item that cannot be loaded (created after a pinned instant) is left out.
    page = keyset_page(fetch_counting([]), lambda i: None if i == "item3" else i, 3, None)
    assert page.items == ["item1", "item5"] and page.next_key == 5
