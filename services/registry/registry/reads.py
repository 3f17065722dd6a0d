"""The registry's reads as typed queries, answered on the service's
:class:`~shared.infra.queries.QueryBus` (which checks the county against the caller's scope and
hands each handler the :class:`Viewer`) — issue 15 item 1, as finance's ``reads``.

Every read narrows by the viewer here, once, whatever route asks (R-AUD-6, docs/ACCESS.md): a
provider's user lists only its own contracts and workers and reads only its own contract, worker
and provider records, and in a procurement only its own bids until a package is awarded; a
worker reads only its own record; a read across counties (the province lists, a programme's
allocations) keeps only the counties the token is granted. A list's cursor is bound to the
narrowed filters, so the handler decodes it and hands the route the query to bind the next one to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from registry import lists
from registry.base import RegistryApplication
from registry.domainmodel import Contract, County, Provider, Station, Worker, filing_due
from registry.procurement.application import ProcurementCommands
from registry.procurement.domainmodel import BidEntry, Procurement, Programme, RefusedBidEntry
from shared.clock import china_today
from shared.infra.paging import Page, decode_cursor
from shared.infra.queries import PublicQuery, Query, QueryBus, Viewer
from shared.rules import Forbidden, NotFound
from shared.workdays import WorkdayCalendar


# --- the queries ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class CountyPolicy(Query):
    """The county with its policy in force, or an earlier ``policy_version``."""

    county: str
    policy_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class CountyFunding(Query):
    """Budget, commitments and ceiling per funding source of the county in ``year`` (R-FIN-2)."""

    county: str
    year: int


@dataclass(frozen=True, kw_only=True)
class ContractList(Query):
    """A page of the county's contracts, ``filing`` as of today (R-REG-5)."""

    county: str
    provider_id: str | None = None
    status: str | None = None
    filing: str | None = None
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContractDetail(Query):
    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class ProviderList(Query):
    county: str
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderDetail(Query):
    county: str
    provider_id: str


@dataclass(frozen=True, kw_only=True)
class StationList(Query):
    county: str
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerList(Query):
    """A page of the county's workers, or (``certificate_due_within_days``) the R-REG-3 deadline list."""

    county: str
    as_of: date
    provider_id: str | None = None
    station_id: str | None = None
    certificate_due_within_days: int | None = None
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkerDetail(Query):
    county: str
    worker_id: str


@dataclass(frozen=True, kw_only=True)
class WorkerWorkplace(Query):
    """Where a worker may log services on ``as_of``: its station then and the signed contracts of its
    provider that cover that station on that day."""

    county: str
    worker_id: str
    as_of: date
    # The contracts it worked under from ``since`` to ``as_of`` (None: today's only), a page of them.
    since: date | None = None
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True, kw_only=True)
class PublicProviders(PublicQuery):
    """The provider disclosure (R-REG-9), asked without a token."""

    county: str


@dataclass(frozen=True, kw_only=True)
class CountyList(Query):
    """A page of the registered counties (a province-wide read)."""

    county: None = None
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProvinceContracts(Query):
    """A page of the contracts of every county, or of ``in_county`` (a province-wide read)."""

    county: None = None
    in_county: str | None = None
    status: str | None = None
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProgrammeDetail(Query):
    """A programme with each county's allocation (a province-level read)."""

    county: None = None
    programme_id: str


@dataclass(frozen=True, kw_only=True)
class ProjectDetail(Query):
    county: str
    project_id: str


@dataclass(frozen=True, kw_only=True)
class ProcurementDetail(Query):
    county: str
    procurement_id: str


# --- the answers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Listed:
    """A page of a list, with what its next cursor is bound to: the list's name and filters
    (as narrowed for the viewer). ``calendar``: the working days a contract's filing deadline is
    counted with (R-REG-5, R-FIN-6)."""

    name: str
    query: dict[str, Any]
    page: Page[Any]
    calendar: WorkdayCalendar | None = None


@dataclass(frozen=True)
class Workplace:
    """A worker, the station(s) it works at on ``as_of`` and the contracts covering them."""

    worker: Worker
    as_of: date
    stations: list[Station]
    contracts: list[Contract]
    # From ``since`` to ``as_of``: the contracts it worked under (a page of them, newest first),
    # each with the stations of the contract it was assigned to, and how many there are in all.
    worked_under: list[tuple[Contract, list[str]]] = field(default_factory=list)
    worked_total: int = 0
    worked_stations: list[Station] = field(default_factory=list)  # the stations it was at from ``since``


@dataclass(frozen=True)
class ContractRead:
    contract: Contract
    calendar: WorkdayCalendar


@dataclass(frozen=True)
class PublicRecord:
    """One provider of the disclosure with its workers and contracts in the county."""

    provider: Provider
    workers: list[Worker]
    contracts: list[Contract]


@dataclass(frozen=True)
class ProgrammeRead:
    programme: Programme
    allocations: list[dict[str, Any]]


@dataclass(frozen=True)
class ProcurementRead:
    """The procurement with the bids, refused bids and awards the viewer may see."""

    procurement: Procurement
    bids: list[BidEntry]
    refused_bids: list[RefusedBidEntry]
    awards: list[str]


def _overdue(c: Contract, today: date, calendar: WorkdayCalendar) -> bool:
    """R-REG-5: not filed and its due date, counted with the calendar known now, has passed."""
    return c.filed_on is None and filing_due(c.policy, c.signed_on, calendar).on < today


FILING_FILTERS: dict[str, Callable[[Contract, date, WorkdayCalendar], bool]] = {
    "overdue": lambda c, today, cal: _overdue(c, today, cal),
    "late": lambda c, today, cal: bool(c.filing_late) or _overdue(c, today, cal),
    "on_time": lambda c, today, cal: c.filed_on is not None and not c.filing_late,
    "pending": lambda c, today, cal: c.filed_on is None and not _overdue(c, today, cal),
}


def allocation_rows(procurement: ProcurementCommands, p: Programme, viewer: Viewer) -> list[dict[str, Any]]:
    """Each county's allocation of the programme, committed and remaining; the projects charged
    to it only for a viewer granted that county (R-AUD-6)."""
    rows = []
    for a in p.allocations:
        ledger = procurement.allocation(str(p.id), a["county"])
        charges = dict(ledger.charges) if ledger else {}
        rows.append(
            {
                "county": a["county"],
                "name": a.get("name"),
                "amount_fen": a["amount_fen"],
                "pilot_areas": a.get("pilot_areas"),
                "committed_fen": sum(charges.values()),
                "remaining_fen": a["amount_fen"] - sum(charges.values()),
                "projects": [{"project_id": k, "budget_fen": v} for k, v in charges.items()]
                if viewer.sees_county(a["county"])
                else None,
            }
        )
    return rows


# --- the handlers --------------------------------------------------------------------------
class RegistryReads:
    def __init__(self, store: RegistryApplication, procurement: ProcurementCommands) -> None:
        self.store = store
        self.procurement = procurement

    def register(self, bus: QueryBus) -> None:
        bus.register(CountyPolicy, self.county_policy)
        bus.register(CountyFunding, lambda q, _v: self.store.funding_view(q.county, q.year))
        bus.register(ContractList, self.contracts)
        bus.register(ContractDetail, self.contract)
        bus.register(ProviderList, self.providers)
        bus.register(ProviderDetail, self.provider)
        bus.register(StationList, self.stations)
        bus.register(WorkerList, self.workers)
        bus.register(WorkerDetail, self.worker)
        bus.register(WorkerWorkplace, self.workplace)
        bus.register(PublicProviders, self.public_providers)
        bus.register(CountyList, self.counties)
        bus.register(ProvinceContracts, self.province_contracts)
        bus.register(ProgrammeDetail, self.programme)
        bus.register(ProjectDetail, lambda q, _v: self.procurement.project(q.county, q.project_id))
        bus.register(ProcurementDetail, self.procurement_detail)

    # --- counties ------------------------------------------------------------------------
    def county_policy(self, q: CountyPolicy, _viewer: Viewer) -> dict[str, Any]:
        county = self.store.county(q.county)
        if q.policy_version is None:
            return {
                "county": q.county,
                "name": county.name,
                "policy": county.policy,
                "policy_version": county.policy_version,
            }
        policy = county.policy_of(q.policy_version)
        if policy is None:
            raise NotFound(f"county {q.county} has no policy version {q.policy_version}", field="policy_version", facts={"code": "policy_version_unknown", "version": q.policy_version})
        return {"county": q.county, "name": county.name, "policy": policy, "policy_version": q.policy_version}

    # --- contracts -----------------------------------------------------------------------
    def contracts(self, q: ContractList, viewer: Viewer) -> Listed:
        """A provider lists its own contracts only, whatever ``provider_id`` it asks for."""
        self.store.county(q.county)
        calendar = self.store.workdays()
        owner = viewer.provider_id or q.provider_id
        query = {"county": q.county, "provider_id": owner, "status": q.status, "filing": q.filing}
        after = decode_cursor("registry.contracts", query, q.cursor)
        today = china_today()
        status, filing = q.status, q.filing

        def keep(c: Contract) -> bool:
            return (status is None or c.status == status) and (
                filing is None or FILING_FILTERS[filing](c, today, calendar)
            )

        found = lists.page(
            self.store,
            "contracts",
            q.county,
            q.limit,
            after,
            owner=owner,
            keep=keep if status is not None or filing is not None else None,
            kind=Contract,
        )
        return Listed("registry.contracts", query, found, calendar)

    def contract(self, q: ContractDetail, viewer: Viewer) -> ContractRead:
        contract = self.store.contract(q.county, q.contract_id)
        if not viewer.sees_provider(contract.provider_id):
            raise NotFound(f"unknown contract {q.contract_id} in county {q.county}", facts={"code": "unknown_reference", "kind": "contract"})
        return ContractRead(contract, self.store.workdays())

    # --- providers -----------------------------------------------------------------------
    def providers(self, q: ProviderList, _viewer: Viewer) -> Listed:
        self.store.county(q.county)
        query = {"county": q.county}
        found = lists.page(
            self.store,
            "providers",
            q.county,
            q.limit,
            decode_cursor("registry.providers", query, q.cursor),
            kind=Provider,
        )
        return Listed("registry.providers", query, found)

    def provider(self, q: ProviderDetail, viewer: Viewer) -> Provider:
        provider = self.store.provider(q.county, q.provider_id, field=None)
        if not viewer.sees_provider(str(provider.id)):
            raise NotFound(f"unknown provider {q.provider_id} in county {q.county}", facts={"code": "unknown_reference", "kind": "provider"})
        return provider

    # --- stations and workers ------------------------------------------------------------
    def stations(self, q: StationList, _viewer: Viewer) -> Listed:
        self.store.county(q.county)
        query = {"county": q.county}
        found = lists.page(
            self.store, "stations", q.county, q.limit, decode_cursor("registry.stations", query, q.cursor), kind=Station
        )
        return Listed("registry.stations", query, found)

    def workers(self, q: WorkerList, viewer: Viewer) -> Listed:
        """A provider lists its own workers only, whatever ``provider_id`` it asks for."""
        self.store.county(q.county)
        provider_id = viewer.provider_id or q.provider_id
        station_id = q.station_id
        if q.certificate_due_within_days is not None:  # the deadline list: soonest first, unpaged
            due = self.store.certificates_due(q.county, q.as_of, q.certificate_due_within_days, provider_id)
            workers = [s.worker for s in due if station_id is None or s.worker.station_id == station_id]
            return Listed("registry.certificates-due", {}, Page(workers, None))
        query = {"county": q.county, "provider_id": provider_id, "station_id": station_id}
        found = lists.page(
            self.store,
            "workers",
            q.county,
            q.limit,
            decode_cursor("registry.workers", query, q.cursor),
            owner=provider_id,
            keep=(lambda w: w.station_id == station_id) if station_id is not None else None,
            kind=Worker,
        )
        return Listed("registry.workers", query, found)

    def worker(self, q: WorkerDetail, viewer: Viewer) -> Worker:
        """A provider reads its own workers, a worker only itself."""
        worker = self.store.worker(q.county, q.worker_id)
        if not viewer.sees_provider(worker.provider_id) or viewer.worker_id not in (None, str(worker.id)):
            raise NotFound(f"unknown worker {q.worker_id} in county {q.county}", facts={"code": "unknown_reference", "kind": "worker"})
        return worker

    def workplace(self, q: WorkerWorkplace, viewer: Viewer) -> Workplace:
        """What a worker may log against on ``as_of`` (its own only, as :meth:`worker`): the station
        it is assigned to that day (none once it has left) and its provider's signed contracts whose
        stations include it and whose service period covers the day (R-LOG-3)."""
        worker = self.worker(WorkerDetail(county=q.county, worker_id=q.worker_id), viewer)
        worked: list[tuple[Contract, list[str]]] = []
        was_at: list[Station] = []
        if q.since is not None:
            spans = self._spans(worker, q.since, q.as_of)
            worked = self._worked_under(q.county, worker, spans)
            was_at = [self.store.station(q.county, s) for s in dict.fromkeys(s for s, _, _ in spans)]
        page = worked[q.offset : q.offset + q.limit]
        station_id = worker.station_on(q.as_of) if worker.employed_on(q.as_of) else None
        if station_id is None:
            return Workplace(worker, q.as_of, [], [], page, len(worked), was_at)
        contracts = [
            c for c in self.store.contracts(q.county, worker.provider_id, status="signed")
            if station_id in c.station_ids and c.period_start <= q.as_of <= c.period_end
        ]
        return Workplace(worker, q.as_of, [self.store.station(q.county, station_id)], contracts, page, len(worked), was_at)

    @staticmethod
    def _spans(worker: Worker, since: date, until: date) -> list[tuple[str, date, date]]:
        """(station, first day, last day) of its assignments from ``since`` to ``until`` while employed."""
        start = max(since, worker.hired_on)
        end = until if worker.left_on is None else min(until, worker.left_on)
        spans = [(a.station_id, max(start, a.start), end if a.end is None else min(end, a.end)) for a in worker.assignments]
        return [s for s in spans if s[1] <= s[2]]

    def _worked_under(self, county: str, worker: Worker, spans: list[tuple[str, date, date]]) -> list[tuple[Contract, list[str]]]:
        """Its provider's contracts (signed, expired or terminated: up to ``ended_on``) that covered
        one of its stations on a day of ``spans`` (R-LOG-3: the days it could log under them), each
        with those stations, newest period first."""
        out = []
        for c in self.store.contracts(county, worker.provider_id):
            last = c.period_end if c.ended_on is None else min(c.period_end, c.ended_on)
            stations = sorted({s for s, first, final in spans if s in c.station_ids and first <= last and c.period_start <= final})
            if stations:
                out.append((c, stations))
        out.sort(key=lambda found: (found[0].period_start, str(found[0].id)), reverse=True)
        return out

    # --- the public disclosure (R-REG-9) -------------------------------------------------
    def public_providers(self, q: PublicProviders, _viewer: Viewer) -> list[PublicRecord]:
        self.store.county(q.county)
        return [
            PublicRecord(p, self.store.workers(q.county, str(p.id)), self.store.contracts(q.county, str(p.id)))
            for p in self.store.providers(q.county)
        ]

    # --- across counties -----------------------------------------------------------------
    def counties(self, q: CountyList, viewer: Viewer) -> Listed:
        query: dict[str, Any] = {}
        after = decode_cursor("registry.counties", query, q.cursor)
        keep = None if viewer.province_wide else (lambda c: viewer.sees_county(c.code))
        found = lists.page(self.store, "counties", None, q.limit, after, keep=keep, kind=County)
        return Listed("registry.counties", query, found)

    def province_contracts(self, q: ProvinceContracts, viewer: Viewer) -> Listed:
        if q.in_county is not None and not viewer.sees_county(q.in_county):
            raise Forbidden(f"token is not granted county {q.in_county}", rule="R-AUD-6", facts={"code": "county_not_granted"})
        query = {"county": q.in_county, "status": q.status}
        after = decode_cursor("registry.all-contracts", query, q.cursor)
        status = q.status
        kept: list[Callable[[Contract], bool]] = []
        if status is not None:
            kept.append(lambda c: c.status == status)
        if not viewer.province_wide:
            kept.append(lambda c: viewer.sees_county(c.county))
        keep = (lambda c: all(k(c) for k in kept)) if kept else None
        found = lists.page(self.store, "contracts", q.in_county, q.limit, after, keep=keep, kind=Contract)
        return Listed("registry.all-contracts", query, found, self.store.workdays())

    # --- programmes and procurement ------------------------------------------------------
    def programme(self, q: ProgrammeDetail, viewer: Viewer) -> ProgrammeRead:
        programme = self.procurement.programme(q.programme_id)
        return ProgrammeRead(programme, allocation_rows(self.procurement, programme, viewer))

    def procurement_detail(self, q: ProcurementDetail, viewer: Viewer) -> ProcurementRead:
        """A provider sees only its own bids until their package is awarded, and no awards."""
        p = self.procurement.procurement(q.county, q.procurement_id)
        own = viewer.provider_id

        def visible(b: BidEntry | RefusedBidEntry) -> bool:
            return own is None or b.provider_id == own or b.package in p.awards

        return ProcurementRead(
            p,
            [b for b in p.bids if visible(b)],
            [b for b in p.refused if visible(b)],
            list(p.awards) if own is None else [],
        )


def query_bus(store: RegistryApplication) -> QueryBus:
    """The registry's QueryBus, every read registered."""
    bus = QueryBus()
    RegistryReads(store, ProcurementCommands(store)).register(bus)
    return bus
