"""The registry composed (issue 15 item 1): its persistence Application (:mod:`registry.base`: the
store, its lookups and the county directory) plus command and reaction objects, each holding the
store — no mixin chain. Counties and providers are commanded here; stations and workers in
:mod:`registry.staffing`, contracts in :mod:`registry.contracting`, programmes, projects and
procurement in :mod:`registry.procurement.application`. Built once per process by the composition
root (``registry.main``: ``ServiceSpec.compose``); routes reach it as ``request.app.state.service``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from registry.base import RegistryApplication
from registry.commands import RegistryCommands
from registry.contracting import ContractCommands
from registry.domainmodel import (
    Contract,
    County,
    Provider,
    add_years,
    check_prior_projects,
    check_uscc,
    county_id,
    merged_policy,
    plain,
    prior_projects_of,
)
from registry.procurement.application import ProcurementCommands
from registry.reads import query_bus
from registry.staffing import StaffingCommands
from shared.calendars import OFFICIAL_CALENDARS_ID, OfficialCalendars
from shared.events.evaluation import AppealDecided, EvaluationConcluded
from shared.events.finance import BudgetAllocated, CalendarLoaded, CommitmentReleased
from shared.infra.commands import CommandBus
from shared.infra.queries import QueryBus
from shared.infra.store import SwpApplication
from shared.rules import Conflict

log = logging.getLogger("swp.registry")

__all__ = ["Registry", "RegistryApplication", "compose"]


class CountyCommands:
    """Counties (and their policy) and providers: register, update, ban, disclose."""

    def __init__(self, store: RegistryApplication) -> None:
        self.store = store

    # --- counties -------------------------------------------------------------------
    def put_county(self, code: str, name: str, policy: dict[str, Any] | None) -> County:
        """Register a county, or change its name and/or policy (``policy=None`` keeps the one in force)."""
        try:
            county: County = self.store.repository.get(county_id(code))
        except AggregateNotFoundError:
            county = County(code=code, name=name, policy=merged_policy(policy))
        else:
            county.revise(name, None if policy is None else merged_policy(policy))
        if county.pending_events:  # unchanged: nothing recorded
            self.store.save(county)
        return county

    # --- providers ------------------------------------------------------------------
    def register_provider(
        self,
        county: str,
        name: str,
        uscc: str,
        rating: str | None,
        has_party_org: bool,
        prior_projects: list[dict[str, Any]] | None = None,
    ) -> uuid.UUID:
        """R-REG-1: a provider is known in a county by its 统一社会信用代码; registering it again
        with the same details returns it, with other details is a conflict."""
        self.store.county(county)
        check_uscc(uscc)
        prior = list(prior_projects or [])
        check_prior_projects(prior)
        details = {"county": county, "name": name, "uscc": uscc, "rating": rating, "has_party_org": has_party_org, "prior_projects": prior}
        existing = self.store.find(str(Provider.create_id(county, uscc)))
        if existing is not None:
            if (existing.name, existing.rating, existing.has_party_org, existing.prior_projects) != (
                name, rating, has_party_org, prior_projects_of(prior)
            ):
                raise Conflict(
                    f"统一社会信用代码 {uscc} is already registered as {existing.name} ({existing.id})", field="uscc",
                    facts={"code": "uscc_registered", "uscc": uscc, "name": existing.name},
                )
            return existing.id
        provider = Provider(**details)
        self.store.save(provider)
        return provider.id

    def update_provider(
        self, county: str, provider_id: str, rating: str | None, has_party_org: bool, prior_projects: list[dict[str, Any]] | None
    ) -> Provider:
        """A new rating, party organisation or verified prior projects (``None`` keeps those on record)."""
        provider = self.store.provider(county, provider_id, field=None)
        prior = [plain(p) for p in provider.prior_projects] if prior_projects is None else list(prior_projects)
        check_prior_projects(prior)
        if (provider.rating, provider.has_party_org, provider.prior_projects) != (rating, has_party_org, prior_projects_of(prior)):
            provider.update_profile(rating=rating, has_party_org=has_party_org, prior_projects=prior)
            self.store.save(provider)
        return provider

    def ban_provider(self, county: str, provider_id: str, banned_on: date, until: date | None, reason: str) -> Provider:
        """R-EVAL-9: banned from government purchase; by default for the county's ``ban_years``."""
        provider = self.store.provider(county, provider_id, field=None)
        years = int(self.store.county(county).policy["ban_years"])
        provider.impose_ban(banned_on, until or add_years(banned_on, years), reason)
        self.store.save(provider)
        return provider

    def publish_disclosure(
        self, county: str, provider_id: str, disclosure_id: str, kind: str, title: str, year: int | None, summary: str,
        url: str | None, published_on: date,
    ) -> str:
        """R-REG-9: a document the provider discloses to the public."""
        provider = self.store.provider(county, provider_id, field=None)
        provider.disclose(disclosure_id, kind, title, year, summary, url, published_on)
        self.store.save(provider)
        return disclosure_id


class RegistryReactions:
    """What registry learns from finance (calendars, budgets) and evaluation (results, appeals).
    Each reaction returns the aggregates the consumer records with the upstream position."""

    def __init__(self, store: RegistryApplication) -> None:
        self.store = store

    # --- reactions to finance: the official calendar (R-FIN-6) ---------------------------------
    def on_calendar_loaded(self, e: CalendarLoaded) -> list[Aggregate]:
        """Keep the year's official calendar: every filing deadline not yet met is counted with it
        from now on (read-time: the contract keeps its signing inputs, the due date follows the calendar)."""
        book = self.store.find(str(OFFICIAL_CALENDARS_ID))
        if not isinstance(book, OfficialCalendars):
            book = OfficialCalendars()
        book.receive(e.year, e.holidays, e.workdays)
        return [book] if book.pending_events else []

    # --- reactions to the finance service (R-FIN-2) --------------------------------------------
    def on_budget_allocated(self, e: BudgetAllocated) -> list[Aggregate]:
        """A year's budget of a funding source, entered in finance: the base of the county's caps."""
        budgets = self.store.budgets(e.county)
        budgets.note(e.year, e.source, e.amount_fen)
        return [budgets]

    def on_commitment_released(self, e: CommitmentReleased) -> list[Aggregate]:
        """A terminated contract's unpaid tranches, released by finance from a year's source: what
        the county's contracts commit of it, judged at signing (R-FIN-2), drops by that much."""
        ledger = self.store.funding_ledger(e.county, e.year)
        ledger.release(e.contract_id, e.source, e.amount_fen, e.terminated_on)
        return [ledger] if ledger.pending_events else []

    # --- reactions to the evaluation service (R-REG-7, R-EVAL-9) ------------------------------
    def on_evaluation_concluded(self, e: EvaluationConcluded) -> list[Aggregate]:
        """Remember the result on the contract (renewal) and the provider (prior pass); a fraud
        (弄虚作假) or serious-breach (严重违约) finding terminates the contract (kind ``fraud`` or
        ``serious_breach``) and bans the provider for the policy's years (R-EVAL-9)."""
        contract = self._evaluated_contract(e.county, e.contract_id)
        if contract is None:
            return []
        contract.note_evaluation(e.evaluation_id, e.stage, e.grade, e.passed, e.concluded_on, e.fraud_found, appealed=False)
        provider = self.store.provider(e.county, contract.provider_id)
        provider.note_evaluation(e.evaluation_id, e.passed)
        if e.fraud_found or e.serious_breach_found:
            kind, what = ("fraud", "弄虚作假") if e.fraud_found else ("serious_breach", "严重违约")
            reason = f"{what} found by evaluation {e.evaluation_id} ({e.stage})"
            years = int(self.store.county(e.county).policy["ban_years"])
            provider.impose_ban(e.concluded_on, add_years(e.concluded_on, years), reason, e.evaluation_id, str(contract.id))
            if contract.active:
                contract.terminate(max(e.concluded_on, contract.signed_on), kind, reason)
        return [contract, provider]

    def on_appeal_decided(self, e: AppealDecided) -> list[Aggregate]:
        """An upheld appeal replaces the evaluation's result (a passed final then allows renewal)."""
        contract = self._evaluated_contract(e.county, e.contract_id)
        if contract is None:
            return []
        previous = contract.evaluation(e.evaluation_id)
        fraud = bool(previous and previous.fraud_found)
        contract.note_evaluation(e.evaluation_id, e.stage, e.grade, e.passed, e.decided_on, fraud, appealed=True)
        provider = self.store.provider(e.county, contract.provider_id)
        provider.note_evaluation(e.evaluation_id, e.passed)
        return [contract, provider]

    def _evaluated_contract(self, county: str, contract_id: str) -> Contract | None:
        contract = self.store.find(contract_id)
        if not isinstance(contract, Contract) or contract.county != county:
            # Evaluation only evaluates contracts it learnt from our ContractSigned: nothing to learn here.
            log.warning("evaluation result for unknown contract %s of county %s ignored", contract_id, county)
            return None
        return contract


@dataclass(frozen=True)
class Registry:
    store: RegistryApplication
    bus: CommandBus  # every command of the routes, typed (registry.commands)
    counties: CountyCommands
    staffing: StaffingCommands
    contracting: ContractCommands
    procurement: ProcurementCommands
    reactions: RegistryReactions
    reads: QueryBus  # every read, as a typed query (registry.reads)


def compose(store: SwpApplication) -> Registry:
    assert isinstance(store, RegistryApplication)
    counties, staffing = CountyCommands(store), StaffingCommands(store)
    contracting, procurement = ContractCommands(store), ProcurementCommands(store)
    bus = CommandBus(store)
    RegistryCommands(store, counties, staffing, contracting, procurement).register(bus)
    return Registry(
        store=store,
        bus=bus,
        counties=counties,
        staffing=staffing,
        contracting=contracting,
        procurement=procurement,
        reactions=RegistryReactions(store),
        reads=query_bus(store),
    )
