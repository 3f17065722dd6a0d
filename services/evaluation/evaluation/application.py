"""The evaluation service composed (issue 15 item 1): its persistence Application
(:mod:`evaluation.lookups`: the store and its read-only lookups) plus a command bus, a query bus and
the reactions of :mod:`evaluation.feed`, each with a narrow interface — no mixin chain. Built once
per process by ``evaluation.main`` (``ServiceSpec.compose``); routes reach it as
``request.app.state.service``: ``.bus`` runs the typed commands of :mod:`evaluation.commands`,
``.reads`` answers the typed queries of :mod:`evaluation.reads`."""

from __future__ import annotations

from dataclasses import dataclass

from evaluation.commands import EvaluationCommands
from evaluation.feed import UpstreamReactions
from evaluation.lookups import EvaluationApplication
from evaluation.reads import EvaluationReads
from shared.infra.commands import CommandBus
from shared.infra.queries import QueryBus
from shared.infra.store import SwpApplication


@dataclass(frozen=True)
class EvaluationService:
    store: EvaluationApplication
    bus: CommandBus
    reads: QueryBus
    reactions: UpstreamReactions


def compose(store: SwpApplication) -> EvaluationService:
    assert isinstance(store, EvaluationApplication)
    bus = CommandBus(store)
    EvaluationCommands(store).register(bus)
    reads = QueryBus()
    EvaluationReads(store).register(reads)
    return EvaluationService(store=store, bus=bus, reads=reads, reactions=UpstreamReactions(store))


__all__ = ["EvaluationApplication", "EvaluationService", "compose"]
