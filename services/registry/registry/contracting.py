"""Commands on service contracts (服务协议): sign, file, change scope, renew, terminate, expire."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from registry.base import RegistryBase
from registry.domainmodel import (
    SERVICE_AREAS,
    Contract,
    Provider,
    Worker,
    add_years,
    check_contract_terms,
    check_cycle,
    check_eligibility,
    check_staffing,
    check_supervisor,
    filing_due,
    renewal_terms,
)
from shared.rules import NotFound, RuleViolation


class ContractCommands(RegistryBase):
    def sign_contract(self, county: str, terms: dict[str, Any]) -> uuid.UUID:
        """Sign year ``year_index`` (default 1) of a cycle after every check of the signing day."""
        contract = self.prepare_contract(county, terms)
        self.save(contract)
        return contract.id

    def prepare_contract(self, county: str, terms: dict[str, Any], previous: Contract | None = None) -> Contract:
        """A contract that passed every check, not yet saved (a renewal saves it with the previous year)."""
        county_agg = self.county(county)
        policy = county_agg.policy
        provider = self.provider(county, terms["provider_id"], field="provider_id")
        station_ids = list(terms["station_ids"])
        if not station_ids:
            raise RuleViolation("a contract names at least one station", rule="R-REG-4", field="station_ids")
        if len(set(station_ids)) != len(station_ids):
            raise RuleViolation("each station is named once", rule="R-REG-4", field="station_ids")
        for i, sid in enumerate(station_ids):
            self.station(county, sid, field=f"station_ids.{i}")
        cycle_years = previous.cycle_years if previous else terms.get("cycle_years") or policy["contract_cycle_years"]
        if previous is None and cycle_years > policy["contract_cycle_years"]:
            raise RuleViolation(
                f"the county's contract cycle is {policy['contract_cycle_years']} years", rule="R-REG-4", field="cycle_years"
            )
        year_index = previous.year_index + 1 if previous else terms.get("year_index") or 1
        tranche_plan = terms.get("tranche_plan") or policy["tranche_plan"]
        probation = bool(terms.get("probation"))
        check_contract_terms(
            amount_fen=terms["amount_fen"],
            funding=terms["funding"],
            period_start=terms["period_start"],
            period_end=terms["period_end"],
            effective_on=terms["effective_on"],
            signed_on=terms["signed_on"],
            service_areas=terms["service_areas"],
            indicators=terms["indicators"],
            tranche_plan=tranche_plan,
            cycle_years=cycle_years,
            year_index=year_index,
            probation=probation,
        )
        cycle_start = previous.cycle_start if previous else add_years(terms["period_start"], 1 - year_index)
        check_cycle(previous, terms["period_start"], terms["period_end"], cycle_start, cycle_years)
        signed_on: date = terms["signed_on"]
        check_eligibility(policy, provider, signed_on)
        check_staffing(policy, station_ids, self.workers(county, str(provider.id)), signed_on)
        check_supervisor(policy, self._supervisor(county, provider, terms.get("supervisor_id")), signed_on)
        due = filing_due(policy, signed_on, self.workdays())
        return Contract(
            county=county,
            provider_id=str(provider.id),
            station_ids=station_ids,
            purchaser=terms["purchaser"],
            signed_on=signed_on,
            effective_on=terms["effective_on"],
            period_start=terms["period_start"],
            period_end=terms["period_end"],
            amount_fen=terms["amount_fen"],
            funding=terms["funding"],
            service_areas=terms["service_areas"],
            indicators=terms["indicators"],
            tranche_plan=tranche_plan,
            cycle_years=cycle_years,
            year_index=year_index,
            policy_version=county_agg.policy_version,
            policy=policy,
            cycle_start=cycle_start,
            probation=probation,
            previous_contract_id=str(previous.id) if previous else None,
            supervisor_id=terms.get("supervisor_id"),
            filing_due_on=due.on,
            filing_due_provisional=due.provisional,
        )

    def _supervisor(self, county: str, provider: Provider, supervisor_id: str | None) -> Worker | None:
        if not supervisor_id:
            return None
        supervisor = self.worker(county, supervisor_id, field="supervisor_id")
        if supervisor.provider_id != str(provider.id):
            raise RuleViolation("the supervisor is not employed by the provider", rule="R-REG-2", field="supervisor_id")
        return supervisor

    def file_contract(self, county: str, contract_id: str, filed_on: date, filed_with: str) -> Contract:
        """R-REG-5: due within the policy's working days of signing under the contract's policy, counted
        with the official calendar as it stands at filing (R-FIN-6); late is flagged."""
        contract = self.contract(county, contract_id)
        due = filing_due(contract.policy, contract.signed_on, self.workdays())
        contract.file(filed_on, filed_with, due.on)
        self.save(contract)
        return contract

    def request_scope_change(
        self, county: str, contract_id: str, change_id: str, service_areas: list[str], effective_on: date, reason: str,
        requested_by: str,
    ) -> str:
        """R-REG-6: services outside the contract's areas need an approved scope change."""
        contract = self.contract(county, contract_id)
        check_contract_areas(service_areas)
        contract.request_scope_change(change_id, service_areas, effective_on, reason, requested_by)
        self.save(contract)
        return change_id

    def decide_scope_change(
        self, county: str, contract_id: str, change_id: str, approved: bool, decided_by: str | None, decided_on: date, note: str
    ) -> Contract:
        """R-REG-6: an approved change becomes the contract's scope from its effective date."""
        contract = self.contract(county, contract_id)
        change = contract.scope_change(change_id)
        if change is None:
            raise NotFound(f"unknown scope change {change_id} of contract {contract_id}")
        contract.decide_scope_change(change, approved, decided_by or contract.purchaser, decided_on, note)
        self.save(contract)
        return contract

    def renew_contract(self, county: str, contract_id: str, signed_on: date, overrides: dict[str, Any]) -> uuid.UUID:
        """R-REG-7: the next year of the cycle, only after this year's final/annual evaluation passed.
        The next year starts from this year's terms, one year on; ``overrides`` replace any of them."""
        previous = self.contract(county, contract_id)
        previous.check_renewable()
        terms = {**renewal_terms(previous), **{k: v for k, v in overrides.items() if v is not None}, "signed_on": signed_on}
        terms["provider_id"] = previous.provider_id  # the same provider: otherwise it is re-procurement
        following = self.prepare_contract(county, terms, previous=previous)
        previous.renewed(next_contract_id=str(following.id), year_index=following.year_index, renewed_on=signed_on)
        self.save(previous, following)
        return following.id

    def terminate_contract(self, county: str, contract_id: str, terminated_on: date, kind: str, reason: str) -> Contract:
        """Termination with its reason; fraud (弄虚作假) bans the provider for the policy's years (R-EVAL-9)."""
        contract = self.contract(county, contract_id)
        contract.terminate(terminated_on, kind, reason)
        provider = None
        if kind == "fraud":
            provider = self.provider(county, contract.provider_id)
            years = int(self.county(county).policy["ban_years"])
            provider.impose_ban(terminated_on, add_years(terminated_on, years), reason, contract_id=str(contract.id))
        self.save(contract, provider)
        return contract

    def expire_contracts(self, county: str, as_of: date) -> list[str]:
        """Every active contract of the county whose period ended before ``as_of`` expires."""
        self.county(county)
        ended = [c for c in self.contracts(county, status="signed") if c.expire_if_ended(as_of)]
        if ended:
            self.save(*ended)
        return [str(c.id) for c in ended]


def check_contract_areas(service_areas: list[str]) -> None:
    if not service_areas:
        raise RuleViolation("at least one service area", rule="R-LOG-2", field="service_areas")
    for i, area in enumerate(service_areas):
        if area not in SERVICE_AREAS:
            raise RuleViolation(f"{area!r} is not a service area of R-LOG-2", rule="R-LOG-2", field=f"service_areas.{i}")
