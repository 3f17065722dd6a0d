"""services-log's read model of registry, fed by registry's events (never by HTTP calls).

Each reaction returns the aggregates to save; the consumer saves them together with the event's
stream position, so each event applies exactly once. A re-published event changes nothing.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from services_log.domainmodel import DEFAULT_POLICY, Contract, CountyPolicy, ScopeChange, StationRoster, Worker
from services_log.lookups import ServicesLogLookups
from shared.events import registry as reg
from shared.infra.consumer import RetryLater


class RegistryReactions:
    """Contracts (stations, year, areas and scope changes, indicators and their monthly plan, policy),
    workers' employment periods per station, station rosters and county policy versions. An object
    holding the lookups (issue 15 item 1: not a mixin of it); it saves nothing itself — the consumer
    records what each reaction returns with the upstream position."""

    def __init__(self, lookups: ServicesLogLookups) -> None:
        self.lookups = lookups

    def on_county_registered(self, e: reg.CountyRegistered) -> list[Aggregate]:
        if self.lookups.find(CountyPolicy.create_id(e.county)) is not None:
            return []
        return [CountyPolicy(county=e.county, policy=e.policy, version=e.policy_version)]

    def on_county_policy_changed(self, e: reg.CountyPolicyChanged) -> list[Aggregate]:
        policy: CountyPolicy | None = self.lookups.find(CountyPolicy.create_id(e.county))
        if policy is None:
            return [CountyPolicy(county=e.county, policy=e.policy, version=e.policy_version)]
        if str(e.policy_version) not in policy.versions:
            policy.change(policy=e.policy, version=e.policy_version)
        return [policy]

    def on_contract_signed(self, e: reg.ContractSigned) -> list[Aggregate]:
        if self.lookups.find(Contract.create_id(e.contract_id)) is not None:
            return []  # a re-published event: nothing new
        policy = e.policy
        if not policy:  # the contract keeps the county policy version it was signed under
            county: CountyPolicy | None = self.lookups.find(CountyPolicy.create_id(e.county))
            policy = county.versions.get(str(e.policy_version), {}) if county else {}
        contract = Contract(
            contract_id=e.contract_id,
            county=e.county,
            provider_id=e.provider_id,
            station_ids=e.station_ids,
            period_start=e.period_start,
            period_end=e.period_end,
            service_areas=e.service_areas,
            indicators=[i.model_dump() for i in e.indicators],
            policy={k: v for k, v in policy.items() if k in DEFAULT_POLICY},
        )
        return [contract]

    def on_contract_scope_changed(self, e: reg.ContractScopeChanged) -> list[Aggregate]:
        contract = self._contract_seen(e.contract_id)
        if ScopeChange(tuple(e.service_areas), e.effective_on) not in contract.scope_changes:
            contract.change_scope(service_areas=e.service_areas, effective_on=e.effective_on)
        return [contract]

    def on_contract_terminated(self, e: reg.ContractTerminated) -> list[Aggregate]:
        contract = self._contract_seen(e.contract_id)
        if contract.status != "terminated":
            contract.end(status="terminated", ended_on=e.terminated_on)
        return [contract]

    def on_contract_expired(self, e: reg.ContractExpired) -> list[Aggregate]:
        contract = self._contract_seen(e.contract_id)
        if contract.status == "signed":
            contract.end(status="expired", ended_on=e.expired_on)
        return [contract]

    def on_worker_hired(self, e: reg.WorkerHired) -> list[Aggregate]:
        worker: Worker | None = self.lookups.find(Worker.create_id(e.worker_id))
        if worker is None:
            worker = Worker(
                worker_id=e.worker_id, county=e.county, provider_id=e.provider_id,
                station_id=e.station_id, role=e.role, hired_on=e.hired_on,
            )
        elif not worker.is_hired(e.provider_id, e.station_id, e.hired_on):
            worker.rehire(provider_id=e.provider_id, station_id=e.station_id, role=e.role, hired_on=e.hired_on)
        return [worker, self._assigned(e.station_id, e.county, e.worker_id)]

    def on_worker_moved(self, e: reg.WorkerMoved) -> list[Aggregate]:
        worker = self._worker_seen(e.worker_id)
        if not worker.is_hired(e.provider_id, e.to_station_id, e.moved_on):
            worker.move(provider_id=e.provider_id, to_station_id=e.to_station_id, moved_on=e.moved_on)
        return [worker, self._assigned(e.to_station_id, e.county, e.worker_id)]

    def on_worker_left(self, e: reg.WorkerLeft) -> list[Aggregate]:
        worker = self._worker_seen(e.worker_id)
        job = worker.employment_on(e.left_on)
        if job is not None and job.end != e.left_on:
            worker.leave(left_on=e.left_on)
        return [worker]

    def _assigned(self, station_id: str, county: str, worker_id: str) -> StationRoster:
        roster: StationRoster | None = self.lookups.find(StationRoster.create_id(station_id))
        roster = roster or StationRoster(station_id=station_id, county=county)
        roster.assign(worker_id)
        return roster

    def _contract_seen(self, contract_id: str) -> Contract:
        contract: Contract | None = self.lookups.find(Contract.create_id(contract_id))
        if contract is None:
            raise RetryLater(f"contract {contract_id} not seen yet")
        return contract

    def _worker_seen(self, worker_id: str) -> Worker:
        worker: Worker | None = self.lookups.find(Worker.create_id(worker_id))
        if worker is None:
            raise RetryLater(f"worker {worker_id} not seen yet")
        return worker
