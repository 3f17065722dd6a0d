"""Commands on service contracts (服务协议): sign, file, change scope, renew, terminate, expire."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from registry.base import RegistryApplication
from registry.domainmodel import (
    BANNING_KINDS,
    Contract,
    FundingLedger,
    Provider,
    Worker,
    add_years,
    check_contract_terms,
    check_cycle,
    check_eligibility,
    check_funding_caps,
    check_funding_sources,
    check_not_banned,
    check_service_areas,
    check_staffing,
    check_supervisor,
    funding_by_year,
    renewal_terms,
)
from shared.clock import china_today
from shared.infra.store import CommandContext, IntegrityError
from shared.rules import NotFound, RuleViolation

MAX_OVERLAPS_RECORDED = 20
FILING_SWEEP_BATCH = 200  # contracts one filing sweep flags at most; the rest wait for the next


class ContractCommands:
    """Sign, file, change scope, renew, terminate and expire contracts; the filing sweep."""

    def __init__(self, store: RegistryApplication) -> None:
        self.store = store

    def sign_contract(self, county: str, terms: dict[str, Any]) -> uuid.UUID:
        """Sign year ``year_index`` (default 1) of a cycle after every check of the signing day.
        Year 2 or later names the previous year's contract and is its renewal (R-REG-7)."""
        contract, ledgers = self.prepare_contract(county, terms)
        if contract.previous_contract_id is None:
            self.store.save(contract, *ledgers)
            return contract.id
        previous = self.store.contract(county, contract.previous_contract_id, field="previous_contract_id")
        previous.renewed(next_contract_id=str(contract.id), year_index=contract.year_index, renewed_on=contract.signed_on)
        self.store.save(previous, contract, *ledgers)
        return contract.id

    def _check_funding(self, county: str, policy: dict[str, Any], terms: dict[str, Any]) -> tuple[dict[int, dict[str, int]], list[FundingLedger]]:
        """R-FIN-2 at signing: configured sources only, and no ceiling exceeded in any budget year
        of the service period (see :mod:`registry.domainmodel.funding`)."""
        check_funding_sources(policy, terms["funding"])
        by_year = funding_by_year(terms["funding"], terms["period_start"], terms["period_end"])
        ledgers = {year: self.store.funding_ledger(county, year) for year in by_year}
        budgets = self.store.budgets(county)
        check_funding_caps(
            policy, terms["funding"], by_year, budgets.amount, lambda year, source: ledgers[year].committed_fen(source)
        )
        return by_year, list(ledgers.values())

    def _previous_year(self, county: str, terms: dict[str, Any], provider_id: str, year_index: int) -> Contract | None:
        """R-REG-7: year 2+ of a cycle names the previous year's contract, of the same provider, whose
        final/annual evaluation passed; otherwise the cycle cannot be continued — re-procure."""
        named = terms.get("previous_contract_id")
        if year_index == 1:
            if named:
                raise RuleViolation(
                    "year 1 of a cycle has no previous year's contract", rule="R-REG-7", field="previous_contract_id",
                    facts={"code": "first_year_no_previous"},
                )
            return None
        if not named:
            raise RuleViolation(
                f"year {year_index} of a cycle is a renewal (续签): name the previous year's contract in previous_contract_id; "
                "it needs that year's passed final/annual evaluation",
                rule="R-REG-7",
                field="previous_contract_id",
                facts={"code": "renewal_names_previous", "year": year_index},
            )
        previous = self.store.contract(county, named, field="previous_contract_id")
        if previous.provider_id != provider_id:
            raise RuleViolation(
                "the previous year's contract is with another provider: a new provider is re-procurement (重新采购)",
                rule="R-REG-7",
                field="previous_contract_id",
                facts={"code": "previous_other_provider"},
            )
        if previous.year_index + 1 != year_index:
            raise RuleViolation(
                f"the named contract is year {previous.year_index}: this one would be year {previous.year_index + 1}",
                rule="R-REG-7",
                field="year_index",
                facts={"code": "renewal_year_mismatch", "previous_year": previous.year_index, "year": previous.year_index + 1},
            )
        previous.check_renewable(field="previous_contract_id")
        return previous

    def _check_overlap(self, county: str, provider_id: str, station_ids: list[str], start: date, end: date,
                       previous: Contract | None, justification: str | None) -> list[str]:
        """R-REG-7: a second contract of the same provider for a station it already serves in an
        overlapping service period sidesteps renewal (一年一签, 续签 only after a pass); refused
        unless a justification is given, which is recorded with the contract. Returns the overlapping
        contracts. Reads only the Signed facts of the provider's contracts whose period overlaps."""
        overlapping = []
        for entry in self.store.directory.entries(county, "contract", provider_id):
            if entry.period_start is None or entry.period_end is None or entry.period_end < start or end < entry.period_start:
                continue
            if not set(entry.station_ids or ()) & set(station_ids) or (previous is not None and entry.aggregate_id == str(previous.id)):
                continue
            other = self.store.find(entry.aggregate_id)
            if other is None or (other.status == "terminated" and other.ended_on < start):
                continue
            overlapping.append(other)
            if len(overlapping) == MAX_OVERLAPS_RECORDED:  # bounded work and event size, however many there are
                break
        if overlapping and not (justification and justification.strip()):
            first = overlapping[0]
            shared_stations = sorted(set(first.station_ids) & set(station_ids))
            raise RuleViolation(
                f"contract {first.id} of this provider already covers station {', '.join(shared_stations)} from "
                f"{first.period_start} to {first.period_end}: an overlapping contract (重复签约) needs a justification, "
                "or the next year is signed as a renewal (续签, R-REG-7)",
                rule="R-REG-7",
                field="period_start",
                facts={"code": "contract_overlap", "station_ids": shared_stations, "period_start": first.period_start.isoformat(),
                       "period_end": first.period_end.isoformat()},
            )
        return [str(c.id) for c in overlapping]

    def prepare_contract(
        self, county: str, terms: dict[str, Any], previous: Contract | None = None
    ) -> tuple[Contract, list[FundingLedger]]:
        """A contract that passed every check, and the funding ledgers it commits to, not yet saved
        (a renewal saves them with the previous year)."""
        county_agg = self.store.county(county)
        policy = county_agg.policy
        provider = self.store.provider(county, terms["provider_id"], field="provider_id")
        station_ids = list(terms["station_ids"])
        if not station_ids:
            raise RuleViolation(
                "a contract names at least one station", rule="R-REG-4", field="station_ids", facts={"code": "no_station"}
            )
        if len(set(station_ids)) != len(station_ids):
            raise RuleViolation("each station is named once", rule="R-REG-4", field="station_ids", facts={"code": "station_twice"})
        for i, sid in enumerate(station_ids):
            self.store.station(county, sid, field=f"station_ids.{i}")
        cycle_years = previous.cycle_years if previous else terms.get("cycle_years") or policy["contract_cycle_years"]
        if previous is None and cycle_years > policy["contract_cycle_years"]:
            raise RuleViolation(
                f"the county's contract cycle is {policy['contract_cycle_years']} years", rule="R-REG-4", field="cycle_years",
                facts={"code": "cycle_longer_than_policy", "cycle_years": cycle_years, "limit": policy["contract_cycle_years"]},
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
        if previous is None:
            previous = self._previous_year(county, terms, str(provider.id), year_index)
            cycle_years = previous.cycle_years if previous else cycle_years
        cycle_start = previous.cycle_start if previous else add_years(terms["period_start"], 1 - year_index)
        check_cycle(previous, terms["period_start"], terms["period_end"], cycle_start, cycle_years)
        signed_on: date = terms["signed_on"]
        check_not_banned(provider, self.store.directory.bans(provider.uscc), signed_on, china_today())
        check_eligibility(policy, provider, signed_on)
        check_staffing(policy, station_ids, self.store.workers(county, str(provider.id)), signed_on)
        check_supervisor(policy, self._supervisor(county, provider, terms.get("supervisor_id")), signed_on)
        by_year, ledgers = self._check_funding(county, policy, terms)
        justification = terms.get("justification")
        overlaps = self._check_overlap(
            county, str(provider.id), station_ids, terms["period_start"], terms["period_end"], previous, justification
        )
        due = self.store.filing_due_for(policy, signed_on)
        contract = Contract(
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
        if overlaps:
            contract.justify_overlap(overlapping_contract_ids=overlaps, justification=str(justification).strip())
        for ledger in ledgers:
            ledger.commit(contract_id=str(contract.id), shares=by_year[ledger.year])
        return contract, ledgers

    def _supervisor(self, county: str, provider: Provider, supervisor_id: str | None) -> Worker | None:
        if not supervisor_id:
            return None
        supervisor = self.store.worker(county, supervisor_id, field="supervisor_id")
        if supervisor.provider_id != str(provider.id):
            raise RuleViolation(
                "the supervisor is not employed by the provider", rule="R-REG-2", field="supervisor_id",
                facts={"code": "supervisor_other_provider", "worker_id": supervisor_id},
            )
        return supervisor

    def file_contract(self, county: str, contract_id: str, filed_on: date, filed_with: str) -> Contract:
        """R-REG-5: due within the policy's working days of signing under the contract's policy, counted
        with the official calendar as it stands at filing (R-FIN-6); late is flagged."""
        contract = self.store.contract(county, contract_id)
        contract.file(filed_on, filed_with, self.store.filing_due_of(contract).on)
        self.store.save(contract)
        return contract

    def sweep_filing_overdue(self, as_of: date | None = None, limit: int = FILING_SWEEP_BATCH) -> list[str]:
        """R-REG-5: flag (``ContractFilingOverdue``, once) up to ``limit`` contracts not filed by their
        due date, earliest due first; the service runs this periodically, so nobody has to ask.
        Reads only the index of open due dates, never every contract."""
        as_of = as_of or china_today()
        flagged: list[str] = []
        for contract_id in self.store.directory.filing_due_before(as_of, limit):
            contract = self.store.find(contract_id)
            if not isinstance(contract, Contract):
                continue
            due = self.store.filing_due_of(contract)
            if due.on >= as_of:  # recounted (a calendar loaded since): not overdue yet
                self.store.directory.requeue_filing(due.on, contract_id)
                continue
            with self.store.command(CommandContext(county=contract.county, actor="registry:filing-sweep")):
                if not contract.flag_filing_overdue(as_of, due.on):
                    continue
                try:
                    self.store.save(contract)
                except IntegrityError:  # changed meanwhile (filed, perhaps): the next sweep decides again
                    self.store.directory.requeue_filing(due.on, contract_id)
                    continue
            flagged.append(contract_id)
        return flagged

    def request_scope_change(
        self, county: str, contract_id: str, change_id: str, service_areas: list[str], effective_on: date, reason: str,
        requested_by: str,
    ) -> str:
        """R-REG-6: services outside the contract's areas need an approved scope change."""
        contract = self.store.contract(county, contract_id)
        check_service_areas(service_areas)
        contract.request_scope_change(change_id, service_areas, effective_on, reason, requested_by)
        self.store.save(contract)
        return change_id

    def decide_scope_change(
        self, county: str, contract_id: str, change_id: str, approved: bool, decided_by: str | None, decided_on: date, note: str
    ) -> Contract:
        """R-REG-6: an approved change becomes the contract's scope from its effective date."""
        contract = self.store.contract(county, contract_id)
        change = contract.scope_change(change_id)
        if change is None:
            raise NotFound(f"unknown scope change {change_id} of contract {contract_id}", facts={"code": "unknown_reference", "kind": "scope change"})
        contract.decide_scope_change(change, approved, decided_by or contract.purchaser, decided_on, note)
        self.store.save(contract)
        return contract

    def renew_contract(self, county: str, contract_id: str, signed_on: date, overrides: dict[str, Any]) -> uuid.UUID:
        """R-REG-7: the next year of the cycle, only after this year's final/annual evaluation passed.
        The next year starts from this year's terms, one year on; ``overrides`` replace any of them."""
        previous = self.store.contract(county, contract_id)
        previous.check_renewable()
        given = {k: v for k, v in overrides.items() if v is not None}
        terms = {**renewal_terms(previous), **given, "signed_on": signed_on}
        if "effective_on" not in given:
            # The next year takes effect when it starts, or on signing when signed after that: a
            # renewal waits for this year's final evaluation (R-REG-7), often past the year's end.
            terms["effective_on"] = max(terms["period_start"], signed_on)
        terms["provider_id"] = previous.provider_id  # the same provider: otherwise it is re-procurement
        following, ledgers = self.prepare_contract(county, terms, previous=previous)
        previous.renewed(next_contract_id=str(following.id), year_index=following.year_index, renewed_on=signed_on)
        self.store.save(previous, following, *ledgers)
        return following.id

    def terminate_contract(self, county: str, contract_id: str, terminated_on: date, kind: str, reason: str) -> Contract:
        """Termination with its reason; serious breach (严重违约) or fraud (弄虚作假) bans the provider
        for the policy's years (R-EVAL-9) — in every county, as the ban follows its 统一社会信用代码."""
        contract = self.store.contract(county, contract_id)
        contract.terminate(terminated_on, kind, reason)
        provider = None
        if kind in BANNING_KINDS:
            provider = self.store.provider(county, contract.provider_id)
            years = int(self.store.county(county).policy["ban_years"])
            provider.impose_ban(terminated_on, add_years(terminated_on, years), reason, contract_id=str(contract.id))
        self.store.save(contract, provider)
        return contract

    def expire_contracts(self, county: str, as_of: date) -> list[str]:
        """Every active contract of the county whose period ended before ``as_of`` expires."""
        self.store.county(county)
        ended = [c for c in self.store.contracts(county, status="signed") if c.expire_if_ended(as_of)]
        if ended:
            self.store.save(*ended)
        return [str(c.id) for c in ended]
