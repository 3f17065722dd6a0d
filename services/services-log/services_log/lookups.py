"""Loads services-log's aggregates, county-checked (another county's id is "not found"), and opens
what the vault sealed. Read-only: nothing here saves. A lookup with ``read_only=True`` returns
the cached instance itself — for reads that change nothing (never call a command method on it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from services_log.application import ServicesLogApplication
from services_log.domainmodel import (
    Beneficiary,
    Contract,
    ContractLog,
    DeliveryFacts,
    DeliveryIndexPage,
    ServiceDelivery,
    StationRoster,
    Timesheet,
    Worker,
)
from services_log.domainmodel.served import ServedPersons
from shared.clock import china_today
from shared.rules import DomainError, Forbidden, NotFound, UnknownReference


class ServicesLogLookups:
    def __init__(self, store: ServicesLogApplication) -> None:
        self.store = store

    def find(self, aggregate_id: uuid.UUID, read_only: bool = False) -> Any:
        return self.store._find(aggregate_id, read_only)

    # --- county-checked ------------------------------------------------------------------
    def contract(self, county: str, contract_id: str, field: str | None = None) -> Contract:
        """``field=None``: the id came from the path (404); otherwise from the body (422 naming it)."""
        found: Contract | None = self.find(Contract.create_id(str(contract_id)), read_only=True)
        if found is None or found.county != county:
            error = NotFound if field is None else UnknownReference
            raise error(
                f"unknown contract {contract_id} in county {county} (or not yet received from registry)",
                rule=None if field is None else "R-LOG-3", field=field, facts={"code": "contract_unknown"},
            )
        return found

    def contract_log(self, contract: Contract, read_only: bool = False) -> ContractLog:
        log: ContractLog | None = self.find(ContractLog.create_id(contract.contract_id), read_only)
        return log or ContractLog(contract_id=contract.contract_id, county=contract.county)

    def served(self, contract: Contract, period: str, read_only: bool = False) -> ServedPersons:
        """Persons the contract served in ``period`` (``year``, ``YYYY-MM`` or ``YYYY-Qn``)."""
        found: ServedPersons | None = self.find(ServedPersons.create_id(contract.contract_id, period), read_only)
        return found or ServedPersons(contract_id=contract.contract_id, period=period, county=contract.county)

    def logged_ids(self, log: ContractLog) -> list[str]:
        """The ids of a log's deliveries in the order logged, from its ``Tallied`` events (as of
        the pinned instant while reads are pinned). One pass over its history: for a log opened
        before the index pages (``not log.indexed``), until its first write indexes it."""
        ids: list[str] = []
        for domain_event in self.store.history(log.id):
            if isinstance(domain_event, ContractLog.Tallied):
                ids.extend(domain_event.new_delivery_ids)
        return ids[: log.deliveries_logged]

    def index_page(self, contract_id: str, page: int, read_only: bool = False) -> DeliveryIndexPage | None:
        found: DeliveryIndexPage | None = self.find(DeliveryIndexPage.create_id(contract_id, page), read_only)
        return found

    def worker(self, county: str, worker_id: str) -> Worker | None:
        try:
            found: Worker | None = self.find(Worker.create_id(str(worker_id)), read_only=True)
        except ValueError:
            return None
        return found if found is not None and found.county == county else None

    def timesheet(self, county: str, worker_id: str) -> Timesheet:
        sheet: Timesheet | None = self.find(Timesheet.create_id(worker_id))
        return sheet or Timesheet(worker_id=worker_id, county=county)

    def delivery(self, county: str, delivery_id: str, read_only: bool = False) -> ServiceDelivery:
        try:
            found = self.find(uuid.UUID(str(delivery_id)), read_only)
        except ValueError:
            found = None
        if not isinstance(found, ServiceDelivery) or found.county != county:
            raise NotFound(f"unknown delivery {delivery_id} in county {county}", facts={"code": "unknown_reference", "kind": "delivery"})
        return found

    def beneficiary(self, county: str, ref: str, field: str | None = None, read_only: bool = False) -> Beneficiary:
        try:
            found = self.find(uuid.UUID(str(ref)), read_only)
        except ValueError:
            found = None
        if not isinstance(found, Beneficiary) or found.county != county:
            error = NotFound if field is None else UnknownReference
            raise error(f"unknown beneficiary (服务对象) {ref} in county {county}", rule=None if field is None else "R-LOG-5", field=field,
                        facts={"code": "beneficiary_unknown"})
        return found

    def check_beneficiaries(self, county: str, refs: Iterable[str], provider_id: str | None = None) -> list[DomainError]:
        """Unknown references; with ``provider_id``, another provider's beneficiaries count as unknown."""
        problems: list[DomainError] = []
        for i, ref in enumerate(refs):
            try:
                found = self.beneficiary(county, ref, field=f"beneficiary_refs.{i}", read_only=True)
            except UnknownReference as exc:
                problems.append(exc)
                continue
            if provider_id is not None and found.provider_id not in (None, provider_id):  # in an unknown one's words
                problems.append(UnknownReference(f"unknown beneficiary (服务对象) {ref} in county {county}", rule="R-LOG-5",
                                                 field=f"beneficiary_refs.{i}", facts={"code": "beneficiary_unknown"}))
        return problems

    @staticmethod
    def check_provider(contract: Contract, provider_id: str | None) -> None:
        """R-REG-8: only the contracted provider (and its workers) log for a contract."""
        if provider_id is not None and provider_id != contract.provider_id:
            raise Forbidden("only the contracted provider logs services for this contract", rule="R-REG-8",
                            facts={"code": "not_contracted_provider"})

    @staticmethod
    def day_in_year(contract: Contract, day: date | None = None) -> date:
        """``day`` (default today) within the contract year."""
        return max(contract.period_start, min(day or china_today(), contract.last_day))

    def staff_on(self, contract: Contract, day: date) -> list[str]:
        """The contract's professional staff: workers of its provider employed at its stations on ``day``."""
        staff = set()
        for station_id in contract.station_ids:
            roster: StationRoster | None = self.find(StationRoster.create_id(station_id), read_only=True)
            for worker_id in roster.worker_ids if roster else []:
                worker: Worker | None = self.find(Worker.create_id(worker_id), read_only=True)
                job = worker.employment_on(day) if worker else None
                if job and job.provider_id == contract.provider_id and job.station_id in contract.station_ids:
                    staff.add(worker_id)
        return sorted(staff)

    # --- what the vault sealed (R-LOG-5, R-AUD-2) ----------------------------------------------
    @staticmethod
    def key_refs(refs: Iterable[str]) -> list[str]:
        """Refs as the key store names them (``str`` of the beneficiary's UUID)."""
        named = []
        for ref in refs:
            try:
                named.append(str(uuid.UUID(str(ref))))
            except ValueError:
                named.append(str(ref))  # no such key: seals and digests come out None
        return named

    def content_of(self, facts: DeliveryFacts) -> tuple[str | None, bool]:
        """(content, erased): sealed content opened while every cited person's key exists, else (None, True)."""
        if facts.content_sealed is None:
            return facts.content, False
        text = self.store.vault.open_for(self.key_refs(facts.beneficiary_refs), facts.content_sealed)
        return text, text is None

    def content_digest(self, refs: Iterable[str], content: str | None) -> str | None:
        """What an idempotency fingerprint or a row id may hold of content citing ``refs``: a digest
        under their keys (None when the content cites no one, "erased" when a key is gone)."""
        if content is None or not refs:
            return None
        return self.store.vault.digest_for(self.key_refs(refs), content) or "erased"

    def personal_data(self, beneficiary: Beneficiary) -> dict[str, Any] | None:
        if beneficiary.erased:
            return None
        return self.store.vault.open(str(beneficiary.id), beneficiary.sealed_personal_data)

    def personal_data_hmac(self, personal_data: dict[str, Any]) -> str:
        """A keyed fingerprint of personal data (or a file): what an idempotency record may keep of
        it, nothing a guess at the data could be checked against once it is erased (R-AUD-2)."""
        return self.store.vault.fingerprint(personal_data)
