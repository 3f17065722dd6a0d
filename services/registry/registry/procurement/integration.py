"""Maps the procurement domain events to the published integration events (shared.events.procurement).

Private (not published): a county ledger's charges and releases, a project's link to its
procurement, the procurement's own notes of received and refused bids, milestones reached.
"""

from __future__ import annotations

from typing import Any

from registry.procurement.domainmodel import Bid, Procurement, Programme, ProgrammeAllocation, Project, RejectedBid
from shared.events import IntegrationEvent
from shared.events import procurement as ev

PUBLISHED: list[type[IntegrationEvent]] = [
    ev.ProgrammeLaunched,
    ev.ProgrammeFundsAllocated,
    ev.ProjectApplied,
    ev.ProjectDecided,
    ev.ProcurementOpened,
    ev.BidSubmitted,
    ev.BidRejected,
    ev.ProcurementAwarded,
    ev.ContractDrafted,
]


def to_integration(e: Any) -> IntegrationEvent | None:
    oid = str(e.originator_id)
    if isinstance(e, Programme.Launched):
        return ev.ProgrammeLaunched(
            programme_id=oid, issuer=e.issuer, level=e.level, document_no=e.document_no, title=e.title,
            issued_on=e.issued_on, budget_fen=e.budget_fen, counties=[a["county"] for a in e.allocations],
            milestones=e.milestones, themes=e.themes,
        )
    if isinstance(e, ProgrammeAllocation.Allocated):
        return ev.ProgrammeFundsAllocated(
            programme_id=e.programme_id, county=e.county, amount_fen=e.amount_fen, pilot_areas=e.pilot_areas
        )
    if isinstance(e, Project.Applied):
        return ev.ProjectApplied(
            project_id=oid, county=e.county, applicant_kind=e.applicant["kind"], applicant_name=e.applicant["name"],
            name=e.name, programme_id=e.programme_id, year_index=e.year_index, project_years=e.project_years,
            budget_fen=e.budget_fen, service_areas=e.service_areas,
            target_groups=e.justification["target_groups"], applied_on=e.applied_on,
        )
    if isinstance(e, Project.Decided):
        return ev.ProjectDecided(
            project_id=oid, county=e.meta["county"], step=e.step, outcome=e.outcome, decided_on=e.decided_on,
            decided_by=e.decided_by, reason=e.reason, status=e.status,
        )
    if isinstance(e, Procurement.Opened):
        return ev.ProcurementOpened(
            procurement_id=oid, county=e.county, project_id=e.project["project_id"], method=e.method,
            single_source_justification=e.single_source_justification, invited_provider_ids=e.invited_provider_ids,
            opened_on=e.opened_on, bid_deadline=e.bid_deadline, probation_first_year=e.probation_first_year,
            packages=[_whole_standard(p) for p in e.packages], evaluation_criteria=e.evaluation_criteria,
            standard_decimals={p["code"]: d for p in e.packages if (d := _decimal_standard(p))} or None,
        )
    if isinstance(e, Bid.Submitted):
        return ev.BidSubmitted(
            bid_id=oid, procurement_id=e.procurement_id, county=e.county, package=e.package,
            provider_id=e.provider_id, submitted_on=e.submitted_on,
        )
    if isinstance(e, RejectedBid.Rejected):
        return ev.BidRejected(
            bid_id=oid, procurement_id=e.procurement_id, county=e.county, package=e.package,
            provider_id=e.provider_id, submitted_on=e.submitted_on, rule=e.rule, field=e.field, detail=e.detail,
        )
    if isinstance(e, Procurement.Awarded):
        return ev.ProcurementAwarded(
            procurement_id=oid, county=e.meta["county"], project_id=e.project_id, package=e.package,
            bid_id=e.bid_id, provider_id=e.provider_id, awarded_on=e.awarded_on, scores=e.scores,
        )
    if isinstance(e, Procurement.ContractDrafted):
        return ev.ContractDrafted(
            procurement_id=oid, county=e.meta["county"], project_id=e.project_id, package=e.package,
            bid_id=e.bid_id, staffing=e.staffing, **e.terms,
        )
    return None



def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_standard(package: dict[str, Any]) -> dict[str, Any]:
    """A package as ProcurementOpened v1 publishes it: its standard's whole numbers only; the decimal
    quantities (policy values such as 1632.3 direct hours, R-LOG-4) go to ``standard_decimals``."""
    standard = package.get("standard")
    if not standard:
        return package
    return {**package, "standard": {k: v for k, v in standard.items() if _whole(v)}}


def _decimal_standard(package: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (package.get("standard") or {}).items() if not _whole(v)}
