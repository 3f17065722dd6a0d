"""Finance composed: the persistence Application plus command, reaction and query objects, each
with a narrow interface — no mixin chain (issue 15 item 1). Built once per process by the
composition root (``finance.main``: ``ServiceSpec.compose``); routes reach it as
``request.app.state.service``, the consumers are wired to its reactions."""

from __future__ import annotations

from dataclasses import dataclass

from finance.application import FinanceApplication, FinanceLookups
from finance.commands import FinanceCommands
from finance.queries import FinanceQueries
from finance.reactions import FinanceReactions
from finance.reads import FinanceReads
from shared.infra.commands import CommandBus
from shared.infra.queries import QueryBus
from shared.infra.store import SwpApplication


@dataclass(frozen=True)
class Finance:
    store: FinanceApplication
    bus: CommandBus
    reads: QueryBus
    queries: FinanceQueries
    reactions: FinanceReactions


def compose(store: SwpApplication) -> Finance:
    assert isinstance(store, FinanceApplication)
    lookups = FinanceLookups(store)
    queries = FinanceQueries(lookups)
    bus = CommandBus(store)
    FinanceCommands(lookups, store.save, queries).register(bus)
    reads = QueryBus()
    FinanceReads(store, queries).register(reads)
    return Finance(store=store, bus=bus, reads=reads, queries=queries, reactions=FinanceReactions(lookups))
