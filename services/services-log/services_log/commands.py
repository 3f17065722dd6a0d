"""services-log's commands: deliveries (R-LOG-1 … R-LOG-6), reports and scope complaints (R-LOG-7),
beneficiaries (R-LOG-5) and the bulk import. Decided on the aggregates loaded through the lookups
and saved together; a contract's writes queue on its lock instead of racing to a 409."""

from __future__ import annotations

import uuid
from datetime import date
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
    Timesheet,
    contribution,
    delivery_problems,
)
from services_log.domainmodel.ledger import add_into
from services_log.domainmodel.served import merge_changes, served_changes
from services_log.lookups import ServicesLogLookups
from services_log.recording import DeliveryRecording, book_hours, refuse_first
from services_log.sheets import ImportRow
from shared.clock import china_today


class ServicesLogCommands:
    """Narrow on purpose: the lookups to read, the recording helpers, and of the store only
    ``save``, the contract locks and the vault (to seal and shred)."""

    def __init__(self, store: ServicesLogApplication, lookups: ServicesLogLookups, recording: DeliveryRecording) -> None:
        self.lookups = lookups
        self.recording = recording
        self.save = store.save
        self.locks = store.contract_locks
        self.vault = store.vault
        self._store = store  # for the bulk import (its one-row "recorded already?" reads)

    # --- deliveries ---------------------------------------------------------------
    def log_delivery(self, county: str, facts: DeliveryFacts, provider_id: str | None) -> ServiceDelivery:
        """Record one delivery (R-LOG-1 … R-LOG-4, R-REG-6, R-REG-8) and the contract's new progress."""
        with self.locks.holding(facts.contract_id):
            return self._log_delivery(county, facts, provider_id)

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

    def correct_delivery(
        self, county: str, delivery_id: str, changes: dict[str, Any], reason: str, provider_id: str | None
    ) -> ServiceDelivery:
        """R-LOG-6: a new event with the corrected values and the reason; totals follow."""
        with self.locks.holding(self.lookups.delivery(county, delivery_id).facts.contract_id):
            return self._correct_delivery(county, delivery_id, changes, reason, provider_id)

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

        def booked(worker_id: str, day: date) -> Any:  # the delivery's own hours do not count against it
            own = old.hours if worker_id in old.worker_ids and day == old.date else 0
            return sheets[worker_id].hours_on(day) - own

        refuse_first(delivery_problems(new, contract, workers, booked, china_today()))
        log, pages = look.contract_log(contract), dict[int, DeliveryIndexPage]()
        persons = rec.migrate_log(contract, log, pages)  # before the delivery changes
        delivery.correct(new, reason)
        delta = contribution(old, contract, -1)
        add_into(delta, contribution(new, contract))
        merge_changes(persons, served_changes(old, contract, -1))
        merge_changes(persons, served_changes(new, contract))
        return self._retally(delivery, contract, log, pages, delta, sheets, [(old, -1), (new, 1)], persons)

    def void_delivery(self, county: str, delivery_id: str, reason: str, provider_id: str | None) -> ServiceDelivery:
        """R-LOG-6: the delivery no longer counts; its history stays."""
        with self.locks.holding(self.lookups.delivery(county, delivery_id).facts.contract_id):
            return self._void_delivery(county, delivery_id, reason, provider_id)

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
        delta: dict[str, Any], sheets: dict[str, Timesheet], bookings: list[tuple[DeliveryFacts, int]],
        persons: dict[str, list[dict[str, Any]]],
    ) -> ServiceDelivery:
        log.tally_changes(new_delivery_ids=[], delta=delta)
        book_hours(sheets, str(delivery.id), bookings)
        log.report_progress(contract, self.lookups.day_in_year(contract))
        self.save(delivery, log, *pages.values(), *sheets.values(), *self.recording.count_served(contract, persons))
        return delivery

    def import_deliveries(
        self, county: str, rows: list[ImportRow], source: str, provider_id: str | None,
        default_contract_id: str | None, worker_id: str | None,
    ) -> ImportReport:
        """A station's delivery sheet, row by row, good rows recorded once (``services_log.bulk``)."""
        upload = DeliveryImport(
            self._store, self.lookups, self.recording, county, provider_id, default_contract_id, worker_id=worker_id
        )
        return upload.run(rows, source)

    # --- reports and scope complaints (R-LOG-7) --------------------------------------
    def submit_report(
        self, county: str, contract_id: str, provider_id: str | None, *, report_id: str, kind: str,
        period: str | None, submitted_on: date, title: str, summary: str | None,
    ) -> str:
        contract = self.lookups.contract(county, contract_id)
        self.lookups.check_provider(contract, provider_id)
        log = self.lookups.contract_log(contract)
        log.submit_report(contract, report_id, kind, period, submitted_on, title, summary)
        self.save(log)
        return report_id

    def file_complaint(
        self, county: str, contract_id: str, provider_id: str | None, *, complaint_id: str,
        station_id: str | None, township: str, filed_on: date, description: str,
    ) -> str:
        contract = self.lookups.contract(county, contract_id)
        self.lookups.check_provider(contract, provider_id)
        log = self.lookups.contract_log(contract)
        log.file_complaint(contract, complaint_id, station_id, township, filed_on, description)
        self.save(log)
        return complaint_id

    # --- beneficiaries (R-LOG-5) -------------------------------------------------------
    def register_beneficiary(self, county: str, personal_data: dict[str, Any], provider_id: str | None = None) -> Beneficiary:
        ref = str(uuid.uuid4())
        sealed = self.vault.seal(ref, personal_data)
        beneficiary = Beneficiary(beneficiary_ref=ref, county=county, sealed_personal_data=sealed, provider_id=provider_id)
        self.save(beneficiary)
        return beneficiary

    def erase_beneficiary(self, county: str, ref: str, reason: str) -> Beneficiary:
        """Crypto-shredding: the key goes first, so a failure after it still leaves the data unreadable."""
        beneficiary = self.lookups.beneficiary(county, ref)
        beneficiary.erase(reason)
        self.vault.shred(str(beneficiary.id))
        self.save(beneficiary)
        return beneficiary
