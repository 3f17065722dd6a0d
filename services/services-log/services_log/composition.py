"""services-log composed: the persistence Application plus lookups, command, reaction and query
objects, each with a narrow interface — no mixin chain (issue 15 item 1). Built once per process
by the composition root (``services_log.main``: ``ServiceSpec.compose``); routes reach it as
``request.app.state.service`` (``.bus`` runs the typed commands of ``services_log.commands``, ``.reads`` answers the typed queries of ``services_log.reads``), the registry consumer is wired to its reactions."""

from __future__ import annotations

from dataclasses import dataclass

from services_log.application import ServicesLogApplication
from services_log.commands import ServicesLogCommands
from services_log.lookups import ServicesLogLookups
from services_log.queries import ServicesLogQueries
from services_log.reads import ServicesLogReads
from services_log.recording import DeliveryRecording
from services_log.registry_feed import RegistryReactions
from shared.infra.commands import CommandBus
from shared.infra.queries import QueryBus
from shared.infra.store import SwpApplication


@dataclass(frozen=True)
class ServicesLog:
    store: ServicesLogApplication
    lookups: ServicesLogLookups
    recording: DeliveryRecording
    commands: ServicesLogCommands
    bus: CommandBus
    reads: QueryBus
    queries: ServicesLogQueries
    reactions: RegistryReactions


def compose(store: SwpApplication) -> ServicesLog:
    assert isinstance(store, ServicesLogApplication)
    lookups = ServicesLogLookups(store)
    recording = DeliveryRecording(lookups, store.vault)
    commands = ServicesLogCommands(store, lookups, recording)
    bus = CommandBus(store)
    commands.register(bus)
    queries = ServicesLogQueries(lookups)
    reads = QueryBus()
    ServicesLogReads(lookups, queries).register(reads)
    return ServicesLog(
        store=store,
        lookups=lookups,
        recording=recording,
        commands=commands,
        bus=bus,
        reads=reads,
        queries=queries,
        reactions=RegistryReactions(lookups),
    )
