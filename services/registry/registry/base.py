"""The registry's store: lookups that respect county boundaries, and the directory of what
each county holds (a read model caught up from the registry's own notification log)."""

from __future__ import annotations

import heapq
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from registry.domainmodel import (
    FUNDING_SOURCES,
    Contract,
    County,
    CountyBan,
    CountyBudgets,
    FundingLedger,
    Provider,
    Station,
    Worker,
    county_id,
    filing_due,
)
from shared.calendars import OFFICIAL_CALENDARS_ID, OfficialCalendars
from shared.funding import cap_base_year, cap_limit_fen
from shared.infra.store import SwpApplication
from shared.rules import NotFound, UnknownReference
from shared.workdays import DueDate, WorkdayCalendar

A = TypeVar("A")


@dataclass(frozen=True)
class Entry:
    kind: str
    aggregate_id: str
    provider_id: str | None
    # Contracts: their stations and service period as signed (never changed), for overlap checks.
    station_ids: tuple[str, ...] = ()
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True)
class CertificateStatus:
    """R-REG-3: a worker still owing a certificate, and how the deadline stands on ``as_of``."""

    worker: Worker
    due_on: date
    days_left: int
    overdue: bool


class Directory:
    """Which providers, stations, workers and contracts each county has, in registration order;
    the bans of each organisation (by its 统一社会信用代码) in every county (R-EVAL-9); and the
    filing due dates of the contracts not yet filed (R-REG-5), earliest first.

    Rebuilt from the notification log (R-AUD-3: nothing here that the log does not say) and
    caught up on every read, so it never lags a committed command. It reads creation events,
    bans, filings and filing-overdue flags: an aggregate's county and provider never change, a
    ban is never lifted, and a filing or a flag closes the contract's open due date for good.
    """

    BANNED = get_topic(Provider.Banned)
    FILING_CLOSED = (get_topic(Contract.Filed), get_topic(Contract.FilingOverdue))

    KINDS: Mapping[str, str] = {
        get_topic(Provider.Registered): "provider",
        get_topic(Station.Established): "station",
        get_topic(Worker.Hired): "worker",
        get_topic(Contract.Signed): "contract",
    }

    def __init__(self, app: SwpApplication) -> None:
        self._app = app
        self._position = 0
        self._entries: dict[str, list[Entry]] = defaultdict(list)
        self._uscc: dict[str, tuple[str, str]] = {}  # provider id → (county, 统一社会信用代码)
        self._bans: dict[str, list[CountyBan]] = defaultdict(list)  # USCC → bans in any county
        self._filing_due: list[tuple[date, str]] = []  # heap of (due date, contract id), open or not
        self._filing_open: set[str] = set()  # contracts neither filed nor flagged overdue
        self._lock = threading.Lock()

    def entries(self, county: str, kind: str, provider_id: str | None = None) -> list[Entry]:
        with self._lock:
            self._catch_up()
            return [
                e for e in self._entries[county]
                if e.kind == kind and (provider_id is None or e.provider_id == provider_id)
            ]

    def bans(self, uscc: str) -> list[CountyBan]:
        """Every ban of the organisation with this 统一社会信用代码, in whichever county it was imposed."""
        with self._lock:
            self._catch_up()
            return list(self._bans.get(uscc, []))

    def filing_due_before(self, day: date, limit: int) -> list[str]:
        """Up to ``limit`` open contracts whose filing was due before ``day``, earliest first; they
        leave the index (:meth:`requeue_filing` puts back one whose due date turned out later).
        Cost: the closed ones passed over plus ``limit``, never the whole history."""
        found: list[str] = []
        with self._lock:
            self._catch_up()
            while self._filing_due and self._filing_due[0][0] < day and len(found) < limit:
                _, contract_id = heapq.heappop(self._filing_due)
                if contract_id in self._filing_open:
                    found.append(contract_id)
        return found

    def requeue_filing(self, due_on: date, contract_id: str) -> None:
        with self._lock:
            if contract_id in self._filing_open:
                heapq.heappush(self._filing_due, (due_on, contract_id))

    def _catch_up(self) -> None:
        topics = [*self.KINDS, self.BANNED, *self.FILING_CLOSED]
        while True:
            page = self._app.process_recorder.select_notifications(self._position + 1, 500, topics=topics)
            if not page:
                return
            for notification in page:
                self._apply(notification.topic, self._app.mapper.to_domain_event(notification))
                self._position = notification.id

    def _apply(self, topic: str, e: Any) -> None:
        oid = str(e.originator_id)
        if topic == self.BANNED:
            county, uscc = self._uscc.get(oid, ("", ""))
            self._bans[uscc].append(CountyBan(county, oid, e.banned_on, e.until, e.reason))
            return
        if topic in self.FILING_CLOSED:
            self._filing_open.discard(oid)
            return
        kind = self.KINDS[topic]
        if kind == "provider":
            self._uscc[oid] = (e.county, e.uscc)
            entry = Entry(kind, oid, oid)
        elif kind == "contract":
            entry = Entry(kind, oid, e.provider_id, tuple(e.station_ids), e.period_start, e.period_end)
            self._filing_open.add(oid)
            heapq.heappush(self._filing_due, (e.filing_due_on, oid))
        else:
            entry = Entry(kind, oid, getattr(e, "provider_id", None))
        self._entries[e.county].append(entry)


class RegistryApplication(SwpApplication):
    """The registry's persistence (repository, recorder, outbox) and its read-only lookups: an id of
    another county is "not found" — 404 from a path, 422 naming the field from a body. Commands and
    reactions are separate objects composed around it (``registry.application.compose``)."""

    service = "registry"
    name = "registry"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.directory = Directory(self)

    def county(self, code: str) -> County:
        try:
            return self.repository.get(county_id(code))
        except AggregateNotFoundError as exc:
            raise NotFound(f"county {code} is not registered", field="county", facts={"code": "unknown_reference", "kind": "county"}) from exc

    def _in_county(self, county: str, aggregate_id: str, kind: type[A], label: str, field: str | None) -> A:
        # field=None: the id came from the path (404); otherwise from the body (422 naming it).
        error = NotFound if field is None else UnknownReference
        facts: dict[str, object] = {"code": "unknown_reference", "kind": label}
        try:
            agg = self.repository.get(uuid.UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise error(f"unknown {label} {aggregate_id} in county {county}", field=field, facts=facts) from exc
        if not isinstance(agg, kind) or getattr(agg, "county", None) != county:
            raise error(f"unknown {label} {aggregate_id} in county {county}", field=field, facts=facts)
        return agg

    def provider(self, county: str, provider_id: str, field: str | None = "provider_id") -> Provider:
        return self._in_county(county, provider_id, Provider, "provider", field)

    def station(self, county: str, station_id: str, field: str | None = "station_id") -> Station:
        return self._in_county(county, station_id, Station, "station", field)

    def worker(self, county: str, worker_id: str, field: str | None = None) -> Worker:
        return self._in_county(county, worker_id, Worker, "worker", field)

    def contract(self, county: str, contract_id: str, field: str | None = None) -> Contract:
        return self._in_county(county, contract_id, Contract, "contract", field)

    def workdays(self) -> WorkdayCalendar:
        """The official working days (R-FIN-6): chinesecalendar plus every year finance loaded
        (``CalendarLoaded``, kept here as :class:`OfficialCalendars`), as of a pinned read's instant."""
        book = self.find(str(OFFICIAL_CALENDARS_ID))
        return book.workdays() if isinstance(book, OfficialCalendars) else WorkdayCalendar()

    def find(self, aggregate_id: str) -> Any:
        try:
            return self.repository.get(uuid.UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError):
            return None

    # --- lists (from the directory) ------------------------------------------------------------
    def _all(self, county: str, kind: str, provider_id: str | None = None) -> list[Any]:
        found = []
        for entry in self.directory.entries(county, kind, provider_id):
            try:
                found.append(self.repository.get(uuid.UUID(entry.aggregate_id)))
            except AggregateNotFoundError:  # registered after the instant a read is pinned to (R-AUD-3)
                continue
        return found

    def providers(self, county: str) -> list[Provider]:
        return self._all(county, "provider")

    def stations(self, county: str) -> list[Station]:
        return self._all(county, "station")

    def workers(self, county: str, provider_id: str | None = None, station_id: str | None = None) -> list[Worker]:
        workers: list[Worker] = self._all(county, "worker", provider_id)
        return [w for w in workers if station_id is None or w.station_id == station_id]

    def contracts(self, county: str, provider_id: str | None = None, status: str | None = None) -> list[Contract]:
        contracts: list[Contract] = self._all(county, "contract", provider_id)
        return [c for c in contracts if status is None or c.status == status]

    # --- funding (R-FIN-2) and filing (R-REG-5) -------------------------------------------------
    def budgets(self, county: str) -> CountyBudgets:
        return self.find(str(CountyBudgets.create_id(county))) or CountyBudgets(county=county)

    def funding_ledger(self, county: str, year: int) -> FundingLedger:
        return self.find(str(FundingLedger.create_id(county, year))) or FundingLedger(county=county, year=year)

    def funding_view(self, county: str, year: int) -> list[dict[str, Any]]:
        """Budget, commitments and ceiling per funding source of the county for one budget year."""
        policy = self.county(county).policy
        budgets, ledger = self.budgets(county), self.funding_ledger(county, year)
        lines = []
        for source in policy.get("funding_sources") or FUNDING_SOURCES:
            ceilings = []
            for cap in policy.get("funding_caps") or []:
                if cap["source"] != source or cap["bound"] != "ceiling":
                    continue
                base = budgets.amount(cap_base_year(cap, year), cap.get("base", source))
                if base is not None:
                    ceilings.append(cap_limit_fen(cap, base))
            lines.append({
                "year": year, "source": source, "budget_fen": budgets.amount(year, source),
                "committed_fen": ledger.committed_fen(source), "ceiling_fen": min(ceilings) if ceilings else None,
            })
        return lines

    def filing_due_of(self, contract: Contract) -> DueDate:
        """R-REG-5: when the contract's filing is due, under the policy it was signed under."""
        return self.filing_due_for(contract.policy, contract.signed_on)

    def filing_due_for(self, policy: dict[str, Any], signed_on: date) -> DueDate:
        """R-REG-5: the one place registry computes a filing due date — signing, filing and the overdue
        sweep all ask here, so the working-day calendar (R-FIN-6) is swapped in here only."""
        return filing_due(policy, signed_on, self.workdays())

    # --- workers (R-REG-3) ---------------------------------------------------------------------
    def certificates_due(
        self, county: str, as_of: date, within_days: int, provider_id: str | None = None
    ) -> list[CertificateStatus]:
        """R-REG-3: workers employed on ``as_of`` whose certificate deadline has passed or falls
        within ``within_days``, soonest first."""
        horizon = as_of + timedelta(days=within_days)
        due = [
            CertificateStatus(w, w.certificate_due_on, (w.certificate_due_on - as_of).days, w.certificate_overdue(as_of))
            for w in self.workers(county, provider_id)
            if w.certificate_due_on is not None and w.certificate_due_on <= horizon and w.employed_on(as_of)
        ]
        return sorted(due, key=lambda s: s.due_on)
