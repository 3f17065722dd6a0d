"""services-log's reads as typed queries, answered on the service's
:class:`~shared.infra.queries.QueryBus` (which checks the county against the caller's scope and
hands each handler the :class:`~shared.infra.queries.Viewer`).

Every read narrows by the viewer here, once, whatever route asks: a provider's user (provider or
worker) reads only its own contracts, their deliveries and its own beneficiaries and workers; a
worker's token only the deliveries naming it (R-AUD-6); casework and group-work content only the
provider's side and the purchaser (R-LOG-5)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from services_log.domainmodel import (
    CONFIDENTIAL_KINDS,
    Beneficiary,
    Contract,
    Report,
    ScopeComplaint,
    ServiceDelivery,
    Worker,
)
from services_log.lookups import ServicesLogLookups
from services_log.queries import ServicesLogQueries
from services_log.worker_lists import worker_deliveries
from shared.infra.auth import Role
from shared.infra.queries import Query, QueryBus, Viewer
from shared.rules import Forbidden, NotFound

# R-LOG-5: casework and group-work content, and beneficiaries' personal data, are for the
# provider and the purchaser — not for evaluators (个案、小组资料除外), finance or auditors.
CONFIDENTIAL_READERS = frozenset({Role.PROVIDER, Role.WORKER, Role.PURCHASER})


# --- the queries ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ContractOf(Query):
    """The contract as services-log knows it from registry's events."""

    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class WorkerOf(Query):
    county: str
    worker_id: str


@dataclass(frozen=True, kw_only=True)
class DeliveryOf(Query):
    county: str
    delivery_id: str


@dataclass(frozen=True, kw_only=True)
class ContractDeliveries(Query):
    """A page of the contract's deliveries in the order logged."""

    county: str
    contract_id: str
    offset: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class ContractProgress(Query):
    county: str
    contract_id: str
    as_of: date | None = None


@dataclass(frozen=True, kw_only=True)
class MonthlyBrief(Query):
    county: str
    contract_id: str
    month: str


@dataclass(frozen=True, kw_only=True)
class QuarterlyData(Query):
    county: str
    contract_id: str
    quarter: str


@dataclass(frozen=True, kw_only=True)
class ContractReports(Query):
    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class ScopeComplaints(Query):
    county: str
    contract_id: str


@dataclass(frozen=True, kw_only=True)
class BeneficiaryOf(Query):
    county: str
    beneficiary_ref: str


@dataclass(frozen=True)
class DeliveryPage:
    """``total`` and ``offset`` count the contract's deliveries (a worker's page holds only its own);
    ``following``: the position in the contract's list the next page starts at (``total``: none follows)."""

    total: int
    offset: int
    items: list[dict[str, Any]]
    following: int


@dataclass(frozen=True)
class BeneficiaryView:
    beneficiary: Beneficiary
    personal_data: dict[str, Any] | None


def audit_state(aggregate: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The audit as-of read of an aggregate (``ServiceSpec.audit_state``): its readers, auditors and
    province admins, are none of CONFIDENTIAL_READERS, so a casework or group-work delivery's
    content is withheld there as in ``delivery_view`` (R-LOG-5); its sealed form stays."""
    if not isinstance(aggregate, ServiceDelivery) or aggregate.facts.kind not in CONFIDENTIAL_KINDS:
        return state
    return {**state, "facts": replace(aggregate.facts, content=None), "content_withheld": True}


def delivery_view(lookups: ServicesLogLookups, d: ServiceDelivery, role: Role) -> dict[str, Any]:
    """A delivery as ``role`` may read it: casework (个案) and group-work (小组) content withheld
    from evaluators, finance and auditors (R-LOG-5); content shredded with a cited person, erased."""
    f = d.facts
    withheld = f.kind in CONFIDENTIAL_KINDS and role not in CONFIDENTIAL_READERS
    content, erased = (None, False) if withheld else lookups.content_of(f)
    return {
        "delivery_id": str(d.id), "contract_id": f.contract_id, "station_id": f.station_id, "worker_ids": list(f.worker_ids),
        "kind": f.kind, "area": f.area, "date": f.date, "hours_direct": f.hours_direct, "hours_other": f.hours_other,
        "person_times": f.person_times, "indicator_code": f.indicator_code, "indicator_quantity": f.indicator_quantity,
        "beneficiary_refs": list(f.beneficiary_refs), "content": content, "content_withheld": withheld,
        "content_erased": erased, "status": d.status.value, "version": d.version, "source": d.source,
        "history": [h.as_dict() for h in d.history],
    }


# --- the handlers --------------------------------------------------------------------------
class ServicesLogReads:
    def __init__(self, lookups: ServicesLogLookups, queries: ServicesLogQueries) -> None:
        self.lookups = lookups
        self.queries = queries

    def register(self, bus: QueryBus) -> None:
        bus.register(ContractOf, lambda q, v: self.contract(q.county, q.contract_id, v))
        bus.register(WorkerOf, self.worker)
        bus.register(DeliveryOf, self.delivery)
        bus.register(ContractDeliveries, self.deliveries)
        bus.register(ContractProgress, self.progress)
        bus.register(MonthlyBrief, self.brief)
        bus.register(QuarterlyData, self.quarterly)
        bus.register(ContractReports, self.reports)
        bus.register(ScopeComplaints, self.complaints)
        bus.register(BeneficiaryOf, self.beneficiary)

    def contract(self, county: str, contract_id: str, viewer: Viewer) -> Contract:
        """The contract, if the viewer may see it: a provider's user sees its own contracts only."""
        contract = self.lookups.contract(county, contract_id)
        if not viewer.sees_provider(contract.provider_id):
            raise Forbidden("this is another provider's contract", rule="R-AUD-6", facts={"code": "other_providers_record"})
        return contract

    def worker(self, q: WorkerOf, viewer: Viewer) -> Worker:
        """A provider's user sees the workers its provider employed; a worker only itself."""
        worker = self.lookups.worker(q.county, q.worker_id)
        mine = worker is not None and (
            (viewer.worker_id is None or viewer.worker_id == worker.worker_id)
            and (viewer.provider_id is None or any(e.provider_id == viewer.provider_id for e in worker.employments))
        )
        if worker is None or not mine:
            raise NotFound(f"unknown worker {q.worker_id} in county {q.county}", facts={"code": "unknown_reference", "kind": "worker"})
        return worker

    def delivery(self, q: DeliveryOf, viewer: Viewer) -> dict[str, Any]:
        delivery = self.lookups.delivery(q.county, q.delivery_id)
        self.contract(q.county, delivery.facts.contract_id, viewer)
        if viewer.worker_id is not None and viewer.worker_id not in delivery.facts.worker_ids:
            raise NotFound(f"unknown delivery {q.delivery_id} in county {q.county}", facts={"code": "unknown_reference", "kind": "delivery"})  # not the worker's own (R-AUD-6)
        return delivery_view(self.lookups, delivery, viewer.role)

    def deliveries(self, q: ContractDeliveries, viewer: Viewer) -> DeliveryPage:
        """A worker's page holds only the deliveries naming it (R-AUD-6): the next ``limit`` of them
        from position ``offset`` of the contract's list, read from its own list (:mod:`services_log.worker_lists`)."""
        contract = self.contract(q.county, q.contract_id, viewer)
        if viewer.worker_id is None:
            total, deliveries = self.queries.deliveries_of(q.county, q.contract_id, q.offset, q.limit)
            following = q.offset + q.limit
        else:
            total = self.lookups.contract_log(contract, read_only=True).deliveries_logged
            deliveries, following = self._own(q, viewer.worker_id, total)
        return DeliveryPage(total, q.offset, [delivery_view(self.lookups, d, viewer.role) for d in deliveries], following)

    def _own(self, q: ContractDeliveries, worker_id: str, total: int) -> tuple[list[ServiceDelivery], int]:
        """One keyset read of ``limit`` + 1 rows (the extra one: whether a next page exists) and
        ``limit`` delivery reads, however many deliveries the contract has."""
        rows = worker_deliveries(self.lookups.store).page(q.contract_id, worker_id, q.offset, q.limit + 1)
        own = [self.lookups.delivery(q.county, delivery_id, read_only=True) for _, delivery_id in rows[: q.limit]]
        following = rows[q.limit - 1][0] + 1 if len(rows) > q.limit else total
        return own, following

    def progress(self, q: ContractProgress, viewer: Viewer) -> dict[str, Any]:
        self.contract(q.county, q.contract_id, viewer)
        return self.queries.progress(q.county, q.contract_id, q.as_of)

    def brief(self, q: MonthlyBrief, viewer: Viewer) -> dict[str, Any]:
        self.contract(q.county, q.contract_id, viewer)
        return self.queries.brief(q.county, q.contract_id, q.month)

    def quarterly(self, q: QuarterlyData, viewer: Viewer) -> dict[str, Any]:
        self.contract(q.county, q.contract_id, viewer)
        return self.queries.quarterly(q.county, q.contract_id, q.quarter)

    def reports(self, q: ContractReports, viewer: Viewer) -> list[Report]:
        contract = self.contract(q.county, q.contract_id, viewer)
        return list(self.lookups.contract_log(contract, read_only=True).reports)

    def complaints(self, q: ScopeComplaints, viewer: Viewer) -> list[ScopeComplaint]:
        contract = self.contract(q.county, q.contract_id, viewer)
        return list(self.lookups.contract_log(contract, read_only=True).complaints)

    def beneficiary(self, q: BeneficiaryOf, viewer: Viewer) -> BeneficiaryView:
        """A provider's user reads only the persons its provider registered (registered before
        providers were recorded: county-wide); personal data only for CONFIDENTIAL_READERS (R-LOG-5)."""
        beneficiary = self.lookups.beneficiary(q.county, q.beneficiary_ref)
        if beneficiary.provider_id is not None and not viewer.sees_provider(beneficiary.provider_id):
            raise NotFound(f"unknown beneficiary (服务对象) {q.beneficiary_ref} in county {q.county}", facts={"code": "unknown_reference", "kind": "beneficiary"})
        if viewer.role not in CONFIDENTIAL_READERS:
            raise Forbidden(f"role {viewer.role} may not read personal data", rule="R-LOG-5", facts={"code": "personal_data_role"})
        return BeneficiaryView(beneficiary, self.lookups.personal_data(beneficiary))
