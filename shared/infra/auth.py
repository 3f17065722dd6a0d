"""JWT bearer auth and the county scope every route depends on (API.md, R-AUD-6).

Claims: ``sub``, ``role``, ``counties`` (6-digit codes, ``*`` for province-wide roles),
``provider_id`` / ``evaluator_org`` where the role needs them. Missing or invalid
token → 401; valid token with the wrong role or county → 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.infra.settings import Settings
from shared.rules import DomainError, Forbidden


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

    def can_see(self, county: str) -> bool:
        return "*" in self.counties or county in self.counties


def issue_token(
    settings: Settings,
    *,
    sub: str,
    role: Role | str,
    counties: list[str],
    provider_id: str | None = None,
    evaluator_org: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
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
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
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
    )


_bearer = HTTPBearer(auto_error=False, description="JWT issued by the province IdP (`swp token` in development)")


# The dependencies here are ``async def`` on purpose: they are pure CPU (an HS256 check, set
# lookups: microseconds) and never block, so they run on the event loop instead of costing a
# worker-thread hop each (BENCHMARKS.md §3). Keep them free of blocking I/O.
async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    settings: Settings = request.app.state.settings
    return decode_token(settings, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


@dataclass(frozen=True)
class CountyScope:
    """The county a request acts on, already checked against the caller's token."""

    county: str
    principal: Principal


def county_scope(*roles: Role, write: bool = False) -> Callable[..., CountyScope]:
    """Dependency factory: the caller must hold one of ``roles`` and be granted ``county``.

    ``write=True`` additionally refuses read-only roles (auditor, subscriber) even if listed.
    """
    allowed = frozenset(roles) or ALL_ROLES

    async def dependency(county: str, principal: CurrentPrincipal) -> CountyScope:
        if principal.role not in allowed or (write and principal.role in READ_ONLY_ROLES):
            raise Forbidden(f"role {principal.role} may not do this", rule="R-AUD-6")
        if not principal.can_see(county):
            raise Forbidden(f"token is not granted county {county}", rule="R-AUD-6")
        return CountyScope(county=county, principal=principal)

    return dependency


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """For routes that are not county-scoped (province-level resources)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role} may not do this", rule="R-AUD-6")
        return principal

    return dependency
