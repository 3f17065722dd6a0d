"""services-log's commands as typed objects — deliveries (R-LOG-1 … R-LOG-6), reports and scope
complaints (R-LOG-7), beneficiaries (R-LOG-5) and the bulk import — and the handlers the
composition root registers on the service's :class:`~shared.infra.commands.CommandBus` (which owns
the R-AUD-1 context, the ``Idempotency-Key`` fingerprint and replay, and the concurrency retry).
Decided on the aggregates loaded through the lookups and saved together; a contract's writes queue
on its lock instead of racing to a 409.

Each command's fingerprinted fields are exactly what its route asked for, so an ``Idempotency-Key``
recorded before commands were typed still answers its repeat. Content citing beneficiaries, and
personal data, enter a fingerprint only as a digest under their keys (R-AUD-2): never in clear, nor
as an unkeyed hash a guess could be checked against once they are erased."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services_log.application import ServicesLogApplication
from services_log.bulk import DeliveryImport, ImportReport
from services_log.domainmodel import (
    Beneficiary,
    Contract,
    ContractLog,
    DeliveryFacts,
    DeliveryIndexPage,
    ServiceDelivery,
    Tally,
    Timesheet,
    canonical_area,
    canonical_kind,
    contribution,
    delivery_problems,
)
from services_log.domainmodel.served import merge_changes, served_changes
from services_log.lookups import ServicesLogLookups
from services_log.recording import DeliveryRecording, book_hours, refuse_first
from services_log.sheets import ImportRow
from shared.clock import china_today
from shared.infra.commands import NOT_FINGERPRINTED, Command, CommandBus


# --- the commands --------------------------------------------------------------------------
def _sealed(payload: dict[str, Any], content_digest: str | None) -> dict[str, Any]:
    """The request as its fingerprint sees it: content citing beneficiaries only as their digest."""
    if content_digest is None:
        return payload
    return {**{k: v for k, v in payload.items() if k != "content"}, "content_digest": content_digest}


@dataclass(frozen=True, kw_only=True)
class LogDelivery(Command):
    """One delivery, as ``POST …/deliveries`` states it (kind and area as given, e.g. 走访)."""

    contract_id: str
    station_id: str
    worker_ids: tuple[str, ...]
    kind: str
    area: str
    date: dt.date
    hours_direct: Decimal
    hours_other: Decimal = Decimal(0)
    person_times: int
    indicator_code: str | None = None
    indicator_quantity: int | None = None
    beneficiary_refs: tuple[str, ...] = ()
    content: str | None = None
    # Derived, not asked: from the caller's token, and the content's digest under the cited persons' keys.
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)
    content_digest: str | None = field(default=None, metadata=NOT_FINGERPRINTED)

    def fingerprint_payload(self) -> dict[str, Any]:
        return _sealed(super().fingerprint_payload(), self.content_digest)

    def facts(self) -> DeliveryFacts:
        return DeliveryFacts(
            contract_id=self.contract_id, station_id=self.station_id, worker_ids=tuple(self.worker_ids),
            kind=canonical_kind(self.kind), area=canonical_area(self.area), date=self.date,
            hours_direct=self.hours_direct, hours_other=self.hours_other, person_times=self.person_times,
            indicator_code=self.indicator_code, beneficiary_refs=tuple(self.beneficiary_refs), content=self.content,
            indicator_quantity=self.indicator_quantity,
        )


# A correction's fields that ``null`` clears (the others: ``null`` is "unchanged").
CLEARABLE = ("indicator_code", "content", "indicator_quantity")


@dataclass(frozen=True, kw_only=True)
class CorrectDelivery(Command):
    """R-LOG-6: ``changes`` holds exactly the fields the correction gave (as given)."""

    delivery_id: str
    reason: str
    changes: dict[str, Any]
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)
    content_digest: str | None = field(default=None, metadata=NOT_FINGERPRINTED)

    def fingerprint_payload(self) -> dict[str, Any]:
        asked = {"delivery_id": self.delivery_id, "reason": self.reason, **self.changes}
        return _sealed(asked, self.content_digest)

    def fact_changes(self) -> dict[str, Any]:
        """The changes to the delivery's facts (kinds and areas canonical, lists as tuples)."""
        changes = {k: v for k, v in self.changes.items() if v is not None or k in CLEARABLE}
        for key in ("worker_ids", "beneficiary_refs"):
            if key in changes:
                changes[key] = tuple(changes[key])
        if "kind" in changes:
            changes["kind"] = canonical_kind(changes["kind"])
        if "area" in changes:
            changes["area"] = canonical_area(changes["area"])
        return changes


@dataclass(frozen=True, kw_only=True)
class VoidDelivery(Command):
    delivery_id: str
    reason: str
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass(frozen=True, kw_only=True)
class ImportDeliveries(Command):
    """A station's delivery sheet, already read into rows. The file enters the fingerprint only as
    a keyed digest: an unkeyed hash of a CSV could be checked against a guess at a row (R-AUD-2)."""

    file_hmac: str
    contract_id: str | None = None  # of rows without a 协议编号
    rows: list[ImportRow] = field(metadata=NOT_FINGERPRINTED)
    source: str = field(metadata=NOT_FINGERPRINTED)
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)
    worker_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass(frozen=True, kw_only=True)
class SubmitReport(Command):
    contract_id: str
    kind: str
    period: str | None
    submitted_on: dt.date
    title: str
    summary: str | None
    report_id: str = field(metadata=NOT_FINGERPRINTED)  # from the Idempotency-Key, if any
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass(frozen=True, kw_only=True)
class FileComplaint(Command):
    contract_id: str
    township: str
    station_id: str | None
    filed_on: dt.date
    description: str
    complaint_id: str = field(metadata=NOT_FINGERPRINTED)  # from the Idempotency-Key, if any
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass(frozen=True, kw_only=True)
class RegisterBeneficiary(Command):
    """The personal data enters the fingerprint only as its HMAC under the vault's key (R-AUD-2)."""

    personal_data_hmac: str
    personal_data: dict[str, Any] = field(metadata=NOT_FINGERPRINTED)
    provider_id: str | None = field(default=None, metadata=NOT_FINGERPRINTED)


@dataclass(frozen=True, kw_only=True)
class EraseBeneficiary(Command):
    ref: str
    reason: str


# --- the handlers ----------------------------------------------------------------------------


class ServicesLogCommands:
    """Narrow on purpose: the lookups to read, the recording helpers, and of the store only
    ``save``, the contract locks and the vault (to seal and shred)."""

    def __init__(self, store: ServicesLogApplication, lookups: ServicesLogLookups, recording: DeliveryRecording) -> None:
        self.lookups = lookups
        self.recording = recording
        self.save = store.save
        self.locks = store.contract_locks
        self.vault = store.vault
        # A delivery's loads and its one save (under the contract's lock): cached aggregates known
        # current are read without a fast-forward select each (shared/infra/freshness.py).
        self.fresh = store.fresh
        self._store = store  # for the bulk import (its one-row "recorded already?" reads)

    def register(self, bus: CommandBus) -> None:
        look = self.lookups
        bus.register(LogDelivery, self.log_delivery, lambda c, ids: look.delivery(c.county, ids[0]))
        bus.register(CorrectDelivery, self.correct_delivery, lambda c, _ids: look.delivery(c.county, c.delivery_id))
        bus.register(VoidDelivery, self.void_delivery, lambda c, _ids: look.delivery(c.county, c.delivery_id))
        # Repeating an upload is safe by design (idempotent per row). A repeated key reads it again to
        # answer the first run's report (the rows it recorded counted as recorded), recording nothing.
        bus.register(ImportDeliveries, self.import_deliveries, lambda c, ids: self.import_deliveries(c, frozenset(ids)))
        bus.register(SubmitReport, self.submit_report, lambda c, _ids: c.report_id)
        bus.register(FileComplaint, self.file_complaint, lambda c, _ids: c.complaint_id)
        bus.register(RegisterBeneficiary, self.register_beneficiary, lambda c, ids: look.beneficiary(c.county, ids[0]))
        bus.register(EraseBeneficiary, self.erase_beneficiary, lambda c, _ids: look.beneficiary(c.county, c.ref))

    # --- deliveries ---------------------------------------------------------------
    def log_delivery(self, c: LogDelivery) -> ServiceDelivery:
        """Record one delivery (R-LOG-1 … R-LOG-4, R-REG-6, R-REG-8) and the contract's new progress."""
        with self.locks.holding(c.contract_id), self.fresh():
            return self._log_delivery(c.county, c.facts(), c.provider_id)

    def _log_delivery(self, county: str, facts: DeliveryFacts, provider_id: str | None) -> ServiceDelivery:
        look, rec = self.lookups, self.recording
        contract = look.contract(county, facts.contract_id, field="contract_id")
        look.check_provider(contract, provider_id)
        refuse_first(look.check_beneficiaries(county, facts.beneficiary_refs, contract.provider_id))
        workers = {w: look.worker(county, w) for w in facts.worker_ids}
        sheets = {w: look.timesheet(county, w) for w in facts.worker_ids}
        refuse_first(delivery_problems(facts, contract, workers, lambda w, d: sheets[w].hours_on(d), china_today()))
        stored = rec.seal_content(facts)
        delivery = ServiceDelivery(delivery_id=str(uuid.uuid4()), county=county, **stored.as_args(), source="api")
        log = look.contract_log(contract)
        pages: dict[int, DeliveryIndexPage] = {}
        persons = rec.migrate_log(contract, log, pages)
        merge_changes(persons, served_changes(facts, contract))
        rec.index_deliveries(log, [str(delivery.id)], pages)
        log.tally_changes(new_delivery_ids=[str(delivery.id)], delta=contribution(facts, contract))
        book_hours(sheets, str(delivery.id), [(facts, 1)])
        log.report_progress(contract, look.day_in_year(contract))
        self.save(delivery, log, *pages.values(), *sheets.values(), *rec.count_served(contract, persons))
        return delivery

    def correct_delivery(self, c: CorrectDelivery) -> ServiceDelivery:
        """R-LOG-6: a new event with the corrected values and the reason; totals follow."""
        with self.locks.holding(self.lookups.delivery(c.county, c.delivery_id).facts.contract_id), self.fresh():
            return self._correct_delivery(c.county, c.delivery_id, c.fact_changes(), c.reason, c.provider_id)

    def _correct_delivery(
        self, county: str, delivery_id: str, changes: dict[str, Any], reason: str, provider_id: str | None
    ) -> ServiceDelivery:
        look, rec = self.lookups, self.recording
        delivery = look.delivery(county, delivery_id)  # read again under the contract's lock
        contract = look.contract(county, delivery.facts.contract_id)
        look.check_provider(contract, provider_id)
        delivery.check_correctable(reason)
        old = delivery.facts
        refuse_first(look.check_beneficiaries(county, changes.get("beneficiary_refs", old.beneficiary_refs), contract.provider_id))
        new = rec.corrected_facts(old, changes)
        workers = {w: look.worker(county, w) for w in new.worker_ids}
        sheets = {w: look.timesheet(county, w) for w in {*old.worker_ids, *new.worker_ids}}

        def booked(worker_id: str, day: dt.date) -> Any:  # the delivery's own hours do not count against it
            own = old.hours if worker_id in old.worker_ids and day == old.date else 0
            return sheets[worker_id].hours_on(day) - own

        refuse_first(delivery_problems(new, contract, workers, booked, china_today()))
        log, pages = look.contract_log(contract), dict[int, DeliveryIndexPage]()
        persons = rec.migrate_log(contract, log, pages)  # before the delivery changes
        delivery.correct(new, reason)
        delta = contribution(old, contract, -1).plus(contribution(new, contract))
        merge_changes(persons, served_changes(old, contract, -1))
        merge_changes(persons, served_changes(new, contract))
        return self._retally(delivery, contract, log, pages, delta, sheets, [(old, -1), (new, 1)], persons)

    def void_delivery(self, c: VoidDelivery) -> ServiceDelivery:
        """R-LOG-6: the delivery no longer counts; its history stays."""
        with self.locks.holding(self.lookups.delivery(c.county, c.delivery_id).facts.contract_id), self.fresh():
            return self._void_delivery(c.county, c.delivery_id, c.reason, c.provider_id)

    def _void_delivery(self, county: str, delivery_id: str, reason: str, provider_id: str | None) -> ServiceDelivery:
        look = self.lookups
        delivery = look.delivery(county, delivery_id)  # read again under the contract's lock
        contract = look.contract(county, delivery.facts.contract_id)
        look.check_provider(contract, provider_id)
        log, pages = look.contract_log(contract), dict[int, DeliveryIndexPage]()
        persons = self.recording.migrate_log(contract, log, pages)  # before the delivery changes
        delivery.void(reason)
        sheets = {w: look.timesheet(county, w) for w in delivery.facts.worker_ids}
        delta = contribution(delivery.facts, contract, -1)
        merge_changes(persons, served_changes(delivery.facts, contract, -1))
        return self._retally(delivery, contract, log, pages, delta, sheets, [(delivery.facts, -1)], persons)

    def _retally(
        self, delivery: ServiceDelivery, contract: Contract, log: ContractLog, pages: dict[int, DeliveryIndexPage],
        delta: Tally, sheets: dict[str, Timesheet], bookings: list[tuple[DeliveryFacts, int]],
        persons: dict[str, list[dict[str, Any]]],
    ) -> ServiceDelivery:
        log.tally_changes(new_delivery_ids=[], delta=delta)
        book_hours(sheets, str(delivery.id), bookings)
        log.report_progress(contract, self.lookups.day_in_year(contract))
        self.save(delivery, log, *pages.values(), *sheets.values(), *self.recording.count_served(contract, persons))
        return delivery

    def import_deliveries(self, c: ImportDeliveries, replaying: frozenset[str] | None = None) -> ImportReport:
        """A station's delivery sheet, row by row, good rows recorded once (``services_log.bulk``);
        with a worker's token, rows not naming the worker are refused (R-AUD-6). ``replaying``: the
        ids a first run with the same Idempotency-Key recorded (its report is answered, nothing saved)."""
        upload = DeliveryImport(
            self._store, self.lookups, self.recording, c.county, c.provider_id, c.contract_id, worker_id=c.worker_id,
            replaying=replaying,
        )
        return upload.run(c.rows, c.source)

    # --- reports and scope complaints (R-LOG-7) --------------------------------------
    def submit_report(self, c: SubmitReport) -> str:
        contract = self.lookups.contract(c.county, c.contract_id)
        self.lookups.check_provider(contract, c.provider_id)
        log = self.lookups.contract_log(contract)
        log.submit_report(contract, c.report_id, c.kind, c.period, c.submitted_on, c.title, c.summary)
        self.save(log)
        return c.report_id

    def file_complaint(self, c: FileComplaint) -> str:
        contract = self.lookups.contract(c.county, c.contract_id)
        self.lookups.check_provider(contract, c.provider_id)
        log = self.lookups.contract_log(contract)
        log.file_complaint(contract, c.complaint_id, c.station_id, c.township, c.filed_on, c.description)
        self.save(log)
        return c.complaint_id

    # --- beneficiaries (R-LOG-5) -------------------------------------------------------
    def register_beneficiary(self, c: RegisterBeneficiary) -> Beneficiary:
        """The personal data is encrypted with the person's own key (outside the log) before it is stored."""
        ref = str(uuid.uuid4())
        sealed = self.vault.seal(ref, dict(c.personal_data))
        beneficiary = Beneficiary(beneficiary_ref=ref, county=c.county, sealed_personal_data=sealed, provider_id=c.provider_id)
        self.save(beneficiary)
        return beneficiary

    def erase_beneficiary(self, c: EraseBeneficiary) -> Beneficiary:
        """Crypto-shredding: the key goes first, so a failure after it still leaves the data unreadable."""
        beneficiary = self.lookups.beneficiary(c.county, c.ref)
        beneficiary.erase(c.reason)
        self.vault.shred(str(beneficiary.id))
        self.save(beneficiary)
        return beneficiary
