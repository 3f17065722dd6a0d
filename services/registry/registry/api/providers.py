"""Providers (承接主体): registration, profile, bans (R-EVAL-9) and public disclosures (R-REG-9)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from registry.api.common import (
    AsOf,
    CountyCode,
    Day,
    OwnProviderSide,
    ProviderReader,
    Purchaser,
    Reader,
    Service,
    Store,
    Strict,
    ensure_own,
    new_id,
    today,
)
from registry.commands import BanProvider, PublishDisclosure, RegisterProvider, UpdateProviderProfile
from registry.domainmodel import DISCLOSURE_KINDS, GRADES, Provider, plain
from registry.reads import ProviderDetail, ProviderList
from shared.infra.paging import DEFAULT_LIMIT, CursorParam, Limit, respond
from shared.infra.service import CommandHeaders
from shared.text import HttpUrl, Name

router = APIRouter(prefix="/v1/counties/{county}/providers", tags=["providers"])
Rating = Field(default=None, pattern=r"^[1-5]A$", description="社会组织评估等级, e.g. 3A")


class PriorProjectIn(Strict):
    name: Name = Field(min_length=1, max_length=200)
    year: int = Field(ge=1990, le=2100)
    grade: str = Field(description=f"Evaluation grade, one of {GRADES}")


class ProviderIn(Strict):
    name: Name = Field(min_length=1, max_length=200)
    uscc: str = Field(min_length=18, max_length=18, description="统一社会信用代码 (GB 32100-2015)")
    rating: str | None = Rating
    has_party_org: bool = False
    prior_projects: list[PriorProjectIn] = Field(
        default_factory=list, max_length=50,
        description="Government projects before this platform, verified by the purchaser (for R-REG-1's prior-pass flag)",
    )


class ProviderCreated(BaseModel):
    provider_id: str


class ProfileIn(Strict):
    rating: str | None = Rating
    has_party_org: bool
    prior_projects: list[PriorProjectIn] | None = Field(default=None, max_length=50, description="Omit to keep those on record")


class BanIn(Strict):
    banned_on: Day
    until: Day | None = Field(default=None, description="Last day of the ban; default: banned_on + the county's ban_years")
    reason: str = Field(min_length=1, max_length=500)


class DisclosureIn(Strict):
    kind: str = Field(description=f"One of {DISCLOSURE_KINDS}")
    title: Name = Field(min_length=1, max_length=200)
    year: int | None = Field(default=None, ge=1990, le=2100, description="Required for an annual financial report")
    summary: str = Field(default="", max_length=4000)
    url: HttpUrl | None = Field(default=None, max_length=500, description="http(s) only")
    published_on: Day


class DisclosureCreated(BaseModel):
    disclosure_id: str


class ProviderOut(BaseModel):
    provider_id: str
    county: str
    name: str
    uscc: str
    rating: str | None
    has_party_org: bool
    prior_projects: list[dict[str, Any]]
    passed_evaluations: list[str]
    bans: list[dict[str, Any]]
    banned_on_date: bool = Field(description="Banned on as_of (today unless given)")
    banned_until: date | None
    disclosures: list[dict[str, Any]]
    version: int


def provider_out(p: Provider, as_of: date) -> ProviderOut:
    return ProviderOut(
        provider_id=str(p.id), county=p.county, name=p.name, uscc=p.uscc, rating=p.rating, has_party_org=p.has_party_org,
        prior_projects=[plain(x) for x in p.prior_projects], passed_evaluations=list(p.passed_evaluations),
        bans=[plain(b) for b in p.bans], banned_on_date=p.is_banned_on(as_of), banned_until=p.banned_until,
        disclosures=[plain(d) for d in p.disclosures], version=p.version,
    )




@router.post("", status_code=201, response_model=ProviderCreated)
def register_provider(county: CountyCode, body: ProviderIn, scope: Purchaser, registry: Service, headers: CommandHeaders) -> ProviderCreated:
    """Register a provider (承接主体). The USCC is checked per GB 32100-2015 (R-REG-1); registering the
    same USCC again with the same details returns the same `provider_id`, with other details is a 409."""
    command = RegisterProvider(
        county=county, name=body.name, uscc=body.uscc, rating=body.rating, has_party_org=body.has_party_org,
        prior_projects=[p.model_dump() for p in body.prior_projects],
    )
    pid = registry.bus.run(command, scope, headers)
    return ProviderCreated(provider_id=str(pid))


@router.get("", response_model=list[ProviderOut])
def list_providers(
    request: Request, response: Response, county: CountyCode, scope: Reader, registry: Service, as_of: AsOf = None,
    limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> list[ProviderOut]:
    """The county's providers in registration order, paged (`limit`, `cursor`, `X-Next-Cursor`)."""
    found = registry.reads.ask(ProviderList(county=county, limit=limit, cursor=cursor), scope)
    respond(request, response, found.name, found.query, found.page)
    return [provider_out(p, as_of or today()) for p in found.page.items]


@router.get("/{provider_id}", response_model=ProviderOut)
def get_provider(county: CountyCode, provider_id: str, scope: ProviderReader, registry: Service, as_of: AsOf = None) -> ProviderOut:
    """One provider with its bans, evaluation passes and disclosures."""
    return provider_out(registry.reads.ask(ProviderDetail(county=county, provider_id=provider_id), scope), as_of or today())


@router.post("/{provider_id}/profile", response_model=ProviderOut)
def update_profile(
    county: CountyCode, provider_id: str, body: ProfileIn, scope: Purchaser, registry: Service, headers: CommandHeaders
) -> ProviderOut:
    """Record a new assessment rating, party organisation or verified prior projects (all count for
    R-REG-1's policy flags). The profile given replaces the one on record."""
    prior = None if body.prior_projects is None else [p.model_dump() for p in body.prior_projects]
    command = UpdateProviderProfile(
        county=county, provider_id=provider_id, rating=body.rating, has_party_org=body.has_party_org, prior_projects=prior
    )
    p = registry.bus.run(command, scope, headers)
    return provider_out(p, today())


@router.post("/{provider_id}/bans", status_code=201, response_model=ProviderOut)
def ban_provider(
    county: CountyCode, provider_id: str, body: BanIn, scope: Purchaser, registry: Service, headers: CommandHeaders
) -> ProviderOut:
    """Ban a provider from government purchase (R-EVAL-9): it cannot sign until the ban ends (R-REG-1).
    Publishes `ProviderBanned`. Evaluation's fraud findings and fraud terminations ban automatically."""
    command = BanProvider(county=county, provider_id=provider_id, banned_on=body.banned_on, until=body.until, reason=body.reason)
    p = registry.bus.run(command, scope, headers)
    return provider_out(p, body.banned_on)


@router.post("/{provider_id}/disclosures", status_code=201, response_model=DisclosureCreated)
def publish_disclosure(
    county: CountyCode, provider_id: str, body: DisclosureIn, scope: OwnProviderSide, store: Store, registry: Service, headers: CommandHeaders
) -> DisclosureCreated:
    """Publish a disclosure document (R-REG-9): basic info, qualifications, annual financial report or
    project record. Shown on the public provider list; must not contain personal data. A provider
    publishes its own only."""
    ensure_own(scope, str(store.provider(county, provider_id, field=None).id))
    disclosure_id = new_id(county, headers)
    command = PublishDisclosure(county=county, provider_id=provider_id, disclosure_id=disclosure_id, **body.model_dump())
    registry.bus.run(command, scope, headers)
    return DisclosureCreated(disclosure_id=disclosure_id)
