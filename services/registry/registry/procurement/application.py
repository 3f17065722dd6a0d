"""Commands and queries of programmes, projects and procurement: an object composed with the
registry's store (``registry.application.compose``), not a mixin of it.

It relies on the registry's own lookups — ``county(code)`` (policy for R-REG-1),
``provider(county, id, field=)`` and ``station(county, id, field=)`` — and on
``save``/``repository`` of the eventsourcing application.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError, Repository

from registry.domainmodel import SERVICE_AREAS, check_eligibility, check_not_banned
from registry.procurement.bidding import (
    check_bid,
    check_opening,
    contract_terms,
    family_centre_standard,
    score_bids,
)
from registry.procurement.domainmodel import (
    Bid,
    Procurement,
    Programme,
    ProgrammeAllocation,
    Project,
    RejectedBid,
    allocation_id,
    check_application,
    check_programme,
)
from shared.rules import NotFound, RuleViolation, UnknownReference


class RegistryStore(Protocol):
    """What procurement needs of the registry's store: its lookups and ``save``/``repository``."""

    repository: Repository[uuid.UUID]
    directory: Any

    def save(self, *objs: Any) -> Any: ...
    def county(self, code: str) -> Any: ...
    def provider(self, county: str, provider_id: str, field: str | None = ...) -> Any: ...
    def station(self, county: str, station_id: str, field: str | None = ...) -> Any: ...


class ProcurementCommands:
    """立项 → 采购 → 授标: from a programme's allocation to a drafted contract."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    # --- programmes ----------------------------------------------------------------
    def launch_programme(
        self,
        issuer: str,
        level: str,
        document_no: str,
        title: str,
        issued_on: date,
        budget_fen: int,
        allocations: list[dict[str, Any]],
        milestones: list[dict[str, Any]],
        themes: list[dict[str, Any]],
    ) -> uuid.UUID:
        """R-PRJ-1. Allocated counties must be registered; each gets its own allocation ledger."""
        check_programme(budget_fen, allocations, milestones, themes)
        for i, a in enumerate(allocations):
            try:
                self.store.county(a["county"])
            except NotFound as exc:
                raise UnknownReference(exc.detail, field=f"allocations.{i}.county") from exc
        programme = Programme(
            issuer=issuer, level=level, document_no=document_no, title=title, issued_on=issued_on,
            budget_fen=budget_fen, allocations=allocations, milestones=milestones, themes=themes,
        )
        ledgers = [
            ProgrammeAllocation(
                programme_id=str(programme.id), county=a["county"], amount_fen=a["amount_fen"],
                pilot_areas=a.get("pilot_areas"),
            )
            for a in allocations
        ]
        self.store.save(programme, *ledgers)
        return programme.id

    def reach_milestone(self, programme_id: str, kind: str, reached_on: date) -> Programme:
        programme = self.programme(programme_id)
        programme.milestone(kind)
        if kind in programme.reached:
            raise RuleViolation(f"the {kind} milestone was reached on {programme.reached[kind]}", rule="R-PRJ-1", field="kind")
        if reached_on < programme.issued_on:
            raise RuleViolation("a milestone cannot be reached before the programme", rule="R-PRJ-1", field="reached_on")
        programme.reach_milestone(kind, reached_on)
        self.store.save(programme)
        return programme

    def programme(self, programme_id: str, field: str | None = None) -> Programme:
        error = NotFound if field is None else UnknownReference
        try:
            agg = self.store.repository.get(uuid.UUID(str(programme_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise error(f"unknown programme {programme_id}", field=field) from exc
        if not isinstance(agg, Programme):
            raise error(f"unknown programme {programme_id}", field=field)
        return agg

    def allocation(self, programme_id: str, county: str) -> ProgrammeAllocation | None:
        try:
            return self.store.repository.get(allocation_id(programme_id, county))
        except AggregateNotFoundError:
            return None

    # --- project applications ------------------------------------------------------
    def apply_for_project(
        self,
        county: str,
        applicant: dict[str, Any],
        name: str,
        programme_id: str | None,
        year_index: int,
        project_years: int,
        budget_fen: int,
        justification: dict[str, Any],
        service_areas: list[str],
        applied_on: date,
    ) -> uuid.UUID:
        """R-PRJ-2, R-LOG-2; under a programme R-PRJ-3 charges the county's allocation."""
        self.store.county(county)
        check_application(year_index, project_years, budget_fen, justification)
        check_service_areas(service_areas)
        ledger = None
        if programme_id is not None:
            self.programme(programme_id, field="programme_id")
            ledger = self.allocation(programme_id, county)
            if ledger is None:
                raise RuleViolation(f"the programme allocates nothing to county {county}", rule="R-PRJ-3", field="programme_id")
        project = Project(
            county=county, applicant=applicant, name=name, programme_id=programme_id, year_index=year_index,
            project_years=project_years, budget_fen=budget_fen, justification=justification,
            service_areas=service_areas, applied_on=applied_on,
        )
        if ledger is None:
            self.store.save(project)
        else:
            ledger.reserve(str(project.id), budget_fen)
            self.store.save(project, ledger)
        return project.id

    def decide_project(
        self,
        county: str,
        project_id: str,
        step: str,
        outcome: str,
        decided_on: date,
        decided_by: str,
        reason: str | None,
        reference: str | None,
    ) -> Project:
        """R-PRJ-4. A rejection gives the project's share of the programme allocation back."""
        project = self.project(county, project_id)
        project.decide(step, outcome, decided_on, decided_by, reason, reference)
        ledger = None
        if project.status == "rejected" and project.programme_id is not None:
            ledger = self.allocation(project.programme_id, county)
            if ledger is not None:
                ledger.release(str(project.id))
        self.store.save(project, *([ledger] if ledger else []))
        return project

    def project(self, county: str, project_id: str, field: str | None = None) -> Project:
        return self._procurement_record(county, project_id, Project, "project", field)

    # --- procurement ---------------------------------------------------------------
    def open_procurement(
        self,
        county: str,
        project_id: str,
        method: str,
        single_source_justification: str | None,
        invited_provider_ids: list[str],
        opened_on: date,
        bid_deadline: date,
        probation_first_year: bool,
        packages: list[dict[str, Any]],
        evaluation_criteria: list[dict[str, Any]],
    ) -> uuid.UUID:
        """R-PRC-1: only an approved project, once; stations and invited providers of this county."""
        project = self.project(county, project_id)
        if project.status != "approved":
            raise RuleViolation(f"the project is {project.status}, not approved", rule="R-PRC-1", field="project_id")
        if project.procurement_id is not None:
            raise RuleViolation(f"the project is already procured ({project.procurement_id})", rule="R-PRC-1", field="project_id")
        if opened_on < project.decisions[-1].decided_on:
            raise RuleViolation("procurement opens after the approval", rule="R-PRC-1", field="opened_on")
        county_record = self.store.county(county)
        check_opening(method, single_source_justification, invited_provider_ids, opened_on, bid_deadline,
                      packages, evaluation_criteria, project.budget_fen, county_record.policy)
        for i, pid in enumerate(invited_provider_ids):
            self.store.provider(county, pid, field=f"invited_provider_ids.{i}")
        for i, p in enumerate(packages):
            for j, sid in enumerate(p["station_ids"]):
                self.store.station(county, sid, field=f"packages.{i}.station_ids.{j}")
        # R-LOG-4, R-FIN-10: the family-centre standard of the county's policy in force, recorded
        # with the package (bids are judged by what was published).
        standard = family_centre_standard(county_record.policy, county_record.policy_version)
        published = [{**p, "standard": dict(standard) if p["kind"] == "family_centre" else None} for p in packages]
        procurement = Procurement(
            county=county,
            project={
                "project_id": str(project.id), "name": project.name, "purchaser": project.applicant["name"],
                "service_areas": project.service_areas, "year_index": project.year_index,
                "project_years": project.project_years,
            },
            method=method, single_source_justification=single_source_justification,
            invited_provider_ids=invited_provider_ids, opened_on=opened_on, bid_deadline=bid_deadline,
            probation_first_year=probation_first_year, packages=published, evaluation_criteria=evaluation_criteria,
        )
        project.start_procurement(str(procurement.id))
        self.store.save(procurement, project)
        return procurement.id

    def submit_bid(self, county: str, procurement_id: str, bid: dict[str, Any]) -> uuid.UUID:
        """R-REG-1, R-PRC-2, R-FIN-10, R-LOG-4. An invalid bid (无效投标) is refused and kept as
        a RejectedBid for the evaluation report; a late, duplicate or unknown one records nothing."""
        procurement = self.procurement(county, procurement_id)
        package = procurement.package(bid["package"])
        provider = self.store.provider(county, bid["provider_id"], field="provider_id")
        if bid["package"] in procurement.awards:
            raise RuleViolation(f"package {bid['package']} is already awarded", rule="R-PRC-2", field="package")
        if bid["submitted_on"] > procurement.bid_deadline or bid["submitted_on"] < procurement.opened_on:
            raise RuleViolation(
                f"bids are received from {procurement.opened_on} to {procurement.bid_deadline}",
                rule="R-PRC-2",
                field="submitted_on",
            )
        if any(b.provider_id == bid["provider_id"] for b in procurement.bids_for(bid["package"])):
            raise RuleViolation("the provider already holds a valid bid for this package", rule="R-PRC-2", field="provider_id")
        try:
            # A ban of the organisation in any county bars it (R-EVAL-9, R-REG-1).
            check_not_banned(provider, self.store.directory.bans(provider.uscc), bid["submitted_on"], bid["submitted_on"])
            check_eligibility(self.store.county(county).policy, provider, bid["submitted_on"])
            check_bid(procurement, package, bid)
        except RuleViolation as refusal:
            rejected = RejectedBid(
                county=county, procurement_id=str(procurement.id), package=bid["package"],
                provider_id=bid["provider_id"], submitted_on=bid["submitted_on"],
                annual_price_fen=bid["annual_price_fen"], rule=refusal.rule or "R-PRC-2", field=refusal.field,
                detail=refusal.detail,
            )
            procurement.refuse_bid(str(rejected.id), bid["provider_id"], bid["package"], rejected.rule, refusal.field)
            self.store.save(rejected, procurement)
            raise
        accepted = Bid(county=county, procurement_id=str(procurement.id), **bid)
        procurement.receive_bid(str(accepted.id), bid["provider_id"], bid["package"], bid["submitted_on"])
        self.store.save(accepted, procurement)
        return accepted.id

    def award(
        self,
        county: str,
        procurement_id: str,
        package_code: str,
        awarded_on: date,
        scores: list[dict[str, Any]],
        signed_on: date | None,
        purchaser: str | None,
    ) -> Procurement:
        """R-PRC-3: score every valid bid, award the best, draft its contract (ContractDrafted)."""
        procurement = self.procurement(county, procurement_id)
        package = procurement.package(package_code)
        if package_code in procurement.awards:
            raise RuleViolation(f"package {package_code} is already awarded", rule="R-PRC-3", field="package")
        if awarded_on <= procurement.bid_deadline:
            raise RuleViolation("the award follows the bid deadline", rule="R-PRC-3", field="awarded_on")
        signing = signed_on or awarded_on
        if not awarded_on <= signing <= package["service_start"]:
            raise RuleViolation(
                f"signing falls between the award and the service start {package['service_start']}",
                rule="R-PRC-3",
                field="signed_on",
            )
        bids = {b.bid_id: self.store.repository.get(uuid.UUID(b.bid_id)) for b in procurement.bids_for(package_code)}
        ranked = score_bids(
            procurement.evaluation_criteria,
            [
                {"bid_id": bid_id, "provider_id": b.provider_id, "annual_price_fen": b.annual_price_fen,
                 "submitted_on": b.submitted_on}
                for bid_id, b in bids.items()
            ],
            scores,
        )
        winner = bids[ranked[0]["bid_id"]]
        probation = procurement.probation_first_year and procurement.project["year_index"] == 1
        terms = contract_terms(procurement, package, winner, signing, purchaser or procurement.project["purchaser"], probation)
        project_id = procurement.project["project_id"]
        procurement.award(project_id, package_code, str(winner.id), winner.provider_id, awarded_on, ranked)
        procurement.draft_contract(project_id, package_code, str(winner.id), terms, winner.staffing)
        self.store.save(procurement)
        return procurement

    def procurement(self, county: str, procurement_id: str, field: str | None = None) -> Procurement:
        return self._procurement_record(county, procurement_id, Procurement, "procurement", field)

    def bid(self, county: str, bid_id: str) -> Bid | RejectedBid:
        try:
            agg = self.store.repository.get(uuid.UUID(str(bid_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise NotFound(f"unknown bid {bid_id}") from exc
        if not isinstance(agg, Bid | RejectedBid) or agg.county != county:
            raise NotFound(f"unknown bid {bid_id}")
        return agg

    # An id from another county is "not found" (R-AUD-6); field=None: it came from the path.
    def _procurement_record(self, county: str, record_id: str, kind: type, label: str, field: str | None) -> Any:
        error = NotFound if field is None else UnknownReference
        try:
            agg = self.store.repository.get(uuid.UUID(str(record_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise error(f"unknown {label} {record_id} in county {county}", field=field) from exc
        if not isinstance(agg, kind) or agg.county != county:
            raise error(f"unknown {label} {record_id} in county {county}", field=field)
        return agg


def check_service_areas(service_areas: list[str]) -> None:
    if not service_areas:
        raise RuleViolation("at least one service area", rule="R-LOG-2", field="service_areas")
    for i, area in enumerate(service_areas):
        if area not in SERVICE_AREAS:
            raise RuleViolation(f"{area!r} is not a service area of R-LOG-2", rule="R-LOG-2", field=f"service_areas.{i}")
