"""JWT bearer auth and the access policy every route declares (API.md, R-AUD-6; docs/ACCESS.md).

Tokens (docs/IDENTITY.md): the province's OIDC issuer's, verified with its published keys
(``shared/infra/oidc.py``) and mapped claim by claim (``SWP_OIDC_CLAIM_*``: role, counties — 6-digit
codes, ``*`` for province-wide roles — provider_id, evaluator_org) into a :class:`Principal`; outside
production also development tokens (HS256, claims ``role``, ``counties``, ``provider_id``,
``evaluator_org``; ``swp token``), which production refuses. Missing or invalid token, unknown
role or malformed claim → 401; valid token with the wrong role or county → 403.

A route declares its policy once, as its ``county_scope(*roles, write=…, owns=…)`` dependency:
the roles that may call it, whether it writes, and which kind of resource in its path the caller
must own (:class:`Owns`). Ownership is checked before the route runs, from the owner lookups the
service registers (``ServiceSpec.owners``): a provider's or worker's token reaches only its own
provider's contracts, workers and deliveries, an evaluator's only the evaluations assigned to its
organisation. Another party's resource is **404**, shaped like the 404 of an unknown id: a caller
learns nothing about what exists outside its own data. ``counties: ["*"]`` counts only for the
province-wide roles (:data:`PROVINCE_WIDE_ROLES`); a provider's or worker's token without
``provider_id`` is refused (403) on every route, and so is a worker's token without ``worker_id``
(the registry's worker id of the social worker it is): a worker reaches only the resources whose
owner names it (its own deliveries, its own worker record) where the owner lookup says so.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.infra.oidc import OidcVerifier, TokenRefused, claim, unverified_header
from shared.infra.settings import Settings
from shared.rules import DomainError, Forbidden, NotFound


class Role(StrEnum):
    PROVINCE_ADMIN = "province_admin"
    PURCHASER = "purchaser"
    PROVIDER = "provider"
    WORKER = "worker"
    EVALUATOR = "evaluator"
    FINANCE = "finance"
    AUDITOR = "auditor"
    SUBSCRIBER = "subscriber"


ALL_ROLES = frozenset(Role)
READ_ONLY_ROLES = frozenset({Role.AUDITOR, Role.SUBSCRIBER})
# Roles of the province (民政厅, its auditors, the province's data-sharing subscribers): only these
# may hold ``counties: ["*"]``. Every other role works for named counties.
PROVINCE_WIDE_ROLES = frozenset({Role.PROVINCE_ADMIN, Role.AUDITOR, Role.SUBSCRIBER})
# Roles that act for one provider (承接主体): their tokens must name it.
PROVIDER_ROLES = frozenset({Role.PROVIDER, Role.WORKER})


class Owns(StrEnum):
    """The kind of resource named in a route's path whose owner the caller must be."""

    CONTRACT = "contract"  # path parameter contract_id
    WORKER = "worker"  # worker_id
    DELIVERY = "delivery"  # delivery_id
    EVALUATION = "evaluation"  # evaluation_id
    PROVIDER = "provider"  # provider_id
    BENEFICIARY = "beneficiary"  # beneficiary_ref

    @property
    def parameter(self) -> str:
        return "beneficiary_ref" if self is Owns.BENEFICIARY else f"{self.value}_id"


@dataclass(frozen=True)
class Owner:
    """Who owns a resource: the providers it belongs to, and (where evaluators are limited by it)
    the evaluator organisations assigned to it (None: not limited for evaluators)."""

    provider_ids: frozenset[str]
    evaluator_orgs: frozenset[str] | None = None
    # The workers it belongs to (a delivery's workers, a worker record's own id); None: a worker's
    # token reaches it as its provider's does.
    worker_ids: frozenset[str] | None = None


# (service — its composition, else the store —, county, id) → its owner, or None when the id is
# unknown there (the route then says 404).
OwnerLookup = Callable[[Any, str, str], Owner | None]


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    counties: frozenset[str]
    provider_id: str | None = None
    evaluator_org: str | None = None
    worker_id: str | None = None

    def can_see(self, county: str) -> bool:
        return county in self.counties or ("*" in self.counties and self.role in PROVINCE_WIDE_ROLES)


def issue_token(
    settings: Settings,
    *,
    sub: str,
    role: Role | str,
    counties: list[str],
    provider_id: str | None = None,
    evaluator_org: str | None = None,
    worker_id: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """A development token (HS256, ``swp token``): refused — and impossible to mint — in production."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "role": str(Role(role)),
        "counties": counties,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if provider_id:
        claims["provider_id"] = provider_id
    if evaluator_org:
        claims["evaluator_org"] = evaluator_org
    if worker_id:
        claims["worker_id"] = worker_id
    return jwt.encode(claims, settings.dev_jwt_secret(), algorithm="HS256")


def decode_token(settings: Settings, token: str) -> Principal:
    """A development token's principal (HS256 with the development secret). Never in production."""
    if settings.environment == "production":
        raise Unauthorized("HS256 development tokens are refused in production", field="alg")
    try:
        claims = jwt.decode(
            token,
            settings.dev_jwt_secret(),
            algorithms=["HS256"],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iss"]},
        )
        role = Role(claims["role"])
        counties = claims.get("counties") or []
        if not isinstance(counties, list) or not all(isinstance(c, str) for c in counties):
            raise ValueError("counties must be a list of strings")
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    return Principal(
        sub=str(claims["sub"]),
        role=role,
        counties=frozenset(counties),
        provider_id=claims.get("provider_id"),
        evaluator_org=claims.get("evaluator_org"),
        worker_id=claims.get("worker_id"),
    )


COUNTY_OR_ALL = re.compile(r"^(\d{6}|\*)$")


def principal_from_claims(settings: Settings, claims: dict[str, Any]) -> Principal:
    """The documented claim mapping (docs/IDENTITY.md, ``SWP_OIDC_CLAIM_*``): an unknown role or a
    malformed claim is 401, naming the claim."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("the token has no subject", field="sub")
    name = settings.oidc_claim_role
    value = claim(claims, name)
    try:
        role = Role(value) if isinstance(value, str) else None
    except ValueError:
        role = None
    if role is None:
        raise Unauthorized(f"claim {name}: {value!r} is not a platform role ({', '.join(sorted(Role))})", field=name)
    name = settings.oidc_claim_counties
    counties = claim(claims, name)
    if counties is None:
        counties = []
    if not isinstance(counties, list) or not all(isinstance(c, str) and COUNTY_OR_ALL.match(c) for c in counties):
        raise Unauthorized(f"claim {name}: must be a list of 6-digit county codes (or \"*\")", field=name)
    optional: dict[str, str | None] = {}
    for attribute, name in (("provider_id", settings.oidc_claim_provider_id), ("evaluator_org", settings.oidc_claim_evaluator_org),
                            ("worker_id", settings.oidc_claim_worker_id)):
        value = claim(claims, name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            raise Unauthorized(f"claim {name}: must be a non-empty string", field=name)
        optional[attribute] = value
    return Principal(sub=sub, role=role, counties=frozenset(counties), **optional)


def verifier_of(request_or_app: Any) -> OidcVerifier:
    """The process's OIDC verifier (kept in the app's state, created on first use)."""
    app_state = request_or_app.app.state if hasattr(request_or_app, "app") else request_or_app.state
    verifier = getattr(app_state, "oidc_verifier", None)
    if verifier is None:
        verifier = app_state.oidc_verifier = OidcVerifier(app_state.settings)
    return verifier


async def verify_bearer(settings: Settings, verifier: OidcVerifier | None, token: str) -> Principal:
    """Any bearer token the process accepts: the OIDC issuer's (RS256/ES256 …) and, outside
    production only, development HS256 tokens."""
    try:
        header = unverified_header(token)
    except TokenRefused as exc:
        raise Unauthorized(exc.detail, field=exc.field) from exc
    alg = header["alg"]
    if alg == "HS256" and settings.environment != "production":
        return decode_token(settings, token)
    if verifier is None:
        if settings.environment == "production":
            raise Unauthorized("no OIDC issuer is configured", field="iss")
        raise Unauthorized(f"algorithm {alg!r} is not accepted: no OIDC issuer is configured (SWP_OIDC_ISSUER)", field="alg")
    if alg not in verifier.algorithms:
        raise Unauthorized(f"algorithm {alg!r} is not accepted (only {', '.join(verifier.algorithms)})", field="alg")
    try:
        kid = header.get("kid")
        if verifier.needs_keys(kid if isinstance(kid, str) else None):
            await asyncio.to_thread(verifier.ensure_keys, kid if isinstance(kid, str) else None)
        claims = verifier.verify(token, header)
    except TokenRefused as exc:
        raise Unauthorized(exc.detail, field=exc.field) from exc
    return principal_from_claims(settings, claims)


class VerifiedTokens:
    """Bearer tokens this process verified, by their exact text, until their ``exp`` (and at most
    ``ttl`` seconds): a station's client sends the same token with every request, and checking it
    again each time was a visible share of a delivery POST's CPU (issue 16). Only what verified is
    kept; the principal is what the same token verifies to again (its claims are signed). With an
    OIDC issuer, a token is checked again as soon as the issuer's key set is due or was fetched
    since (a token of a withdrawn key is refused as before). Bounded: the oldest go first."""

    def __init__(self, ttl: float = 60.0, size: int = 4096, clock: Callable[[], float] = time.time) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._held: dict[str, tuple[Principal, float, int, str | None]] = {}

    def get(self, token: str, verifier: OidcVerifier | None = None) -> Principal | None:
        held = self._held.get(token)
        if held is None:
            return None
        principal, until, fetches, kid = held
        if self.clock() >= until or (verifier is not None and (verifier.fetches != fetches or verifier.needs_keys(kid))):
            self._held.pop(token, None)
            return None
        return principal

    def put(self, token: str, principal: Principal, verifier: OidcVerifier | None = None) -> None:
        try:
            exp = float(jwt.decode(token, options={"verify_signature": False})["exp"])
            kid = jwt.get_unverified_header(token).get("kid")
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return
        while len(self._held) >= self.size:
            self._held.pop(next(iter(self._held)), None)
        fetches = verifier.fetches if verifier is not None else 0
        self._held[token] = (principal, min(exp, self.clock() + self.ttl), fetches, kid if isinstance(kid, str) else None)


def verified_tokens(request: Request) -> VerifiedTokens:
    """The app's cache of verified tokens (kept in its state, created on first use)."""
    state = request.app.state
    cache = getattr(state, "verified_tokens", None)
    if cache is None:
        cache = state.verified_tokens = VerifiedTokens()
    return cache


_bearer = HTTPBearer(auto_error=False, description="JWT of the province's OIDC issuer (`swp token` in development)")


# The dependencies here are ``async def`` on purpose: they are pure CPU (a signature check, set
# lookups: microseconds) and never block, so they run on the event loop instead of costing a
# worker-thread hop each (BENCHMARKS.md §3). The one blocking step, fetching the issuer's keys
# (first use, rotation), goes to a worker thread.
async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    token = credentials.credentials
    settings: Settings = request.app.state.settings
    verifier = verifier_of(request) if settings.oidc_enabled else None
    cache = verified_tokens(request)
    principal = cache.get(token, verifier)
    if principal is None:
        principal = await verify_bearer(settings, verifier, token)
        cache.put(token, principal, verifier)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True)
class CountyScope:
    """The county a request acts on, already checked against the caller's token."""

    county: str
    principal: Principal


def check_principal(principal: Principal) -> None:
    """What every route refuses whatever its roles: a provider's or worker's token without its
    provider, a worker's without its worker id."""
    if principal.role in PROVIDER_ROLES and not principal.provider_id:
        raise Forbidden(f"a {principal.role}'s token must name its provider_id", rule="R-AUD-6", facts={"code": "token_without_provider"})
    if principal.role == Role.WORKER and not principal.worker_id:
        raise Forbidden("a worker's token must name its worker_id", rule="R-AUD-6", facts={"code": "token_without_worker"})


def check_owner(request: Request, scope: CountyScope, owns: Owns) -> None:
    """The caller owns the ``owns`` resource named in the path (or is not limited by ownership)."""
    principal = scope.principal
    limited_as_provider = principal.role in PROVIDER_ROLES
    if not limited_as_provider and principal.role != Role.EVALUATOR:
        return
    lookups: dict[Owns, OwnerLookup] = getattr(request.app.state, "owners", {})
    if owns not in lookups:
        raise RuntimeError(f"{request.url.path}: the service registers no owner lookup for {owns}")
    ref = str(request.path_params.get(owns.parameter, ""))
    service = getattr(request.app.state, "service", None) or request.app.state.store  # its composition, else the store
    owner = lookups[owns](service, scope.county, ref)
    if owner is None:
        return  # unknown here: the route answers 404 itself
    if limited_as_provider:
        mine = principal.provider_id in owner.provider_ids
        if principal.role == Role.WORKER and owner.worker_ids is not None:
            mine = mine and principal.worker_id in owner.worker_ids
    elif owner.evaluator_orgs is not None:
        mine = bool(principal.evaluator_org) and principal.evaluator_org in owner.evaluator_orgs
    else:
        mine = True
    if not mine:
        # 404, not 403, and shaped like the 404 of an unknown id (R-AUD-6): another party's record
        # is none of the caller's business, not even its existence.
        raise NotFound(f"unknown {owns} {ref} in county {scope.county}", facts={"code": "unknown_reference", "kind": str(owns)})


def county_scope(*roles: Role, write: bool = False, owns: Owns | None = None) -> Callable[..., CountyScope]:
    """Dependency factory: a route's access policy (docs/ACCESS.md). The caller must hold one of
    ``roles`` and be granted ``county``; ``write=True`` additionally refuses read-only roles
    (auditor, subscriber) even if listed; ``owns``: the caller must own that resource of the path."""
    allowed = frozenset(roles) or ALL_ROLES

    def scope_of(county: str, principal: Principal) -> CountyScope:
        if principal.role not in allowed or (write and principal.role in READ_ONLY_ROLES):
            raise Forbidden(f"role {principal.role} may not do this", rule="R-AUD-6", facts={"code": "role_not_allowed"})
        check_principal(principal)
        if not principal.can_see(county):
            raise Forbidden(f"token is not granted county {county}", rule="R-AUD-6", facts={"code": "county_not_granted"})
        return CountyScope(county=county, principal=principal)

    if owns is None:

        async def dependency(county: str, principal: CurrentPrincipal) -> CountyScope:
            return scope_of(county, principal)

        dependency.policy = AccessPolicy(allowed, write, None)  # type: ignore[attr-defined]
        return dependency

    def owned(request: Request, county: str, principal: CurrentPrincipal) -> CountyScope:  # sync: reads the store
        scope = scope_of(county, principal)
        check_owner(request, scope, owns)
        return scope

    owned.policy = AccessPolicy(allowed, write, owns)  # type: ignore[attr-defined]
    return owned


@dataclass(frozen=True)
class AccessPolicy:
    """What a route declared (read by tests/integration/test_access_matrix.py's generator)."""

    roles: frozenset[Role]
    write: bool
    owns: Owns | None
    county: bool = True  # the path's {county} must be granted to the token
    province_wide: bool = False  # only a token with counties ["*"] (of a province-wide role)
    public_setting: str | None = None  # a boolean setting that, when true, opens the route without a token


def require_roles(*roles: Role, province_wide: bool = False, public_setting: str | None = None) -> Callable[..., Any]:
    """For routes that are not county-scoped (province-level resources). ``province_wide=True``:
    only a token with ``counties: ["*"]`` of a province-wide role (what spans every county, such
    as raw records or the service's writer key). ``public_setting``: the name of a boolean
    setting that, when true, opens the route without a token (``/metrics`` for a scraper inside
    the cluster, ``SWP_METRICS_PUBLIC``); the dependency then gives ``None``."""

    def check(principal: Principal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role} may not do this", rule="R-AUD-6", facts={"code": "role_not_allowed"})
        check_principal(principal)
        if province_wide and not (principal.role in PROVINCE_WIDE_ROLES and "*" in principal.counties):
            raise Forbidden("this spans every county: a province-wide token (counties [\"*\"]) is needed", rule="R-AUD-6",
                            facts={"code": "province_token_needed"})
        return principal

    policy = AccessPolicy(frozenset(roles), False, None, county=False, province_wide=province_wide, public_setting=public_setting)
    if public_setting is None:

        async def dependency(principal: CurrentPrincipal) -> Principal:
            return check(principal)

        dependency.policy = policy  # type: ignore[attr-defined]
        return dependency

    async def open_or_checked(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal | None:
        if getattr(request.app.state.settings, public_setting):
            return None
        return check(await current_principal(request, credentials))

    open_or_checked.policy = policy  # type: ignore[attr-defined]
    return open_or_checked
