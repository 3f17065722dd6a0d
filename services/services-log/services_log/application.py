"""The services-log event-sourced application: deliveries, reports, beneficiaries, progress and briefs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Transcoding

from services_log.domainmodel import (
    PAGE_SIZE,
    Beneficiary,
    Contract,
    ContractLog,
    DeliveryFacts,
    DeliveryIndexPage,
    ServiceDelivery,
    StationRoster,
    Timesheet,
    Worker,
    contribution,
    delivery_problems,
    hours_against_caps,
    indicator_progress,
)
from services_log.domainmodel.ledger import add_into, totals_between
from services_log.domainmodel.served import YEAR, ServedPersons, merge_changes, quarter_of, served_changes
from services_log.keystore import PersonalDataVault, key_store_for
from services_log.locks import KeyedLocks
from services_log.registry_feed import ServicesLogStore
from shared.clock import china_today
from shared.rules import DomainError, Forbidden, NotFound, RuleViolation, UnknownReference


def refuse_first(problems: list[DomainError]) -> None:
    if problems:
        raise problems[0]


class SetAsList(Transcoding):
    """Sets in aggregate state, for snapshots: a sorted list. (Snapshots of ``ContractLog``
    version 1 hold its ``_known`` set: kept so that they still decode.)"""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class ServicesLogApplication(ServicesLogStore):
    """Commands and queries of services-log; its read model of registry is kept by the
    ``RegistryReactions`` object the consumer is wired to (``services_log.integration``)."""

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

    def close(self) -> None:
        self.vault.keys.close()
        super().close()

    # --- lookups (county-checked: another county's id is "not found") ---------------
    def contract(self, county: str, contract_id: str, field: str | None = None) -> Contract:
        """``field=None``: the id came from the path (404); otherwise from the body (422 naming it)."""
        found: Contract | None = self._find(Contract.create_id(str(contract_id)), read_only=True)
        if found is None or found.county != county:
            error = NotFound if field is None else UnknownReference
            raise error(
                f"unknown contract {contract_id} in county {county} (or not yet received from registry)",
                rule=None if field is None else "R-LOG-3", field=field,
            )
        return found

    def contract_log(self, contract: Contract, read_only: bool = False) -> ContractLog:
        log: ContractLog | None = self._find(ContractLog.create_id(contract.contract_id), read_only)
        return log or ContractLog(contract_id=contract.contract_id, county=contract.county)

    def served(self, contract: Contract, period: str, read_only: bool = False) -> ServedPersons:
        """Persons the contract served in ``period`` (``year``, ``YYYY-MM`` or ``YYYY-Qn``)."""
        found: ServedPersons | None = self._find(ServedPersons.create_id(contract.contract_id, period), read_only)
        return found or ServedPersons(contract_id=contract.contract_id, period=period, county=contract.county)

    def count_served(self, contract: Contract, changes: dict[str, list[dict[str, Any]]]) -> list[ServedPersons]:
        """Apply per-period changes of persons served; the aggregates to save with the command."""
        touched = []
        for period, period_changes in sorted(changes.items()):
            served = self.served(contract, period)
            served.count(changes=period_changes)
            touched.append(served)
        return touched

    def logged_ids(self, log: ContractLog) -> list[str]:
        """The ids of a log's deliveries in the order logged, from its ``Tallied`` events (as of
        the pinned instant while reads are pinned). One pass over its history: for a log opened
        before the index pages (``not log.indexed``), until its first write indexes it."""
        ids: list[str] = []
        for domain_event in self.history(log.id):
            if isinstance(domain_event, ContractLog.Tallied):
                ids.extend(domain_event.new_delivery_ids)
        return ids[: log.deliveries_logged]

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
        ids = self.logged_ids(log)
        for start in range(0, len(ids), PAGE_SIZE):
            page = self.index_page(contract.contract_id, start // PAGE_SIZE) or DeliveryIndexPage(
                contract_id=contract.contract_id, page=start // PAGE_SIZE
            )
            if not page.ids:
                page.append(ids=ids[start : start + PAGE_SIZE])
            pages[page.page] = page
        log.mark_indexed()
        if not ids or self._find(ServedPersons.create_id(contract.contract_id, YEAR), read_only=True) is not None:
            return {}
        changes: dict[str, list[dict[str, Any]]] = {YEAR: []}
        for delivery_id in ids:
            delivery = self.delivery(contract.county, delivery_id, read_only=True)
            if delivery.counts:
                merge_changes(changes, served_changes(delivery.facts, contract))
        return changes

    def index_page(self, contract_id: str, page: int, read_only: bool = False) -> DeliveryIndexPage | None:
        found: DeliveryIndexPage | None = self._find(DeliveryIndexPage.create_id(contract_id, page), read_only)
        return found

    def index_deliveries(self, log: ContractLog, ids: list[str], pages: dict[int, DeliveryIndexPage]) -> None:
        """Put new deliveries' ids into the log's index pages (``pages``: those loaded so far, to
        save with the command); call before ``log.tally_changes`` counts them."""
        position, done = log.deliveries_logged, 0
        while done < len(ids):
            number, used = divmod(position, PAGE_SIZE)
            chunk = ids[done : done + PAGE_SIZE - used]
            page = pages.get(number) or self.index_page(log.contract_id, number)
            if page is None:
                page = DeliveryIndexPage(contract_id=log.contract_id, page=number)
            page.append(ids=chunk)
            pages[number] = page
            position, done = position + len(chunk), done + len(chunk)

    def worker(self, county: str, worker_id: str) -> Worker | None:
        try:
            found: Worker | None = self._find(Worker.create_id(str(worker_id)), read_only=True)
        except ValueError:
            return None
        return found if found is not None and found.county == county else None

    def timesheet(self, county: str, worker_id: str) -> Timesheet:
        sheet: Timesheet | None = self._find(Timesheet.create_id(worker_id))
        return sheet or Timesheet(worker_id=worker_id, county=county)

    def delivery(self, county: str, delivery_id: str, read_only: bool = False) -> ServiceDelivery:
        try:
            found = self._find(uuid.UUID(str(delivery_id)), read_only)
        except ValueError:
            found = None
        if not isinstance(found, ServiceDelivery) or found.county != county:
            raise NotFound(f"unknown delivery {delivery_id} in county {county}")
        return found

    def beneficiary(self, county: str, ref: str, field: str | None = None, read_only: bool = False) -> Beneficiary:
        try:
            found = self._find(uuid.UUID(str(ref)), read_only)
        except ValueError:
            found = None
        if not isinstance(found, Beneficiary) or found.county != county:
            error = NotFound if field is None else UnknownReference
            raise error(f"unknown beneficiary (服务对象) {ref} in county {county}", rule=None if field is None else "R-LOG-5", field=field)
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
            if provider_id is not None and found.provider_id not in (None, provider_id):
                problems.append(UnknownReference(f"unknown beneficiary {ref} in county {county}", field=f"beneficiary_refs.{i}"))
        return problems

    @staticmethod
    def check_provider(contract: Contract, provider_id: str | None) -> None:
        """R-REG-8: only the contracted provider (and its workers) log for a contract."""
        if provider_id is not None and provider_id != contract.provider_id:
            raise Forbidden("only the contracted provider logs services for this contract", rule="R-REG-8")

    @staticmethod
    def as_of(contract: Contract, day: date | None = None) -> date:
        """``day`` (default today) within the contract year."""
        return max(contract.period_start, min(day or china_today(), contract.last_day))

    def staff_on(self, contract: Contract, day: date) -> list[str]:
        """The contract's professional staff: workers of its provider employed at its stations on ``day``."""
        staff = set()
        for station_id in contract.station_ids:
            roster: StationRoster | None = self._find(StationRoster.create_id(station_id), read_only=True)
            for worker_id in roster.worker_ids if roster else []:
                worker: Worker | None = self._find(Worker.create_id(worker_id), read_only=True)
                job = worker.employment_on(day) if worker else None
                if job and job["provider_id"] == contract.provider_id and job["station_id"] in contract.station_ids:
                    staff.add(worker_id)
        return sorted(staff)

    # --- deliveries ---------------------------------------------------------------
    def log_delivery(self, county: str, facts: DeliveryFacts, provider_id: str | None) -> ServiceDelivery:
        """Record one delivery (R-LOG-1 … R-LOG-4, R-REG-6, R-REG-8) and the contract's new progress."""
        with self.contract_locks.holding(facts.contract_id):
            return self._log_delivery(county, facts, provider_id)

    def _log_delivery(self, county: str, facts: DeliveryFacts, provider_id: str | None) -> ServiceDelivery:
        contract = self.contract(county, facts.contract_id, field="contract_id")
        self.check_provider(contract, provider_id)
        refuse_first(self.check_beneficiaries(county, facts.beneficiary_refs, contract.provider_id))
        workers = {w: self.worker(county, w) for w in facts.worker_ids}
        sheets = {w: self.timesheet(county, w) for w in facts.worker_ids}
        refuse_first(delivery_problems(facts, contract, workers, lambda w, d: sheets[w].hours_on(d), china_today()))
        stored = self.seal_content(facts)
        delivery = ServiceDelivery(delivery_id=str(uuid.uuid4()), county=county, **stored.as_args(), source="api")
        log = self.contract_log(contract)
        pages: dict[int, DeliveryIndexPage] = {}
        persons = self.migrate_log(contract, log, pages)
        merge_changes(persons, served_changes(facts, contract))
        self.index_deliveries(log, [str(delivery.id)], pages)
        log.tally_changes(new_delivery_ids=[str(delivery.id)], delta=contribution(facts, contract))
        book_hours(sheets, str(delivery.id), [(facts, 1)])
        log.report_progress(contract, self.as_of(contract))
        self.save(delivery, log, *pages.values(), *sheets.values(), *self.count_served(contract, persons))
        return delivery

    def correct_delivery(
        self, county: str, delivery_id: str, changes: dict[str, Any], reason: str, provider_id: str | None
    ) -> ServiceDelivery:
        """R-LOG-6: a new event with the corrected values and the reason; totals follow."""
        with self.contract_locks.holding(self.delivery(county, delivery_id).facts.contract_id):
            return self._correct_delivery(county, delivery_id, changes, reason, provider_id)

    def _correct_delivery(
        self, county: str, delivery_id: str, changes: dict[str, Any], reason: str, provider_id: str | None
    ) -> ServiceDelivery:
        delivery = self.delivery(county, delivery_id)  # read again under the contract's lock
        contract = self.contract(county, delivery.facts.contract_id)
        self.check_provider(contract, provider_id)
        delivery.check_correctable(reason)
        old = delivery.facts
        refuse_first(self.check_beneficiaries(county, changes.get("beneficiary_refs", old.beneficiary_refs), contract.provider_id))
        new = self.corrected_facts(old, changes)
        workers = {w: self.worker(county, w) for w in new.worker_ids}
        sheets = {w: self.timesheet(county, w) for w in {*old.worker_ids, *new.worker_ids}}

        def booked(worker_id: str, day: date) -> Any:  # the delivery's own hours do not count against it
            own = old.hours if worker_id in old.worker_ids and day == old.date else 0
            return sheets[worker_id].hours_on(day) - own

        refuse_first(delivery_problems(new, contract, workers, booked, china_today()))
        log, pages = self.contract_log(contract), dict[int, DeliveryIndexPage]()
        persons = self.migrate_log(contract, log, pages)  # before the delivery changes
        delivery.correct(new, reason)
        delta = contribution(old, contract, -1)
        add_into(delta, contribution(new, contract))
        merge_changes(persons, served_changes(old, contract, -1))
        merge_changes(persons, served_changes(new, contract))
        return self._retally(delivery, contract, log, pages, delta, sheets, [(old, -1), (new, 1)], persons)

    # --- content citing beneficiaries: sealed for them (R-LOG-5, R-AUD-2) --------------------
    # From now on, a delivery's content that cites beneficiaries is stored only sealed under all of
    # their keys, so erasing any one of them shreds it. Content citing no one is stored as before;
    # content recorded before this was added stays as it was stored (it is not migrated).
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

    def seal_content(self, facts: DeliveryFacts) -> DeliveryFacts:
        """The facts as stored: content that cites beneficiaries sealed for them, out of ``content``."""
        if facts.content is None or not facts.beneficiary_refs:
            return facts.changed(content_sealed=None)
        sealed = self.vault.seal_for(self.key_refs(facts.beneficiary_refs), facts.content)
        if sealed is None:
            erased = next(i for i, ref in enumerate(facts.beneficiary_refs) if self.vault.keys.get(self.key_refs([ref])[0]) is None)
            raise RuleViolation(
                "this beneficiary's personal data is erased: content about them can no longer be recorded",
                rule="R-AUD-2", field=f"beneficiary_refs.{erased}",
            )
        return facts.changed(content=None, content_sealed=sealed)

    def content_of(self, facts: DeliveryFacts) -> tuple[str | None, bool]:
        """(content, erased): sealed content opened while every cited person's key exists, else (None, True)."""
        if facts.content_sealed is None:
            return facts.content, False
        text = self.vault.open_for(self.key_refs(facts.beneficiary_refs), facts.content_sealed)
        return text, text is None

    def content_digest(self, refs: Iterable[str], content: str | None) -> str | None:
        """What an idempotency fingerprint or a row id may hold of content citing ``refs``: a digest
        under their keys (None when the content cites no one, "erased" when a key is gone)."""
        if content is None or not refs:
            return None
        return self.vault.digest_for(self.key_refs(refs), content) or "erased"

    def corrected_facts(self, old: DeliveryFacts, changes: dict[str, Any]) -> DeliveryFacts:
        """The facts a correction stores: sealed again when the content or the refs it is sealed for change."""
        text, erased = self.content_of(old)
        new = old.changed(**{"content": text, **changes, "content_sealed": None})
        if erased and "content" not in changes:  # shredded for good: it stays so, whatever the refs
            return new.changed(content=None, content_sealed=old.content_sealed)
        if (new.content, new.beneficiary_refs) == (text, old.beneficiary_refs):  # unchanged: as stored
            return new.changed(content=old.content, content_sealed=old.content_sealed)
        return self.seal_content(new)

    def void_delivery(self, county: str, delivery_id: str, reason: str, provider_id: str | None) -> ServiceDelivery:
        """R-LOG-6: the delivery no longer counts; its history stays."""
        with self.contract_locks.holding(self.delivery(county, delivery_id).facts.contract_id):
            return self._void_delivery(county, delivery_id, reason, provider_id)

    def _void_delivery(self, county: str, delivery_id: str, reason: str, provider_id: str | None) -> ServiceDelivery:
        delivery = self.delivery(county, delivery_id)  # read again under the contract's lock
        contract = self.contract(county, delivery.facts.contract_id)
        self.check_provider(contract, provider_id)
        log, pages = self.contract_log(contract), dict[int, DeliveryIndexPage]()
        persons = self.migrate_log(contract, log, pages)  # before the delivery changes
        delivery.void(reason)
        sheets = {w: self.timesheet(county, w) for w in delivery.facts.worker_ids}
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
        log.report_progress(contract, self.as_of(contract))
        self.save(delivery, log, *pages.values(), *sheets.values(), *self.count_served(contract, persons))
        return delivery

    def deliveries_of(self, county: str, contract_id: str, offset: int, limit: int) -> tuple[int, list[ServiceDelivery]]:
        """A page of the contract's deliveries in the order logged: reads at most two index pages."""
        contract = self.contract(county, contract_id)
        log = self.contract_log(contract, read_only=True)
        total, end = log.deliveries_logged, min(offset + limit, log.deliveries_logged)
        if offset >= end:
            return total, []
        if not log.indexed:  # opened by an earlier version and not written to since
            ids = self.logged_ids(log)[offset:end]
        else:
            first, ids = offset // PAGE_SIZE, []
            for number in range(first, (end - 1) // PAGE_SIZE + 1):
                page = self.index_page(contract.contract_id, number, read_only=True)
                ids.extend(page.ids if page else [])
            ids = ids[offset - first * PAGE_SIZE : end - first * PAGE_SIZE]
        return total, [self.delivery(county, i, read_only=True) for i in ids]

    # --- reports and scope complaints (R-LOG-7) --------------------------------------
    def submit_report(
        self, county: str, contract_id: str, provider_id: str | None, *, report_id: str, kind: str,
        period: str | None, submitted_on: date, title: str, summary: str | None,
    ) -> str:
        contract = self.contract(county, contract_id)
        self.check_provider(contract, provider_id)
        log = self.contract_log(contract)
        log.submit_report(contract, report_id, kind, period, submitted_on, title, summary)
        self.save(log)
        return report_id

    def file_complaint(
        self, county: str, contract_id: str, provider_id: str | None, *, complaint_id: str,
        station_id: str | None, township: str, filed_on: date, description: str,
    ) -> str:
        contract = self.contract(county, contract_id)
        self.check_provider(contract, provider_id)
        log = self.contract_log(contract)
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

    def personal_data(self, beneficiary: Beneficiary) -> dict[str, Any] | None:
        if beneficiary.erased:
            return None
        return self.vault.open(str(beneficiary.id), beneficiary.sealed_personal_data)

    def erase_beneficiary(self, county: str, ref: str, reason: str) -> Beneficiary:
        """Crypto-shredding: the key goes first, so a failure after it still leaves the data unreadable."""
        beneficiary = self.beneficiary(county, ref)
        beneficiary.erase(reason)
        self.vault.shred(str(beneficiary.id))
        self.save(beneficiary)
        return beneficiary

    # --- progress and monthly briefs ---------------------------------------------------
    def progress(self, county: str, contract_id: str, as_of: date | None) -> dict[str, Any]:
        """R-LOG-8 indicator progress and R-LOG-4 hours, as of a day of the contract year."""
        contract = self.contract(county, contract_id)
        tally = self.contract_log(contract, read_only=True).tally
        day = self.as_of(contract, as_of)
        totals = totals_between(tally, None, day)
        year = self.served(contract, YEAR, read_only=True)
        return {
            "contract_id": contract.contract_id,
            "as_of": day,
            "period_start": contract.period_start,
            "period_end": contract.period_end,
            "deliveries": totals["deliveries"],
            "person_times": totals["person_times"],
            "beneficiaries": year.persons("", day),
            "hours_direct": totals["hours_direct"],
            "hours_other": totals["hours_other"],
            "indicators": [
                {**status, "beneficiaries": year.persons(status["code"], day)}
                for status in indicator_progress(contract, tally, day)
            ],
            "hours": hours_against_caps(contract, tally, len(self.staff_on(contract, day))),
        }

    def brief(self, county: str, contract_id: str, month: str) -> dict[str, Any]:
        """月度工作简报: the month's deliveries by kind and area, person-times, hours and progress."""
        contract = self.contract(county, contract_id)
        if month not in contract.months():
            raise RuleViolation(f"{month} is not a month of the contract year", rule="R-LOG-7", field="month")
        log = self.contract_log(contract, read_only=True)
        year, mon = (int(x) for x in month.split("-"))
        first = max(contract.period_start, date(year, mon, 1))
        last = min(contract.period_end, (date(year, mon, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1))
        in_month = totals_between(log.tally, first, last)
        by_month = log.tally.get("months", {}).get(month, {})
        served, year = self.served(contract, month, read_only=True), self.served(contract, YEAR, read_only=True)
        indicators = []
        for status in indicator_progress(contract, log.tally, last):
            plan = (contract.indicator(status["code"]) or {}).get("monthly_plan") or {}
            indicators.append({
                **status, "beneficiaries": year.persons(status["code"], last),
                "actual_in_month": int(in_month["indicators"].get(status["code"], 0)), "planned_in_month": plan.get(month),
                "beneficiaries_in_month": served.persons(status["code"]),
            })

        def breakdown(label: str, counts: dict[str, Any]) -> list[dict[str, Any]]:
            return [{label: k, **v} for k, v in sorted(counts.items()) if v.get("deliveries")]

        return {
            "contract_id": contract.contract_id,
            "month": month,
            "first_day": first,
            "last_day": last,
            "deliveries": in_month["deliveries"],
            "person_times": in_month["person_times"],
            "beneficiaries": served.persons(),
            "hours_direct": in_month["hours_direct"],
            "hours_other": in_month["hours_other"],
            "by_kind": breakdown("kind", by_month.get("kinds", {})),
            "by_area": breakdown("area", by_month.get("areas", {})),
            "indicators": indicators,
            "reports": [r for r in log.reports if r["period"] == month],
        }

    def quarters(self, contract: Contract) -> list[str]:
        """The calendar quarters ``YYYY-Qn`` the contract year touches, in order."""
        out: list[str] = []
        for month in contract.months():
            quarter = quarter_of(date(int(month[:4]), int(month[5:]), 1))
            if quarter not in out:
                out.append(quarter)
        return out

    def quarterly(self, county: str, contract_id: str, quarter: str) -> dict[str, Any]:
        """季度服务数据 (seed 001: 每季度上报服务数据): the quarter's deliveries, person-times, persons
        served, hours, by kind, area and month, and indicator progress — from the log, like a brief.
        Reads at most three months' tallies and four small aggregates, whatever the history."""
        contract = self.contract(county, contract_id)
        if quarter not in self.quarters(contract):
            raise RuleViolation(
                f"{quarter} is not a quarter of the contract year ({'、'.join(self.quarters(contract))})",
                rule="R-LOG-7", field="quarter",
            )
        log = self.contract_log(contract, read_only=True)
        year_no, q = int(quarter[:4]), int(quarter[-1])
        months = [m for m in contract.months() if quarter_of(date(int(m[:4]), int(m[5:]), 1)) == quarter]
        first = max(contract.period_start, date(year_no, 3 * q - 2, 1))
        end_month = date(year_no, 3 * q, 28) + timedelta(days=4)
        last = min(contract.period_end, end_month.replace(day=1) - timedelta(days=1))
        in_quarter = totals_between(log.tally, first, last)
        kinds: dict[str, Any] = {}
        areas: dict[str, Any] = {}
        by_month = []
        for month in months:
            counted = log.tally.get("months", {}).get(month, {})
            add_into(kinds, counted.get("kinds", {}))
            add_into(areas, counted.get("areas", {}))
            brief_first = max(first, date(int(month[:4]), int(month[5:]), 1))
            month_end = (date(int(month[:4]), int(month[5:]), 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            month_totals = totals_between(log.tally, brief_first, min(last, month_end))
            by_month.append({
                "month": month, "deliveries": month_totals["deliveries"], "person_times": month_totals["person_times"],
                "beneficiaries": self.served(contract, month, read_only=True).persons(),
                "hours_direct": month_totals["hours_direct"], "hours_other": month_totals["hours_other"],
            })
        served, year = self.served(contract, quarter, read_only=True), self.served(contract, YEAR, read_only=True)
        indicators = []
        for status in indicator_progress(contract, log.tally, last):
            plan = (contract.indicator(status["code"]) or {}).get("monthly_plan") or {}
            planned = [int(plan[m]) for m in months if m in plan]
            indicators.append({
                **status, "beneficiaries": year.persons(status["code"], last),
                "actual_in_quarter": int(in_quarter["indicators"].get(status["code"], 0)),
                "planned_in_quarter": sum(planned) if planned else None,
                "beneficiaries_in_quarter": served.persons(status["code"]),
            })

        def breakdown(label: str, counts: dict[str, Any]) -> list[dict[str, Any]]:
            return [{label: k, **v} for k, v in sorted(counts.items()) if v.get("deliveries")]

        return {
            "contract_id": contract.contract_id,
            "quarter": quarter,
            "first_day": first,
            "last_day": last,
            "months": months,
            "deliveries": in_quarter["deliveries"],
            "person_times": in_quarter["person_times"],
            "beneficiaries": served.persons(),
            "hours_direct": in_quarter["hours_direct"],
            "hours_other": in_quarter["hours_other"],
            "by_kind": breakdown("kind", kinds),
            "by_area": breakdown("area", areas),
            "by_month": by_month,
            "indicators": indicators,
            "reports": [r for r in log.reports if r["period"] in months],
        }


def book_hours(sheets: dict[str, Timesheet], delivery_id: str, bookings: list[tuple[DeliveryFacts, int]]) -> None:
    """One HoursBooked event per worker: the hours each delivery adds (or, with -1, releases)."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for facts, sign in bookings:
        for worker_id in facts.worker_ids:
            entries.setdefault(worker_id, []).append({"delivery_id": delivery_id, "date": facts.date, "hours": facts.hours * sign})
    for worker_id, booked in entries.items():
        sheets[worker_id].book(entries=booked)
