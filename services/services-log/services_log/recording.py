"""What every write of deliveries shares — the single commands and the bulk import alike: sealing
content for the beneficiaries it cites, keeping a contract log's index pages and persons-served
counts, booking workers' hours. It changes aggregates the caller then saves; it saves nothing."""

from __future__ import annotations

from typing import Any

from services_log.domainmodel import PAGE_SIZE, Contract, ContractLog, DeliveryFacts, DeliveryIndexPage, Timesheet
from services_log.domainmodel.served import YEAR, ServedPersons, merge_changes, served_changes
from services_log.keystore import PersonalDataVault
from services_log.lookups import ServicesLogLookups
from shared.rules import DomainError, RuleViolation


def refuse_first(problems: list[DomainError]) -> None:
    if problems:
        raise problems[0]


def book_hours(sheets: dict[str, Timesheet], delivery_id: str, bookings: list[tuple[DeliveryFacts, int]]) -> None:
    """One HoursBooked event per worker: the hours each delivery adds (or, with -1, releases)."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for facts, sign in bookings:
        for worker_id in facts.worker_ids:
            entries.setdefault(worker_id, []).append({"delivery_id": delivery_id, "date": facts.date, "hours": facts.hours * sign})
    for worker_id, booked in entries.items():
        sheets[worker_id].book(entries=booked)


class DeliveryRecording:
    def __init__(self, lookups: ServicesLogLookups, vault: PersonalDataVault) -> None:
        self.lookups = lookups
        self.vault = vault

    def count_served(self, contract: Contract, changes: dict[str, list[dict[str, Any]]]) -> list[ServedPersons]:
        """Apply per-period changes of persons served; the aggregates to save with the command."""
        touched = []
        for period, period_changes in sorted(changes.items()):
            served = self.lookups.served(contract, period)
            served.count(changes=period_changes)
            touched.append(served)
        return touched

    def migrate_log(self, contract: Contract, log: ContractLog, pages: dict[int, DeliveryIndexPage]) -> dict[str, list[dict[str, Any]]]:
        """Bring a log opened by an earlier version up to date, once; call before the command
        changes any delivery. Returns the persons-served changes to count with the command.

        - its deliveries, named until now only by its events, go into index pages (``pages``);
        - deliveries recorded before this service counted persons served left no count: unless
          the contract's year count exists, they are counted now (one pass over them) and the
          year count is opened, so it never happens again.
        A log opened by this version is indexed and counted from its start: nothing to do."""
        if log.indexed:
            return {}
        look = self.lookups
        ids = look.logged_ids(log)
        for start in range(0, len(ids), PAGE_SIZE):
            page = look.index_page(contract.contract_id, start // PAGE_SIZE) or DeliveryIndexPage(
                contract_id=contract.contract_id, page=start // PAGE_SIZE
            )
            if not page.ids:
                page.append(ids=ids[start : start + PAGE_SIZE])
            pages[page.page] = page
        log.mark_indexed()
        if not ids or look.find(ServedPersons.create_id(contract.contract_id, YEAR), read_only=True) is not None:
            return {}
        changes: dict[str, list[dict[str, Any]]] = {YEAR: []}
        for delivery_id in ids:
            delivery = look.delivery(contract.county, delivery_id, read_only=True)
            if delivery.counts:
                merge_changes(changes, served_changes(delivery.facts, contract))
        return changes

    def index_deliveries(self, log: ContractLog, ids: list[str], pages: dict[int, DeliveryIndexPage]) -> None:
        """Put new deliveries' ids into the log's index pages (``pages``: those loaded so far, to
        save with the command); call before ``log.tally_changes`` counts them."""
        position, done = log.deliveries_logged, 0
        while done < len(ids):
            number, used = divmod(position, PAGE_SIZE)
            chunk = ids[done : done + PAGE_SIZE - used]
            page = pages.get(number) or self.lookups.index_page(log.contract_id, number)
            if page is None:
                page = DeliveryIndexPage(contract_id=log.contract_id, page=number)
            page.append(ids=chunk)
            pages[number] = page
            position, done = position + len(chunk), done + len(chunk)

    # --- content citing beneficiaries: sealed for them (R-LOG-5, R-AUD-2) --------------------
    # From now on, a delivery's content that cites beneficiaries is stored only sealed under all of
    # their keys, so erasing any one of them shreds it. Content citing no one is stored as before;
    # content recorded before this was added stays as it was stored (it is not migrated).
    def seal_content(self, facts: DeliveryFacts) -> DeliveryFacts:
        """The facts as stored: content that cites beneficiaries sealed for them, out of ``content``."""
        if facts.content is None or not facts.beneficiary_refs:
            return facts.changed(content_sealed=None)
        key_refs = self.lookups.key_refs
        sealed = self.vault.seal_for(key_refs(facts.beneficiary_refs), facts.content)
        if sealed is None:
            erased = next(i for i, ref in enumerate(facts.beneficiary_refs) if self.vault.keys.get(key_refs([ref])[0]) is None)
            raise RuleViolation(
                "this beneficiary's personal data is erased: content about them can no longer be recorded",
                rule="R-AUD-2", field=f"beneficiary_refs.{erased}", facts={"code": "beneficiary_erased"},
            )
        return facts.changed(content=None, content_sealed=sealed)

    def corrected_facts(self, old: DeliveryFacts, changes: dict[str, Any]) -> DeliveryFacts:
        """The facts a correction stores: sealed again when the content or the refs it is sealed for change."""
        text, erased = self.lookups.content_of(old)
        new = old.changed(**{"content": text, **changes, "content_sealed": None})
        if erased and "content" not in changes:  # shredded for good: it stays so, whatever the refs
            return new.changed(content=None, content_sealed=old.content_sealed)
        if (new.content, new.beneficiary_refs) == (text, old.beneficiary_refs):  # unchanged: as stored
            return new.changed(content=old.content, content_sealed=old.content_sealed)
        return self.seal_content(new)
