"""Maps registry domain events to the published integration events (shared.events.registry)."""

from __future__ import annotations

from typing import Any

from registry.domainmodel import Contract, County, Provider, Station
from shared.events import IntegrationEvent
from shared.events import registry as ev

PUBLISHED: list[type[IntegrationEvent]] = [
    ev.CountyRegistered,
    ev.CountyPolicyChanged,
    ev.ProviderRegistered,
    ev.StationEstablished,
    ev.ContractSigned,
]


def to_integration(e: Any) -> IntegrationEvent | None:
    oid = str(e.originator_id)
    if isinstance(e, County.Registered):
        return ev.CountyRegistered(county=e.code, name=e.name, policy=e.policy, policy_version=1)
    if isinstance(e, County.PolicyChanged):
        return ev.CountyPolicyChanged(county=e.meta["county"], policy=e.policy, policy_version=e.originator_version)
    if isinstance(e, Provider.Registered):
        return ev.ProviderRegistered(
            provider_id=oid, county=e.county, name=e.name, uscc=e.uscc, rating=e.rating, has_party_org=e.has_party_org
        )
    if isinstance(e, Station.Established):
        return ev.StationEstablished(station_id=oid, county=e.county, name=e.name, township=e.township, kind=e.kind)
    if isinstance(e, Contract.Signed):
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
        )
    return None
