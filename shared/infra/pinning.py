"""Reads as recorded at a past instant (R-AUD-3).

Every read route of every service takes ``?recorded_as_of=<RFC 3339 instant>``. Inside such a
request the clock is pinned (:mod:`shared.clock`): every aggregate is loaded at the version it
had at that instant and every "today" is that instant's day in China. So any read model or
report — contract progress, the tranche schedule and reconciliation, evaluation scores, the
public lists — is rebuilt from the history as it stood then, and equals what the live route
answered at that instant. Every read answer names the instant it reflects in the
``SWP-Recorded-As-Of`` header, so an auditor can later ask for exactly that view again.

The header names the instant the live read started — or, while a save of the service's store
is in flight (its events stamped, not committed yet), the instant just before that save's stamp:
a live read shows everything recorded by the instant it names (``live_instant``, from the store's
:class:`~shared.infra.store.StampOrder`). A write committed while that read was running may
still show in it although it is recorded just after that instant; an auditor who needs certainty
reads twice and keeps the second answer when both agree (no write landed during it).

Writes never take the parameter: history is not rewritten (corrections are new events).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import clock
from shared.infra.problems import problem_response

PARAM = "recorded_as_of"
HEADER = "SWP-Recorded-As-Of"
RULE = "R-AUD-3"
READS = frozenset({"GET", "HEAD"})
UNDOCUMENTED_PATHS = frozenset({"/health", "/asyncapi.json"})


def parse_instant(raw: str) -> datetime:
    """An RFC 3339 instant with its offset, not in the future."""
    try:
        instant = datetime.fromisoformat(raw.strip().replace(" ", "T"))
    except ValueError as exc:
        raise ValueError(f"{PARAM} must be an RFC 3339 instant such as 2026-10-19T08:00:00+08:00") from exc
    if instant.tzinfo is None:
        raise ValueError(f"{PARAM} needs a UTC offset (e.g. +08:00 or Z): an instant without one is ambiguous")
    if instant > clock.now():
        raise ValueError(f"{PARAM} is in the future: nothing has been recorded then yet")
    if instant.year < 2000:
        raise ValueError(f"{PARAM} is before 2000-01-01: nothing has been recorded then")
    return instant


class RecordedAsOf:
    """ASGI middleware: pins the clock for reads that carry ``recorded_as_of``."""

    def __init__(self, app: ASGIApp, live_instant: Callable[[], datetime] = clock.now) -> None:
        self.app = app
        self.live_instant = live_instant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(PARAM)
        method = scope["method"]
        if values is None:
            if method in READS:
                await self.app(scope, receive, _stamping(send, self.live_instant()))
            else:
                await self.app(scope, receive, send)
            return
        if method not in READS:
            await _refuse(scope, receive, send, f"{PARAM} is for reads: history is never rewritten (corrections are new events)")
            return
        try:
            instant = parse_instant(values[-1])
        except ValueError as exc:
            await _refuse(scope, receive, send, str(exc))
            return
        with clock.pinned_at(instant):
            await self.app(scope, receive, _stamping(send, instant))


def _stamping(send: Send, instant: datetime) -> Send:
    value = instant.isoformat().encode()

    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (HEADER.lower().encode(), value)]}
        await send(message)

    return stamped


async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    response = problem_response(422, "Invalid request", detail, rule=RULE, field=PARAM)
    await response(scope, receive, send)


PARAMETER_DOC: dict[str, Any] = {
    "name": PARAM,
    "in": "query",
    "required": False,
    "description": (
        "Rebuild this read as the history stood at this instant (R-AUD-3): aggregates at the version "
        "recorded by then, 'today' = that instant's day in China. RFC 3339 with offset; not in the future. "
        f"The `{HEADER}` response header names the instant any read reflects."
    ),
    "schema": {"type": "string", "format": "date-time", "formatMinimum": "2000-01-01T00:00:00Z", "formatMaximum": "now"},
}


def install(app: FastAPI, live_instant: Callable[[], datetime] = clock.now) -> None:
    """Add the middleware and document the parameter on every read route of ``app``;
    ``live_instant``: the instant a live read starting now reflects (default: now)."""
    app.add_middleware(RecordedAsOf, live_instant=live_instant)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            read = operations.get("get")
            if read is None or path in UNDOCUMENTED_PATHS:
                continue
            params = read.setdefault("parameters", [])
            if not any(p.get("name") == PARAM for p in params):
                params.append(PARAMETER_DOC)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
