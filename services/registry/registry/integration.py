"""Registry's side of the integration contract: its domain events mapped to the published
integration events (shared.events.registry), and its reactions to the evaluation service."""

from __future__ import annotations

from typing import Any

from faststream.nats import JStream, NatsBroker

from registry.application import Registry
from registry.domainmodel import Contract, County, Provider, Station, Worker
from registry.procurement.integration import to_integration as procurement_to_integration
from shared.events import IntegrationEvent
from shared.events import registry as ev
from shared.infra.consumer import ConsumerStats, subscribe_upstream

PUBLISHED: list[type[IntegrationEvent]] = [
    ev.CountyRegistered,
    ev.CountyPolicyChanged,
    ev.ProviderRegistered,
    ev.ProviderBanned,
    ev.StationEstablished,
    ev.WorkerHired,
    ev.WorkerMoved,
    ev.WorkerQualified,
    ev.WorkerLeft,
    ev.ContractSigned,
    ev.ContractFiled,
    ev.ContractFilingOverdue,
    ev.ContractScopeChanged,
    ev.ContractRenewed,
    ev.ContractTerminated,
    ev.ContractExpired,
]


def to_integration(e: Any) -> IntegrationEvent | None:
    oid = str(e.originator_id)
    county = (getattr(e, "meta", None) or {}).get("county", "")
    if isinstance(e, County.Registered):
        return ev.CountyRegistered(county=e.code, name=e.name, policy=e.policy, policy_version=1)
    if isinstance(e, County.PolicyChanged):
        return ev.CountyPolicyChanged(county=county, policy=e.policy, policy_version=e.policy_version)
    if isinstance(e, Provider.Registered):
        return ev.ProviderRegistered(
            provider_id=oid, county=e.county, name=e.name, uscc=e.uscc, rating=e.rating, has_party_org=e.has_party_org
        )
    if isinstance(e, Provider.Banned):
        return ev.ProviderBanned(
            provider_id=oid, county=county, until=e.until, reason=e.reason, evaluation_id=e.evaluation_id
        )
    if isinstance(e, Station.Established):
        return ev.StationEstablished(station_id=oid, county=e.county, name=e.name, township=e.township, kind=e.kind)
    if isinstance(e, Worker.Hired | Worker.Moved | Worker.Qualified | Worker.Left):
        return _worker_event(e, oid, county)
    if isinstance(e, Contract.Signed):
        return _contract_signed(e, oid)
    if isinstance(e, Contract.Filed):
        return ev.ContractFiled(contract_id=oid, county=county, filed_on=e.filed_on, due_on=e.due_on, late=e.late)
    if isinstance(e, Contract.FilingOverdue):
        return ev.ContractFilingOverdue(
            contract_id=oid, county=county, signed_on=e.signed_on, due_on=e.due_on, detected_on=e.detected_on
        )
    if isinstance(e, Contract.ScopeChanged):
        return ev.ContractScopeChanged(
            contract_id=oid, county=county, service_areas=e.service_areas, effective_on=e.effective_on,
            approved_by=e.approved_by, reason=e.reason,
        )
    if isinstance(e, Contract.Renewed):
        return ev.ContractRenewed(contract_id=oid, county=county, next_contract_id=e.next_contract_id, year_index=e.year_index)
    if isinstance(e, Contract.Terminated):
        return ev.ContractTerminated(contract_id=oid, county=county, terminated_on=e.terminated_on, kind=e.kind, reason=e.reason)
    if isinstance(e, Contract.Expired):
        return ev.ContractExpired(contract_id=oid, county=county, expired_on=e.expired_on)
    # Projects and procurement map their own events. None for what stays private here: profile
    # updates, disclosures, scope change requests and rejections, evaluation notes.
    return procurement_to_integration(e)


def _worker_event(e: Any, oid: str, county: str) -> IntegrationEvent:
    if isinstance(e, Worker.Hired):
        return ev.WorkerHired(
            worker_id=oid, county=e.county, provider_id=e.provider_id, station_id=e.station_id, role=e.role,
            qualification=e.qualification, hired_on=e.hired_on, certificate_due_on=e.certificate_due_on,
        )
    if isinstance(e, Worker.Moved):
        return ev.WorkerMoved(
            worker_id=oid, county=county, provider_id=e.provider_id, from_station_id=e.from_station_id,
            to_station_id=e.to_station_id, moved_on=e.moved_on,
        )
    if isinstance(e, Worker.Qualified):
        return ev.WorkerQualified(worker_id=oid, county=county, qualification=e.qualification, qualified_on=e.qualified_on)
    return ev.WorkerLeft(
        worker_id=oid, county=county, provider_id=e.provider_id, station_id=e.station_id, left_on=e.left_on
    )


def _contract_signed(e: Any, oid: str) -> ev.ContractSigned:
    return ev.ContractSigned(
        contract_id=oid,
        county=e.county,
        provider_id=e.provider_id,
        station_ids=e.station_ids,
        purchaser=e.purchaser,
        signed_on=e.signed_on,
        effective_on=e.effective_on,
        period_start=e.period_start,
        period_end=e.period_end,
        amount_fen=e.amount_fen,
        funding=e.funding,
        service_areas=e.service_areas,
        indicators=e.indicators,
        tranche_plan=e.tranche_plan,
        cycle_years=e.cycle_years,
        year_index=e.year_index,
        policy_version=e.policy_version,
        policy=e.policy,
        probation=e.probation,
        previous_contract_id=e.previous_contract_id,
    )


def wire_consumers(broker: NatsBroker, registry: Registry, stream: JStream) -> dict[str, ConsumerStats]:
    app, react = registry.store, registry.reactions
    evaluation = subscribe_upstream(
        broker,
        app,
        stream,
        "evaluation",
        {"EvaluationConcluded": react.on_evaluation_concluded, "AppealDecided": react.on_appeal_decided},
        description=(
            "Registry records each final/annual evaluation result on its contract: the next year of the cycle "
            "may be renewed only after it passed (R-REG-7); an upheld appeal replaces the result. A fraud (弄虚作假) "
            "or serious-breach (严重违约) finding terminates the contract and bans the provider for the county's "
            "ban_years (R-EVAL-9)."
        ),
    )
    finance = subscribe_upstream(
        broker,
        app,
        stream,
        "finance",
        {"CalendarLoaded": react.on_calendar_loaded, "BudgetAllocated": react.on_budget_allocated,
         "CommitmentReleased": react.on_commitment_released},
        description=(
            "Registry keeps every official year calendar finance loads (swp.province.finance.CalendarLoaded): "
            "a contract's filing deadline (R-REG-5) not yet met is counted with it, and stops being provisional "
            "once its years are official (R-FIN-6). It also keeps a copy of each county's budgets per year and "
            "funding source (BudgetAllocated): the base amounts of the county policy's funding_caps, against which "
            "a contract is refused at signing when it would take a year's commitments from a capped source past "
            "its ceiling (R-FIN-2); a terminated contract's unpaid part that finance releases (CommitmentReleased) "
            "stops counting against them."
        ),
    )
    return {"evaluation": evaluation, "finance": finance}
