"""Registry commands and queries (the eventsourcing Application of this service)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from registry.domainmodel import (
    QUALIFICATIONS,
    STATION_KINDS,
    WORKER_ROLES,
    Contract,
    County,
    Provider,
    Station,
    Worker,
    check_contract_terms,
    check_hiring,
    county_id,
    merged_policy,
)
from registry.uscc import uscc_problem
from shared.infra.store import SwpApplication
from shared.rules import NotFound, RuleViolation, UnknownReference


class RegistryApplication(SwpApplication):
    service = "registry"
    name = "registry"

    # --- counties -------------------------------------------------------------------
    def put_county(self, code: str, name: str, policy: dict[str, Any] | None) -> County:
        merged = merged_policy(policy)
        try:
            county: County = self.repository.get(county_id(code))
        except AggregateNotFoundError:
            county = County(code=code, name=name, policy=merged)
        else:
            if county.name == name and county.policy == merged:
                return county  # nothing changed: record nothing
            county.change_policy(name=name, policy=merged)
        self.save(county)
        return county

    def county(self, code: str) -> County:
        try:
            return self.repository.get(county_id(code))
        except AggregateNotFoundError as exc:
            raise NotFound(f"county {code} is not registered", field="county") from exc

    # --- providers, stations, workers -----------------------------------------------
    def register_provider(
        self, county: str, name: str, uscc: str, rating: str | None, has_party_org: bool
    ) -> uuid.UUID:
        self.county(county)
        problem = uscc_problem(uscc)
        if problem:
            raise RuleViolation(f"统一社会信用代码 {problem}", rule="R-REG-1", field="uscc")
        provider = Provider(county=county, name=name, uscc=uscc, rating=rating, has_party_org=has_party_org)
        self.save(provider)
        return provider.id

    def establish_station(self, county: str, name: str, township: str, kind: str) -> uuid.UUID:
        self.county(county)
        if kind not in STATION_KINDS:
            raise RuleViolation(f"kind must be one of {STATION_KINDS}", rule="R-REG-2", field="kind")
        station = Station(county=county, name=name, township=township, kind=kind)
        self.save(station)
        return station.id

    def hire_worker(
        self,
        county: str,
        provider_id: str,
        station_id: str,
        name: str,
        birth_date: date,
        education: str,
        qualification: str,
        role: str,
        hired_on: date,
    ) -> uuid.UUID:
        policy = self.county(county).policy
        self.provider(county, provider_id, field="provider_id")
        self.station(county, station_id, field="station_id")
        if qualification not in QUALIFICATIONS:
            raise RuleViolation(f"qualification must be one of {QUALIFICATIONS}", rule="R-REG-3", field="qualification")
        if role not in WORKER_ROLES:
            raise RuleViolation(f"role must be one of {WORKER_ROLES}", rule="R-REG-2", field="role")
        check_hiring(policy, birth_date, education, hired_on)
        due = None
        if qualification == "none":
            years = int(policy["certificate_deadline_years"])
            due = _add_years(hired_on, years)
        worker = Worker(
            county=county,
            provider_id=provider_id,
            station_id=station_id,
            name=name,
            birth_date=birth_date,
            education=education,
            qualification=qualification,
            role=role,
            hired_on=hired_on,
            certificate_due_on=due,
        )
        self.save(worker)
        return worker.id

    # --- contracts ------------------------------------------------------------------
    def sign_contract(self, county: str, terms: dict[str, Any]) -> uuid.UUID:
        county_agg = self.county(county)
        policy = county_agg.policy
        provider = self.provider(county, terms["provider_id"], field="provider_id")
        if provider.is_banned_on(terms["signed_on"]):
            raise RuleViolation(
                f"provider is banned from government purchase until {provider.banned_until}",
                rule="R-REG-1",
                field="provider_id",
            )
        if not terms["station_ids"]:
            raise RuleViolation("a contract names at least one station", rule="R-REG-4", field="station_ids")
        for i, sid in enumerate(terms["station_ids"]):
            self.station(county, sid, field=f"station_ids.{i}")
        terms = {
            **terms,
            "tranche_plan": terms.get("tranche_plan") or policy["tranche_plan"],
            "cycle_years": terms.get("cycle_years") or policy["contract_cycle_years"],
            "year_index": terms.get("year_index") or 1,
        }
        check_contract_terms(
            amount_fen=terms["amount_fen"],
            funding=terms["funding"],
            period_start=terms["period_start"],
            period_end=terms["period_end"],
            effective_on=terms["effective_on"],
            signed_on=terms["signed_on"],
            service_areas=terms["service_areas"],
            indicators=terms["indicators"],
            tranche_plan=terms["tranche_plan"],
            cycle_years=terms["cycle_years"],
            year_index=terms["year_index"],
        )
        contract = Contract(county=county, policy_version=county_agg.policy_version, **terms)
        self.save(contract)
        return contract.id

    # --- lookups (county-checked: an id from another county is "not found") ---------
    def _in_county(self, county: str, aggregate_id: str, kind: type, label: str, field: str | None) -> Any:
        # field=None: the id came from the path (404); otherwise from the body (422 naming it).
        error = NotFound if field is None else UnknownReference
        try:
            agg = self.repository.get(uuid.UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError) as exc:
            raise error(f"unknown {label} {aggregate_id} in county {county}", field=field) from exc
        if not isinstance(agg, kind) or agg.county != county:
            raise error(f"unknown {label} {aggregate_id} in county {county}", field=field)
        return agg

    def provider(self, county: str, provider_id: str, field: str | None = "provider_id") -> Provider:
        return self._in_county(county, provider_id, Provider, "provider", field)

    def station(self, county: str, station_id: str, field: str | None = "station_id") -> Station:
        return self._in_county(county, station_id, Station, "station", field)

    def worker(self, county: str, worker_id: str, field: str | None = None) -> Worker:
        return self._in_county(county, worker_id, Worker, "worker", field)

    def contract(self, county: str, contract_id: str, field: str | None = None) -> Contract:
        return self._in_county(county, contract_id, Contract, "contract", field)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)
