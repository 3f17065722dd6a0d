"""services-log's persistence: one eventsourcing Application (repository, recorder, outbox), the
personal-data vault and the contracts' write locks. It holds no command, reaction or query: those
are separate objects composed around it in ``services_log.composition`` (issue 15 item 1)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from services_log.domainmodel import ContractLog, DeliveryIndexPage, Timesheet
from services_log.domainmodel.ledger import Report, ScopeComplaint, Tally
from services_log.domainmodel.served import ServedPersons
from services_log.keystore import PersonalDataVault, key_store_for
from services_log.locks import KeyedLocks
from shared.infra.store import SwpApplication


class SetAsList(Transcoding):
    """Sets in aggregate state, for snapshots: a sorted list. (Snapshots of ``ContractLog``
    version 1 hold its ``_known`` set: kept so that they still decode.)"""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class TallyAsDict(Transcoding):
    """A contract log's :class:`Tally` in its snapshots: the nested dicts it is recorded in."""

    type = Tally
    name = "tally"

    def encode(self, obj: Tally) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Tally:
        return Tally.of(data)


class ReportAsDict(Transcoding):
    type = Report
    name = "log_report"

    def encode(self, obj: Report) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> Report:
        return Report.of(data)


class ScopeComplaintAsDict(Transcoding):
    type = ScopeComplaint
    name = "scope_complaint"

    def encode(self, obj: ScopeComplaint) -> dict[str, Any]:
        return obj.as_dict()

    def decode(self, data: dict[str, Any]) -> ScopeComplaint:
        return ScopeComplaint.of(data)


class ServicesLogApplication(SwpApplication):
    """services-log's event store: what it records, signs and publishes through its outbox; the
    vault holding beneficiaries' keys outside the log (R-LOG-5, R-AUD-2); the per-contract locks
    that queue writes of one contract instead of racing to a 409."""

    service = "services-log"
    name = "services_log"
    # The hot aggregates: every delivery appends to its contract's log and its workers' timesheets.
    # A snapshot every 200 events bounds a load (and an as-of read) to ~200 events of replay.
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {
        ContractLog: 200, Timesheet: 200, ServedPersons: 200, DeliveryIndexPage: 200,
    }

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.vault = PersonalDataVault(key_store_for(dict(env or {})))
        # Writes of one contract (its ContractLog) queue here instead of racing to a 409.
        # Across processes on one PostgreSQL store, the store holds the same locks (locks.py).
        self.contract_locks = KeyedLocks(store=self.store_locks)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())
        for typed in (TallyAsDict(), ReportAsDict(), ScopeComplaintAsDict()):  # snapshots of ContractLog v3
            transcoder.register(typed)

    def close(self) -> None:
        self.vault.keys.close()
        super().close()

    def _find(self, aggregate_id: uuid.UUID, read_only: bool = False) -> Any:
        """The aggregate, or None. ``read_only``: the cached instance itself, not a copy — for
        reads that change nothing (never call a command method on it)."""
        try:
            return self.repository.get(aggregate_id, deepcopy_from_cache=not read_only)
        except AggregateNotFoundError:
            return None
