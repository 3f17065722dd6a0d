"""One pipeline for every command (issue 15 item 1).

A route (or a follow-up step of another command) states what it wants as a typed
:class:`Command` — a frozen dataclass naming the county and the request's fields — and hands it to
the service's :class:`CommandBus` with the caller's :class:`~shared.infra.auth.CountyScope`. Access
(the principal, its role, county and ownership of the resource in the path) is decided before, by
the route's one ``county_scope(…, owns=…)`` declaration (docs/ACCESS.md); the bus then owns, for
every command alike:

- the county check: a command runs only in the county its caller's scope was granted;
- the R-AUD-1 context (actor, command, correlation, causation, county) its events are recorded with;
- ``Idempotency-Key``: the request's fingerprint (the command's fields marked fingerprinted, plus the
  route and path parameters, and the principal that sent it), the replay of a repeated key, 409 for
  a key reused on another request or by another principal;
- the optimistic-concurrency retry: a command that lost a race before saving anything is decided
  again on the new state.

Handlers are registered per command type by the service's composition root, each with the answer
to a repeated key (``replay``), so no route builds its own lambdas around the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

from shared import clock
from shared.infra.auth import CountyScope
from shared.infra.store import CommandContext, IntegrityError, SwpApplication, fingerprint
from shared.rules import Forbidden

log = logging.getLogger("swp.commands")

COMMAND_RETRIES = 3  # re-runs of a command that lost an optimistic-concurrency race

# Field metadata: this field is derived (from the token, the key …), not part of what was asked.
NOT_FINGERPRINTED = {"fingerprint": False}


def fingerprinted_as(name: str) -> dict[str, str]:
    """Field metadata: the field is fingerprinted under another name — the key an untyped route
    gave it (e.g. ``"id"`` for the record in its path), so a key it recorded still replays."""
    return {"fingerprint": name}


@dataclass(frozen=True, kw_only=True)
class Command:
    """A typed command. ``county`` is where it runs; its other fields are what the caller asked,
    and (unless marked ``NOT_FINGERPRINTED``) what an ``Idempotency-Key`` is bound to."""

    county: str = field(metadata=NOT_FINGERPRINTED)

    def fingerprint_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for f in fields(self):
            named = f.metadata.get("fingerprint", True)
            if named is not False:
                payload[f.name if named is True else named] = getattr(self, f.name)
        return payload


C = TypeVar("C", bound=Command)
R = TypeVar("R")


@dataclass(frozen=True)
class Handler(Generic[C, R]):
    handle: Callable[[C], R]
    # The answer to a repeated Idempotency-Key, from the ids of the aggregates the first run touched.
    replay: Callable[[C, list[str]], R]


class CommandBus:
    """The service's one way to run a command (see the module docstring)."""

    def __init__(self, store: SwpApplication) -> None:
        self.store = store
        self._handlers: dict[type[Command], Handler[Any, Any]] = {}

    def register(self, command_type: type[C], handle: Callable[[C], R], replay: Callable[[C, list[str]], R]) -> None:
        if command_type in self._handlers:
            raise RuntimeError(f"{command_type.__name__} already has a handler")
        self._handlers[command_type] = Handler(handle, replay)

    @property
    def command_types(self) -> list[type[Command]]:
        return list(self._handlers)

    def run(self, command: Command, scope: CountyScope, headers: tuple[str | None, str | None]) -> Any:
        handler = self._handlers.get(type(command))
        if handler is None:
            raise RuntimeError(f"no handler registered for {type(command).__name__}")
        if command.county != scope.county:
            raise Forbidden(f"a command for county {command.county} cannot run in the scope of county {scope.county}", rule="R-AUD-6", facts={"code": "county_not_granted"})
        return execute(
            self.store, scope, headers, command.fingerprint_payload(),
            lambda: handler.handle(command), lambda ids: handler.replay(command, ids),
        )


def request_fingerprint(scope: CountyScope, target: Any, payload: Any) -> str:
    """What an ``Idempotency-Key`` is bound to: the request (route, path parameters, fields) and the
    principal that sent it (R-AUD-6). Another principal repeating the request with the key — another
    provider, another worker or person of the same provider — is answered 409 like a key reused on
    another request, never with the first caller's result."""
    p = scope.principal
    caller = [p.sub, str(p.role), p.provider_id, p.worker_id, p.evaluator_org]
    request = {"target": target, "payload": payload} if target else payload
    return fingerprint({"caller": caller, "request": request})


def execute(
    store: SwpApplication,
    scope: CountyScope,
    headers: tuple[str | None, str | None],
    payload: Any,
    action: Callable[[], Any],
    replay: Callable[[list[str]], Any],
) -> Any:
    """Run ``action`` in its R-AUD-1 context, honouring ``Idempotency-Key``.

    A command that lost an optimistic-concurrency race (another command, perhaps in another
    process on the same store, saved one of its aggregates first) is run again, up to
    ``COMMAND_RETRIES`` times, before the client gets 409: ``action`` reads its aggregates
    itself, so a re-run decides on the new state (and may refuse). Only a command that has
    not saved anything yet is re-run."""
    key, correlation = headers
    target = getattr(headers, "target", None)
    fp = request_fingerprint(scope, target, payload) if key else ""
    ctx = CommandContext(
        county=scope.county,
        actor=scope.principal.sub,
        correlation_id=correlation or "",
        idempotency=(key, fp) if key else None,
    )
    for attempt in range(COMMAND_RETRIES + 1):
        if key:  # again on a re-run: the race may have been with a repeat of this very request
            previous = store.replay_of(scope.county, key, fp)
            if previous is not None:
                # The first result: read as recorded by its last save (R-AUD-3), not as changed since.
                with clock.pinned_at(previous.as_of):
                    return replay(previous.aggregate_ids)
        try:
            with store.command(ctx):
                return action()
        except IntegrityError:
            if ctx.saves or attempt == COMMAND_RETRIES:
                raise
            store.command_retries += 1
            log.info("command %s lost a concurrency race; running it again", ctx.command_id)
    raise AssertionError("unreachable")
