"""services-log's side of the integration contract: what it publishes and what it consumes."""

from __future__ import annotations

from typing import Any

from faststream.nats import JStream, NatsBroker

from services_log.composition import ServicesLog
from services_log.domainmodel import ContractLog, ServiceDelivery
from shared.events import IntegrationEvent
from shared.events import services_log as ev
from shared.infra.consumer import ConsumerStats, subscribe_upstream

PUBLISHED: list[type[IntegrationEvent]] = [
    ev.ServiceDelivered,
    ev.DeliveryCorrected,
    ev.DeliveryVoided,
    ev.ReportSubmitted,
    ev.ScopeComplaintFiled,
    ev.IndicatorProgressed,
]

_DELIVERY_FIELDS = (
    "contract_id", "station_id", "worker_ids", "kind", "area", "date",
    "hours_direct", "hours_other", "person_times", "indicator_code",
)


def to_integration(e: Any) -> IntegrationEvent | None:
    oid = str(e.originator_id)
    county = e.meta.get("county", "") if getattr(e, "meta", None) else ""
    if isinstance(e, ServiceDelivery.Logged):
        return ev.ServiceDelivered(delivery_id=oid, county=e.county, **{f: getattr(e, f) for f in _DELIVERY_FIELDS})
    if isinstance(e, ServiceDelivery.Corrected):
        return ev.DeliveryCorrected(delivery_id=oid, county=county, reason=e.reason, **{f: getattr(e, f) for f in _DELIVERY_FIELDS})
    if isinstance(e, ServiceDelivery.Voided):
        return ev.DeliveryVoided(delivery_id=oid, county=county, contract_id=e.contract_id, reason=e.reason)
    if isinstance(e, ContractLog.ReportSubmitted):
        return ev.ReportSubmitted(
            report_id=e.report_id, county=county, contract_id=e.contract_id, kind=e.kind, period=e.period, submitted_on=e.submitted_on
        )
    if isinstance(e, ContractLog.ScopeComplaintFiled):
        return ev.ScopeComplaintFiled(
            complaint_id=e.complaint_id, county=county, contract_id=e.contract_id, station_id=e.station_id,
            township=e.township, filed_on=e.filed_on, description=e.description,
        )
    if isinstance(e, ContractLog.ProgressReported):
        return ev.IndicatorProgressed(
            contract_id=e.contract_id,
            county=county,
            as_of=e.as_of,
            indicators=[
                ev.IndicatorStatus(code=i["code"], target=i["target"], actual=i["actual"], planned_to_date=i["planned_to_date"])
                for i in e.indicators
            ],
            hours_direct=e.hours_direct,
            hours_other=e.hours_other,
            person_times=e.person_times,
            deliveries=e.deliveries,
            off_track=[i["code"] for i in e.indicators if not i["on_track"]],
        )
    return None


def wire_consumers(broker: NatsBroker, service: ServicesLog, stream: JStream) -> dict[str, ConsumerStats]:
    app, react = service.store, service.reactions  # the reactions are an object around the store, not a mixin of it
    registry = subscribe_upstream(
        broker,
        app,
        stream,
        "registry",
        {
            "CountyRegistered": react.on_county_registered,
            "CountyPolicyChanged": react.on_county_policy_changed,
            "ContractSigned": react.on_contract_signed,
            "ContractScopeChanged": react.on_contract_scope_changed,
            "ContractTerminated": react.on_contract_terminated,
            "ContractExpired": react.on_contract_expired,
            "WorkerHired": react.on_worker_hired,
            "WorkerMoved": react.on_worker_moved,
            "WorkerLeft": react.on_worker_left,
        },
        description=(
            "services-log keeps its own read model of registry — contracts (stations, year, service areas "
            "and scope changes, indicators with their monthly plan, policy), workers' employment periods per "
            "station — so that every delivery is checked (R-LOG-2/3/4, R-REG-6, R-REG-8) without calling registry."
        ),
    )
    return {"registry": registry}
