"""The registry's commands as typed objects, and the handlers the composition root registers on the
service's :class:`~shared.infra.commands.CommandBus` (which owns the county check, the R-AUD-1
context, the ``Idempotency-Key`` fingerprint and replay, and the concurrency retry for all of them).

Each command's fingerprinted fields are exactly what its route asked for before commands were
typed — the request body's fields, and the record of the path under ``"id"`` where the route
bound it — so an ``Idempotency-Key`` recorded then still answers its repeat. What is derived (the
path's records the route's target already names, ids made from the key, the caller) is not
fingerprinted. The handlers decide nothing themselves: they call the contracting, staffing,
county and procurement command objects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from registry.base import RegistryApplication
from registry.contracting import ContractCommands
from registry.domainmodel import County, Provider
from registry.procurement.application import ProcurementCommands
from registry.procurement.domainmodel import Procurement, Programme, Project, RejectedBid
from registry.staffing import StaffingCommands
from shared.infra.commands import NOT_FINGERPRINTED, Command, CommandBus, fingerprinted_as
from shared.rules import Conflict, NotFound, RuleViolation
from shared.text import clean_name

if TYPE_CHECKING:  # registry.application composes this module's handlers
    from registry.application import CountyCommands

# The path's record, fingerprinted as the untyped routes of procurement bound it.
AS_ID = fingerprinted_as("id")


def policy_names(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """The names a policy carries (its ``funding_sources``, and the sources its ``funding_caps``
    name) follow the rules of every other name (shared/text.py ``Name``): trimmed, NFC, no control,
    bidi or zero-width characters — so a contract's funding source, itself a ``Name``, can match
    them. Other shapes are left to the policy's own checks (R-FIN-2)."""
    if not policy:
        return policy

    def clean(value: Any, field: str) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return clean_name(value)
        except ValueError as exc:
            raise RuleViolation(f"{field} {exc}", rule="R-FIN-2", field=field, facts={"code": "funding_source_spelling", "empty": not value.strip()}) from None

    cleaned = dict(policy)
    sources = policy.get("funding_sources")
    if isinstance(sources, list):
        cleaned["funding_sources"] = [clean(v, f"policy.funding_sources.{i}") for i, v in enumerate(sources)]
    caps = policy.get("funding_caps")
    if isinstance(caps, list):
        cleaned["funding_caps"] = [
            {**cap, **{k: clean(cap[k], f"policy.funding_caps.{i}.{k}") for k in ("source", "base") if k in cap}}
            if isinstance(cap, dict)
            else cap
            for i, cap in enumerate(caps)
        ]
    return cleaned


# --- counties and providers ------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PutCounty(Command):
    """Register a county or change its name and/or policy (``policy=None`` keeps the one in force)."""

    name: str
    policy: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        policy_names(self.policy)  # a policy's names are refused (R-FIN-2) as soon as the command is stated


@dataclass(frozen=True, kw_only=True)
class RegisterProvider(Command):
    name: str
    uscc: str
    rating: str | None = None
    has_party_org: bool = False
    prior_projects: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class UpdateProviderProfile(Command):
    provider_id: str = field(metadata=NOT_FINGERPRINTED)
    rating: str | None
    has_party_org: bool
    prior_projects: list[dict[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True)
class BanProvider(Command):
    provider_id: str = field(metadata=NOT_FINGERPRINTED)
    banned_on: date
    until: date | None = None
    reason: str


@dataclass(frozen=True, kw_only=True)
class PublishDisclosure(Command):
    provider_id: str = field(metadata=NOT_FINGERPRINTED)
    disclosure_id: str = field(metadata=NOT_FINGERPRINTED)  # from the Idempotency-Key (common.new_id)
    kind: str
    title: str
    year: int | None = None
    summary: str = ""
    url: str | None = None
    published_on: date


# --- stations and workers --------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class EstablishStation(Command):
    name: str
    township: str
    kind: str


@dataclass(frozen=True, kw_only=True)
class HireWorker(Command):
    provider_id: str
    station_id: str
    name: str
    birth_date: date
    education: str
    qualification: str
    role: str
    hired_on: date


@dataclass(frozen=True, kw_only=True)
class MoveWorker(Command):
    worker_id: str = field(metadata=NOT_FINGERPRINTED)
    to_station_id: str
    moved_on: date


@dataclass(frozen=True, kw_only=True)
class QualifyWorker(Command):
    worker_id: str = field(metadata=NOT_FINGERPRINTED)
    qualification: str
    qualified_on: date


@dataclass(frozen=True, kw_only=True)
class RecordWorkerLeaving(Command):
    worker_id: str = field(metadata=NOT_FINGERPRINTED)
    left_on: date
    reason: str = ""


# --- contracts ---------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class SignContract(Command):
    """The terms of a contract year (``ContractIn``); nested parts as plain dicts."""

    provider_id: str
    station_ids: list[str]
    purchaser: str
    signed_on: date
    effective_on: date
    period_start: date
    period_end: date
    amount_fen: int
    funding: list[dict[str, Any]]
    service_areas: list[str]
    indicators: list[dict[str, Any]]
    tranche_plan: list[dict[str, Any]] | None = None
    cycle_years: int | None = None
    year_index: int | None = None
    probation: bool = False
    supervisor_id: str | None = None
    previous_contract_id: str | None = None
    justification: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExpireContracts(Command):
    as_of: date


@dataclass(frozen=True, kw_only=True)
class FileContract(Command):
    contract_id: str = field(metadata=NOT_FINGERPRINTED)
    filed_on: date
    filed_with: str = "市民政局"


@dataclass(frozen=True, kw_only=True)
class RequestScopeChange(Command):
    contract_id: str = field(metadata=NOT_FINGERPRINTED)
    change_id: str = field(metadata=NOT_FINGERPRINTED)  # from the Idempotency-Key (common.new_id)
    requested_by: str = field(metadata=NOT_FINGERPRINTED)  # the caller's subject
    service_areas: list[str]
    effective_on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class DecideScopeChange(Command):
    contract_id: str = field(metadata=NOT_FINGERPRINTED)
    change_id: str = field(metadata=NOT_FINGERPRINTED)
    approved: bool
    decided_on: date
    approved_by: str | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class RenewContract(Command):
    """The next year of the cycle; each given term replaces this year's (``None``: kept)."""

    contract_id: str = field(metadata=NOT_FINGERPRINTED)
    signed_on: date
    effective_on: date | None = None
    period_start: date | None = None
    period_end: date | None = None
    amount_fen: int | None = None
    funding: list[dict[str, Any]] | None = None
    station_ids: list[str] | None = None
    service_areas: list[str] | None = None
    indicators: list[dict[str, Any]] | None = None
    tranche_plan: list[dict[str, Any]] | None = None
    supervisor_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TerminateContract(Command):
    contract_id: str = field(metadata=NOT_FINGERPRINTED)
    terminated_on: date
    kind: str
    reason: str


# --- programmes, projects and procurement ------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class LaunchProgramme(Command):
    """County ``province`` (shared.subjects.PROVINCE): a programme belongs to no county."""

    issuer: str
    level: str = "city"
    document_no: str = ""
    title: str
    issued_on: date
    budget_fen: int
    allocations: list[dict[str, Any]]
    milestones: list[dict[str, Any]] = field(default_factory=list)
    themes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ReachMilestone(Command):
    """County ``province``, as :class:`LaunchProgramme`."""

    programme_id: str = field(metadata=AS_ID)
    kind: str
    reached_on: date


@dataclass(frozen=True, kw_only=True)
class ApplyForProject(Command):
    applicant: dict[str, Any]
    name: str
    programme_id: str | None = None
    year_index: int
    project_years: int
    budget_fen: int
    justification: dict[str, Any]
    service_areas: list[str]
    applied_on: date


@dataclass(frozen=True, kw_only=True)
class DecideProject(Command):
    project_id: str = field(metadata=AS_ID)
    step: str
    outcome: str
    decided_on: date
    decided_by: str
    reason: str | None = None
    reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class OpenProcurement(Command):
    project_id: str = field(metadata=AS_ID)
    method: str
    single_source_justification: str | None = None
    invited_provider_ids: list[str] = field(default_factory=list)
    opened_on: date
    bid_deadline: date
    probation_first_year: bool = False
    packages: list[dict[str, Any]]
    evaluation_criteria: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class SubmitBid(Command):
    procurement_id: str = field(metadata=AS_ID)
    provider_id: str
    package: str = "1"
    submitted_on: date
    annual_price_fen: int
    items: list[dict[str, Any]]
    staffing: dict[str, Any] | None = None
    service_plan: str = ""


@dataclass(frozen=True, kw_only=True)
class AwardPackage(Command):
    procurement_id: str = field(metadata=AS_ID)
    package: str = "1"
    awarded_on: date
    scores: list[dict[str, Any]]
    signed_on: date | None = None
    purchaser: str | None = None


def _terms(c: Command, *leave_out: str) -> dict[str, Any]:
    """The command's asked-for fields (what its route's body held), as the command objects take them."""
    return {k: v for k, v in c.fingerprint_payload().items() if k not in leave_out}


# --- the handlers ------------------------------------------------------------------------------
class RegistryCommands:
    """Runs each command on the registry's command objects. ``store`` only answers a repeated
    Idempotency-Key with what the first run made."""

    def __init__(
        self,
        store: RegistryApplication,
        counties: CountyCommands,
        staffing: StaffingCommands,
        contracting: ContractCommands,
        procurement: ProcurementCommands,
    ) -> None:
        self.store = store
        self.counties = counties
        self.staffing = staffing
        self.contracting = contracting
        self.procurement = procurement

    def register(self, bus: CommandBus) -> None:
        store, procurement = self.store, self.procurement

        def first(_c: Command, ids: list[str]) -> str:
            return ids[0]

        def nothing(_c: Command, _ids: list[str]) -> None:
            return None

        def provider(c: UpdateProviderProfile | BanProvider, _ids: list[str]) -> Provider:
            return store.provider(c.county, c.provider_id, field=None)

        def worker(c: MoveWorker | QualifyWorker | RecordWorkerLeaving, _ids: list[str]) -> Any:
            return store.worker(c.county, c.worker_id)

        def contract(c: FileContract | DecideScopeChange | TerminateContract, _ids: list[str]) -> Any:
            return store.contract(c.county, c.contract_id)

        # counties and providers
        bus.register(PutCounty, self.put_county, lambda c, _ids: store.county(c.county))
        bus.register(RegisterProvider, self.register_provider, first)
        bus.register(UpdateProviderProfile, self.update_provider_profile, provider)
        bus.register(BanProvider, self.ban_provider, provider)
        bus.register(PublishDisclosure, self.publish_disclosure, nothing)
        # stations and workers
        bus.register(EstablishStation, self.establish_station, first)
        bus.register(HireWorker, self.hire_worker, first)
        bus.register(MoveWorker, self.move_worker, worker)
        bus.register(QualifyWorker, self.qualify_worker, worker)
        bus.register(RecordWorkerLeaving, self.record_worker_leaving, worker)
        # contracts
        bus.register(SignContract, self.sign_contract, first)
        bus.register(ExpireContracts, self.expire_contracts, lambda _c, ids: ids)
        bus.register(FileContract, self.file_contract, contract)
        bus.register(RequestScopeChange, self.request_scope_change, nothing)
        bus.register(DecideScopeChange, self.decide_scope_change, contract)
        bus.register(RenewContract, self.renew_contract, lambda c, ids: next(i for i in ids if i != c.contract_id))
        bus.register(TerminateContract, self.terminate_contract, contract)
        # programmes, projects and procurement
        bus.register(LaunchProgramme, self.launch_programme, first)
        bus.register(ReachMilestone, self.reach_milestone, lambda c, _ids: procurement.programme(c.programme_id))
        bus.register(ApplyForProject, self.apply_for_project, first)
        bus.register(DecideProject, self.decide_project, lambda c, _ids: procurement.project(c.county, c.project_id))
        bus.register(OpenProcurement, self.open_procurement, first)
        bus.register(SubmitBid, self.submit_bid, self.replay_bid)
        bus.register(
            AwardPackage, self.award_package, lambda c, _ids: procurement.procurement(c.county, c.procurement_id)
        )

    # --- counties and providers ----------------------------------------------------------------
    def put_county(self, c: PutCounty) -> County:
        return self.counties.put_county(c.county, c.name, policy_names(c.policy))

    def register_provider(self, c: RegisterProvider) -> uuid.UUID:
        return self.counties.register_provider(
            c.county, c.name, c.uscc, c.rating, c.has_party_org, list(c.prior_projects)
        )

    def update_provider_profile(self, c: UpdateProviderProfile) -> Provider:
        return self.counties.update_provider(c.county, c.provider_id, c.rating, c.has_party_org, c.prior_projects)

    def ban_provider(self, c: BanProvider) -> Provider:
        return self.counties.ban_provider(c.county, c.provider_id, c.banned_on, c.until, c.reason)

    def publish_disclosure(self, c: PublishDisclosure) -> str:
        return self.counties.publish_disclosure(c.county, c.provider_id, c.disclosure_id, **_terms(c))

    # --- stations and workers ------------------------------------------------------------------
    def establish_station(self, c: EstablishStation) -> uuid.UUID:
        return self.staffing.establish_station(c.county, c.name, c.township, c.kind)

    def hire_worker(self, c: HireWorker) -> uuid.UUID:
        return self.staffing.hire_worker(c.county, **_terms(c))

    def move_worker(self, c: MoveWorker) -> Any:
        return self.staffing.move_worker(c.county, c.worker_id, c.to_station_id, c.moved_on)

    def qualify_worker(self, c: QualifyWorker) -> Any:
        return self.staffing.qualify_worker(c.county, c.worker_id, c.qualification, c.qualified_on)

    def record_worker_leaving(self, c: RecordWorkerLeaving) -> Any:
        return self.staffing.worker_leaves(c.county, c.worker_id, c.left_on, c.reason)

    # --- contracts -----------------------------------------------------------------------------
    def sign_contract(self, c: SignContract) -> uuid.UUID:
        return self.contracting.sign_contract(c.county, _terms(c))

    def expire_contracts(self, c: ExpireContracts) -> list[str]:
        return self.contracting.expire_contracts(c.county, c.as_of)

    def file_contract(self, c: FileContract) -> Any:
        return self.contracting.file_contract(c.county, c.contract_id, c.filed_on, c.filed_with)

    def request_scope_change(self, c: RequestScopeChange) -> str:
        return self.contracting.request_scope_change(
            c.county, c.contract_id, c.change_id, c.service_areas, c.effective_on, c.reason, c.requested_by
        )

    def decide_scope_change(self, c: DecideScopeChange) -> Any:
        return self.contracting.decide_scope_change(
            c.county, c.contract_id, c.change_id, c.approved, c.approved_by, c.decided_on, c.note
        )

    def renew_contract(self, c: RenewContract) -> uuid.UUID:
        return self.contracting.renew_contract(c.county, c.contract_id, c.signed_on, _terms(c, "signed_on"))

    def terminate_contract(self, c: TerminateContract) -> Any:
        return self.contracting.terminate_contract(c.county, c.contract_id, c.terminated_on, c.kind, c.reason)

    # --- programmes, projects and procurement --------------------------------------------------
    def launch_programme(self, c: LaunchProgramme) -> uuid.UUID:
        return self.procurement.launch_programme(**_terms(c))

    def reach_milestone(self, c: ReachMilestone) -> Programme:
        return self.procurement.reach_milestone(c.programme_id, c.kind, c.reached_on)

    def apply_for_project(self, c: ApplyForProject) -> uuid.UUID:
        return self.procurement.apply_for_project(c.county, **_terms(c))

    def decide_project(self, c: DecideProject) -> Project:
        return self.procurement.decide_project(c.county, c.project_id, **_terms(c, "id"))

    def open_procurement(self, c: OpenProcurement) -> uuid.UUID:
        return self.procurement.open_procurement(c.county, c.project_id, **_terms(c, "id"))

    def submit_bid(self, c: SubmitBid) -> uuid.UUID:
        return self.procurement.submit_bid(c.county, c.procurement_id, _terms(c, "id"))

    def replay_bid(self, c: SubmitBid, ids: list[str]) -> Any:
        """A repeated key answers as the first time did: the same bid, or the same refusal."""
        for aggregate_id in ids:
            try:
                record = self.procurement.bid(c.county, aggregate_id)
            except NotFound:
                continue
            if isinstance(record, RejectedBid):
                raise record.violation()
            return record.id
        raise Conflict("Idempotency-Key was used by a command that recorded no bid")

    def award_package(self, c: AwardPackage) -> Procurement:
        return self.procurement.award(
            c.county, c.procurement_id, c.package, c.awarded_on, c.scores, c.signed_on, c.purchaser
        )
