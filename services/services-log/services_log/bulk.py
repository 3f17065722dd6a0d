"""Bulk import of deliveries: every row validated, good rows recorded once, in batches.

Idempotent per row: a row's delivery id is derived from its values (and, for identical rows
in one file, from which occurrence it is), so uploading the same file again finds every good
row already recorded and records nothing new. A duplicate is found by that id, not by a set of
every id the contract has: a batch is first saved as read (a row already recorded makes the
store refuse the batch — a second aggregate of one id — and nothing of it is written), and only
a batch so refused is read again, asking the store row by row which ids it already has.
Content that cites beneficiaries is sealed for them like a single delivery's, and enters the id
only as a digest under their keys (R-AUD-2); a row citing another provider's beneficiary is
refused as citing an unknown one (R-LOG-5), as a single delivery is. Rows are saved in batches — one ``save`` of many
aggregates each — and the contracts' progress is reported once per contract at the end
(one ``IndicatorProgressed`` per contract, not per row).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import IntegrityError

from services_log.application import ServicesLogApplication
from services_log.domainmodel import (
    Contract,
    ContractLog,
    DeliveryFacts,
    DeliveryIndexPage,
    Employment,
    ServiceDelivery,
    Timesheet,
    Worker,
    canonical_area,
    canonical_kind,
    contributions,
    delivery_problems,
)
from services_log.domainmodel.served import ServedPersons, merge_changes, served_changes
from services_log.lookups import ServicesLogLookups
from services_log.recording import DeliveryRecording
from services_log.sheets import COLUMNS, ImportRow
from shared.clock import china_today
from shared.rules import DomainError, Forbidden, UnknownReference

IMPORT_NS = uuid.UUID("0c9e4f1a-6b7d-5e2c-8a3f-2d4b6c8e0f1a")
# The rule a column's value answers to: a row refused for a value that cannot be read (or a
# reference that does not exist) cites it, so that every refused row carries a rule id.
COLUMN_RULES = {
    "contract_id": "R-LOG-3", "station_id": "R-LOG-3", "worker_ids": "R-LOG-3", "date": "R-LOG-3",
    "hours_direct": "R-LOG-3", "hours_other": "R-LOG-3", "person_times": "R-LOG-3", "content": "R-LOG-3",
    "kind": "R-LOG-1", "area": "R-LOG-2", "indicator_code": "R-LOG-8", "beneficiary_refs": "R-LOG-5",
}
BATCH = 500
ATTEMPTS = 3


@dataclass
class ImportReport:
    rows: int = 0
    recorded: int = 0
    duplicates: int = 0
    refused: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    contracts: Counter[str] = field(default_factory=Counter)

    def refuse(self, line: int, problems: list[tuple[Any, ...]] | list[DomainError]) -> None:
        """Each problem as (field, rule, detail) or (field, rule, detail, facts), or the refusal
        itself (its ``facts`` kept for the console)."""
        self.refused += 1
        for problem in problems:
            if isinstance(problem, DomainError):
                field_, rule, detail, facts = problem.field, problem.rule, problem.detail, problem.facts
            else:
                field_, rule, detail, facts = (*problem, None)[:4]
            key = (field_ or "").split(".")[0]
            column = COLUMNS.get(key, (None,))[0]
            rule = rule or COLUMN_RULES.get(key, "R-LOG-3")
            error = {"line": line, "field": field_, "column": column, "rule": rule, "detail": detail}
            if facts:
                error["facts"] = facts
            self.errors.append(error)


@dataclass
class _Batch:
    """What one batch records; applied to the aggregates only once the whole batch is read."""

    deliveries: list[ServiceDelivery] = field(default_factory=list)
    new_ids: dict[str, list[str]] = field(default_factory=dict)  # per contract
    facts: dict[str, list[DeliveryFacts]] = field(default_factory=dict)  # per contract: each recorded row's facts
    hours: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per worker
    pending: dict[tuple[str, date], Decimal] = field(default_factory=dict)  # this batch's hours per worker-day
    persons: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # per contract, per period


class DeliveryImport:
    """One upload, recorded in the county's command context: read through the lookups, saved to the store."""

    def __init__(
        self, store: ServicesLogApplication, lookups: ServicesLogLookups, recording: DeliveryRecording, county: str,
        provider_id: str | None, default_contract_id: str | None, worker_id: str | None = None,
        replaying: frozenset[str] | None = None,
    ) -> None:
        """``worker_id``: a worker's upload, whose rows must each name that worker (R-AUD-6).
        ``replaying``: the ids the first run of a repeated Idempotency-Key recorded — the upload is
        read again to answer that run's report, and nothing is recorded."""
        self.replaying = replaying
        self.store = store
        self.lookups = lookups
        self.recording = recording
        self.worker_id = worker_id
        self.county = county
        self.provider_id = provider_id
        self.default_contract_id = default_contract_id
        self.today = china_today()
        self.report = ImportReport()
        self._occurrences: Counter[str] = Counter()
        self._reset()

    def _reset(self) -> None:
        self._contracts: dict[str, Contract | None] = {}
        self._logs: dict[str, ContractLog] = {}
        self._pages: dict[str, dict[int, DeliveryIndexPage]] = {}  # per contract, index pages loaded
        self._workers: dict[str, Worker | None] = {}
        self._sheets: dict[str, Timesheet] = {}
        self._employments: dict[tuple[str, date], Employment | None] = {}  # (worker, day): looked up once per file
        self._beneficiaries: dict[str, tuple[bool, str | None]] = {}  # ref -> (known in the county, its provider)
        self._served: dict[tuple[str, str], ServedPersons] = {}
        self._backfilled: set[str] = set()

    def run(self, rows: list[ImportRow], source: str) -> ImportReport:
        for start in range(0, len(rows), BATCH):
            batch_rows = rows[start : start + BATCH]
            with self.store.contract_locks.holding(*self._contract_ids(batch_rows)):
                self._record_batch(batch_rows, source)
        if self.replaying is not None:
            return self.report
        with self.store.contract_locks.holding(*self.report.contracts):
            self._report_progress()
        return self.report

    def _contract_ids(self, rows: list[ImportRow]) -> set[str]:
        """The contracts a batch may write to: their locks are held while it is read and saved."""
        ids = {str(row.values.get("contract_id") or self.default_contract_id or "") for row in rows}
        ids.discard("")
        return ids

    def _report_progress(self) -> None:
        for attempt in range(ATTEMPTS):
            touched = []
            for contract_id in self.report.contracts:
                contract = self._contract(contract_id)
                assert contract is not None  # it was found when its rows were recorded
                log = self._log(contract)
                log.report_progress(contract, self.lookups.day_in_year(contract))
                touched.append(log)
            try:
                if touched:
                    self.store.save(*touched)
                break
            except IntegrityError:
                self._reset()
                if attempt == ATTEMPTS - 1:
                    raise

    def _record_batch(self, rows: list[ImportRow], source: str) -> None:
        if self.replaying is not None:  # a repeated key: the rows' outcome is read, nothing saved
            for row in rows:
                self._read(row, _Batch(), source, checked=True)
            return
        for attempt in range(ATTEMPTS):
            # To roll back to if the save is refused (its error entries are never changed once made).
            report = replace(self.report, errors=list(self.report.errors), contracts=Counter(self.report.contracts))
            occurrences = Counter(self._occurrences)
            batch = _Batch()
            for row in rows:
                self._read(row, batch, source, checked=attempt > 0)
            for contract_id, recorded in batch.facts.items():
                log, contract = self._logs[contract_id], self._contract(contract_id)
                assert contract is not None  # it was found when its rows were recorded
                self.recording.index_deliveries(log, batch.new_ids[contract_id], self._pages.setdefault(contract_id, {}))
                # The batch's delta, one pass per bucket over its rows (not a Tally per row, then summed).
                log.tally_changes(new_delivery_ids=batch.new_ids[contract_id], delta=contributions(recorded, contract))
            for worker_id, entries in batch.hours.items():
                self._sheet(worker_id).book(entries=entries)
            served = []
            for contract_id, periods in batch.persons.items():
                contract = self._contract(contract_id)
                assert contract is not None  # it was found when its rows were recorded
                for period, changes in sorted(periods.items()):
                    key = (contract_id, period)
                    if key not in self._served:
                        self._served[key] = self.lookups.served(contract, period)
                    self._served[key].count(changes=changes)
                    served.append(self._served[key])
            try:
                self.store.save(
                    *batch.deliveries,
                    *self._logs.values(),  # those with nothing new add nothing
                    *(page for pages in self._pages.values() for page in pages.values()),
                    *(self._sheets[w] for w in batch.hours),
                    *served,
                )
                return
            except IntegrityError:
                # A row was recorded before (its delivery exists), or another command changed a
                # contract log or timesheet first: reload, read the batch again asking for each row.
                self.report, self._occurrences = report, occurrences
                self._reset()
                if attempt == ATTEMPTS - 1:
                    raise

    def _read(self, row: ImportRow, batch: _Batch, source: str, checked: bool) -> None:
        """``checked``: ask the store whether each row is recorded already; otherwise only a refused
        row is asked (a row accepted here that was recorded before makes the save fail)."""
        self.report.rows += 1
        if row.errors:
            self.report.refuse(row.line, [(f, None, d) for f, d in row.errors])
            return
        v = row.values
        contract_id = v.get("contract_id") or self.default_contract_id
        if not contract_id:
            self.report.refuse(row.line, [("contract_id", "R-LOG-3", "no contract (协议编号): give the column or the contract_id parameter",
                                           {"code": "import_no_contract"})])
            return
        contract = self._contract(contract_id)
        if contract is None:
            self.report.refuse(row.line, [("contract_id", "R-LOG-3", f"unknown contract (协议编号) {contract_id} in county {self.county}",
                                           {"code": "contract_unknown"})])
            return
        try:
            self.lookups.check_provider(contract, self.provider_id)
        except Forbidden as exc:
            self.report.refuse(row.line, [("contract_id", exc.rule, exc.detail, exc.facts)])
            return
        if self.worker_id is not None and self.worker_id not in v["worker_ids"]:
            self.report.refuse(row.line, [("worker_ids", "R-AUD-6", "a worker records only deliveries it took part in: name yourself",
                                           {"code": "not_own_delivery"})])
            return
        station_id = v.get("station_id") or (contract.station_ids[0] if len(contract.station_ids) == 1 else "")
        facts = DeliveryFacts(
            contract_id=contract.contract_id,
            station_id=station_id,
            worker_ids=tuple(v["worker_ids"]),
            kind=canonical_kind(v["kind"]),
            area=canonical_area(v["area"]),
            date=v["date"],
            hours_direct=v["hours_direct"],
            hours_other=v.get("hours_other", Decimal("0.00")),
            person_times=v["person_times"],
            indicator_code=v.get("indicator_code"),
            beneficiary_refs=tuple(v.get("beneficiary_refs", ())),
            content=v.get("content"),
        )
        # Content citing beneficiaries enters the row's id only as a digest under their keys (R-AUD-2).
        digest = self.lookups.content_digest(facts.beneficiary_refs, facts.content)
        key = (facts if digest is None else facts.changed(content=f"digest:{digest}")).fingerprint()
        self._occurrences[key] += 1
        delivery_id = str(uuid.uuid5(IMPORT_NS, f"{self.county}:{key}:{self._occurrences[key]}"))
        log = self._log(contract)
        if contract.contract_id not in self._backfilled:  # a log opened by an earlier version: index, count persons
            self._backfilled.add(contract.contract_id)
            migrated = self.recording.migrate_log(contract, log, self._pages.setdefault(contract.contract_id, {}))
            merge_changes(batch.persons.setdefault(contract.contract_id, {}), migrated)
        if checked and self._recorded(delivery_id):
            if self.replaying is not None and delivery_id in self.replaying:  # recorded by the first run
                self.report.recorded += 1
                self.report.contracts[contract.contract_id] += 1
            else:
                self.report.duplicates += 1
            return
        problems = self._beneficiary_problems(facts, contract) + delivery_problems(
            facts,
            contract,
            {w: self._worker(w) for w in facts.worker_ids},
            lambda w, d: self._sheet(w).hours_on(d) + batch.pending.get((w, d), Decimal(0)),
            self.today,
            self._employment,
        )
        if not problems and self.replaying is not None:  # acceptable only since the first run: not recorded now
            problems.append(DomainError(
                "not recorded by the first request with this Idempotency-Key, whose result this is: upload it again "
                "without the key", field="line", facts={"code": "import_replayed"},
            ))
        if not problems:
            try:
                stored = self.recording.seal_content(facts)
            except DomainError as exc:  # a cited person is erased
                problems.append(exc)
        if problems:
            if not checked and self._recorded(delivery_id):  # e.g. its own hours, booked when it was recorded
                self.report.duplicates += 1
            else:
                self.report.refuse(row.line, problems)
            return
        delivery = ServiceDelivery(
            delivery_id=delivery_id, county=self.county, **stored.as_args(), source=f"{source}:{row.line}"
        )
        batch.deliveries.append(delivery)
        batch.new_ids.setdefault(contract.contract_id, []).append(delivery_id)
        batch.facts.setdefault(contract.contract_id, []).append(facts)
        merge_changes(batch.persons.setdefault(contract.contract_id, {}), served_changes(facts, contract))
        for worker_id in facts.worker_ids:
            batch.hours.setdefault(worker_id, []).append({"delivery_id": delivery_id, "date": facts.date, "hours": facts.hours})
            batch.pending[(worker_id, facts.date)] = batch.pending.get((worker_id, facts.date), Decimal(0)) + facts.hours
        self.report.recorded += 1
        self.report.contracts[contract.contract_id] += 1

    def _recorded(self, delivery_id: str) -> bool:
        """Whether the store has the delivery: one indexed one-row read."""
        return bool(self.store.process_recorder.select_events(uuid.UUID(delivery_id), limit=1))

    def _beneficiary_problems(self, facts: DeliveryFacts, contract: Contract) -> list[DomainError]:
        """Unknown references, and — as unknown, in the same words — another provider's beneficiaries
        (R-LOG-5, R-AUD-6): the contract's provider cites only its own (or those registered before
        beneficiaries named their provider), like a single delivery."""
        return [
            UnknownReference(f"unknown beneficiary (服务对象编号) {ref} in county {self.county}", rule="R-LOG-5",
                             field=f"beneficiary_refs.{i}")
            for i, ref in enumerate(facts.beneficiary_refs)
            if not self._beneficiary_citable(ref, contract.provider_id)
        ]

    # --- read once per import (or per retried batch) --------------------------------------
    def _contract(self, contract_id: str) -> Contract | None:
        if contract_id not in self._contracts:
            try:
                self._contracts[contract_id] = self.lookups.contract(self.county, contract_id, field="contract_id")
            except DomainError:
                self._contracts[contract_id] = None
        return self._contracts[contract_id]

    def _log(self, contract: Contract) -> ContractLog:
        if contract.contract_id not in self._logs:
            self._logs[contract.contract_id] = self.lookups.contract_log(contract)
        return self._logs[contract.contract_id]

    def _worker(self, worker_id: str) -> Worker | None:
        if worker_id not in self._workers:
            self._workers[worker_id] = self.lookups.worker(self.county, worker_id)
        return self._workers[worker_id]

    def _employment(self, worker: Worker, day: date) -> Employment | None:
        key = (worker.worker_id, day)
        if key not in self._employments:
            self._employments[key] = worker.employment_on(day)
        return self._employments[key]

    def _sheet(self, worker_id: str) -> Timesheet:
        if worker_id not in self._sheets:
            self._sheets[worker_id] = self.lookups.timesheet(self.county, worker_id)
        return self._sheets[worker_id]

    def _beneficiary_citable(self, ref: str, provider_id: str) -> bool:
        if ref not in self._beneficiaries:
            try:
                found = self.lookups.beneficiary(self.county, ref, field="beneficiary_refs", read_only=True)
                self._beneficiaries[ref] = (True, found.provider_id)
            except UnknownReference:
                self._beneficiaries[ref] = (False, None)
        known, owner = self._beneficiaries[ref]
        return known and owner in (None, provider_id)
