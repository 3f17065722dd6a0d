"""Cursor paging of every list (issue #16 item 2).

A list answer is still the JSON array the public contract names (API.md); the page is chosen by
two query parameters and the next page is named in a response header:

- ``limit`` — items per page, default :data:`DEFAULT_LIMIT` (100), at most :data:`MAX_LIMIT` (500);
- ``cursor`` — the opaque value of the previous answer's ``X-Next-Cursor`` header; absent: the
  first page;
- ``X-Next-Cursor`` (and ``Link: <…>; rel="next"``) — present while more items follow; a client
  walks a list by repeating its request with ``cursor`` set to it until the header is absent.

Order is stable: the key of an item is its position in the service's log when it was created
(registration, signing or scheduling order), which never changes, so a walk sees every item that
existed when it began exactly once, in order, while new items are added (they come after).
A filtered list (``status=…``) is scanned in that order: a page examines at most ``limit``
entries (:data:`SCAN_FACTOR` × ``limit``) and holds those that match, so a page may hold fewer
than ``limit`` items (even none) while ``X-Next-Cursor`` is present — stop only when it is
absent. A page's cost is thus at most ``limit`` loads whatever the list's length or the filter.

A cursor is validated, not trusted: it carries its list, the query it was issued for and a MAC;
an edited, truncated or foreign cursor (another list, other filters) is refused with 422
``application/problem+json`` naming the field ``cursor``. It is not a secret and does not expire.
Reads as of an instant (``?recorded_as_of=``, R-AUD-3) page the same way: an item created after
the instant is not in the list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request, Response

from shared.rules import RuleViolation

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
SCAN_FACTOR = 1  # entries examined per filtered page, × limit: a page's cost never exceeds limit loads
HEADER = "X-Next-Cursor"
RULE = "R-AUD-3"  # the ordering and as-of semantics the cursor keeps
_MAC_KEY = b"swp-list-cursor-v1"

T = TypeVar("T")

Limit = Annotated[
    int,
    Query(
        ge=1, le=MAX_LIMIT,
        description=f"Items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}). The next page: `X-Next-Cursor`.",
    ),
]
CursorParam = Annotated[
    str | None,
    Query(
        max_length=512,
        description=(
            "The previous page's `X-Next-Cursor` header, unchanged; absent for the first page. A cursor issued "
            "for another list or other filters is refused (422, field `cursor`)"
        ),
    ),
]


class BadCursor(RuleViolation):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, rule=RULE, field="cursor")


def _query_digest(query: Mapping[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in sorted(query.items()) if v is not None}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _mac(body: bytes) -> str:
    return hmac.new(_MAC_KEY, body, hashlib.sha256).hexdigest()[:24]


def encode_cursor(list_name: str, query: Mapping[str, Any], key: int) -> str:
    body = json.dumps({"l": list_name, "q": _query_digest(query), "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + _mac(body)


def decode_cursor(list_name: str, query: Mapping[str, Any], cursor: str | None) -> int | None:
    """The key after which the page starts (None: the first page); :class:`BadCursor` if invalid."""
    if cursor is None or cursor == "":
        return None
    try:
        encoded, mac = cursor.rsplit(".", 1)
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, TypeError) as exc:
        raise BadCursor("cursor is not one this service issued: pass the X-Next-Cursor header unchanged") from exc
    if not hmac.compare_digest(_mac(body), mac):
        raise BadCursor("cursor is not one this service issued: pass the X-Next-Cursor header unchanged")
    data = json.loads(body)
    if data.get("l") != list_name:
        raise BadCursor(f"cursor was issued for another list ({data.get('l')}), not {list_name}")
    if data.get("q") != _query_digest(query):
        raise BadCursor("cursor was issued for other filters: repeat the first request's filters, or start without a cursor")
    key = data.get("k")
    if not isinstance(key, int) or key < 0:
        raise BadCursor("cursor is not one this service issued")
    return key


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_key: int | None


def keyset_page(
    fetch: Callable[[int | None, int], list[tuple[int, str]]],
    load: Callable[[str], T | None],
    limit: int,
    after: int | None,
    keep: Callable[[T], bool] | None = None,
) -> Page[T]:
    """One page: entries ``(key, item id)`` in key order from ``fetch(after, n)``, loaded with
    ``load`` (None: not there, e.g. created after a pinned instant) and filtered by ``keep``.
    Reads at most ``SCAN_FACTOR × limit + 1`` entries, whatever the list's length."""
    items: list[T] = []
    last = after
    budget = SCAN_FACTOR * limit if keep is not None else limit
    scanned = 0
    exhausted = False
    while len(items) < limit and scanned < budget:
        want = min(limit - len(items) if keep is None else limit, budget - scanned)
        rows = fetch(last, want)
        for key, item_id in rows:
            scanned += 1
            last = key
            item = load(item_id)
            if item is not None and (keep is None or keep(item)):
                items.append(item)
                if len(items) == limit:
                    break
        if len(rows) < want:
            exhausted = True
            break
    if not exhausted and last is not None and not fetch(last, 1):
        exhausted = True
    return Page(items, None if exhausted else last)


def respond(
    request: Request, response: Response, list_name: str, query: Mapping[str, Any], page: Page[Any]
) -> None:
    """Name the next page in ``X-Next-Cursor`` and ``Link`` (absent on the last page)."""
    if page.next_key is None:
        return
    cursor = encode_cursor(list_name, query, page.next_key)
    response.headers[HEADER] = cursor
    url = request.url.include_query_params(cursor=cursor)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'

